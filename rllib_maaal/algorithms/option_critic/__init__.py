"""Option-critic grouping: weekly pairings of teams over daily per-agent actions."""

from rllib_maaal.algorithms.option_critic.option_critic import OptionCritic, OptionCriticConfig

__all__ = ["OptionCritic", "OptionCriticConfig"]
