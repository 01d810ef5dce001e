from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from rllib_maaal.algorithms.maaal import MAAALConfig
from rllib_maaal.algorithms.maaal.allocation import (
    exploration_epsilons,
    greedy_allocation,
    random_allocation,
)
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


def capacity_brute_force(q: np.ndarray, capacity: np.ndarray) -> float:
    """The best total Q̂ over every assignment of units to active subtasks, with the capacities
    of active subtasks raised to ⌈U / #active⌉ when they cannot hold all U units."""
    n_units, n_subtasks = q.shape
    active = [m for m in range(n_subtasks) if np.isfinite(q[:, m]).any()]
    if sum(capacity[m] for m in active) < n_units:
        capacity = np.maximum(capacity, -(-n_units // len(active)))
    best = -np.inf
    for a in itertools.product(active, repeat=n_units):
        if (np.bincount(a, minlength=n_subtasks) <= capacity).all():
            best = max(best, q[range(n_units), list(a)].sum())
    return best


@pytest.mark.parametrize(("n_units", "n_subtasks"), [(2, 3), (3, 4), (4, 4), (4, 2)])
def test_capacity_with_inactive_subtasks_equals_brute_force(n_units, n_subtasks):
    rng = np.random.default_rng(n_units * 10 + n_subtasks)
    n = 60
    q = rng.normal(size=(n, n_units, n_subtasks))
    # One or two active subtasks in most instances (the case that broke), all in some.
    n_active = rng.integers(1, n_subtasks + 1, n)
    n_active[: n // 2] = rng.integers(1, 3, n // 2)
    rank = rng.random((n, n_subtasks)).argsort(-1).argsort(-1)  # a random order per instance
    inactive = rank >= n_active[:, None]
    q[np.broadcast_to(inactive[:, None], q.shape)] = -np.inf
    capacity = rng.integers(0, 3, n_subtasks)
    cfg = {"allocation_solver": "capacity", "subtask_capacity": capacity.tolist()}

    chosen = greedy_allocation(torch.as_tensor(q), cfg).numpy()
    assert not inactive[np.arange(n)[:, None], chosen].any()
    got = np.take_along_axis(q, chosen[..., None], -1)[..., 0].sum(-1)
    expected = [capacity_brute_force(q[p], capacity) for p in range(n)]
    np.testing.assert_allclose(got, expected)

    explored = random_allocation(torch.as_tensor(q), cfg, 1.0, torch.as_tensor(chosen)).numpy()
    assert not inactive[np.arange(n)[:, None], explored].any()
    for p in range(n):
        active = np.flatnonzero(~inactive[p])
        room = capacity[active].sum()
        limit = capacity if room >= n_units else np.maximum(capacity, -(-n_units // len(active)))
        assert (np.bincount(explored[p], minlength=n_subtasks) <= limit).all()


def test_capacity_exploration_fills_the_raised_active_capacities():
    q = torch.zeros(200, 4, 4)
    q[..., [0, 3]] = float("-inf")
    cfg = {"allocation_solver": "capacity", "subtask_capacity": 1}
    greedy = greedy_allocation(q, cfg)
    explored = random_allocation(q, cfg, 1.0, greedy)
    # Capacity 1 on two active subtasks is raised to 2: two units in each.
    assert (torch.sort(explored, -1).values == torch.tensor([1, 1, 2, 2])).all()


def test_allocation_and_action_follow_their_own_epsilon_schedules():
    # The allocation annealed later than the actions, so that L1 is fitted on trained actions.
    config = MAAALConfig().training(
        epsilon_allocation=[[0, 1.0], [20_000, 1.0], [40_000, 0.0]],
        epsilon_action=[[0, 1.0], [10_000, 0.0]],
    )
    cfg = config.model_config
    assert exploration_epsilons(cfg, 5_000) == {"epsilon_allocation": 1.0, "epsilon_action": 0.5}
    assert exploration_epsilons(cfg, 30_000) == {"epsilon_allocation": 0.5, "epsilon_action": 0.0}
    assert exploration_epsilons(cfg, None) == {"epsilon_allocation": 0.0, "epsilon_action": 0.0}
    rule = MAAALConfig().training(action="random").model_config
    assert exploration_epsilons(rule, None)["epsilon_action"] == 1.0
