"""The team view of football (``env: maaal/football``): one match, or a vector env of matches."""

from __future__ import annotations

from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np

from rllib_maaal.envs.football.core import DEFAULTS, FootballMatch, _validated, match_info
from rllib_maaal.envs.football.render import PitchRenderer
from rllib_maaal.envs.football.zones import BUILTIN_AI, N_ACTIONS, STATUS_DIM, ZoneTree
from rllib_maaal.envs.team import (
    SingleTeamEnv,
    check_actions,
    check_num_envs,
    check_running,
    integer_array,
    team_action_space,
    team_observation_space,
)


class FootballTeamCore:
    """The team view of one match (the engine is not batchable: ``num_envs`` is 1).

    Implements :class:`rllib_maaal.envs.team.BatchedCore`; keeps the allocation in force and
    decides when a new one is due: every ``allocation_interval`` steps, and whenever the set of
    active subtasks changes (``allocation_interval=0``: only at kick-off, for static allocation).
    """

    num_envs = 1

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = _validated(config)
        self.match = FootballMatch(
            self.config["scenario"], self.config["rewards"], self.config["seed"]
        )
        self.tree = ZoneTree(self.config["tree"])
        self.part = self.config["part"]
        self.interval = int(self.config["allocation_interval"])
        self.agent_names = [f"player_{k}" for k in self.match.players]
        n, m = self.match.n_agents, self.tree.n_subtasks
        self.single_observation_space = team_observation_space(
            n_agents=n,
            obs_dim=self.match.obs_dim,
            state_dim=self.match.state_dim,
            n_actions=N_ACTIONS,
            n_subtasks=m,
            status_dim=STATUS_DIM,
            n_subtask_types=m,
            pair_dim=1,  # distance from the player to the zone
        )
        self.single_action_space = team_action_space(n_agents=n, n_actions=N_ACTIONS, n_subtasks=m)
        self._action_mask = np.ones((1, n, N_ACTIONS), np.float32)
        self._subtask_action_mask = self.tree.action_mask[None].astype(np.float32)
        self._subtask_type = np.arange(m)[None]
        self._rule_action = np.full((1, n, m), BUILTIN_AI)
        self._agent_unit = np.arange(n)[None]
        self._renderer: PitchRenderer | None = None
        self.ended = np.ones(1, bool)  # match over (or never started): reset before stepping

    def reset(self, which: np.ndarray, seed: int | None = None) -> None:
        if which[0]:
            self.match.reset(seed)
            self.ended[0] = False
            self._tick()
            self.allocation = self.rule_allocation
            self.decide = True
            self._since_decision = 0

    def _tick(self) -> None:
        """Tick the tree for the current ball position; the rule allocation follows."""
        self.active = self.tree.active(self.match.ball[None, :2], self.part)
        self.rule_allocation = self.tree.nearest_active(self._positions(), self.active)

    def _positions(self) -> np.ndarray:
        """(1, N, 2) pitch positions of our controlled players."""
        return self.match.ours[self.match.players][None]

    def step(self, action: dict[str, np.ndarray], which: np.ndarray):
        """Play one step (``which`` is always the single instance: see :class:`SingleTeamEnv`)."""
        check_running("match", which, self.ended)
        actions = integer_array("actions", action["action"]).reshape(1, -1)
        check_actions(actions, self._action_mask, self.match.agent_mask[None], self.agent_names)
        if self.decide:
            self._adopt(integer_array("allocation", action["allocation"]).reshape(1, -1))
            self._since_decision = 0
        reward, done = self.match.step(actions[0])
        self.ended[0] = done
        before = self.active
        self._tick()
        self._since_decision += 1
        self.decide = bool(self.interval) and (
            self._since_decision >= self.interval or bool((self.active != before).any())
        )
        return np.array([reward]), np.array([done]), np.zeros(1, bool), self._infos(reward)

    def _adopt(self, allocation: np.ndarray) -> None:
        """Adopt a new allocation; every unit must point at an active subtask."""
        m = self.tree.n_subtasks
        valid = (allocation >= 0) & (allocation < m)
        valid &= np.take_along_axis(self.active, allocation.clip(0, m - 1), axis=1)
        if not valid.all():
            i = int(np.flatnonzero(~valid[0])[0])
            raise ValueError(
                f"allocation of {self.agent_names[i]!r} is {int(allocation[0, i])}, not an active "
                f"subtask; active subtasks: {np.flatnonzero(self.active[0]).tolist()}"
            )
        self.allocation = allocation.copy()  # the caller may reuse its array

    def _infos(self, reward: float) -> dict[str, np.ndarray]:
        info = match_info(self.match)
        batched = {key: np.asarray(value)[None] for key, value in info.items()}
        batched["subtask_reward"] = np.where(self.active, reward, 0.0).astype(np.float32)
        return batched

    def observe(self) -> dict[str, np.ndarray]:
        match = self.match
        status = self.tree.status(
            match.ball[None, :2],
            np.array([match.ball_owner]),
            match.ours[None],
            match.theirs[None],
            self.allocation,
        )
        return {
            "obs": match.obs[None],
            "state": match.state[None],
            "agent_mask": match.agent_mask[None],
            "action_mask": self._action_mask,
            "subtask_status": status,
            "subtask_type": self._subtask_type,
            "subtask_active": self.active.astype(np.float32),
            "subtask_action_mask": self._subtask_action_mask,
            "allocation": self.allocation,
            "decide": np.array([[float(self.decide)]], np.float32),
            "rule_allocation": self.rule_allocation,
            "rule_action": self._rule_action,
            "agent_unit": self._agent_unit,
            "pair": self.tree.distance(self._positions())[..., None].astype(np.float32),
        }

    def render(self, index: int = 0) -> np.ndarray:
        if self._renderer is None:
            self._renderer = PitchRenderer(self.tree)
        match = self.match
        return self._renderer.render(
            match.ours, match.theirs, match.ball, self.active[0], self.allocation[0], match.players
        )

    def close(self) -> None:
        self.match.close()


