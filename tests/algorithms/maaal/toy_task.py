"""A tiny task that speaks the team-view contract, for fast tests of the algorithm's plumbing.

N agents, M subtasks of two types. Each subtask has a "right action" (its type's: 1 for type 0,
2 for type 1); an agent scores when it acts rightly inside an active subtask. Subtasks switch
on and off at random, so allocations must change; episodes end (terminate) when the score reaches
a goal, or are truncated after ``horizon`` steps. ``infos["subtask_reward"]`` counts the agents
acting rightly inside each subtask (so the reward is their sum minus 0.5). With ``pair=True`` the
observation also has the optional (agent, subtask) features ``pair``: whether the agent is
allocated to the subtask, and whether the subtask's type is the agent's parity. With
``entities=True`` it has the entity layout too: one entity per subtask (active, type, time) and
one padding entity.
"""

from __future__ import annotations

import os

import numpy as np

from rllib_maaal.envs.team import (
    BatchedTeamEnv,
    SingleTeamEnv,
    team_action_space,
    team_observation_space,
)

N, M, A, HORIZON, GOAL, PAIR_DIM = 3, 4, 4, 12, 20, 2


class ToyCore:
    def __init__(
        self,
        num_envs: int = 1,
        seed: int | None = None,
        pair: bool = False,
        entities: bool = False,
    ) -> None:
        self.num_envs = num_envs
        self.pair, self.entities = pair, entities
        self.rng = np.random.default_rng(seed)
        self.single_observation_space = team_observation_space(
            n_agents=N,
            obs_dim=M + 2,
            state_dim=2 * M + 1,
            n_actions=A,
            n_subtasks=M,
            status_dim=2,
            n_subtask_types=2,
            pair_dim=PAIR_DIM if pair else None,
            entity_shape=(M + 1, 3) if entities else None,
        )
        self.single_action_space = team_action_space(n_agents=N, n_actions=A, n_subtasks=M)
        self.types = np.arange(M) % 2
        self.active = np.ones((num_envs, M), np.float32)
        self.t = np.zeros(num_envs, np.int64)
        self.score = np.zeros(num_envs)
        self.allocation = np.zeros((num_envs, N), np.int64)
        self.decide = np.ones(num_envs, bool)

    def reset(self, which: np.ndarray, seed: int | None = None) -> None:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        self.active[which] = 1.0
        self.t[which] = 0
        self.score[which] = 0
        self.allocation[which] = 0
        self.decide[which] = True

    def step(self, action, which):
        subtask = np.where(self.decide[:, None], action["allocation"], self.allocation)
        self.allocation = np.where(which[:, None], subtask, self.allocation)
        right = 1 + self.types[subtask]
        ok = (action["action"] == right) & (np.take_along_axis(self.active, subtask, 1) > 0)
        reward = np.where(which, ok.sum(1) - 0.5, 0.0)
        on = ok[..., None] & (subtask[..., None] == np.arange(M)) & which[:, None, None]
        subtask_reward = on.sum(1).astype(np.float32)  # (B, M)
        self.score += reward
        self.t += which
        before = self.active.copy()
        flip = (self.rng.random(self.active.shape) < 0.1) & which[:, None]
        self.active = np.where(flip, 1.0 - self.active, self.active)
        self.active[:, 0] = 1.0  # never an empty active set
        self.decide = (self.active != before).any(1) | (self.t % 3 == 0)
        terminated = which & (self.score >= GOAL)
        truncated = which & ~terminated & (self.t >= HORIZON)
        infos = {"score": self.score.copy(), "subtask_reward": subtask_reward}
        return reward, terminated, truncated, infos

    def observe(self):
        B = self.num_envs
        onehot = np.eye(M, dtype=np.float32)[self.allocation]
        obs = np.concatenate([onehot, np.full((B, N, 2), self.t[:, None, None] / HORIZON)], -1)
        right = np.broadcast_to(1 + self.types, (B, N, M))
        observation = {
            "obs": obs.astype(np.float32),
            "state": np.concatenate(
                [self.active, np.broadcast_to(self.types, (B, M)), self.t[:, None] / HORIZON], 1
            ).astype(np.float32),
            "agent_mask": np.ones((B, N), np.float32),
            "action_mask": np.ones((B, N, A), np.float32),
            "subtask_status": np.stack(
                [self.active, np.broadcast_to(self.types, (B, M))], -1
            ).astype(np.float32),
            "subtask_type": np.broadcast_to(self.types, (B, M)).copy(),
            "subtask_active": self.active.copy(),
            "subtask_action_mask": np.ones((B, M, A), np.float32),
            "allocation": self.allocation.copy(),
            "decide": self.decide[:, None].astype(np.float32),
            "rule_allocation": np.zeros((B, N), np.int64),
            "rule_action": right.astype(np.int64).copy(),
            "agent_unit": np.broadcast_to(np.arange(N), (B, N)).copy(),
        }
        if self.pair:
            fit = np.arange(N)[:, None] % 2 == self.types
            observation["pair"] = np.stack([onehot, np.broadcast_to(fit, (B, N, M))], -1).astype(
                np.float32
            )
        if self.entities:
            time = np.broadcast_to(self.t[:, None] / HORIZON, (B, M))
            rows = np.stack([self.active, np.broadcast_to(self.types, (B, M)), time], -1)
            observation["entities"] = np.concatenate([rows, np.zeros((B, 1, 3))], 1).astype(
                np.float32
            )
            observation["entity_mask"] = np.concatenate(
                [np.ones((B, M)), np.zeros((B, 1))], 1
            ).astype(np.float32)
        return observation

    def render(self, index: int = 0):
        return None


def make_toy_env(config: dict):
    config = dict(config)
    if "num_envs" in config:
        return BatchedTeamEnv(ToyCore(config["num_envs"], config.get("seed")))
    return SingleTeamEnv(ToyCore(1, config.get("seed")))


def fail_once_env(config: dict) -> BatchedTeamEnv:
    """The toy task (``num_envs`` slots), failing in its ``fail_at``-th step once per flag file
    ``flag``: the first env to get there creates the flag and fails, envs made later find it and
    go on. ``fail`` says how: ``"raise"`` (the step raises, as a crashed engine's would) or
    ``"exit"`` (its process dies, as from a segfault or the OOM killer)."""
    env = make_toy_env(config)
    step, steps = env.step, 0

    def failing_step(action):
        nonlocal steps
        steps += 1
        if steps == config["fail_at"]:
            try:
                os.close(os.open(config["flag"], os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                if config["fail"] == "exit":
                    os._exit(1)
                raise RuntimeError("the toy engine crashed")
        return step(action)

    env.step = failing_step
    return env
