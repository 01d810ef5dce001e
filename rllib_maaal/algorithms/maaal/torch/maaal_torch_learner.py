"""MAAAL's losses, L = L1 + L2 (Li et al., 2023, eqs. 2 and 3), on padded episode batches.

Batch (from :class:`~rllib_maaal.algorithms.episodic.EpisodeReplay`): ``obs`` is a dict
of (B, T + 1, ...) team observations, ``allocation`` (B, T, U), ``action`` (B, T, N), ``reward``
(B, T), ``length`` (B,) and ``terminated`` (B,); with ``subtask_reward_weight`` > 0 also
``subtask_reward`` (B, T, M), the env's per-subtask rewards R^m_t.

L1, allocation (per unit u, at its decision steps t, semi-MDP over the k steps to the next
decision)::

    y1 = Σ_{j<k} γ^j r_{t+j} + γ^k (1 − done) max_{m'} Q̂⁻(o_{t+k}, v_{t+k}, m')
    L1 = mean (y1 − Q̂(o_t, v_t, m_t))²              → agent network φ, allocation module g, ψ

With a decision every step (k = 1) this is the paper's eq. 2. Under ``capacity``/``pairing`` the
max is over feasible allocations (the solver's choice).

L1 with ``allocation_mixer`` = ``vdn`` | ``qmix`` (beyond the paper: one joint value per
decision, the sum over present units P_t, or a monotonic mixer f_A on the global state)::

    Q̂_tot(t) = f_A(Q̂_u(o_t, v_t, m_ut) for u ∈ P_t; s_t)
    Q̂⁻_tot(t) = f_A⁻(Q̂⁻_u(o_t, v_t, m*_u) for u ∈ P_t; s_t)
    y1 = Σ_{j<k} γ^j r_{t+j} + γ^k (1 − done) Q̂⁻_tot(t + k)
    L1 = mean over decision steps (y1 − Q̂_tot(t))²          → φ, g, ψ, f_A

m* is the greedy (feasible) allocation of the target Q̂⁻, as above: for ``free`` and a monotonic
f_A it maximises the target mix too.

L2, actions (every step, double Q, m_{t+1} = the allocation in force at t + 1)::

    a'_i = argmax_a Q^i(o_{t+1}, a | m_{t+1})
    y2   = r_t + γ (1 − terminated) Q_tot⁻(s_{t+1}, Q^{i,⁻}_{a'_i})
    L2   = mean (y2 − Q_tot(s_t, Q^i_{a_i}))²           → φ, subtask networks θ, mixer f

With ``subtask_reward_weight`` = w > 0 (reward shaping, beyond the paper), L2's r_t is replaced
by the global reward plus the rewards of the subtasks the team staffs at t, each counted once::

    staffed_mt = 1 if some present unit u has m_ut = m, else 0
    r̃_t        = r_t + w Σ_m staffed_mt R^m_t

r̃_t takes r_t's place in y2 (and in its λ-return below); L1 keeps r_t. A subtask's reward counts
once however many units staff it (no pull to herd onto it), and the rewards of unstaffed
subtasks stay in r_t only.

With ``approach_reward_weight`` = c > 0 (potential-based shaping, beyond the paper), L2's reward
also gains each present agent's progress towards the subtask allocated to it at t, d_i,t(m) the
``pair`` column ``approach_pair_feature`` (a distance)::

    F_t = Σ_i [d_i,t(m_i,t) − γ d_i,t+1(m_i,t)]     (agents present at t and t + 1)
    r̃_t = r_t [+ w Σ_m staffed_mt R^m_t] + c F_t

``done`` is true only on termination: a time-limit truncation bootstraps from the final
observation.

With ``td_lambda`` = λ > 0, y2 is instead pymarl2's λ-return over the episode, computed backwards
from the same target values Q_tot⁻_{t+1} (the one-step target at the episode's last step)::

    y2_t = r_t + γ [(1 − λ) Q_tot⁻_{t+1} + λ y2_{t+1}]   for t < L − 1
    y2_{L−1} = r_{L−1} + γ (1 − terminated) Q_tot⁻_L

The module's ``_forward_train`` returns every Q value these equations read (see the keys in
:mod:`~rllib_maaal.algorithms.maaal.torch.maaal_torch_rl_module`); this file is the equations over
``fwd_out``, with no network call and no host sync.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rllib_maaal.algorithms.episodic.torch.episodic_torch_learner import (
    EpisodicTorchLearner,
    masked_mean,
)
from rllib_maaal.algorithms.episodic.torch.episodic_torch_rl_module import TERMINAL, VALID
from rllib_maaal.algorithms.maaal.allocation import LEARNED_ALLOCATION
from rllib_maaal.algorithms.maaal.torch.maaal_torch_rl_module import (
    ALLOC_VALUE_MIX_TARGET,
    ALLOC_VALUE_TARGET,
    DECIDE,
    Q_ALLOC,
    Q_ALLOC_MIX,
    Q_TOT,
    Q_TOT_NEXT_TARGET,
    UNIT_PRESENT,
)

Tensors = dict[str, torch.Tensor]


class MAAALTorchLearner(EpisodicTorchLearner):
    """Computes L1 + L2; the target networks follow (see EpisodicTorchLearner)."""

    def build(self) -> None:
        super().build()
        if self.config.approach_reward_weight > 0:  # (the CLI checks this before Ray starts)
            self.module.foreach_module(
                lambda mid, mod: self.config.validate_spaces(mod.observation_space)
            )

    def compute_loss_for_module(
        self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: Tensors
    ) -> torch.Tensor:
        stats: Tensors = {}
        loss = torch.zeros((), device=batch["reward"].device)
        if config.allocation in LEARNED_ALLOCATION:
            l1, td1 = allocation_loss(fwd_out, batch, config)
            loss = loss + config.l1_coeff * l1
            stats.update(l1_loss=l1, allocation_td_error=td1)
        if config.action == "learned":
            l2, td2, q_tot = action_loss(fwd_out, batch, config)
            loss = loss + config.l2_coeff * l2
            stats.update(l2_loss=l2, action_td_error=td2, q_tot_mean=q_tot)
        self.metrics.log_dict({k: v.detach() for k, v in stats.items()}, key=module_id, window=1)
        return loss


# ---------------------------------------------------------------------------- L1
def allocation_loss(
    fwd_out: Tensors, batch: dict[str, Any], config: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """L1 and its mean |TD error| over the units' decisions."""
    y = allocation_targets(fwd_out, batch, config)
    if config.allocation_mixer == "none":
        allocation = batch["allocation"].long().unsqueeze(-1)
        q_taken = fwd_out[Q_ALLOC].gather(-1, allocation).squeeze(-1)  # (B, T, U)
        mask = fwd_out[DECIDE].unsqueeze(-1) & fwd_out[UNIT_PRESENT]
    else:
        q_taken = fwd_out[Q_ALLOC_MIX]  # (B, T)
        mask = fwd_out[DECIDE] & fwd_out[UNIT_PRESENT].any(-1)
    td = torch.where(mask, y - q_taken, torch.zeros_like(q_taken))
    return _td_loss(td, mask, config.td_loss), masked_mean(td.abs(), mask)


