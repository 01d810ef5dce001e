"""MAAAL's losses, L = L1 + L2 (Li et al., 2023, eqs. 2 and 3), on padded episode batches.

Batch (from :class:`~rllib_maaal.algorithms.episodic.EpisodeReplay`): ``obs`` is a dict
of (B, T + 1, ...) team observations, ``allocation`` (B, T, U), ``action`` (B, T, N), ``reward``
(B, T), ``length`` (B,) and ``terminated`` (B,).

L1, allocation (per unit u, at its decision steps t, semi-MDP over the k steps to the next
decision)::

    y1 = Σ_{j<k} γ^j r_{t+j} + γ^k (1 − done) max_{m'} Q̂⁻(o_{t+k}, v_{t+k}, m')
    L1 = mean (y1 − Q̂(o_t, v_t, m_t))²              → agent network φ, allocation module g, ψ

With a decision every step (k = 1) this is the paper's eq. 2. Under ``capacity``/``pairing`` the
max is over feasible allocations (the solver's choice).

L2, actions (every step, double Q, m_{t+1} = the allocation in force at t + 1)::

    a'_i = argmax_a Q^i(o_{t+1}, a | m_{t+1})
    y2   = r_t + γ (1 − terminated) Q_tot⁻(s_{t+1}, Q^{i,⁻}_{a'_i})
    L2   = mean (y2 − Q_tot(s_t, Q^i_{a_i}))²           → φ, subtask networks θ, mixer f

``done`` is true only on termination: a time-limit truncation bootstraps from the final
observation.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.core.columns import Columns

from rllib_maaal.algorithms.episodic.torch.episodic_torch_learner import EpisodicTorchLearner
from rllib_maaal.algorithms.maaal.allocation import greedy_allocation
from rllib_maaal.algorithms.maaal.torch.maaal_torch_rl_module import LEARNED_ALLOCATION

Obs = dict[str, torch.Tensor]


class MAAALTorchLearner(EpisodicTorchLearner):
    """Computes L1 + L2; the target networks follow (see EpisodicTorchLearner)."""

    def compute_loss_for_module(
        self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        module = self.module[module_id].unwrapped()
        obs: Obs = batch["obs"]
        horizon = batch["reward"].shape[1]
        steps = torch.arange(horizon, device=batch["reward"].device)
        valid = steps < batch["length"].unsqueeze(1)  # (B, T)
        terminal = (steps == batch["length"].unsqueeze(1) - 1) & (batch["terminated"] > 0)[:, None]

        w = module.encode_agents(obs)  # (B, T + 1, N, H)
        target = module.forward_target({Columns.OBS: obs})
        stats: dict[str, torch.Tensor] = {}
        loss = torch.zeros((), device=w.device)
        if config.allocation in LEARNED_ALLOCATION:
            l1, td1 = allocation_loss(module, config, batch, w, target["q_alloc"], valid)
            loss = loss + config.l1_coeff * l1
            stats.update(l1_loss=l1, allocation_td_error=td1)
        if config.action == "learned":
            l2, td2, q_tot = action_loss(module, config, batch, w, target["w"], valid, terminal)
            loss = loss + config.l2_coeff * l2
            stats.update(l2_loss=l2, action_td_error=td2, q_tot_mean=q_tot)
        self.metrics.log_dict({k: v.detach() for k, v in stats.items()}, key=module_id, window=1)
        return loss


# ---------------------------------------------------------------------------- L1
def allocation_loss(
    module: Any,
    config: Any,
    batch: dict[str, Any],
    w: torch.Tensor,
    q_alloc_target: torch.Tensor,
    valid: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """L1 and its mean |TD error|. Gradients reach φ (through w) and g, ψ only."""
    obs = batch["obs"]
    horizon = valid.shape[1]
    now = _steps(obs, slice(0, horizon))
    q_alloc = module.allocation_q(now, w[:, :horizon])  # (B, T, U, M)
    q_taken = q_alloc.gather(-1, batch["allocation"].long().unsqueeze(-1)).squeeze(-1)

    decide = (obs["decide"][:, :horizon, 0] > 0) & valid  # (B, T)
    y = allocation_targets(module, config, batch, q_alloc_target, valid)
    unit_present = _units_present(obs, horizon, q_taken.shape[-1])
    mask = decide.unsqueeze(-1) & unit_present
    td = torch.where(mask, y.detach() - q_taken, torch.zeros_like(q_taken))
    return _td_loss(td, mask, config.td_loss), td.abs().sum() / mask.sum().clamp(min=1)


def allocation_targets(
    module: Any,
    config: Any,
    batch: dict[str, Any],
    q_alloc_target: torch.Tensor,
    valid: torch.Tensor,
) -> torch.Tensor:
    """y1 (B, T, U) for every step (used at decision steps): the discounted reward up to the
    next decision plus γ^k times the target allocation value there, unless the episode
    terminated first."""
    obs = batch["obs"]
    horizon = valid.shape[1]
    decide = (obs["decide"][:, :horizon, 0] > 0) & valid
    # Segment boundaries: decision steps, and the episode end (padding counts as one).
    boundary = torch.cat([decide | ~valid, torch.ones_like(valid[:, :1])], dim=1)  # (B, T + 1)
    next_decision = _next_boundary(boundary)  # (B, T): index of the next boundary after t
    seg_return, discount = semi_mdp_returns(batch["reward"], next_decision, config.gamma)
    value = boundary_values(q_alloc_target, boundary, dict(module.model_config))  # (B, T+1, U)
    bootstrap = value.gather(1, next_decision.unsqueeze(-1).expand(-1, -1, value.shape[-1]))
    ends_episode = next_decision == batch["length"].unsqueeze(1)
    not_done = 1.0 - (ends_episode & (batch["terminated"] > 0)[:, None]).float()
    return seg_return.unsqueeze(-1) + (discount * not_done).unsqueeze(-1) * bootstrap


def semi_mdp_returns(
    reward: torch.Tensor, next_decision: torch.Tensor, gamma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ_{t ≤ j < n_t} γ^{j−t} r_j and γ^{n_t − t} for every t, n_t = ``next_decision``.

    Vectorised over time with a discounted prefix sum (in float64: γ^t gets small over long
    episodes, e.g. 0.9^182 ≈ 5e-9 in the intern task).
    """
    horizon = reward.shape[1]
    t = torch.arange(horizon + 1, device=reward.device, dtype=torch.float64)
    powers = gamma**t  # (T + 1,)
    prefix = torch.cat(
        [
            torch.zeros_like(reward[:, :1], dtype=torch.float64),
            torch.cumsum(reward.double() * powers[:horizon], dim=1),
        ],
        dim=1,
    )  # prefix[:, j] = Σ_{i<j} γ^i r_i
    seg = (prefix.gather(1, next_decision) - prefix[:, :horizon]) / powers[:horizon]
    discount = gamma ** (next_decision.double() - t[:horizon])
    return seg.to(reward.dtype), discount.to(reward.dtype)


