"""Fixtures of the MAAAL tests: replayed batches of toy episodes."""

from __future__ import annotations

import pytest
from maaal_helpers import toy_episodes
from ray.rllib.utils.torch_utils import convert_to_torch_tensor

from rllib_maaal.algorithms.episodic.episode_replay import EpisodeReplay


def _replayed_batch(pair: bool, subtask_reward: bool = False, entities: bool = False) -> dict:
    replay = EpisodeReplay(capacity=16, seed=0, subtask_reward=subtask_reward)
    for episode in toy_episodes(8, pair=pair, entities=entities):
        replay.add_episode(episode)
    return convert_to_torch_tensor(replay.sample(8))


@pytest.fixture
def toy_batch() -> dict:
    return _replayed_batch(pair=False)


@pytest.fixture
def toy_pair_batch() -> dict:
    """A batch of toy episodes whose observations carry ``pair`` features."""
    return _replayed_batch(pair=True)


@pytest.fixture
def toy_shaped_batch() -> dict:
    """A batch of toy episodes with their per-subtask rewards ``subtask_reward``."""
    return _replayed_batch(pair=False, subtask_reward=True)


@pytest.fixture
def toy_entity_batch() -> dict:
    """A batch of toy episodes in the entity layout (``entities``, ``entity_mask``)."""
    return _replayed_batch(pair=False, entities=True)
