from __future__ import annotations

import itertools

import numpy as np
import torch

from rllib_maaal.algorithms.maaal.allocation import greedy_allocation, random_allocation
from rllib_maaal.grouping import all_pairings

PAIRING = {"allocation_solver": "pairing", "allow_self_pairing": True}


def test_pairing_maximises_the_sum_of_unit_values():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(20, 6, 6))
    chosen = greedy_allocation(torch.as_tensor(q), PAIRING).numpy()
    pairings = all_pairings(6, allow_self=True)  # (G, 6)
    values = np.take_along_axis(q[:, None], pairings[None, ..., None], -1)[..., 0].sum(-1)
    best = values.max(1)
    got = np.take_along_axis(q, chosen[..., None], -1)[..., 0].sum(-1)
    np.testing.assert_allclose(got, best)
    assert (chosen[np.arange(20)[:, None], chosen] == np.arange(6)).all()  # symmetric


def test_capacity_respects_limits_and_beats_every_feasible_assignment():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(4, 4, 3))
    cfg = {"allocation_solver": "capacity", "subtask_capacity": 2}
    chosen = greedy_allocation(torch.as_tensor(q), cfg).numpy()
    for p in range(4):
        assert np.bincount(chosen[p], minlength=3).max() <= 2
        feasible = [
            a
            for a in itertools.product(range(3), repeat=4)
            if np.bincount(a, minlength=3).max() <= 2
        ]
        best = max(q[p, range(4), list(a)].sum() for a in feasible)
        assert q[p, range(4), chosen[p]].sum() == best


def test_free_exploration_stays_on_active_subtasks():
    q = torch.zeros(64, 5, 4)
    q[..., 2] = float("-inf")
    greedy = greedy_allocation(q, {"allocation_solver": "free"})
    explored = random_allocation(q, {"allocation_solver": "free"}, 1.0, greedy)
    assert (explored != 2).all() and len(explored.unique()) == 3
