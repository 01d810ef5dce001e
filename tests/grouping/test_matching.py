"""Tests of the exact pairing solver against brute force and networkx, and of pairing checks."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rllib_maaal.grouping import (
    all_pairings,
    check_pairing,
    matching,
    max_weight_pairing,
    pairing_value,
    random_pairing,
    unit_pair_scores,
)

METHODS = ("enumerate", "milp", "auto")


def brute_force_best(scores: np.ndarray, allow_self: bool) -> float:
    """Best V by walking every pairing recursively (independent of the solver's enumeration)."""
    s = 0.5 * (scores + scores.T)

    def best(free: tuple[int, ...]) -> float:
        if not free:
            return 0.0
        i, rest = free[0], free[1:]
        options = [s[i, j] + best(rest[:k] + rest[k + 1 :]) for k, j in enumerate(rest)]
        if allow_self:
            options.append(s[i, i] + best(rest))
        return max(options, default=-np.inf)

    return best(tuple(range(len(s))))


def networkx_best(scores: np.ndarray, allow_self: bool) -> float:
    """Best V from networkx: self-pairs as a matching on the gains s_ij − s_ii − s_jj, perfect
    matchings as a max-cardinality matching (a constant shift keeps every weight positive)."""
    s = 0.5 * (scores + scores.T)
    n = len(s)
    graph = nx.Graph()
    diag = np.diag(s)
    shift = 0.0 if allow_self else 1.0 - s.min()
    for i in range(n):
        for j in range(i + 1, n):
            weight = s[i, j] - diag[i] - diag[j] if allow_self else s[i, j] + shift
            graph.add_edge(i, j, weight=weight)
    matching = nx.max_weight_matching(graph, maxcardinality=not allow_self)
    paired = sum(s[i, j] for i, j in matching)
    return paired + (diag.sum() - sum(diag[i] + diag[j] for i, j in matching) if allow_self else 0)


def is_pairing(partners: np.ndarray, allow_self: bool) -> bool:
    n = partners.shape[-1]
    symmetric = np.all(np.take_along_axis(partners, partners, -1) == np.arange(n))
    return bool(symmetric and (allow_self or np.all(partners != np.arange(n))))


SMALL = [(t, True) for t in range(1, 9)] + [(t, False) for t in (2, 4, 6, 8)]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(("n_teams", "allow_self"), SMALL)
def test_equals_brute_force_up_to_eight_teams(n_teams, allow_self, method):
    rng = np.random.default_rng(n_teams)
    scores = rng.normal(size=(12, n_teams, n_teams))
    partners = max_weight_pairing(scores, allow_self, method)
    assert partners.shape == (12, n_teams)
    assert is_pairing(partners, allow_self)
    expected = [brute_force_best(s, allow_self) for s in scores]
    np.testing.assert_allclose(pairing_value(scores, partners), expected, atol=1e-9)


@pytest.mark.parametrize(
    ("n_teams", "allow_self", "method"),
    [
        (10, True, "enumerate"),
        (10, False, "enumerate"),
        (10, True, "milp"),
        (15, True, "milp"),
        (16, False, "milp"),
        (24, True, "auto"),
    ],
)
def test_equals_networkx_on_larger_instances(n_teams, allow_self, method):
    rng = np.random.default_rng(n_teams)
    scores = rng.normal(size=(4, n_teams, n_teams))
    partners = max_weight_pairing(scores, allow_self, method)
    assert is_pairing(partners, allow_self)
    expected = [networkx_best(s, allow_self) for s in scores]
    np.testing.assert_allclose(pairing_value(scores, partners), expected, atol=1e-9)


def test_enumeration_in_chunks_equals_one_pass(monkeypatch):
    scores = np.random.default_rng(2).normal(size=(10, 8, 8))
    whole = max_weight_pairing(scores, method="enumerate")
    monkeypatch.setattr(matching, "_ENUMERATE_CHUNK", 3 * len(all_pairings(8, True)))
    np.testing.assert_array_equal(max_weight_pairing(scores, method="enumerate"), whole)


@pytest.mark.parametrize("method", ("enumerate", "milp"))
def test_no_self_flag_forbids_self_pairs_even_when_they_are_worth_most(method):
    scores = np.full((6, 6), -1.0)
    np.fill_diagonal(scores, 100.0)
    assert np.all(max_weight_pairing(scores, allow_self=True, method=method) == np.arange(6))
    partners = max_weight_pairing(scores, allow_self=False, method=method)
    assert is_pairing(partners, allow_self=False)


@pytest.mark.parametrize(("n_teams", "method"), [(7, "enumerate"), (8, "milp"), (13, "milp")])
def test_invariant_to_relabelling_teams(n_teams, method):
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(n_teams, n_teams))
    perm = rng.permutation(n_teams)
    permuted = max_weight_pairing(scores[np.ix_(perm, perm)], method=method)
    # Team k of the permuted problem is team perm[k] of the original one.
    unpermuted = np.empty(n_teams, np.int64)
    unpermuted[perm] = perm[permuted]
    np.testing.assert_array_equal(unpermuted, max_weight_pairing(scores, method=method))