def allocation_targets(fwd_out: Tensors, batch: dict[str, Any], config: Any) -> torch.Tensor:
    """y1 (B, T, U), or (B, T) with an allocation mixer, for every step (used at decision
    steps): the discounted reward up to the next decision plus γ^k times the target allocation
    value there (the units' or their mix), unless the episode terminated first."""
    valid = fwd_out[VALID]
    # Segment boundaries: decision steps, and the episode end (padding counts as one).
    boundary = torch.cat([fwd_out[DECIDE] | ~valid, torch.ones_like(valid[:, :1])], dim=1)
    next_decision = _next_boundary(boundary)  # (B, T): index of the next boundary after t
    seg_return, discount = semi_mdp_returns(batch["reward"], next_decision, config.gamma)
    ends_episode = next_decision == batch["length"].unsqueeze(1)
    not_done = 1.0 - (ends_episode & (batch["terminated"] > 0)[:, None]).float()
    if config.allocation_mixer != "none":
        bootstrap = fwd_out[ALLOC_VALUE_MIX_TARGET].gather(1, next_decision)  # (B, T)
        return seg_return + discount * not_done * bootstrap
    value = fwd_out[ALLOC_VALUE_TARGET]  # (B, T + 1, U)
    bootstrap = value.gather(1, next_decision.unsqueeze(-1).expand(-1, -1, value.shape[-1]))
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


def _next_boundary(boundary: torch.Tensor) -> torch.Tensor:
    """For each t < T: the smallest j > t with ``boundary[:, j]`` (boundary is (B, T + 1))."""
    length = boundary.shape[1]
    index = torch.arange(length, device=boundary.device).expand_as(boundary)
    marked = torch.where(boundary, index, torch.full_like(index, length))
    suffix_min = torch.flip(torch.cummin(torch.flip(marked, [1]), dim=1).values, [1])
    return suffix_min[:, 1:]


