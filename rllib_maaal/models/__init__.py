"""Network building blocks shared by our algorithms (PyTorch)."""

from rllib_maaal.models.encoders import (
    AgentEncoder,
    DeepSet,
    PairScorer,
    PooledSet,
    masked_mean,
    mlp,
)
from rllib_maaal.models.mixers import QMixer, VDNMixer, make_mixer
from rllib_maaal.models.typed_linear import TypedMLP

__all__ = [
    "AgentEncoder",
    "DeepSet",
    "PairScorer",
    "PooledSet",
    "QMixer",
    "TypedMLP",
    "VDNMixer",
    "make_mixer",
    "masked_mean",
    "mlp",
]
