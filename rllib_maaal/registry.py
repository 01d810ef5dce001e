"""Registration of our environments and algorithms with Ray Tune / RLlib."""

from __future__ import annotations

import importlib

from rllib_maaal.envs import TASKS, register_envs

#: Algorithm name → "module:class" of its Algorithm subclass (imported on first use).
ALGORITHMS: dict[str, str] = {
    "MAAAL": "rllib_maaal.algorithms.maaal:MAAAL",
    "OptionCritic": "rllib_maaal.algorithms.option_critic:OptionCritic",
    "QMIX": "rllib_maaal.algorithms.maaal:QMIX",
    "VDN": "rllib_maaal.algorithms.maaal:VDN",
}


def algorithm_class(name: str) -> type:
    """Our Algorithm class registered under ``name``."""
    module_name, cls_name = ALGORITHMS[name].split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def register() -> None:
    """Register our environments and algorithms with Tune (idempotent).

    Tune's registry hands registrations to the first Ray instance a process starts and then
    forgets them, so a later ``ray.shutdown(); ray.init()`` would lose our names; registering
    again after every ``ray.init`` (Tune's own hook mechanism) keeps them.
    """
    from ray._private import worker
    from ray.tune.registry import register_trainable

    if register not in worker._post_init_hooks:
        worker._post_init_hooks.append(register)
    register_envs()
    for name in ALGORITHMS:
        register_trainable(name, algorithm_class(name))


__all__ = ["ALGORITHMS", "TASKS", "algorithm_class", "register"]
