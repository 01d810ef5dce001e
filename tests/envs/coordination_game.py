"""A tiny deterministic PettingZoo game that needs coordination, for the ``maaal/pettingzoo`` tests.

N agents each pick one of A ≥ N actions for H steps and see only the step's one-hot (the same for
all of them). The team scores 1 at a step where the agents pick pairwise different actions, and
they share it equally (so the team view's summed reward is that 1). No action is right on its
own: the agents must split the actions between them (by the agent index the team view appends),
which uniform play does with probability A!/((A−N)! A^N) (2/9 for the default N = A = 3).
Optimal return: H (default 5). The game ends (terminates) after H steps, or with
``time_limit`` is truncated there instead, as by a time limit.

Options for the team-view tests: ``leave_after`` (the last agent terminates after that many
steps), ``mask`` (``"obs"``: PettingZoo's ``{"observation", "action_mask"}`` dict, ``"info"``:
``info["action_mask"]``; either forbids action ``t % A`` at step t and a step scores only if
every action is allowed: use N < A), ``continuous`` (a Box action space, which the team view
refuses) and ``state`` (``state()``/``state_space``: the step one-hot and the step count).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec


class CoordinationGame(ParallelEnv):
    metadata = {"name": "coordination_game_v0", "render_modes": []}

    def __init__(
        self,
        n_agents: int = 3,
        n_actions: int = 3,
        horizon: int = 5,
        leave_after: int | None = None,
        mask: str | None = None,
        continuous: bool = False,
        state: bool = True,
        time_limit: bool = False,
    ) -> None:
        self.possible_agents = [f"player_{i}" for i in range(n_agents)]
        self.agents: list[str] = []
        self.n_actions, self.horizon, self.leave_after, self.mask = (
            n_actions,
            horizon,
            leave_after,
            mask,
        )
        self.render_mode = None
        self._obs_space = spaces.Box(0.0, 1.0, (horizon + 1,), np.float32)
        if mask == "obs":
            self._obs_space = spaces.Dict(
                {
                    "observation": self._obs_space,
                    "action_mask": spaces.Box(0, 1, (n_actions,), np.int8),
                }
            )
        self._action_space = (
            spaces.Box(-1.0, 1.0, (n_actions,), np.float32)
            if continuous
            else spaces.Discrete(n_actions)
        )
        if state:
            self.state_space = spaces.Box(0.0, float(horizon), (horizon + 2,), np.float32)
        self.time_limit = time_limit
        self.t = 0

    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Space:
        return self._action_space

    def available(self) -> np.ndarray:
        allowed = np.ones(self.n_actions, np.int8)
        if self.mask is not None:
            allowed[self.t % self.n_actions] = 0
        return allowed

    def _observe(self, agents: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        step = np.eye(self.horizon + 1, dtype=np.float32)[self.t]
        obs = {"observation": step, "action_mask": self.available()} if self.mask == "obs" else step
        info = {"action_mask": self.available()} if self.mask == "info" else {}
        return {a: obs for a in agents}, {a: dict(info) for a in agents}

    def state(self) -> np.ndarray:
        step = np.eye(self.horizon + 1, dtype=np.float32)[self.t]
        return np.append(step, np.float32(self.t))

    def reset(self, seed: int | None = None, options: dict | None = None):
        self.agents = list(self.possible_agents)
        self.t = 0
        return self._observe(self.agents)

    def step(self, actions: dict[str, Any]):
        acting = list(self.agents)
        chosen = [int(actions[a]) for a in acting]
        score = float(len(set(chosen)) == len(chosen) and self.available()[chosen].all())
        rewards = {a: score / len(self.possible_agents) for a in acting}
        self.t += 1
        leaving = self.t == self.leave_after and self.t < self.horizon
        over = self.t >= self.horizon
        terminations = {
            a: (over and not self.time_limit) or (leaving and a == self.possible_agents[-1])
            for a in acting
        }
        truncations = {a: over and self.time_limit for a in acting}
        self.agents = [a for a in acting if not (terminations[a] or truncations[a])]
        obs, infos = self._observe(acting)  # every agent that acted sees its last observation
        return obs, rewards, terminations, truncations, infos


def parallel_env(**kwargs: Any) -> CoordinationGame:
    return CoordinationGame(**kwargs)


def env(**kwargs: Any) -> AECEnv:
    """The AEC version (for the team view's ``aec_to_parallel`` path)."""
    return parallel_to_aec(CoordinationGame(**kwargs))
