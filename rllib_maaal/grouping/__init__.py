"""Exact solvers for structured allocations: team pairings and capacity-limited assignments.

Both take batches of problems (one per env instance or per sample) and are shared by MAAAL's
``pairing``/``capacity`` allocation modes, the option-critic grouping method and the intern env.
"""

from rllib_maaal.grouping.assignment import active_capacity, capacity_assignment
from rllib_maaal.grouping.matching import (
    all_pairings,
    check_pairing,
    max_weight_pairing,
    pairing_value,
    random_pairing,
    symmetrise,
    unit_pair_scores,
)

__all__ = [
    "active_capacity",
    "all_pairings",
    "capacity_assignment",
    "check_pairing",
    "max_weight_pairing",
    "pairing_value",
    "random_pairing",
    "symmetrise",
    "unit_pair_scores",
]
