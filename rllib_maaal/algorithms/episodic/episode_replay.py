"""Replay of whole team episodes, sampled as zero-padded (B, T) batches.

MAAAL's losses need time structure that single transitions lack: the semi-MDP return of an
allocation runs from one decision step to the next, and L2's target uses the allocation actually
taken at t + 1. So, as in PyMARL's QMIX, the buffer stores complete episodes and the learner sees
``obs`` (B, T + 1, ...) (the last entry of each episode is its final observation) and per-step
``allocation``, ``action``, ``reward`` (B, T, ...), with ``length`` and ``terminated`` per episode.

EnvRunners return episode chunks (``batch_mode="truncate_episodes"``); chunks of one episode are
joined here when its last chunk arrives.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
from ray.rllib.env.single_agent_episode import SingleAgentEpisode

Episode = dict[str, Any]


class EpisodeReplay:
    """A FIFO buffer of at most ``capacity`` complete episodes."""

    def __init__(self, capacity: int, seed: int | None = None) -> None:
        self.capacity = capacity
        self._episodes: deque[Episode] = deque(maxlen=capacity)
        self._open: dict[str, list[Episode]] = {}
        self._rng = np.random.default_rng(seed)
        self.num_steps_added = 0

    def __len__(self) -> int:
        return len(self._episodes)

    def add(self, chunks: list[SingleAgentEpisode]) -> list[Episode]:
        """Store the chunks; return the episodes they completed."""
        completed = []
        for chunk in chunks:
            if len(chunk) == 0:
                continue
            parts = self._open.setdefault(chunk.id_, [])
            parts.append(_to_arrays(chunk))
            if chunk.is_done:
                completed.append(self.add_episode(_join(self._open.pop(chunk.id_))))
        return completed

    def add_episode(self, episode: Episode) -> Episode:
        """Store one complete episode given as arrays (see the module docstring)."""
        self._episodes.append(episode)
        self.num_steps_added += episode["length"]
        return episode

    def sample(self, num_episodes: int) -> dict[str, Any]:
        """``num_episodes`` episodes drawn uniformly (with replacement), zero-padded in time."""
        picks = self._rng.integers(len(self._episodes), size=num_episodes)
        episodes = [self._episodes[i] for i in picks]
        horizon = max(e["length"] for e in episodes)
        batch: dict[str, Any] = {
            "obs": {
                key: _pad([e["obs"][key] for e in episodes], horizon + 1)
                for key in episodes[0]["obs"]
            },
            "length": np.array([e["length"] for e in episodes], np.int64),
            "terminated": np.array([e["terminated"] for e in episodes], np.float32),
        }
        for key in ("allocation", "action", "reward"):
            batch[key] = _pad([e[key] for e in episodes], horizon)
        return batch


def _to_arrays(chunk: SingleAgentEpisode) -> Episode:
    actions = chunk.get_actions()
    return {
        "obs": dict(chunk.get_observations()),
        "allocation": np.asarray(actions["allocation"], np.int64),
        "action": np.asarray(actions["action"], np.int64),
        "reward": np.asarray(chunk.get_rewards(), np.float32),
        "terminated": bool(chunk.is_terminated),
    }


def _join(parts: list[Episode]) -> Episode:
    """Concatenate consecutive chunks; each chunk repeats the previous one's last observation."""
    obs = {
        key: np.concatenate([p["obs"][key][:-1] for p in parts[:-1]] + [parts[-1]["obs"][key]])
        for key in parts[0]["obs"]
    }
    episode = {
        key: np.concatenate([p[key] for p in parts]) for key in ("allocation", "action", "reward")
    }
    episode.update(obs=obs, terminated=parts[-1]["terminated"], length=len(episode["reward"]))
    return episode


def _pad(arrays: list[np.ndarray], length: int) -> np.ndarray:
    out = np.zeros((len(arrays), length, *arrays[0].shape[1:]), arrays[0].dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out
