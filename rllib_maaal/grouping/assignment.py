"""Exact capacity-constrained assignment of agents to subtasks.

MAAAL's ``capacity`` allocation mode: N agents, M subtasks, a value ``q[i, m]`` for agent i in
subtask m, and at most ``c_m`` agents in subtask m. The best assignment

    maximise Σ_i q[i, a_i]   subject to   |{i : a_i = m}| ≤ c_m  for every m

is a bipartite matching after *slot expansion*: subtask m becomes ``min(c_m, N)`` identical
columns (slots), and ``scipy.optimize.linear_sum_assignment`` matches every agent to one slot.

When only some subtasks are active (the env switches them on and off), the capacities hold for
the active ones only and inactive subtasks get no agent. Capacities sized for all M subtasks can
then leave room for fewer than N agents, so where the active capacities sum to less than N each
active c_m is raised to at least ⌈N / #active⌉, which makes every problem feasible.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def capacity_assignment(
    q: np.ndarray, capacity: np.ndarray, active: np.ndarray | None = None
) -> np.ndarray:
    """The value-maximising assignment of agents to subtasks under per-subtask capacities.

    Args:
        q: (P, N, M) agent-subtask values, or one (N, M) matrix. Use a large negative (finite)
            value to forbid a pair.
        capacity: (M,) capacities shared by all problems, or (P, M) per problem; non-negative
            integers. Without ``active``, Σ_m c_m ≥ N is required (every agent must get a
            subtask).
        active: optional (M,) or (P, M) bool, the subtasks open in each problem. Agents then go
            to active subtasks only, under the capacities of :func:`active_capacity` (raised
            where the active ones have no room for all N agents); a problem with no active
            subtask counts all of them as active.

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
    if active is not None:
        active = np.asarray(active, bool)
        if active.shape not in ((n_subtasks,), (n_problems, n_subtasks)):
            raise ValueError(
                f"active must be ({n_subtasks},) or ({n_problems}, {n_subtasks}), "
                f"got shape {active.shape}"
            )
        capacity = active_capacity(capacity, active, n_agents)
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


def active_capacity(capacity: np.ndarray, active: np.ndarray, n_agents: int) -> np.ndarray:
    """Capacities (..., M) over the active subtasks only: 0 for inactive ones, and each active
    c_m raised to at least ⌈N / #active⌉ where the active capacities sum to less than N.

    A common floor for the active subtasks leaves capacities above it as they are and gives
    #active · ⌈N / #active⌉ ≥ N slots in all. A problem without active subtasks counts all M as
    active, so its agents still get a subtask.

    Args:
        capacity: (M,) or (..., M) non-negative integer capacities.
        active: (..., M) bool, the active subtasks of each problem.
        n_agents: N, the agents to place in each problem.
    """
    active = np.asarray(active, bool)
    active = np.where(active.any(-1, keepdims=True), active, True)
    room = np.where(active, capacity, 0)
    short = room.sum(-1, keepdims=True) < n_agents
    at_least = -(-n_agents // active.sum(-1, keepdims=True))  # ⌈N / #active⌉
    return np.where(short & active, np.maximum(room, at_least), room)
