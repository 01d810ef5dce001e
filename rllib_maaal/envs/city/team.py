"""The city task's team view for RLlib (``env: maaal/city``), see :mod:`rllib_maaal.envs.team`."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium import spaces

from rllib_maaal.envs.city.core import CityCore
from rllib_maaal.envs.city.render import RENDER_MODES
from rllib_maaal.envs.team import check_env_config_keys, team_env
from rllib_maaal.validation import check_choice

ENV_CONFIG_DEFAULTS: dict[str, Any] = {
    "scenario": "7a_7b",
    "teams": "random",
    "obs_layout": "entity",
    "allocation_interval": 5,
    "num_envs": None,
    "render_mode": None,
    "seed": None,
}


def _core_from_config(config: dict[str, Any], num_envs: int) -> CityCore:
    check_env_config_keys("city", config, ENV_CONFIG_DEFAULTS)
    cfg = {**ENV_CONFIG_DEFAULTS, **config}
    check_choice("render_mode", cfg["render_mode"], (None, *RENDER_MODES))
    return CityCore(
        num_envs=num_envs,
        scenario=cfg["scenario"],
        teams=cfg["teams"],
        obs_layout=cfg["obs_layout"],
        allocation_interval=cfg["allocation_interval"],
        seed=cfg["seed"],
    )


def make_team_env(config: dict[str, Any] | None = None) -> gym.Env | gym.vector.VectorEnv:
    """The team view of the city task (registered as ``maaal/city``).

    ``config`` keys (all optional): ``scenario`` (see ``SCENARIOS``), ``teams`` ("random" or
    "fixed" F, B, G cycling), ``obs_layout`` ("entity" or "flat"), ``allocation_interval``,
    ``seed``, ``render_mode``, and ``num_envs`` (RLlib's vector entry point: a ``VectorEnv``).
    """
    config = dict(config or {})
    num_envs = config.get("num_envs")
    core = _core_from_config(config, 1 if num_envs is None else num_envs)
    return team_env(core, batched=num_envs is not None, render_mode=config.get("render_mode"))


def check_env_config(config: dict[str, Any]) -> tuple[spaces.Space, spaces.Space]:
    """Validate a ``maaal/city`` env_config; the team view's observation and action spaces."""
    config = {k: v for k, v in config.items() if k != "num_envs"}
    core = _core_from_config(config, 1)
    return core.single_observation_space, core.single_action_space
