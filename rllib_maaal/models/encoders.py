"""Permutation-equivariant encoders: per-agent MLPs, Deep Sets and entity attention."""

from __future__ import annotations

import torch
from torch import nn


def mlp(in_dim: int, hidden: int, out_dim: int, layers: int = 2) -> nn.Sequential:
    """``layers`` linear layers with ReLU in between (none after the last)."""
    dims = [in_dim] + [hidden] * (layers - 1) + [out_dim]
    modules: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        modules.append(nn.Linear(a, b))
        if i < layers - 1:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules)


def masked_mean(x: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Mean of ``x`` over ``dim`` counting only entries where ``mask`` (x without last dim) is 1.

    An all-zero mask gives zeros, not NaN: an empty set has a zero embedding.
    """
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(dim) / m.sum(dim).clamp(min=1.0)


class DeepSet(nn.Module):
    """ρ(mean_i φ(x_i)): a permutation-invariant embedding of a set (Zaheer et al., 2017)."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU())
        self.rho = nn.Sequential(nn.Linear(hidden, out_dim), nn.ReLU())

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x`` (..., n, in_dim), ``mask`` (..., n) → (..., out_dim)."""
        return self.rho(masked_mean(self.phi(x), mask, dim=-2))


class PooledSet(nn.Module):
    """A compact embedding of a set: a per-element MLP, then its mean and its max over the
    elements, concatenated (``2 * out_dim``), as attention mixers summarise entities.

    Invariant to the order of the elements; masked elements count for nothing (an empty set
    embeds to zeros).
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.phi = mlp(in_dim, hidden, out_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``x`` (..., n, in_dim), ``mask`` (..., n) → (..., 2 * out_dim)."""
        h = self.phi(x)
        present = mask.unsqueeze(-1) > 0
        top = h.masked_fill(~present, float("-inf")).amax(-2)
        top = torch.where(present.any(-2), top, torch.zeros_like(top))
        return torch.cat([masked_mean(h, mask, dim=-2), top], dim=-1)


class AgentEncoder(nn.Module):
    """The agent network φ: ``w_i = φ(o_i)``, shared by all agents.

    Flat layout: an MLP on the agent's observation. Entity layout: the agent's own features attend
    over the shared entity set (one head, masked softmax), so the entity features are encoded once
    per instance and each agent reads what is relevant to it; the result is invariant to the order
    of entities and equivariant to the order of agents.
    """

    def __init__(self, obs_dim: int, hidden: int, entity_dim: int | None = None) -> None:
        super().__init__()
        self.entity_layout = entity_dim is not None
        if self.entity_layout:
            self.own = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU())
            self.entity = nn.Sequential(nn.Linear(entity_dim, hidden), nn.ReLU())
            self.query = nn.Linear(hidden, hidden, bias=False)
            self.key = nn.Linear(hidden, hidden, bias=False)
            self.value = nn.Linear(hidden, hidden)
            self.out = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU())
        else:
            self.out = mlp(obs_dim, hidden, hidden)
        self.hidden = hidden

    def forward(
        self,
        obs: torch.Tensor,
        entities: torch.Tensor | None = None,
        entity_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``obs`` (..., N, D), optional ``entities`` (..., E, F) and ``entity_mask`` (..., E)
        → w (..., N, H)."""
        if not self.entity_layout:
            return torch.relu(self.out(obs))
        own = self.own(obs)
        ent = self.entity(entities)
        logits = self.query(own) @ self.key(ent).transpose(-1, -2) / self.hidden**0.5
        logits = logits.masked_fill(entity_mask.unsqueeze(-2) <= 0, float("-inf"))
        attention = torch.nan_to_num(torch.softmax(logits, dim=-1))
        context = attention @ self.value(ent)
        return self.out(torch.cat([own, context], dim=-1))


class PairScorer(nn.Module):
    """A scalar score per (unit u, item m): an MLP on the concatenation [a_u, b_m, p_um].

    Its first layer is split by input block (one Linear for a_u, one for b_m, one for p_um,
    summed): the same function as one Linear on the concatenation, without building the
    (..., U, M, dim_a + dim_b + P) input. Every unit and item is scored alike, so the scores are
    equivariant to permutations of the units and of the items.

    With ``item_mask`` only the items it marks are scored, the others get −inf: the hidden
    layer is a (U, M, hidden) grid per instance, most of a learner update's work, and in the
    city only about a quarter of the subtasks are active at a decision.
    """

    def __init__(self, unit_dim: int, item_dim: int, pair_dim: int, hidden: int) -> None:
        super().__init__()
        self.unit = nn.Linear(unit_dim, hidden)
        self.item = nn.Linear(item_dim, hidden, bias=False)
        self.pair = nn.Linear(pair_dim, hidden, bias=False) if pair_dim else None
        self.out = mlp(hidden, hidden, 1)

    def forward(
        self,
        units: torch.Tensor,
        items: torch.Tensor,
        pair: torch.Tensor | None = None,
        item_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``units`` (..., U, A), ``items`` (..., M, B), ``pair`` (..., U, M, P), ``item_mask``
        (..., M) → (..., U, M)."""
        if item_mask is None:
            h = self.unit(units).unsqueeze(-2) + self.item(items).unsqueeze(-3)
            if self.pair is not None:
                h = h + self.pair(pair)
            return self.out(torch.relu(h)).squeeze(-1)
        lead, (n_units, n_items) = items.shape[:-2], (units.shape[-2], items.shape[-2])
        # The scored (instance, item) pairs; ``nonzero`` syncs with the host on a GPU.
        k, m = item_mask.reshape(-1, n_items).nonzero(as_tuple=True)
        a = self.unit(units).reshape(-1, n_units, self.unit.out_features)
        b = self.item(items).reshape(-1, n_items, self.unit.out_features)
        h = a[k] + b[k, m].unsqueeze(-2)  # (pairs, U, hidden)
        if self.pair is not None:
            h = h + self.pair(pair.reshape(-1, n_units, n_items, pair.shape[-1])[k, :, m])
        scores = self.out(torch.relu(h)).squeeze(-1)  # (pairs, U)
        grid = scores.new_full((len(a), n_items, n_units), float("-inf"))
        return grid.index_put((k, m), scores).transpose(-1, -2).reshape(*lead, n_units, n_items)
