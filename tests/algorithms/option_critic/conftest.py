"""Fixtures of the option-critic tests: replayed batches of intern episodes."""

from __future__ import annotations

import pytest
from option_critic_helpers import intern_episodes
from ray.rllib.utils.torch_utils import convert_to_torch_tensor

from rllib_maaal.algorithms.episodic.episode_replay import EpisodeReplay


@pytest.fixture
def intern_batch() -> dict:
    replay = EpisodeReplay(capacity=8, seed=0)
    for episode in intern_episodes(4):
        replay.add_episode(episode)
    return convert_to_torch_tensor(replay.sample(4))
