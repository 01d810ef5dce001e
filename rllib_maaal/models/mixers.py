"""Value-decomposition mixers: Q_tot = f(Q^1_{a_1}, ..., Q^N_{a_N}; s)."""

from __future__ import annotations

import torch
from torch import nn


class VDNMixer(nn.Module):
    """Q_tot = Σ_i Q^i (Sunehag et al., 2018); absent agents contribute nothing."""

    def forward(
        self, q: torch.Tensor, state: torch.Tensor, agent_mask: torch.Tensor
    ) -> torch.Tensor:
        return (q * agent_mask).sum(-1)


class QMixer(nn.Module):
    """QMIX's monotonic mixer (Rashid et al., 2018): hypernetworks on the global state produce
    non-negative mixing weights, so ∂Q_tot/∂Q^i ≥ 0 and per-agent argmaxes stay consistent with
    the joint argmax."""

    def __init__(self, n_agents: int, state_dim: int, embed: int = 32, hyper_hidden: int = 64):
        super().__init__()
        self.n_agents, self.embed = n_agents, embed
        self.hyper_w1 = nn.Sequential(
            nn.Linear(state_dim, hyper_hidden), nn.ReLU(), nn.Linear(hyper_hidden, n_agents * embed)
        )
        self.hyper_b1 = nn.Linear(state_dim, embed)
        self.hyper_w2 = nn.Sequential(
            nn.Linear(state_dim, hyper_hidden), nn.ReLU(), nn.Linear(hyper_hidden, embed)
        )
        self.value = nn.Sequential(nn.Linear(state_dim, embed), nn.ReLU(), nn.Linear(embed, 1))

    def forward(
        self, q: torch.Tensor, state: torch.Tensor, agent_mask: torch.Tensor
    ) -> torch.Tensor:
        """``q`` (..., N), ``state`` (..., S), ``agent_mask`` (..., N) → Q_tot (...)."""
        # Linear layers on a strided state (a learner's state[:, :T] slice) take a batched
        # matmul path; one copy and plain matmuls are faster on the CPU (forward and backward
        # of one 1051 -> 64 layer over a (32, 108) slice: 21 ms against 15 ms).
        state = state.contiguous()
        w1 = self.hyper_w1(state).abs().view(*state.shape[:-1], self.n_agents, self.embed)
        hidden = nn.functional.elu(
            torch.einsum("...n,...ne->...e", q * agent_mask, w1) + self.hyper_b1(state)
        )
        w2 = self.hyper_w2(state).abs()
        return (hidden * w2).sum(-1) + self.value(state).squeeze(-1)


def make_mixer(
    kind: str, n_agents: int, state_dim: int, embed: int, hyper_hidden: int
) -> nn.Module:
    """``kind`` is ``"qmix"`` or ``"vdn"``."""
    if kind == "qmix":
        return QMixer(n_agents, state_dim, embed, hyper_hidden)
    if kind == "vdn":
        return VDNMixer()
    raise ValueError(f"mixer must be one of 'qmix', 'vdn'; got {kind!r}")
