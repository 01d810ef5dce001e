"""Replay of whole team episodes, sampled as zero-padded (B, T) batches.

MAAAL's losses need time structure that single transitions lack: the semi-MDP return of an
allocation runs from one decision step to the next, and L2's target uses the allocation actually
taken at t + 1. So, as in PyMARL's QMIX, the buffer stores complete episodes and the learner sees
``obs`` (B, T + 1, ...) (the last entry of each episode is its final observation) and per-step
``allocation``, ``action``, ``reward`` (B, T, ...), with ``length`` and ``terminated`` per episode.

EnvRunners return episode chunks (``batch_mode="truncate_episodes"``); chunks of one episode are
joined here when its last chunk arrives.

:meth:`EpisodeReplay.get_state` flattens the stored episodes into a few arrays (steps of all
episodes concatenated, plus each episode's length), so a checkpoint writes them as one ``.npz``
file without pickling Python objects per step.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any

import numpy as np
from ray.rllib.env.single_agent_episode import SingleAgentEpisode

Episode = dict[str, Any]
#: The per-step entries of an episode (``obs`` has one more entry, the final observation).
_STEP_KEYS = ("allocation", "action", "reward")


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

    def get_state(self) -> dict[str, np.ndarray]:
        """The stored episodes (oldest first), the step counter and the sampling RNG as arrays.

        Keys: ``length`` and ``terminated`` (one entry per episode); ``allocation``, ``action``,
        ``reward`` (the episodes' steps concatenated); ``obs/<key>`` (their observations
        concatenated, ``length + 1`` per episode); ``num_steps_added``; ``rng`` (the generator's
        state as JSON, since its 128-bit integers fit no NumPy integer type). Episodes still being
        assembled from chunks are left out: the EnvRunners that sample them are not saved.
        """
        episodes = list(self._episodes)
        state = {
            "length": np.array([e["length"] for e in episodes], np.int64),
            "terminated": np.array([e["terminated"] for e in episodes], bool),
            "num_steps_added": np.array(self.num_steps_added, np.int64),
            "rng": np.array(json.dumps(self._rng.bit_generator.state)),
        }
        if episodes:
            for key in _STEP_KEYS:
                state[key] = np.concatenate([e[key] for e in episodes])
            for key in episodes[0]["obs"]:
                state[f"obs/{key}"] = np.concatenate([e["obs"][key] for e in episodes])
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Replace the stored episodes, step counter and RNG with those of :meth:`get_state`.

        The episodes are appended oldest first, so FIFO eviction goes on in the saved order; if
        ``capacity`` is now smaller, the newest ``capacity`` episodes are kept. Open (partial)
        episodes are kept as they are: their remaining chunks still come from this buffer's
        EnvRunners.
        """
        lengths = state["length"]
        steps = {
            key: np.split(state[key], np.cumsum(lengths)[:-1]) for key in _STEP_KEYS if key in state
        }
        obs = {
            key.removeprefix("obs/"): np.split(value, np.cumsum(lengths + 1)[:-1])
            for key, value in state.items()
            if key.startswith("obs/")
        }
        self._episodes.clear()
        for i, length in enumerate(lengths):
            episode = {key: parts[i] for key, parts in steps.items()}
            episode.update(
                obs={key: parts[i] for key, parts in obs.items()},
                terminated=bool(state["terminated"][i]),
                length=int(length),
            )
            self._episodes.append(episode)
        self.num_steps_added = int(state["num_steps_added"])
        self._rng.bit_generator.state = json.loads(str(state["rng"]))

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
        for key in _STEP_KEYS:
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
    episode = {key: np.concatenate([p[key] for p in parts]) for key in _STEP_KEYS}
    episode.update(obs=obs, terminated=parts[-1]["terminated"], length=len(episode["reward"]))
    return episode


def _pad(arrays: list[np.ndarray], length: int) -> np.ndarray:
    out = np.zeros((len(arrays), length, *arrays[0].shape[1:]), arrays[0].dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out
