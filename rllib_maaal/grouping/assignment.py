"""Exact capacity-constrained assignment of agents to subtasks.

MAAAL's ``capacity`` allocation mode: N agents, M subtasks, a value ``q[i, m]`` for agent i in
subtask m, and at most ``c_m`` agents in subtask m. The best assignment

    maximise Σ_i q[i, a_i]   subject to   |{i : a_i = m}| ≤ c_m  for every m

is a bipartite matching after *slot expansion*: subtask m becomes ``min(c_m, N)`` identical
columns (slots), and ``scipy.optimize.linear_sum_assignment`` matches every agent to one slot.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def capacity_assignment(q: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """The value-maximising assignment of agents to subtasks under per-subtask capacities.

    Args:
        q: (P, N, M) agent-subtask values, or one (N, M) matrix. Use a large negative (finite)
            value to forbid a pair.
        capacity: (M,) capacities shared by all problems, or (P, M) per problem; non-negative
            integers with Σ_m c_m ≥ N (every agent must get a subtask).

    Returns:
        (P, N) int64 subtask of each agent, or (N,) for a single problem.
    """
    q = np.asarray(q, dtype=np.float64)
    if q.ndim not in (2, 3):
        raise ValueError(f"q must be (N, M) or (P, N, M), got shape {q.shape}")
    if not np.isfinite(q).all():
        raise ValueError("q must be finite (forbid a pair with a large negative value)")
    single = q.ndim == 2
    batch = q[None] if single else q
    n_problems, n_agents, n_subtasks = batch.shape
    capacity = np.asarray(capacity)
    if capacity.shape not in ((n_subtasks,), (n_problems, n_subtasks)):
        raise ValueError(
            f"capacity must be ({n_subtasks},) or ({n_problems}, {n_subtasks}), "
            f"got shape {capacity.shape}"
        )
    if (capacity < 0).any() or not np.all(np.mod(capacity, 1) == 0):
        raise ValueError(f"capacity must hold non-negative integers, got {capacity!r}")
    slots = np.minimum(capacity, n_agents).astype(np.int64)
    slots = np.broadcast_to(slots, (n_problems, n_subtasks))
    short = slots.sum(-1) < n_agents
    if short.any():
        p = int(np.flatnonzero(short)[0])
        raise ValueError(
            f"capacity {capacity.tolist()} has room for {int(slots[p].sum())} agents in problem "
            f"{p}, but there are {n_agents} agents"
        )
    assignment = np.empty((n_problems, n_agents), np.int64)
    for p in range(n_problems):
        slot_subtask = np.repeat(np.arange(n_subtasks), slots[p])
        agents, chosen = linear_sum_assignment(batch[p][:, slot_subtask], maximize=True)
        assignment[p, agents] = slot_subtask[chosen]
    return assignment[0] if single else assignment
