"""Tests of the capacity-constrained assignment against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from rllib_maaal.grouping import capacity_assignment


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
