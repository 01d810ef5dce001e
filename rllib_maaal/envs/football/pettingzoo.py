"""Our outfield players as PettingZoo agents, one match per reset (:func:`parallel_env`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.utils import parallel_to_aec, wrappers

from rllib_maaal.envs.football.core import FootballMatch, _validated, match_info
from rllib_maaal.envs.football.render import PitchRenderer
from rllib_maaal.envs.football.zones import N_ACTIONS, ZoneTree
from rllib_maaal.envs.rendering import FrameViewer
from rllib_maaal.envs.team import check_agent_actions


class FootballParallelEnv(ParallelEnv):
    """Our outfield players as PettingZoo agents (``player_<team index>``), one match per reset.

    Rewards are the team reward for every agent; infos carry the engine's score, game mode and
    ball owner. A match ends (termination) at full time.
    """

    metadata = {
        "name": "football_v0",
        "render_modes": ["rgb_array"],
        "is_parallelizable": True,
        "render_fps": 10,
    }

    def __init__(self, render_mode: str | None = None, **env_config: Any) -> None:
        config = _validated({**env_config, "render_mode": render_mode})
        self.env_config = config
        self.render_mode = render_mode
        self.match = FootballMatch(config["scenario"], config["rewards"], config["seed"])
        self.possible_agents = [f"player_{k}" for k in self.match.players]
        self.agents: list[str] = []
        # tells "before the first reset" from "episode over" (both have no live agents)
        self._started = False
        self._observation_space = spaces.Box(-np.inf, np.inf, (self.match.obs_dim,), np.float32)
        self._action_space = spaces.Discrete(N_ACTIONS)
        self.state_space = spaces.Box(-np.inf, np.inf, (self.match.state_dim,), np.float32)
        self._renderer: PitchRenderer | None = None
        self._viewer = FrameViewer(render_mode, self.metadata["render_modes"])

    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._action_space

    def reset(self, seed: int | None = None, options: dict | None = None):
        self.match.reset(seed)
        self._started = True
        self.agents = list(self.possible_agents)
        return self._observations(), self._infos()

    def step(self, actions: dict[str, int]):
        # checked before the engine sees them: it would take a float or a bool as an action
        joint = check_agent_actions(actions, self.agents, N_ACTIONS, started=self._started)
        reward, done = self.match.step(joint)
        observations, infos = self._observations(), self._infos()
        rewards = dict.fromkeys(self.agents, reward)
        terminations = dict.fromkeys(self.agents, done)
        truncations = dict.fromkeys(self.agents, False)
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def _observations(self) -> dict[str, np.ndarray]:
        return dict(zip(self.possible_agents, self.match.obs, strict=True))

    def _infos(self) -> dict[str, dict[str, Any]]:
        info = match_info(self.match)
        return {agent: info for agent in self.possible_agents}

    def state(self) -> np.ndarray:
        return self.match.state

    def render(self) -> np.ndarray | None:
        return self._viewer.render(self._frame)

    def _frame(self) -> np.ndarray:
        if self._renderer is None:
            self._renderer = PitchRenderer(ZoneTree(self.env_config["tree"]))
        tree = self._renderer.tree
        active = tree.active(self.match.ball[None, :2], self.env_config["part"])[0]
        return self._renderer.render(self.match.ours, self.match.theirs, self.match.ball, active)

    def close(self) -> None:
        self.match.close()


def parallel_env(render_mode: str | None = None, **env_config: Any) -> FootballParallelEnv:
    """The PettingZoo parallel env (see the module docstring for ``env_config``)."""
    return FootballParallelEnv(render_mode=render_mode, **env_config)


def env(render_mode: str | None = None, **env_config: Any):
    """The PettingZoo AEC env: :func:`parallel_env` turned turn-based, with PettingZoo's checks."""
    aec = parallel_to_aec(parallel_env(render_mode=render_mode, **env_config))
    return wrappers.OrderEnforcingWrapper(wrappers.AssertOutOfBoundsWrapper(aec))