class FootballTeamEnv(SingleTeamEnv):
    """The team view of one match as a ``gymnasium.Env``."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, config: dict[str, Any]) -> None:
        core = FootballTeamCore(config)
        super().__init__(core, render_mode=core.config["render_mode"])

    def close(self) -> None:
        self.core.close()


def check_env_config(config: dict[str, Any]) -> None:
    """Validate a ``maaal/football`` env_config without starting an engine (no spaces: the
    team view reads them from a running match)."""
    config = dict(config)
    check_num_envs(config.pop("num_envs", None))
    _validated(config)


def make_team_env(config: dict[str, Any]) -> gym.Env | gym.vector.VectorEnv:
    """The team view: one match, or with ``num_envs`` a vector env of that many matches.

    The engine cannot batch matches, so a vector env holds one engine per sub-env. ``sync``
    (default) steps them in turn in the calling process: RLlib already runs one process per
    EnvRunner, and ``benchmarks/football_env.py`` measured no gain from ``async`` (a process per
    match) on a busy 2-core machine (2 matches: sync 52.7-55.2, async 31.8-48.7 steps/s). Pick
    ``async`` when an EnvRunner has idle cores of its own.
    """
    config = dict(config)
    num_envs = config.pop("num_envs", None)
    check_env_config({**config, "num_envs": num_envs})
    if num_envs is None:
        return FootballTeamEnv(config)
    seed = config.get("seed")
    make = [
        partial(FootballTeamEnv, {**config, "seed": None if seed is None else seed + k})
        for k in range(int(num_envs))
    ]
    mode = gym.vector.AutoresetMode.NEXT_STEP
    if config.get("vectorize", DEFAULTS["vectorize"]) == "sync":
        return gym.vector.SyncVectorEnv(make, autoreset_mode=mode)
    return gym.vector.AsyncVectorEnv(make, autoreset_mode=mode, context="spawn")
