"""An MLP with one set of weights per type, evaluated for every item in one batched einsum."""

from __future__ import annotations

import math

import torch
from torch import nn


class TypedMLP(nn.Module):
    """Two-layer MLPs θ_1..θ_T stacked into tensors; item k uses the MLP of its type ``τ_k``.

    Every item is pushed through every type's MLP at once (einsum over stacked weights) and the
    output of its own type is gathered: no Python loop over items or types, and no per-item copy
    of the weights. T is small (the number of subtask types), so the extra work is cheap.
    """

    def __init__(self, n_types: int, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.empty(n_types, in_dim, hidden))
        self.b1 = nn.Parameter(torch.zeros(n_types, hidden))
        self.w2 = nn.Parameter(torch.empty(n_types, hidden, out_dim))
        self.b2 = nn.Parameter(torch.zeros(n_types, out_dim))
        for w in (self.w1, self.w2):
            bound = 1.0 / math.sqrt(w.shape[1])
            nn.init.uniform_(w, -bound, bound)

    def forward(self, x: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """``x`` (..., in_dim) and integer ``types`` (...) → (..., out_dim)."""
        h = torch.relu(torch.einsum("...i,tih->...th", x, self.w1) + self.b1)
        out = torch.einsum("...th,tho->...to", h, self.w2) + self.b2
        index = types.long()[..., None, None].expand(*types.shape, 1, out.shape[-1])
        return out.gather(-2, index).squeeze(-2)
