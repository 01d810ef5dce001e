"""MAAAL: hierarchical multi-agent allocation-action learning; QMIX and VDN as configurations."""

from rllib_maaal.algorithms.maaal.maaal import MAAAL, MAAALConfig
from rllib_maaal.algorithms.maaal.qmix import QMIX, VDN, QMIXConfig, VDNConfig

__all__ = ["MAAAL", "QMIX", "VDN", "MAAALConfig", "QMIXConfig", "VDNConfig"]
