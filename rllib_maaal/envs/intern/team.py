"""The intern competition's team view for RLlib (``env: maaal/intern``)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium import spaces

from rllib_maaal.envs.intern.core import InternConfig, InternCore
from rllib_maaal.envs.team import team_env


def make_team_env(config: dict[str, Any]) -> gym.Env | gym.vector.VectorEnv:
    """The team view for RLlib (``env: maaal/intern``); batched when ``num_envs`` is given.

    env_config keys: every :class:`InternConfig` field, plus ``num_envs``, ``seed`` and
    ``render_mode``. Decisions: ``decide`` is 1 on the first day of each week; ``allocation`` must
    then be a valid pairing (symmetric, in range, self-pairs only with ``allow_self``), otherwise
    ``step`` raises a ``ValueError``. ``rule_allocation`` is a uniformly random maximal pairing
    redrawn every week (one team sits out when T is odd), ``rule_action`` is message 0.
    """
    config = dict(config)
    cfg = InternConfig.from_dict(config, extra=("num_envs", "seed", "render_mode"))
    num_envs = config.get("num_envs")
    core = InternCore(cfg, num_envs=num_envs or 1, seed=config.get("seed"))
    return team_env(core, batched=num_envs is not None, render_mode=config.get("render_mode"))


def check_env_config(config: dict[str, Any]) -> tuple[spaces.Space, spaces.Space]:
    """Validate a ``maaal/intern`` env_config; the team view's observation and action spaces."""
    env = make_team_env({k: v for k, v in config.items() if k != "num_envs"})
    return env.observation_space, env.action_space
