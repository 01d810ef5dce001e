"""Exact maximum-weight pairing of teams, with optional self-pairs.

A *pairing* of T teams is an array ``partners`` (T,) with ``partners[partners[i]] == i``: team i
competes with team ``partners[i]`` this week, and ``partners[i] == i`` means team i sits out (a
self-pair). The value of a pairing under a score matrix ``s`` (T, T) is

    V(partners) = Σ_{pairs {i, j}, i < j} s[i, j]  +  Σ_{self-pairs i} s[i, i].

``s`` is meant to be symmetric (the value of the pair {i, j}); an asymmetric input is replaced by
``(s + sᵀ) / 2`` (so both orientations count equally) and the diagonal is the self-pair value.
Values per team rather than per pair (``q[t, m]``: what meeting m is worth to team t) are turned
into pair scores by :func:`unit_pair_scores`.

The greedy option of the option-critic grouping method and MAAAL's ``pairing`` allocation mode
both need ``argmax_partners V``. It is a general (non-bipartite) maximum-weight matching, solved
exactly as the 0/1 program of the paper (Hu, arXiv 2501.06554):

    maximise   Σ_{i ≤ j} s[i, j] a_ij
    subject to Σ_{j} a_{min(i,j), max(i,j)} = 1  for every team i,   a_ij ∈ {0, 1},

with ``a_ii = 1`` a self-pair, forced to 0 when self-pairs are not allowed (then T must be even).
It runs on ``scipy.optimize.milp`` (HiGHS). For small T the number of pairings is tiny (764 with
self-pairs, 105 without, for T = 8), so every pairing is enumerated once and scored for all
problems at once with one matrix product — exact as well, and much faster for batches.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import optimize, sparse

#: Largest T solved by enumerating every pairing when ``method="auto"``: 9496 pairings for T = 10,
#: still ~15× faster than the MILP per problem (benchmarks/pairing_solver.py), while the list of
#: pairings grows ~10× for every two more teams.
ENUMERATE_MAX_TEAMS = 10

#: Scores of at most this many (problem, pairing) combinations are held at once.
_ENUMERATE_CHUNK = 1 << 22

Method = Literal["auto", "enumerate", "milp"]


def symmetrise(scores: np.ndarray) -> np.ndarray:
    """``(s + sᵀ) / 2`` over the last two axes: the pair value of {i, j} for any input."""
    scores = np.asarray(scores, dtype=np.float64)
    return 0.5 * (scores + np.swapaxes(scores, -1, -2))


def unit_pair_scores(q: np.ndarray) -> np.ndarray:
    """Pair scores from per-team values: ``s[i, j] = q[i, j] + q[j, i]``, ``s[i, i] = q[i, i]``.

    When ``q[t, m]`` is the value *to team t* of meeting team m (MAAAL's allocation Q̂ with subtask
    m = "compete with team m"), the pairing that maximises Σ_t q[t, partner(t)] is the
    max-weight pairing of these scores (a pair is worth what it brings to both teams).
    """
    q = np.asarray(q, dtype=np.float64)
    both = q + np.swapaxes(q, -1, -2)
    return np.where(np.eye(q.shape[-1], dtype=bool), q, both)


def pairing_value(scores: np.ndarray, partners: np.ndarray) -> np.ndarray:
    """V(partners) for (P, T, T) scores and (P, T) partners (or one problem, (T, T) and (T,))."""
    s = symmetrise(scores)
    partners = np.asarray(partners)
    per_team = np.take_along_axis(s, partners[..., None], axis=-1)[..., 0]
    alone = partners == np.arange(partners.shape[-1])
    # Each pair {i, j} is seen from both teams: count half of it on each side.
    return np.where(alone, per_team, 0.5 * per_team).sum(-1)


def check_pairing(partners: np.ndarray, n_teams: int, allow_self: bool) -> np.ndarray:
    """Validate a batch of pairings (P, T) (or one, (T,)) and return it as int64.

    Raises a ``ValueError`` naming the problem and the first offending team: wrong shape, a
    partner out of range, a partner relation that is not symmetric (a team claimed twice), or a
    self-pair when ``allow_self`` is False.
    """
    partners = np.asarray(partners)
    if partners.shape[-1:] != (n_teams,):
        raise ValueError(
            f"pairing must have {n_teams} entries (one per team), got shape {partners.shape}"
        )
    if not np.all(np.mod(partners, 1) == 0):
        raise ValueError(f"pairing must hold integer team indices, got {partners!r}")
    partners = partners.astype(np.int64)
    batch = partners.reshape(-1, n_teams)

    def fail(p: int, problem: str) -> None:
        where = f" (pairing {p} of the batch)" if len(batch) > 1 else ""
        raise ValueError(f"pairing{where}: {problem}")

    out = (batch < 0) | (batch >= n_teams)
    if out.any():
        p, i = np.argwhere(out)[0]
        fail(p, f"team {i} is paired with {batch[p, i]}, out of range [0, {n_teams})")
    back = np.take_along_axis(batch, batch, axis=-1)
    asym = back != np.arange(n_teams)
    if asym.any():
        p, i = np.argwhere(asym)[0]
        j = batch[p, i]
        fail(
            p,
            f"not symmetric: team {i} is paired with team {j}, but team {j} is paired with team "
            f"{batch[p, j]} (every team must appear in exactly one pair)",
        )
    alone = batch == np.arange(n_teams)
    if not allow_self and alone.any():
        p, i = np.argwhere(alone)[0]
        fail(
            p,
            f"team {i} is paired with itself, but self-pairs are not allowed "
            "(allow_self=False, pairing_mode='no_self')",
        )
    return partners


def random_pairing(
    rng: np.random.Generator, batch: int, n_teams: int, allow_self: bool = True
) -> np.ndarray:
    """(batch, T) uniformly random maximal pairings: every team paired, one left alone if T is odd.

    This is the "random pairing" baseline of the paper; with an odd T and ``allow_self=False``
    there is no valid pairing, so it raises.
    """
    if not allow_self and n_teams % 2:
        raise ValueError(f"pairing without self-pairs needs an even number of teams, got {n_teams}")
    order = rng.permuted(np.tile(np.arange(n_teams), (batch, 1)), axis=1)
    partners = np.empty((batch, n_teams), np.int64)
    rows = np.arange(batch)[:, None]
    half = n_teams // 2
    partners[rows, order[:, :half]] = order[:, half : 2 * half]
    partners[rows, order[:, half : 2 * half]] = order[:, :half]
    if n_teams % 2:
        partners[rows[:, 0], order[:, -1]] = order[:, -1]
    return partners


@lru_cache(maxsize=32)
def all_pairings(n_teams: int, allow_self: bool) -> np.ndarray:
    """Every pairing of ``n_teams`` teams as a (n_pairings, T) array of partners."""

    def extend(partners: list[int]) -> list[list[int]]:
        if -1 not in partners:
            return [partners]
        i = partners.index(-1)
        found = []
        for j in range(i, n_teams):
            if partners[j] != -1 or (j == i and not allow_self):
                continue
            nxt = list(partners)
            nxt[i], nxt[j] = j, i
            found += extend(nxt)
        return found

    pairings = np.array(extend([-1] * n_teams), np.int64).reshape(-1, n_teams)
    if len(pairings) == 0:
        raise ValueError(f"pairing without self-pairs needs an even number of teams, got {n_teams}")
    return pairings


@lru_cache(maxsize=32)
def _pairing_indicator(n_teams: int, allow_self: bool) -> tuple[np.ndarray, np.ndarray]:
    """Every pairing and its (T·T, G) indicator: column g has a 1 at (i, partners_g[i])."""
    pairings = all_pairings(n_teams, allow_self)
    indicator = np.zeros((n_teams * n_teams, len(pairings)))
    indicator[np.arange(n_teams) * n_teams + pairings, np.arange(len(pairings))[:, None]] = 1.0
    return pairings, indicator


def _solve_enumerate(s: np.ndarray, allow_self: bool) -> np.ndarray:
    n_teams = s.shape[-1]
    pairings, indicator = _pairing_indicator(n_teams, allow_self)
    # w[i, j] = s[i, j] / 2 off the diagonal (each pair is summed from both teams), s[i, i] on it,
    # so that the value of pairing g is Σ_i w[i, partners_g[i]]: one matrix product for all P.
    w = np.where(np.eye(n_teams, dtype=bool), s, 0.5 * s).reshape(len(s), -1)
    rows = max(1, _ENUMERATE_CHUNK // len(pairings))
    best = [(w[i : i + rows] @ indicator).argmax(-1) for i in range(0, len(w), rows)]
    return pairings[np.concatenate(best)]


@lru_cache(maxsize=32)
def _milp_program(n_teams: int, allow_self: bool):
    """The constraint matrix and bounds of the 0/1 program (depend only on T and the flag)."""
    rows, cols = np.triu_indices(n_teams)
    n_vars = len(rows)
    var = np.arange(n_vars)
    # Team i appears in variable (i, j) and (j, i): a self variable touches its team once.
    a = sparse.coo_array(
        (np.ones(2 * n_vars), (np.concatenate([rows, cols]), np.concatenate([var, var]))),
        shape=(n_teams, n_vars),
    ).tocsr()
    a.data[:] = 1.0  # (i, i) was counted twice by the concatenation; it covers team i once
    constraint = optimize.LinearConstraint(a, 1.0, 1.0)
    upper = np.where(rows == cols, 1.0 if allow_self else 0.0, 1.0)
    bounds = optimize.Bounds(np.zeros(n_vars), upper)
    return rows, cols, constraint, bounds


def _solve_milp(s: np.ndarray, allow_self: bool) -> np.ndarray:
    n_teams = s.shape[-1]
    rows, cols, constraint, bounds = _milp_program(n_teams, allow_self)
    integrality = np.ones(len(rows))
    partners = np.empty((len(s), n_teams), np.int64)
    for p, scores in enumerate(s):
        result = optimize.milp(
            -scores[rows, cols], constraints=constraint, bounds=bounds, integrality=integrality
        )
        if not result.success:
            raise RuntimeError(f"pairing MILP failed on problem {p}: {result.message}")
        chosen = result.x > 0.5
        partners[p, rows[chosen]] = cols[chosen]
        partners[p, cols[chosen]] = rows[chosen]
    return partners


def max_weight_pairing(
    scores: np.ndarray, allow_self: bool = True, method: Method = "auto"
) -> np.ndarray:
    """The pairing of maximum value V for each score matrix.

    Args:
        scores: (P, T, T) batch of pair-value matrices, or one (T, T) matrix. ``scores[i, j]`` is
            the value of pairing teams i and j (symmetrised, see the module docstring);
            ``scores[i, i]`` is the value of team i sitting out.
        allow_self: whether a team may sit out. Without self-pairs T must be even.
        method: ``"enumerate"`` (score every pairing; T ≤ ~10), ``"milp"`` (HiGHS 0/1 program,
            one call per problem) or ``"auto"`` (enumerate up to ``ENUMERATE_MAX_TEAMS`` teams).

    Returns:
        partners (P, T) int64, or (T,) for a single problem.
    """
    shape = np.shape(scores)
    if len(shape) not in (2, 3) or shape[-1] != shape[-2]:
        raise ValueError(f"scores must be (T, T) or (P, T, T), got shape {shape}")
    s = symmetrise(scores)
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite (forbid a pair with a large negative value)")
    n_teams = s.shape[-1]
    if not allow_self and n_teams % 2:
        raise ValueError(f"pairing without self-pairs needs an even number of teams, got {n_teams}")
    if method not in ("auto", "enumerate", "milp"):
        raise ValueError(f"method must be 'auto', 'enumerate' or 'milp', got {method!r}")
    single = s.ndim == 2
    batch = s[None] if single else s
    if method == "enumerate" or (method == "auto" and n_teams <= ENUMERATE_MAX_TEAMS):
        partners = _solve_enumerate(batch, allow_self)
    else:
        partners = _solve_milp(batch, allow_self)
    return partners[0] if single else partners
