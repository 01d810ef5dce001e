"""Replay of whole team episodes, sampled as zero-padded (B, T) batches.

MAAAL's losses need time structure that single transitions lack: the semi-MDP return of an
allocation runs from one decision step to the next, and L2's target uses the allocation actually
taken at t + 1. So, as in PyMARL's QMIX, the buffer stores complete episodes and the learner sees
``obs`` (B, T + 1, ...) (the last entry of each episode is its final observation) and per-step
``allocation``, ``action``, ``reward`` (B, T, ...), with ``length`` and ``terminated`` per episode.
A replay made with ``subtask_reward=True`` also stores and samples the env's per-subtask rewards
``subtask_reward`` (B, T, M) (``infos["subtask_reward"]``, for reward shaping); without it (the
default) they take no bytes.

Storage is compact and preallocated. An
:class:`~rllib_maaal.envs.team.ObservationCodec` decides what is kept of an observation: only
keys the losses read, keys fixed for an episode once per episode, repeated keys derived, masks as
bool and indices as small integers (all exact). The steps of every episode lie in one ring of
rows (an episode's T + 1 rows are contiguous; its action row T is empty), so a batch is one
fancy-index gather per stored key, decoded once.

The :class:`~rllib_maaal.algorithms.episodic.team_env_runner.TeamEnvRunner` hands over
:class:`EpisodeChunk` objects already in the stored form; chunks of one episode (an episode
running past the end of a ``sample()`` call) are joined here when its last chunk arrives.

:meth:`EpisodeReplay.get_state` writes the stored episodes' rows oldest first, so a checkpoint
holds them as one ``.npz`` file without pickling Python objects per step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gymnasium import spaces

from rllib_maaal.envs.team import ObservationCodec

Episode = dict[str, Any]
#: The per-step entries of an episode besides its observations.
_STEP_KEYS = ("allocation", "action", "reward")
#: The optional per-step entry: the env's per-subtask rewards (T, M).
SUBTASK_REWARD = "subtask_reward"
#: Decoded dtypes of the step entries (what the learners read).
_STEP_DTYPES = {
    "allocation": np.int64,
    "action": np.int64,
    "reward": np.float32,
    SUBTASK_REWARD: np.float32,
}
#: A ring of rows holds this many times the rows of ``capacity`` episodes of the mean length.
_ROOM = 1.03


@dataclass(eq=False)
class EpisodeChunk:
    """Consecutive steps of one team episode in the replay's stored form.

    ``steps`` are the codec's per-step entries (T + 1 rows, the last one the observation after
    the chunk's last step), ``constant`` its per-episode entries; ``allocation`` (T, U),
    ``action`` (T, N), ``reward`` (T,) and, where the runner records them, ``subtask_reward``
    (T, M) in their stored dtypes; ``return_`` is the sum of the env's rewards as the env gave
    them. The methods are the part of RLlib's episode API that the
    Algorithm, callbacks and ``rllib evaluate`` use.
    """

    id_: str
    steps: dict[str, np.ndarray]
    constant: dict[str, np.ndarray]
    allocation: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    return_: float
    is_terminated: bool = False
    is_truncated: bool = False
    is_dropped: bool = False
    final_info: dict[str, Any] = field(default_factory=dict)
    subtask_reward: np.ndarray | None = None

    @classmethod
    def dropped(cls, id_: str) -> EpisodeChunk:
        """A chunk without steps saying that episode ``id_`` will never end: its env failed and
        was rebuilt (``restart_failed_sub_environments``), so its chunks so far are void."""
        empty = np.zeros(0)
        return cls(id_, {}, {}, empty, empty, empty, 0.0, is_dropped=True)

    @property
    def is_done(self) -> bool:
        return self.is_terminated or self.is_truncated

    def __len__(self) -> int:
        return len(self.reward)

    def env_steps(self) -> int:
        return len(self.reward)

    def agent_steps(self) -> int:
        return len(self.reward)

    def get_return(self) -> float:
        return self.return_

    def get_infos(self, index: int = -1) -> dict[str, Any]:
        """The info of the chunk's last step where the episode ended there (else empty): the
        only info a chunk keeps, where the tasks report their episode metrics."""
        if index != -1:
            raise ValueError(f"an EpisodeChunk keeps only its final info (index -1); got {index}")
        return self.final_info


class EpisodeReplay:
    """A FIFO buffer of at most ``capacity`` complete episodes.

    ``codec`` says how observations are stored; without one, the first episode added (or the
    state restored) fixes the keys and dtypes, stored as they are apart from 0/1 masks.
    ``subtask_reward``: also store the episodes' per-subtask rewards (see the module docstring).
    """

    def __init__(
        self,
        capacity: int,
        seed: int | None = None,
        codec: ObservationCodec | None = None,
        subtask_reward: bool = False,
    ) -> None:
        self.capacity = capacity
        self.codec = codec
        self.step_keys = (*_STEP_KEYS, SUBTASK_REWARD) if subtask_reward else _STEP_KEYS
        self._rng = np.random.default_rng(seed)
        self.num_steps_added = 0
        self._open: dict[str, list[EpisodeChunk]] = {}
        # Episode slots form a ring of `capacity`; their rows a ring of steps.
        self._start = np.zeros(capacity, np.int64)
        self._length = np.zeros(capacity, np.int64)
        self._terminated = np.zeros(capacity, bool)
        self._constant: dict[str, np.ndarray] = {}
        self._rows: dict[str, np.ndarray] = {}  # stored observation entries
        self._taken: dict[str, np.ndarray] = {}  # allocation, action, reward (row T empty)
        self._oldest = 0
        self._count = 0
        self._write = 0

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        """Bytes the stored episodes take (the allocated rows and episode slots)."""
        arrays = [*self._rows.values(), *self._taken.values(), *self._constant.values()]
        arrays += [self._start, self._length, self._terminated]
        return sum(a.nbytes for a in arrays)

    # ------------------------------------------------------------------ adding
    def add(self, chunks: list[EpisodeChunk]) -> list[Episode]:
        """Store the chunks; return the episodes they completed.

        A returned episode is a dict like an added one, whose ``obs`` holds the stored entries
        (per-episode ones broadcast over time) instead of every key: enough for statistics.
        """
        completed = []
        for chunk in chunks:
            if chunk.is_dropped:
                self._open.pop(chunk.id_, None)
                continue
            if len(chunk) == 0:
                continue
            if not chunk.is_done:
                self._open.setdefault(chunk.id_, []).append(chunk)
                continue
            parts = [*self._open.pop(chunk.id_, []), chunk]
            if SUBTASK_REWARD in self.step_keys and chunk.subtask_reward is None:
                raise ValueError(
                    "EpisodeReplay stores subtask_reward, but an EpisodeChunk came without it "
                    "(the TeamEnvRunner records it when the config's replay_subtask_reward is on)"
                )
            steps = {
                key: np.concatenate([p.steps[key][:-1] for p in parts[:-1]] + [chunk.steps[key]])
                for key in chunk.steps
            }
            actions = {
                key: np.concatenate([getattr(p, key) for p in parts]) for key in self.step_keys
            }
            completed.append(self._store(steps, chunk.constant, actions, chunk.is_terminated))
        return completed

    def add_episode(self, episode: Episode) -> Episode:
        """Store one complete episode given as arrays with every observation key (see the
        module docstring); return it in the form :meth:`add` returns."""
        if self.codec is None:
            self.codec = _plain_codec(episode["obs"])
        steps = self.codec.encode_step(episode["obs"])
        constant = {k: v[0] for k, v in self.codec.encode_constant(episode["obs"]).items()}
        actions = {key: episode[key] for key in self.step_keys}
        return self._store(steps, constant, actions, bool(episode["terminated"]))

    def _store(
        self,
        steps: Mapping[str, np.ndarray],
        constant: Mapping[str, np.ndarray],
        actions: Mapping[str, np.ndarray],
        terminated: bool,
    ) -> Episode:
        length = len(actions["reward"])
        if not self._rows:
            self._allocate(steps, constant, actions, int(self.capacity * (length + 1) * _ROOM))
        if self._count == self.capacity:
            self._oldest = (self._oldest + 1) % self.capacity
            self._count -= 1
        start = self._place(length + 1)
        if start is None:
            self._grow(length + 1)
            start = self._write
        rows = slice(start, start + length + 1)
        for key, value in steps.items():
            self._rows[key][rows] = value
        for key, value in actions.items():
            self._taken[key][start : start + length] = value
            self._taken[key][start + length] = 0
        slot = (self._oldest + self._count) % self.capacity
        for key, value in constant.items():
            self._constant[key][slot] = value
        self._start[slot], self._length[slot] = start, length
        self._terminated[slot] = terminated
        self._count += 1
        self._write = start + length + 1
        self.num_steps_added += length
        obs = {key: self._rows[key][rows] for key in steps}
        obs.update({k: np.broadcast_to(v, (length + 1, *v.shape)) for k, v in constant.items()})
        episode = {key: self._taken[key][start : start + length] for key in self.step_keys}
        return episode | {"obs": obs, "length": length, "terminated": terminated}

    def _allocate(
        self,
        steps: Mapping[str, np.ndarray],
        constant: Mapping[str, np.ndarray],
        actions: Mapping[str, np.ndarray],
        num_rows: int,
    ) -> None:
        """Zeroed rings of ``num_rows`` rows for the entries of ``steps``/``actions``, plus a
        last row that stays zero (what padding gathers), and the ``constant`` slots (untouched
        pages of a zeroed array take no memory until written)."""
        for rings, entries in ((self._rows, steps), (self._taken, actions)):
            for key, value in entries.items():
                rings[key] = np.zeros((num_rows + 1, *value.shape[1:]), value.dtype)
        for key, value in constant.items():
            value = np.asarray(value)
            self._constant[key] = np.zeros((self.capacity, *value.shape), value.dtype)

    def _place(self, num_rows: int) -> int | None:
        """The first row of a free run of ``num_rows`` rows after the newest episode (wrapping
        to row 0), or None if the ring has none."""
        size = self._size
        if self._count == 0:
            return 0 if num_rows <= size else None
        oldest, write = self._start[self._oldest], self._write
        if write > oldest:  # live rows [oldest, write)
            if write + num_rows <= size:
                return write
            return 0 if num_rows <= oldest else None
        return write if write + num_rows <= oldest else None  # live: [oldest, end) + [0, write)

    def _grow(self, num_rows: int) -> None:
        """A ring holding the live episodes' rows in order, then room for ``num_rows``: sized
        for ``capacity`` episodes of the mean length so far (the first episode, which sized
        the ring, may have been short), never smaller than before."""
        live = self._live_rows()
        needed = len(live) + num_rows
        target = int(self.capacity * needed / (self._count + 1) * _ROOM)
        size = max(self._size, needed, target)
        for rings in (self._rows, self._taken):
            for key, value in rings.items():
                grown = np.zeros((size + 1, *value.shape[1:]), value.dtype)
                grown[: len(live)] = value[live]
                rings[key] = grown
        slots = self._slots(np.arange(self._count))
        self._start[slots] = np.cumsum(self._length[slots] + 1) - (self._length[slots] + 1)
        self._write = len(live)

    @property
    def _size(self) -> int:
        """Rows of the ring (without its zero row)."""
        return len(self._taken["reward"]) - 1

    def _slots(self, picks: np.ndarray) -> np.ndarray:
        """The slots of the ``picks``-th oldest stored episodes."""
        return (self._oldest + picks) % self.capacity

    def _live_rows(self) -> np.ndarray:
        """The rows of the stored episodes, oldest first."""
        slots = self._slots(np.arange(self._count))
        sizes = self._length[slots] + 1
        offsets = np.cumsum(sizes) - sizes
        return np.repeat(self._start[slots] - offsets, sizes) + np.arange(sizes.sum())

    # ---------------------------------------------------------------- sampling
    def sample(self, num_episodes: int) -> dict[str, Any]:
        """``num_episodes`` episodes drawn uniformly (with replacement), zero-padded in time."""
        slots = self._slots(self._rng.integers(self._count, size=num_episodes))
        length = self._length[slots]
        t = np.arange(length.max() + 1)
        valid = t <= length[:, None]  # (B, T + 1)
        rows = np.where(valid, self._start[slots, None] + t, self._size)  # padding: zero row
        gathered = {key: ring[rows] for key, ring in self._rows.items()}
        batch: dict[str, Any] = {
            key: ring[rows[:, :-1]].astype(_STEP_DTYPES[key], copy=False)
            for key, ring in self._taken.items()
        }
        constant = {key: value[slots] for key, value in self._constant.items()}
        batch.update(
            obs=self.codec.decode(gathered, constant, valid),
            length=length.copy(),
            terminated=self._terminated[slots].astype(np.float32),
        )
        return batch

    # -------------------------------------------------------------- checkpoint
    def get_state(self) -> dict[str, np.ndarray]:
        """The stored episodes (oldest first), the step counter and the sampling RNG as arrays.

        Keys: ``length`` and ``terminated`` (one entry per episode); ``rows/<key>`` (the stored
        rows of every episode concatenated, ``length + 1`` per episode: the codec's per-step
        entries); ``taken/<key>`` (``allocation``, ``action``, ``reward`` in the same rows, the
        last row of each episode empty; ``subtask_reward`` too where stored); ``constant/<key>``
        (one entry per episode); ``num_steps_added``; ``rng`` (the generator's state as JSON,
        since its 128-bit integers fit no NumPy integer type). Episodes still being assembled
        from chunks are left out: the EnvRunners that sample them are not saved.
        """
        slots = self._slots(np.arange(self._count))
        live = self._live_rows()
        state = {
            "length": self._length[slots],
            "terminated": self._terminated[slots],
            "num_steps_added": np.array(self.num_steps_added, np.int64),
            "rng": np.array(json.dumps(self._rng.bit_generator.state)),
        }
        if self.codec is not None:
            dtypes = {key: np.dtype(dtype).str for key, dtype in self.codec.dtypes.items()}
            state["dtypes"] = np.array(json.dumps(dtypes))
        state.update({f"rows/{key}": value[live] for key, value in self._rows.items()})
        state.update({f"taken/{key}": value[live] for key, value in self._taken.items()})
        state.update({f"constant/{key}": value[slots] for key, value in self._constant.items()})
        return state

    def set_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Replace the stored episodes, step counter and RNG with those of :meth:`get_state`.

        If ``capacity`` is now smaller, the newest ``capacity`` episodes are kept. Open (partial)
        episodes are kept as they are: their remaining chunks still come from this buffer's
        EnvRunners. A state of the earlier layout (``obs/<key>`` with every key) is re-encoded.
        Saved subtask rewards are dropped unless this replay stores them; a replay that stores
        them refuses a state without them.
        """
        lengths = np.asarray(state["length"], np.int64)
        missing = f"taken/{SUBTASK_REWARD}" not in state
        if SUBTASK_REWARD in self.step_keys and len(lengths) and missing:
            raise ValueError(
                "the saved replay has no subtask_reward column (it was saved with "
                "subtask_reward_weight 0), which this run's L2 reads: resume with "
                "subtask_reward_weight 0, or delete the checkpoint's replay.npz to start with "
                "an empty replay"
            )
        self._rows, self._taken, self._constant = {}, {}, {}
        self._oldest = self._count = self._write = 0
        if any(key.startswith("obs/") for key in state):
            self._set_full_state(state, lengths)
        elif len(lengths):
            self._set_stored_state(state, lengths)
        self.num_steps_added = int(state["num_steps_added"])
        self._rng.bit_generator.state = json.loads(str(state["rng"]))

    def _set_stored_state(self, state: Mapping[str, np.ndarray], lengths: np.ndarray) -> None:
        keep = slice(max(len(lengths) - self.capacity, 0), None)
        first_row = int((lengths[: keep.start] + 1).sum())
        rows, taken, constant = (
            {
                k.removeprefix(prefix): v[first_row:] if prefix != "constant/" else v[keep]
                for k, v in state.items()
                if k.startswith(prefix)
            }
            for prefix in ("rows/", "taken/", "constant/")
        )
        taken = {key: taken[key] for key in self.step_keys}
        stored = set(rows)
        if self.codec is None:
            dtypes = json.loads(str(state["dtypes"]))
            self.codec = _plain_codec({k: rows[k][:0].astype(dtypes[k]) for k in stored})
        elif stored != set(self.codec.step_keys):
            raise ValueError(
                f"the saved replay stores {sorted(stored)}, this run's observations need "
                f"{sorted(self.codec.step_keys)}"
            )
        lengths = lengths[keep]
        num_rows = int((lengths + 1).sum())
        self._allocate(
            rows,
            {k: v[0] for k, v in constant.items()},
            taken,
            int(max(self.capacity / len(lengths), 1) * num_rows * _ROOM),
        )
        for rings, entries in ((self._rows, rows), (self._taken, taken)):
            for key, value in entries.items():
                rings[key][:num_rows] = value
        for key, value in constant.items():
            self._constant[key][: len(lengths)] = value
        count = len(lengths)
        self._start[:count] = np.cumsum(lengths + 1) - (lengths + 1)
        self._length[:count] = lengths
        self._terminated[:count] = state["terminated"][keep]
        self._count, self._write = count, num_rows

    def _set_full_state(self, state: Mapping[str, np.ndarray], lengths: np.ndarray) -> None:
        """Re-encode a replay saved with every observation key (``obs/<key>``)."""
        bounds = np.cumsum(lengths)[:-1]
        steps = {key: np.split(state[key], bounds) for key in _STEP_KEYS if key in state}
        obs = {
            key.removeprefix("obs/"): np.split(value, np.cumsum(lengths + 1)[:-1])
            for key, value in state.items()
            if key.startswith("obs/")
        }
        for i in range(max(len(lengths) - self.capacity, 0), len(lengths)):
            episode = {key: parts[i] for key, parts in steps.items()}
            self.add_episode(
                episode
                | {"obs": {key: parts[i] for key, parts in obs.items()}}
                | {"terminated": bool(state["terminated"][i]), "length": int(lengths[i])}
            )


def _plain_codec(obs: Mapping[str, np.ndarray]) -> ObservationCodec:
    """A codec storing every key of ``obs`` (T, ...) arrays as it is (0/1 masks as bool)."""
    space = {}
    for key, value in obs.items():
        if np.issubdtype(value.dtype, np.integer):
            bounds = np.iinfo(value.dtype)
            space[key] = spaces.Box(bounds.min, bounds.max, value.shape[1:], value.dtype)
        else:
            space[key] = spaces.Box(-np.inf, np.inf, value.shape[1:], value.dtype)
    return ObservationCodec(spaces.Dict(space))
