from __future__ import annotations

import io

import numpy as np
import pytest
from maaal_helpers import toy_episodes

from rllib_maaal.algorithms.episodic.episode_replay import EpisodeReplay


def assert_batches_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            assert_batches_equal(a[key], b[key])
        else:
            np.testing.assert_array_equal(a[key], b[key])
            assert a[key].dtype == b[key].dtype


def test_state_round_trips_through_npz_without_pickle():
    replay = EpisodeReplay(capacity=6, seed=3)
    for episode in toy_episodes(9):  # three evicted: the saved order must carry on FIFO
        replay.add_episode(episode)
    replay.sample(4)  # the RNG has moved on from its seed
    buffer = io.BytesIO()
    np.savez(buffer, **replay.get_state())
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        state = {key: npz[key] for key in npz.files}

    restored = EpisodeReplay(capacity=6, seed=0)
    restored.set_state(state)
    assert len(restored) == len(replay) == 6
    assert restored.num_steps_added == replay.num_steps_added
    assert_batches_equal(restored.sample(8), replay.sample(8))
    newer = toy_episodes(1, seed=1)[0]
    replay.add_episode(newer)
    restored.add_episode(newer)
    assert_batches_equal(restored.sample(16), replay.sample(16))


def test_empty_state_restores_an_empty_replay():
    replay = EpisodeReplay(capacity=4, seed=0)
    replay.add_episode(toy_episodes(1)[0])
    replay.set_state(EpisodeReplay(capacity=4, seed=0).get_state())
    assert len(replay) == 0
    assert replay.num_steps_added == 0


def test_a_smaller_capacity_keeps_the_newest_episodes():
    replay = EpisodeReplay(capacity=5, seed=0)
    episodes = toy_episodes(5)
    for episode in episodes:
        replay.add_episode(episode)
    smaller = EpisodeReplay(capacity=2, seed=0)
    smaller.set_state(replay.get_state())
    assert len(smaller) == 2
    batch = smaller.sample(16)
    kept = {tuple(r[:n]) for r, n in zip(batch["reward"], batch["length"], strict=True)}
    assert kept == {tuple(e["reward"]) for e in episodes[-2:]}
    for got, n in zip(batch["obs"]["obs"], batch["length"], strict=True):
        want = next(
            e for e in episodes[-2:] if e["length"] == n and (e["obs"]["obs"] == got[: n + 1]).all()
        )
        np.testing.assert_array_equal(got[: n + 1], want["obs"]["obs"])


def test_episodes_of_changing_lengths_wrap_and_grow_the_ring_in_fifo_order():
    replay = EpisodeReplay(capacity=5, seed=0)
    rng = np.random.default_rng(0)
    added = []
    for i, episode in enumerate(toy_episodes(40)):
        n = int(rng.integers(1, episode["length"] + 1)) if i % 7 else episode["length"]
        cut = {key: episode[key][:n] for key in ("allocation", "action", "reward")}
        cut.update(obs={k: v[: n + 1] for k, v in episode["obs"].items()}, length=n)
        added.append(replay.add_episode(cut | {"terminated": False}) and cut)
    state = replay.get_state()
    kept = added[-5:]
    np.testing.assert_array_equal(state["length"], [e["length"] for e in kept])
    rows = np.concatenate([np.append(e["reward"], 0) for e in kept])
    np.testing.assert_array_equal(state["taken/reward"], rows)
    batch = replay.sample(32)
    for obs, reward, n in zip(batch["obs"]["obs"], batch["reward"], batch["length"], strict=True):
        match = [e for e in kept if e["length"] == n and (e["reward"] == reward[:n]).all()]
        np.testing.assert_array_equal(obs[: n + 1], match[0]["obs"]["obs"])
        assert not obs[n + 1 :].any() and not reward[n:].any()


def _npz_round_trip(state: dict) -> dict:
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def test_subtask_rewards_are_stored_only_when_asked_for():
    episodes = toy_episodes(6)
    plain, shaped = EpisodeReplay(8, seed=1), EpisodeReplay(8, seed=1, subtask_reward=True)
    for episode in episodes:
        plain.add_episode(episode)
        shaped.add_episode(episode)
    assert "subtask_reward" not in plain.sample(4)
    # The column costs M float32s per stored row, and nothing without it.
    rows, n_subtasks = len(shaped._taken["reward"]), episodes[0]["subtask_reward"].shape[1]
    assert shaped.nbytes - plain.nbytes == rows * n_subtasks * 4
    batch = shaped.sample(16)
    assert batch["subtask_reward"].dtype == np.float32
    for reward, subtask_reward, n in zip(
        batch["reward"], batch["subtask_reward"], batch["length"], strict=True
    ):
        want = next(e for e in episodes if e["length"] == n and (e["reward"] == reward[:n]).all())
        np.testing.assert_array_equal(subtask_reward[:n], want["subtask_reward"])
        assert not subtask_reward[n:].any()


def test_subtask_rewards_round_trip_and_a_replay_without_them_is_refused():
    shaped = EpisodeReplay(6, seed=3, subtask_reward=True)
    plain = EpisodeReplay(6, seed=3)
    for episode in toy_episodes(8):
        shaped.add_episode(episode)
        plain.add_episode(episode)
    state = _npz_round_trip(shaped.get_state())
    restored = EpisodeReplay(6, seed=0, subtask_reward=True)
    restored.set_state(state)
    assert_batches_equal(restored.sample(8), shaped.sample(8))
    # A run without shaping drops the column: the same batches as a replay that never had it.
    unshaped = EpisodeReplay(6, seed=0)
    unshaped.set_state(state)
    assert "subtask_reward" not in unshaped._taken
    assert_batches_equal(unshaped.sample(8), plain.sample(8))
    with pytest.raises(ValueError, match="the saved replay has no subtask_reward column"):
        EpisodeReplay(6, subtask_reward=True).set_state(_npz_round_trip(plain.get_state()))
