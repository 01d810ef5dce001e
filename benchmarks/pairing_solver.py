"""Time of the exact pairing solver against networkx's blossom algorithm, in the same run.

For T = 8, 10, 32 and 128 teams (random symmetric scores, self-pairs allowed): the time per
problem of ``max_weight_pairing`` with the 0/1 program on HiGHS (``method="milp"``), with
enumeration of every pairing (``method="enumerate"``, T ≤ 10, batched over P problems), and of
``networkx.max_weight_matching`` on the equivalent graph (edge weight s_ij − s_ii − s_jj). Every
solution is checked against networkx's value.

    python benchmarks/pairing_solver.py [--problems 64]
"""

from __future__ import annotations

import argparse
import time

import networkx as nx
import numpy as np

from rllib_maaal.grouping import max_weight_pairing, pairing_value
from rllib_maaal.grouping.matching import ENUMERATE_MAX_TEAMS


def networkx_pairing(scores: np.ndarray) -> np.ndarray:
    """The same problem through networkx: a team left unmatched sits out."""
    n = len(scores)
    gains = scores - np.diag(scores)[:, None] - np.diag(scores)[None, :]
    graph = nx.Graph()
    i, j = np.triu_indices(n, 1)
    graph.add_weighted_edges_from(zip(i.tolist(), j.tolist(), gains[i, j].tolist(), strict=True))
    partners = np.arange(n)
    for a, b in nx.max_weight_matching(graph):
        partners[a], partners[b] = b, a
    return partners


def seconds_per_problem(solve, scores: np.ndarray) -> tuple[float, np.ndarray]:
    solve(scores[:1])  # warm-up: builds the cached program / list of pairings
    start = time.perf_counter()
    partners = solve(scores)
    return (time.perf_counter() - start) / len(scores), partners


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=64)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'T':>4} {'P':>5} {'solver':>10} {'ms/problem':>11} {'vs networkx':>12} {'exact':>6}")
    for n_teams in (8, 10, 32, 128):
        problems = max(args.problems // (1 if n_teams < 128 else 8), 1)
        scores = rng.normal(size=(problems, n_teams, n_teams))
        scores = 0.5 * (scores + scores.transpose(0, 2, 1))
        baseline, reference = seconds_per_problem(
            lambda s: np.stack([networkx_pairing(p) for p in s]), scores
        )
        best = pairing_value(scores, reference)
        row = "{:4} {:5} {:>10} {:11.3f} {:11.1f}× {!s:>6}".format
        print(row(n_teams, problems, "networkx", 1e3 * baseline, 1.0, True))
        methods = ("milp", "enumerate") if n_teams <= ENUMERATE_MAX_TEAMS else ("milp",)
        for method in methods:
            seconds, partners = seconds_per_problem(
                lambda s, m=method: max_weight_pairing(s, True, m), scores
            )
            exact = np.allclose(pairing_value(scores, partners), best)
            print(row(n_teams, problems, method, 1e3 * seconds, baseline / seconds, exact))


if __name__ == "__main__":
    main()
