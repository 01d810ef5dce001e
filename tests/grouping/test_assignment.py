"""Tests of the capacity-constrained assignment against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rllib_maaal.grouping import active_capacity, capacity_assignment


def brute_force_best(q: np.ndarray, capacity: np.ndarray) -> float:
    n_agents, n_subtasks = q.shape
    best = -np.inf
    for assignment in itertools.product(range(n_subtasks), repeat=n_agents):
        if np.all(np.bincount(assignment, minlength=n_subtasks) <= capacity):
            best = max(best, q[np.arange(n_agents), assignment].sum())
    return best


def value(q: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    return np.take_along_axis(q, assignment[..., None], axis=-1)[..., 0].sum(-1)


@pytest.mark.parametrize(
    ("n_agents", "capacity"), [(5, [2, 2, 1]), (6, [1, 2, 3, 0]), (4, [4, 4]), (6, [9, 1, 1])]
)
def test_equals_brute_force_and_respects_capacity(n_agents, capacity):
    capacity = np.array(capacity)
    q = np.random.default_rng(n_agents).normal(size=(10, n_agents, len(capacity)))
    assignment = capacity_assignment(q, capacity)
    assert assignment.shape == (10, n_agents)
    counts = np.stack([np.bincount(a, minlength=len(capacity)) for a in assignment])
    assert np.all(counts <= capacity)
    expected = [brute_force_best(qp, capacity) for qp in q]
    np.testing.assert_allclose(value(q, assignment), expected, atol=1e-9)


@pytest.mark.parametrize("n_active", [1, 2, 3])
def test_active_subtasks_only_equals_brute_force(n_active):
    n_agents, capacity = 4, np.array([1, 1, 2, 1])
    rng = np.random.default_rng(n_active)
    q = rng.normal(size=(20, n_agents, 4))
    active = rng.random((20, 4)).argsort(-1) < n_active
    assignment = capacity_assignment(q, capacity, active)
    assert active[np.arange(20)[:, None], assignment].all()
    limits = active_capacity(capacity, active, n_agents)
    # Inactive subtasks are closed (capacity 0) in the brute force, active ones hold everyone.
    assert (limits.sum(-1) >= n_agents).all()
    expected = [brute_force_best(qp, lp) for qp, lp in zip(q, limits, strict=True)]
    np.testing.assert_allclose(value(q, assignment), expected, atol=1e-9)


@pytest.mark.parametrize(
    ("capacity", "active", "expected"),
    [
        ([1, 1, 1, 1], [1, 0, 0, 0], [5, 0, 0, 0]),  # one active subtask takes every agent
        ([1, 3, 1, 1], [1, 1, 0, 0], [3, 3, 0, 0]),  # room for 4 < 5: both raised to ⌈5/2⌉
        ([2, 3, 1, 1], [1, 1, 0, 0], [2, 3, 0, 0]),  # room for 5: unchanged
        ([1, 1, 1, 1], [0, 0, 0, 0], [2, 2, 2, 2]),  # nothing active: all count as active
    ],
)
def test_active_capacity(capacity, active, expected):
    got = active_capacity(np.array(capacity), np.array(active, bool), n_agents=5)
    assert got.tolist() == expected


def test_without_binding_capacity_every_agent_takes_its_argmax():
    q = np.random.default_rng(0).normal(size=(3, 7, 4))
    np.testing.assert_array_equal(capacity_assignment(q, np.full(4, 7)), q.argmax(-1))


def test_per_problem_capacities():
    q = np.zeros((2, 2, 2))
    q[:, :, 0] = 1.0  # everyone prefers subtask 0
    assignment = capacity_assignment(q, np.array([[2, 0], [1, 1]]))
    np.testing.assert_array_equal(np.sort(assignment, axis=-1), [[0, 0], [0, 1]])


def test_single_problem_returns_one_assignment():
    assert capacity_assignment(np.eye(3), np.ones(3, int)).tolist() == [0, 1, 2]


def test_bad_active_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"active must be \(3,\)"):
        capacity_assignment(np.zeros((3, 3)), np.ones(3, int), np.ones(4, bool))


@pytest.mark.parametrize(
    ("capacity", "message"),
    [
        ([1, 1, 0], "room for 2 agents"),
        ([3, -1, 1], "non-negative integers"),
        ([1, 1, 1, 1], r"\(3,\)"),
    ],
)
def test_bad_capacity_is_a_clear_error(capacity, message):
    with pytest.raises(ValueError, match=message):
        capacity_assignment(np.zeros((3, 3)), np.array(capacity))
