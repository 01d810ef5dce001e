"""The intern competition with PettingZoo's parallel and AEC APIs (one agent per intern)."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.utils import parallel_to_aec, wrappers

from rllib_maaal.envs.intern.core import OBS_FEATURES, InternConfig, InternCore
from rllib_maaal.envs.rendering import FrameViewer
from rllib_maaal.envs.team import check_agent_actions
from rllib_maaal.grouping import check_pairing


class InternParallelEnv(ParallelEnv):
    """PettingZoo view: one agent per intern (``intern_<i>``), a daily Discrete(2) message.

    The weekly pairing is part of the joint action but not of any intern's action. It is driven
    by ``pairing``:

    - ``"random"``: the env draws a uniformly random pairing every week (the paper's baseline);
    - ``"given"``: the caller supplies it, with ``set_pairing(partners)`` (or
      ``reset(options={"pairing": partners})``); it is validated at once and adopted on the next
      first day of a week, and stays in force until replaced (before any is given, the random
      pairing is used).

    We chose a method over an extra "coordinator" agent present only on week boundaries: in
    PettingZoo an agent leaves ``agents`` only by terminating or truncating and cannot come back
    (``parallel_api_test`` asserts both), so a weekly agent would have to stay live, acting on six
    days out of seven for nothing; and random-action tooling would feed it pairings that are
    invalid almost surely. Learned high levels drive the pairing through the team view instead.
    """

    metadata = {"render_modes": ["rgb_array"], "name": "intern_v0", "is_parallelizable": True}

    def __init__(
        self, render_mode: str | None = None, pairing: str = "random", **config: Any
    ) -> None:
        self._viewer = FrameViewer(render_mode, self.metadata["render_modes"])
        if pairing not in ("random", "given"):
            raise ValueError(f"pairing must be 'random' or 'given', got {pairing!r}")
        self.render_mode = render_mode
        self.pairing = pairing
        self.core = InternCore(InternConfig.from_dict(config), num_envs=1)
        self.possible_agents = list(self.core.agent_names)
        self.agents: list[str] = []
        # tells "before the first reset" from "episode over" (both have no live agents)
        self._started = False
        box = spaces.Box(-np.inf, np.inf, (len(OBS_FEATURES),), np.float32)
        self.observation_spaces = {a: box for a in self.possible_agents}
        self.action_spaces = {a: spaces.Discrete(2) for a in self.possible_agents}
        self.state_space = self.core.single_observation_space["state"]
        self._pending: np.ndarray | None = None
        self._one = np.ones(1, bool)

    def observation_space(self, agent: str) -> spaces.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self.action_spaces[agent]

    def set_pairing(self, partners: np.ndarray) -> None:
        """Pairing for the next week (``pairing="given"``): ``partners[t]`` is team t's partner."""
        if self.pairing != "given":
            raise ValueError("set_pairing needs pairing='given' (this env draws random pairings)")
        self._pending = check_pairing(partners, self.core.n_teams, self.core.cfg.allow_self)

    def reset(
        self, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        self.core.reset(self._one, seed)
        self._pending = None
        if options and "pairing" in options:
            self.set_pairing(options["pairing"])
        self._started = True
        self.agents = list(self.possible_agents)
        return self._observations(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, int]) -> tuple[dict, dict, dict, dict, dict]:
        # every intern is live until the horizon, so the checked messages are in intern order
        messages = check_agent_actions(actions, self.agents, 2, started=self._started)[None]
        allocation = self.core.rule_partners
        if self.pairing == "given" and self._pending is not None:
            allocation = self._pending[None]
        _, _, truncated, infos = self.core.step(
            {"allocation": allocation, "action": messages}, self._one
        )
        rewards = dict(zip(self.possible_agents, infos["intern_reward"][0].tolist(), strict=True))
        observations = self._observations()
        done = bool(truncated[0])
        terminations = {a: False for a in self.agents}
        truncations = {a: done for a in self.agents}
        team = self.core.agent_unit
        partners = self.core.partners[0]
        step_infos = {
            a: {"team": int(team[i]), "opponent": int(partners[team[i]])}
            for i, a in enumerate(self.agents)
        }
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, step_infos

    def _observations(self) -> dict[str, np.ndarray]:
        features = self.core.intern_features()[0]
        return dict(zip(self.possible_agents, features, strict=True))

    def state(self) -> np.ndarray:
        return self.core.global_state()[0]

    def render(self) -> np.ndarray | None:
        return self._viewer.render(lambda: self.core.render(0))


def parallel_env(render_mode: str | None = None, **kwargs: Any) -> InternParallelEnv:
    """The PettingZoo parallel env (keywords: ``pairing`` and any :class:`InternConfig` field)."""
    return InternParallelEnv(render_mode=render_mode, **kwargs)


def env(render_mode: str | None = None, **kwargs: Any):
    """The PettingZoo AEC env, with PettingZoo's standard safety wrappers."""
    aec = parallel_to_aec(parallel_env(render_mode=render_mode, **kwargs))
    return wrappers.OrderEnforcingWrapper(wrappers.AssertOutOfBoundsWrapper(aec))