def boundary_values(
    q_alloc: torch.Tensor, boundary: torch.Tensor, model_config: dict[str, Any]
) -> torch.Tensor:
    """Q̂(o, v, m*) of every unit under the greedy feasible allocation m*, at the boundary steps
    (zeros elsewhere, and where no subtask is active)."""
    value = torch.zeros(q_alloc.shape[:-1], dtype=q_alloc.dtype, device=q_alloc.device)
    q = q_alloc[boundary]  # (K, U, M)
    if q.numel():
        best = greedy_allocation(q, model_config)
        chosen = q.gather(-1, best.long().unsqueeze(-1)).squeeze(-1)
        value[boundary] = torch.where(torch.isfinite(chosen), chosen, torch.zeros_like(chosen))
    return value.detach()


def _next_boundary(boundary: torch.Tensor) -> torch.Tensor:
    """For each t < T: the smallest j > t with ``boundary[:, j]`` (boundary is (B, T + 1))."""
    length = boundary.shape[1]
    index = torch.arange(length, device=boundary.device).expand_as(boundary)
    marked = torch.where(boundary, index, torch.full_like(index, length))
    suffix_min = torch.flip(torch.cummin(torch.flip(marked, [1]), dim=1).values, [1])
    return suffix_min[:, 1:]


# ---------------------------------------------------------------------------- L2
def action_loss(
    module: Any,
    config: Any,
    batch: dict[str, Any],
    w: torch.Tensor,
    w_target: torch.Tensor,
    valid: torch.Tensor,
    terminal: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """L2, its mean |TD error| and mean Q_tot. Gradients reach φ, θ and the mixer only."""
    obs = batch["obs"]
    horizon = valid.shape[1]
    now = _steps(obs, slice(0, horizon))
    allocation = batch["allocation"].long()
    q = module.agent_q(now, w[:, :horizon], allocation)
    q_taken = _present(q.gather(-1, batch["action"].long().unsqueeze(-1)).squeeze(-1), now)
    q_tot = module.mix(q_taken, now)

    y = action_targets(module, config, batch, w, w_target, terminal)
    td = torch.where(valid, y - q_tot, torch.zeros_like(q_tot))
    n = valid.sum().clamp(min=1)
    return _td_loss(td, valid, config.td_loss), td.abs().sum() / n, (q_tot * valid).sum() / n


@torch.no_grad()
def action_targets(
    module: Any,
    config: Any,
    batch: dict[str, Any],
    w: torch.Tensor,
    w_target: torch.Tensor,
    terminal: torch.Tensor,
) -> torch.Tensor:
    """y2 (B, T) = r_t + γ (1 − terminated) Q_tot⁻(s_{t+1}, Q^{i,⁻}_{a'_i}), with a'_i chosen by
    the online networks (double Q) or the target ones."""
    obs = batch["obs"]
    horizon = terminal.shape[1]
    nxt = _steps(obs, slice(1, horizon + 1))
    next_allocation = allocation_at_next_step(module, batch, w)
    q_next_target = module.agent_q(
        nxt, w_target[:, 1:], next_allocation, module._target_subtask_nets
    )
    chooser = module.agent_q(nxt, w[:, 1:], next_allocation) if config.double_q else q_next_target
    best = chooser.argmax(-1, keepdim=True)
    q_next = _present(q_next_target.gather(-1, best).squeeze(-1), nxt)
    # An agent left without any available action at a final observation has no future.
    q_next = torch.nan_to_num(q_next, neginf=0.0)
    q_tot_next = module.mix(q_next, nxt, module._target_mixer)
    return batch["reward"] + config.gamma * (1.0 - terminal.float()) * q_tot_next


def allocation_at_next_step(module: Any, batch: dict[str, Any], w: torch.Tensor) -> torch.Tensor:
    """m_{t+1} (B, T, U): the allocation taken at t + 1, and at an episode's final observation the
    one the policy would hold there (greedy if a decision is due, else the one in force)."""
    obs = batch["obs"]
    allocation = batch["allocation"].long()
    rows = torch.arange(allocation.shape[0], device=allocation.device)
    last = batch["length"].long()
    final = {k: v[rows, last] for k, v in obs.items()}
    cfg = module.model_config
    if cfg["allocation"] in LEARNED_ALLOCATION:
        proposal = greedy_allocation(module.allocation_q(final, w[rows, last]), cfg)
    else:
        proposal = final["rule_allocation"].long()
    final_allocation = torch.where(final["decide"] > 0, proposal, final["allocation"].long())
    following = torch.cat([allocation[:, 1:], torch.zeros_like(allocation[:, :1])], dim=1)
    following[rows, last - 1] = final_allocation.detach()
    return following


# ---------------------------------------------------------------------- helpers
def _steps(obs: Obs, index: slice) -> Obs:
    return {k: v[:, index] for k, v in obs.items()}


def _present(q: torch.Tensor, obs: Obs) -> torch.Tensor:
    """Zero the Q of absent agents (their masked actions would be −inf)."""
    return torch.where(obs["agent_mask"] > 0, q, torch.zeros_like(q))


def _units_present(obs: Obs, horizon: int, n_units: int) -> torch.Tensor:
    member = torch.nn.functional.one_hot(obs["agent_unit"][:, :horizon].long(), n_units)
    return torch.einsum("btnu,btn->btu", member.float(), obs["agent_mask"][:, :horizon]) > 0


def _td_loss(td: torch.Tensor, mask: torch.Tensor, kind: str) -> torch.Tensor:
    per = (
        torch.nn.functional.huber_loss(td, torch.zeros_like(td), reduction="none")
        if (kind == "huber")
        else td.pow(2)
    )
    return (per * mask).sum() / mask.sum().clamp(min=1)
