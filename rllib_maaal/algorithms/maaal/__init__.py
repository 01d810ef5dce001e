"""MAAAL: hierarchical multi-agent allocation-action learning."""

from rllib_maaal.algorithms.maaal.maaal import MAAAL, MAAALConfig

__all__ = ["MAAAL", "MAAALConfig"]
