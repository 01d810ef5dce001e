"""Choosing allocations from the allocation Q matrix Q̂ (..., U, M).

``free`` is the paper's rule (each unit takes its own argmax). ``capacity`` and ``pairing`` feed
the same matrix to an exact solver when allocations are constrained (``docs/maaal.md``):

* capacity: at most c_m units per subtask → assignment on the slot-expanded matrix. The
  capacities hold for the instance's active subtasks only (those whose column of Q̂ is not −inf
  for every unit); no unit goes to an inactive subtask, and where the active capacities have room
  for fewer than U units they are raised to ⌈U / #active⌉ (see
  :func:`~rllib_maaal.grouping.assignment.active_capacity`), so an allocation always exists;
* pairing: units are teams and subtask m means "paired with team m"; the matching maximises
  Σ_u Q̂[u, partner(u)], i.e. pair {i, j} is worth Q̂_ij + Q̂_ji and a self-pair Q̂_ii.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from rllib_maaal.algorithms.episodic.schedules import piecewise_linear
from rllib_maaal.grouping import capacity_assignment, max_weight_pairing, unit_pair_scores

#: Finite stand-in for −inf (inactive subtasks) inside the solvers.
_FORBIDDEN = -1e9
#: Allocation switches whose choices come from the learned allocation Q.
LEARNED_ALLOCATION = ("learned", "static")


def in_force(decide: torch.Tensor, new: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
    """The allocation (..., U) in force after a step: ``new`` where a decision is due
    (``decide`` (...,) true), else the ``current`` one is kept."""
    return torch.where(decide.unsqueeze(-1), new.long(), current.long())


def exploration_epsilons(cfg: Mapping[str, Any], env_steps: float | None) -> dict[str, float]:
    """ε of the allocation and of the action choice (``epsilon_allocation``,
    ``epsilon_action``) after ``env_steps`` sampled steps, from the schedules in ``cfg`` (a
    module's ``model_config``); 0 without exploration (``env_steps`` None). A ``random`` switch
    has ε = 1 either way: it is the uniform policy, not an exploration phase."""
    return {
        f"epsilon_{layer}": 1.0
        if cfg[layer] == "random"
        else 0.0
        if env_steps is None
        else piecewise_linear(cfg[f"epsilon_{layer}"], env_steps)
        for layer in ("allocation", "action")
    }


def greedy_allocation(q_alloc: torch.Tensor, cfg: Mapping[str, Any]) -> torch.Tensor:
    """The allocation (..., U) that maximises Q̂ under ``cfg["allocation_solver"]``."""
    solver = cfg["allocation_solver"]
    if solver == "free":
        return q_alloc.argmax(-1)
    scores = torch.nan_to_num(q_alloc.detach(), neginf=_FORBIDDEN).double().cpu().numpy()
    lead, (n_units, n_subtasks) = scores.shape[:-2], scores.shape[-2:]
    flat = scores.reshape(-1, n_units, n_subtasks)
    if solver == "capacity":
        capacity = np.broadcast_to(np.asarray(cfg["subtask_capacity"]), (n_subtasks,))
        # The module masks an inactive subtask with −inf for every unit; a column that is −inf
        # for some units only stays active (those units are merely forbidden from it).
        active = (q_alloc.detach() != float("-inf")).any(-2).cpu().numpy()
        chosen = capacity_assignment(flat, capacity, active.reshape(-1, n_subtasks))
    else:
        chosen = max_weight_pairing(unit_pair_scores(flat), allow_self=cfg["allow_self_pairing"])
    return torch.as_tensor(np.asarray(chosen).reshape(*lead, n_units), device=q_alloc.device)


def random_allocation(
    q_alloc: torch.Tensor, cfg: Mapping[str, Any], epsilon: float, greedy: torch.Tensor
) -> torch.Tensor:
    """ε-greedy: replace ``greedy`` by a uniformly random feasible allocation with probability ε —
    per unit for ``free`` (the paper), per instance for the constrained solvers (a unit cannot
    change alone without breaking the constraint)."""
    noise = torch.rand_like(q_alloc).masked_fill(q_alloc == float("-inf"), float("-inf"))
    random = greedy_allocation(noise, cfg)
    per = greedy.shape if cfg["allocation_solver"] == "free" else greedy.shape[:-1]
    explore = torch.rand(per, device=q_alloc.device) < epsilon
    if cfg["allocation_solver"] != "free":
        explore = explore.unsqueeze(-1)
    return torch.where(explore, random, greedy)
