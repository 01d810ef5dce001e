"""Whole matches of a policy in worker processes, with the paper's match metrics."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from rllib_maaal.envs.football.core import _validated
from rllib_maaal.envs.football.policies import fixed_bt_policy
from rllib_maaal.envs.football.team import FootballTeamEnv

_worker_env: FootballTeamEnv | None = None


def _start_worker(config: dict[str, Any]) -> None:
    global _worker_env
    _worker_env = FootballTeamEnv(config)


def _play_match(policy: Callable[[dict], dict], seed: int) -> tuple[int, int]:
    """Play one match in this worker's env; return goals (for, against)."""
    obs, info = _worker_env.reset(seed=seed)
    done = False
    while not done:
        obs, _, terminated, truncated, info = _worker_env.step(policy(obs))
        done = terminated or truncated
    return int(info["score"][0]), int(info["score"][1])


def play_matches(
    policy: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] = fixed_bt_policy,
    n: int = 20,
    workers: int = 2,
    config: dict[str, Any] | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Play ``n`` matches of ``policy`` (team observation → team action) in ``workers`` processes.

    Match k is seeded with ``seed + k``, so results do not depend on the number of workers.
    Returns win / draw / loss rates and mean goals for / against per match (the paper's win score
    and loss score), with the per-match goals.
    """
    if n < 1 or workers < 1:
        raise ValueError(f"n and workers must be >= 1, got n={n}, workers={workers}")
    config = _validated(dict(config or {}))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(config,)
    ) as pool:
        goals = np.array(list(pool.map(_play_match, [policy] * n, range(seed, seed + n))))
    diff = goals[:, 0] - goals[:, 1]
    return {
        "matches": n,
        "win_rate": float((diff > 0).mean()),
        "draw_rate": float((diff == 0).mean()),
        "loss_rate": float((diff < 0).mean()),
        "goals_for": float(goals[:, 0].mean()),
        "goals_against": float(goals[:, 1].mean()),
        "goals": goals.tolist(),
    }