def test_asymmetric_scores_count_both_orientations():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(5, 6, 6))
    np.testing.assert_array_equal(
        max_weight_pairing(scores), max_weight_pairing(0.5 * (scores + scores.swapaxes(1, 2)))
    )
    # A pair worth 10 one way and −9 the other is worth 0.5 on average: better than −1 alone.
    two = np.array([[-1.0, 10.0], [-9.0, -1.0]])
    np.testing.assert_array_equal(max_weight_pairing(two), [1, 0])
    np.testing.assert_allclose(pairing_value(two, np.array([1, 0])), 0.5)


def test_unit_values_become_pair_scores_worth_the_sum_over_teams():
    q = np.random.default_rng(3).normal(size=(20, 7, 7))
    partners = max_weight_pairing(unit_pair_scores(q))
    per_team = np.take_along_axis(q, partners[..., None], -1)[..., 0].sum(-1)
    np.testing.assert_allclose(pairing_value(unit_pair_scores(q), partners), per_team)
    # ... and no other pairing gives the teams more in total.
    every = all_pairings(7, True)
    totals = q[:, np.arange(7), every].sum(-1)  # (P, pairings)
    np.testing.assert_allclose(per_team, totals.max(-1))


def test_single_problem_returns_one_pairing():
    partners = max_weight_pairing(np.zeros((4, 4)) + np.eye(4))
    np.testing.assert_array_equal(partners, np.arange(4))


def test_pairing_counts():
    # Involutions of T (telephone numbers) and perfect matchings (T − 1)!!.
    assert [len(all_pairings(t, True)) for t in range(1, 9)] == [1, 2, 4, 10, 26, 76, 232, 764]
    assert [len(all_pairings(t, False)) for t in (2, 4, 6, 8)] == [1, 3, 15, 105]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scores": np.zeros((5, 5)), "allow_self": False}, "even number of teams"),
        ({"scores": np.full((2, 2), np.nan)}, "finite"),
        ({"scores": np.zeros((2, 3))}, r"\(T, T\)"),
        ({"scores": np.zeros((2, 2)), "method": "lp"}, "method must be"),
    ],
)
def test_bad_solver_input_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        max_weight_pairing(**kwargs)


@pytest.mark.parametrize(
    ("partners", "allow_self", "message"),
    [
        ([1, 0, 1, 2], True, "not symmetric"),  # team 1 claimed by teams 0 and 2
        ([1, 2, 0, 3], True, "not symmetric"),
        ([1, 0, 4, 3], True, "out of range"),
        ([-1, 0, 3, 2], True, "out of range"),
        ([0, 1, 3, 2], False, "paired with itself"),
        ([1, 0, 3], True, "4 entries"),
        ([1.5, 0, 3, 2], True, "integer"),
    ],
)
def test_invalid_pairing_is_a_clear_error(partners, allow_self, message):
    with pytest.raises(ValueError, match=message):
        check_pairing(np.array(partners), 4, allow_self)


def test_check_pairing_names_the_bad_problem_of_a_batch():
    with pytest.raises(ValueError, match="pairing 1 of the batch"):
        check_pairing(np.array([[1, 0, 3, 2], [1, 0, 3, 3]]), 4, allow_self=True)


@pytest.mark.parametrize(("n_teams", "allow_self"), [(8, False), (8, True), (7, True)])
def test_random_pairing_is_uniform_over_maximal_pairings(n_teams, allow_self):
    # 105 maximal pairings in each case: 7!! perfect matchings of 8, or 7 · 5!! with one alone.
    partners = random_pairing(np.random.default_rng(0), 21000, n_teams, allow_self)
    assert is_pairing(partners, allow_self)
    assert np.all((partners == np.arange(n_teams)).sum(-1) == n_teams % 2)
    _, counts = np.unique(partners, axis=0, return_counts=True)
    assert len(counts) == 105
    assert counts.min() > 140 and counts.max() < 260  # 200 expected, ± 4 standard deviations


def test_random_pairing_without_self_pairs_needs_an_even_number_of_teams():
    with pytest.raises(ValueError, match="even number of teams"):
        random_pairing(np.random.default_rng(0), 1, 7, allow_self=False)


square_int_scores = st.integers(1, 7).flatmap(
    lambda n: arrays(np.int64, (n, n), elements=st.integers(-3, 3))
)


@settings(max_examples=60, deadline=None)
@given(square_int_scores, st.booleans())
def test_enumeration_and_milp_agree_on_any_scores_with_ties(scores, allow_self):
    allow_self = allow_self or len(scores) % 2 == 1
    scores = scores.astype(float)
    values = [
        pairing_value(scores, max_weight_pairing(scores, allow_self, method))
        for method in ("enumerate", "milp")
    ]
    np.testing.assert_allclose(values[0], values[1])
    np.testing.assert_allclose(values[0], brute_force_best(scores, allow_self))
