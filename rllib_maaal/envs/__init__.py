"""Environments of rllib_maaal, registered with RLlib/Tune under ``maaal/<task>``.

Each task is a package (``city``, ``intern``, ``football``) of the same modules: ``core`` (the
batched dynamics), ``team`` (``make_team_env(config)``: the team view of
:mod:`rllib_maaal.envs.team`, a ``gymnasium.Env`` for one instance, or a batched
``gymnasium.vector.VectorEnv`` when RLlib passes ``num_envs``, its vector entry point),
``pettingzoo`` (PettingZoo's ``env()`` / ``parallel_env()``), ``policies`` (the scripted team) and
``render``; the package exports its public names. ``pettingzoo_team`` is the team view of any
PettingZoo env, ``rendering`` the drawing helpers the renderers share.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

#: Registered name → "module:function" building the team view from an env_config dict.
TASKS: dict[str, str] = {
    "maaal/city": "rllib_maaal.envs.city.team:make_team_env",
    "maaal/intern": "rllib_maaal.envs.intern.team:make_team_env",
    "maaal/football": "rllib_maaal.envs.football.team:make_team_env",
    "maaal/pettingzoo": "rllib_maaal.envs.pettingzoo_team:make_team_env",
}


def env_creator(name: str) -> Callable[[dict[str, Any]], Any]:
    """The RLlib env creator of a registered task (imported only when first called)."""
    if name not in TASKS:
        raise ValueError(f"unknown environment {name!r}; ours are: {', '.join(sorted(TASKS))}")
    module_name, func_name = TASKS[name].split(":")

    def create(config: dict[str, Any]) -> Any:
        return getattr(importlib.import_module(module_name), func_name)(dict(config))

    return create


#: Registered name → "module:function" checking an env_config before anything is built (see
#: :func:`check_env_config`).
CHECKERS: dict[str, str] = {
    name: f"{path.split(':')[0]}:check_env_config" for name, path in TASKS.items()
}


def check_env_config(name: str, config: dict[str, Any]) -> tuple[Any, Any] | None:
    """Check ``config`` for task ``name`` as the env will, without starting a simulation engine.

    Returns the single team view's (observation space, action space) where they come cheaply
    (city, intern, pettingzoo), else None. A bad value raises a ``ValueError`` naming the key; a
    missing optional engine raises an ``ImportError`` saying how to install it.
    """
    module_name, func_name = CHECKERS[name].split(":")
    return getattr(importlib.import_module(module_name), func_name)(dict(config))


def register_envs() -> None:
    """Register every task with Tune's registry, so ``env: maaal/...`` works from YAML."""
    from ray.tune.registry import register_env

    for name in TASKS:
        register_env(name, env_creator(name))