# ---------------------------------------------------------------------------- L2
def action_loss(
    fwd_out: Tensors, batch: dict[str, Any], config: Any
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """L2, its mean |TD error| and mean Q_tot over the valid steps."""
    valid = fwd_out[VALID]
    q_tot = fwd_out[Q_TOT]
    y = action_targets(fwd_out, batch, config)
    td = torch.where(valid, y - q_tot, torch.zeros_like(q_tot))
    loss = _td_loss(td, valid, config.td_loss)
    return loss, masked_mean(td.abs(), valid), masked_mean(q_tot.detach(), valid)


def action_targets(fwd_out: Tensors, batch: dict[str, Any], config: Any) -> torch.Tensor:
    """y2 (B, T) = r̃_t + γ (1 − terminated) Q_tot⁻(s_{t+1}, Q^{i,⁻}_{a'_i}), or its λ-return
    with ``config.td_lambda`` > 0."""
    reward = action_rewards(fwd_out, batch, config)
    not_done = 1.0 - fwd_out[TERMINAL].float()
    one_step = reward + config.gamma * not_done * fwd_out[Q_TOT_NEXT_TARGET]
    if config.td_lambda == 0:
        return one_step
    return lambda_returns(one_step, reward, fwd_out[Q_TOT_NEXT_TARGET], fwd_out[VALID], config)


def action_rewards(fwd_out: Tensors, batch: dict[str, Any], config: Any) -> torch.Tensor:
    """L2's reward (B, T): r_t, plus w Σ_m staffed_mt R^m_t with ``config.subtask_reward_weight``
    = w > 0 and the approach term F_t with ``config.approach_reward_weight`` = c > 0."""
    reward = batch["reward"]
    weight = config.subtask_reward_weight
    if weight > 0:
        subtask_reward = batch["subtask_reward"]  # (B, T, M)
        allocated = nn.functional.one_hot(batch["allocation"].long(), subtask_reward.shape[-1])
        staffed = (allocated.bool() & fwd_out[UNIT_PRESENT].unsqueeze(-1)).any(-2)  # (B, T, M)
        reward = reward + weight * (subtask_reward * staffed).sum(-1)
    if config.approach_reward_weight > 0:  # scaled like the replayed rewards: c in env units
        scale = config.approach_reward_weight * config.reward_scale
        reward = reward + scale * approach_shaping(batch, config)
    return reward


def approach_shaping(batch: dict[str, Any], config: Any) -> torch.Tensor:
    """F_t (B, T) = Σ_i [d_i,t(m_i,t) − γ d_i,t+1(m_i,t)] over the agents present at t and t + 1:
    each agent's progress towards the subtask it was allocated at t, d the ``pair`` column
    ``config.approach_pair_feature`` (a distance). Potential-based shaping (Ng et al., 1999)
    with Φ = −d, so the optimal actions under a fixed allocation do not change."""
    obs = batch["obs"]
    horizon = batch["reward"].shape[1]
    distance = obs["pair"][..., config.approach_pair_feature]  # (B, T + 1, N, M)
    unit = obs["agent_unit"][:, :horizon].long()
    subtask = batch["allocation"].long().gather(-1, unit).unsqueeze(-1)  # (B, T, N, 1)
    now = distance[:, :horizon].gather(-1, subtask).squeeze(-1)
    after = distance[:, 1:].gather(-1, subtask).squeeze(-1)
    present = (obs["agent_mask"][:, :horizon] > 0) & (obs["agent_mask"][:, 1:] > 0)
    return torch.where(present, now - config.gamma * after, torch.zeros_like(now)).sum(-1)


def lambda_returns(
    one_step: torch.Tensor,
    reward: torch.Tensor,
    next_value: torch.Tensor,
    valid: torch.Tensor,
    config: Any,
) -> torch.Tensor:
    """The λ-returns (B, T) of the module docstring, unrolled: y2_t = Σ_{j ≥ t} (γλ)^{j−t} c_j
    with c_j = r_j + γ (1 − λ) Q_tot⁻_{j+1}, c_{L−1} = the one-step target and c = 0 on padding.

    One (T, T) matrix product instead of a loop over time; no division by (γλ)^t, which
    underflows over long episodes (0.54^182 ≈ 1e-49 in the intern task).
    """
    gamma, lam = config.gamma, config.td_lambda
    last = valid & ~torch.cat([valid[:, 1:], torch.zeros_like(valid[:, :1])], dim=1)
    blended = reward + gamma * (1.0 - lam) * next_value
    c = torch.where(last, one_step, torch.where(valid, blended, torch.zeros_like(blended)))
    t = torch.arange(c.shape[1], device=c.device)
    lag = (t[None, :] - t[:, None]).to(c.dtype)  # lag[t, j] = j − t
    weights = torch.where(lag >= 0, (gamma * lam) ** lag.clamp(min=0), torch.zeros_like(lag))
    return c @ weights.T


def _td_loss(td: torch.Tensor, mask: torch.Tensor, kind: str) -> torch.Tensor:
    per = (
        torch.nn.functional.huber_loss(td, torch.zeros_like(td), reduction="none")
        if (kind == "huber")
        else td.pow(2)
    )
    return masked_mean(per, mask)
