"""Registration of our environments and algorithms with Ray Tune / RLlib."""

from __future__ import annotations

import importlib

from rllib_maaal.envs import TASKS, register_envs

#: Algorithm name → "module:class" of its Algorithm subclass (imported on first use).
ALGORITHMS: dict[str, str] = {
    "MAAAL": "rllib_maaal.algorithms.maaal:MAAAL",
    "OptionCritic": "rllib_maaal.algorithms.option_critic:OptionCritic",
}


def algorithm_class(name: str) -> type:
    """Our Algorithm class registered under ``name``."""
    module_name, cls_name = ALGORITHMS[name].split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def register() -> None:
    """Register our environments and algorithms with Tune (idempotent)."""
    from ray.tune.registry import register_trainable

    register_envs()
    for name in ALGORITHMS:
        register_trainable(name, algorithm_class(name))


__all__ = ["ALGORITHMS", "TASKS", "algorithm_class", "register"]
