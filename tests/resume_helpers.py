"""Our own algorithm for the crash and resume tests (its replay is in its checkpoints), and
their check that a resumed run has the replay it saved (a module of its own name, so that
tests import it whatever else pytest has loaded)."""

from __future__ import annotations

from typing import Any

#: MAAAL on one-week intern episodes: iterations of at least a second, each adding about 36
#: complete episodes to the replay.
MAAAL_INTERN: dict[str, Any] = {
    "run": "MAAAL",
    "env": "maaal/intern",
    "config": {
        "env_config": {"n_weeks": 1},
        "allocation_solver": "pairing",
        "allow_self_pairing": True,
        "num_env_runners": 0,
        "num_envs_per_env_runner": 4,
        "rollout_fragment_length": 7,
        "num_episodes_before_learning_starts": 4,
        "episodes_per_update": 4,
        "min_time_s_per_iteration": 1,
        # A fast runner fills a small replay within a few iterations; the check below allows
        # for the oldest episodes leaving it.
        "replay_capacity": 1000,
    },
}


def replay_size(row: dict[str, Any]) -> int:
    return int(row["learners"]["replay_episodes"])


def assert_replay_restored(history: list[dict[str, Any]], from_iteration: int) -> None:
    """The replay right after the resume from ``from_iteration`` is the one saved then: the first
    resumed iteration's replay holds the checkpoint's episodes plus those it completed."""
    saved, resumed = history[from_iteration - 1], history[from_iteration]
    assert saved["training_iteration"] == from_iteration and replay_size(saved) > 0
    added = resumed["env_runners"]["num_episodes"]
    capacity = MAAAL_INTERN["config"]["replay_capacity"]
    assert replay_size(resumed) == min(replay_size(saved) + added, capacity)
