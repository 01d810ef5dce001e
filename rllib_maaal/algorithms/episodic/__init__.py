"""What our value-based team algorithms (MAAAL, OptionCritic) share: whole-episode replay, its
training loop, exploration schedules and target-network updates."""

from rllib_maaal.algorithms.episodic.episode_replay import Episode, EpisodeReplay
from rllib_maaal.algorithms.episodic.episodic import EpisodicAlgorithm, EpisodicConfig

__all__ = ["Episode", "EpisodeReplay", "EpisodicAlgorithm", "EpisodicConfig"]
