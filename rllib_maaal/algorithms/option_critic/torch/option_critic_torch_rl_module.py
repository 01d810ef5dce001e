"""The option-critic grouping method's networks as one RLlib ``TorchRLModule`` (Hu, 2025).

An option ω is a pairing of all teams for a week (``partners[t]`` = the team t meets, t itself
when it sits out). The centralised critic values options through a value per pair::

    e_i      = relu(L1 x_i)                       every intern
    z_t      = relu(L2 mean_{i ∈ t} e_i)          every team (Deep Sets)
    q(i, j)  = L4 relu(L3 [(z_i + z_j) / 2, 1[i ≠ j]])   every pair; a self-pair reads z_i
    Q(s, ω)  = Σ_{pairs {i, j} ∈ ω} q(i, j)

so the greedy option argmax_ω Q(s, ω) is the maximum-weight pairing of the pair values
(:func:`rllib_maaal.grouping.max_weight_pairing`). Deviation from the author's network: the
competition flag 1[i ≠ j] enters L3, because the mean of two equal team embeddings equals a
self-pair's, yet a week of competition and a week off are worth different amounts (and a pair
covers two teams' rewards, a self-pair one).

The intra-option policy, shared by every intern, reads only what the intern would see in a
decentralised deployment: its own features, its teammates' and its opponent team's::

    π(· | o_i, ω) = softmax(MLP[φ(x_i), mean_{j ∈ team, j ≠ i} φ(x_j), mean_{j ∈ opponent} φ(x_j)]
                            / temperature)

(zeros for an empty set: an intern alone in its team, a team that sits out). Everything is
invariant to the order of interns within a team and to the labels of the teams, as long as the
observation carries no team index (``drop_obs_features`` removes such columns from both
networks; ``critic_drop_obs_features`` removes more from the critic's input only).
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from torch import nn

from rllib_maaal.algorithms.episodic.schedules import piecewise_linear
from rllib_maaal.algorithms.episodic.torch.episodic_torch_rl_module import (
    VALID,
    EpisodicTorchRLModule,
    episode_masks,
)
from rllib_maaal.grouping import max_weight_pairing
from rllib_maaal.models import mlp

Obs = dict[str, torch.Tensor]

# ``fwd_out`` keys of ``_forward_train`` (besides VALID and TERMINAL), read by the learner.
#: (B, T) Q(s_t, ω_t) of the option in force.
Q = "q"
#: (B, T) U(s_{t+1}, ω_t) of the target critic: Q⁻(s_{t+1}, ω_t) while the option continues,
#: max_ω' Q⁻(s_{t+1}, ω') where a new option is due.
VALUE_NEXT_TARGET = "value_next_target"
#: (B, T, N, A) tempered logits of every intern's message under ω_t.
LOGITS = "logits"
#: (B, T, N) the interns present at the valid steps.
ACTING = "acting"


def team_membership(obs: Obs, n_teams: int) -> torch.Tensor:
    """(..., N, T) 1 where intern i is present and belongs to team t."""
    member = nn.functional.one_hot(obs["agent_unit"].long(), n_teams).float()
    return member * obs["agent_mask"].unsqueeze(-1)


def team_sums(values: torch.Tensor, member: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sums of ``values`` (..., N, H) over each team (..., T, H), and member counts (..., T)."""
    return torch.einsum("...nt,...nh->...th", member, values), member.sum(-2)


def option_value(pair_q: torch.Tensor, partners: torch.Tensor) -> torch.Tensor:
    """Q(s, ω) (...,) = Σ over the pairs of ω of q, from pair values (..., T, T) and ω (..., T).

    Each pair {i, j} is seen from both of its teams, so each side counts half of it.
    """
    per_team = torch.take_along_dim(pair_q, partners.long().unsqueeze(-1), dim=-1).squeeze(-1)
    alone = partners == torch.arange(partners.shape[-1], device=partners.device)
    return torch.where(alone, per_team, 0.5 * per_team).sum(-1)


class PairCritic(nn.Module):
    """Nested Deep Sets: interns → teams → pairs → q(pair) for every pair of teams."""

    def __init__(self, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.intern = nn.Linear(in_dim, hidden)  # L1
        self.team = nn.Linear(hidden, hidden)  # L2
        self.pair = nn.Linear(hidden + 1, hidden)  # L3 (+ the competition flag)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor, member: torch.Tensor) -> torch.Tensor:
        """``x`` (..., N, D), ``member`` (..., N, T) → q (..., T, T), symmetric."""
        z = torch.relu(self.team(_team_means(*team_sums(torch.relu(self.intern(x)), member))))
        # L3 is linear before its ReLU: L3[(z_i + z_j) / 2, f] = (u_i + u_j) / 2 + w f + b with
        # u = W z, so it is applied once per team rather than once per pair (T times less work).
        hidden = z.shape[-1]
        u = z @ self.pair.weight[:, :hidden].T  # (..., T, H)
        pre = 0.5 * (u.unsqueeze(-2) + u.unsqueeze(-3)) + self.pair.bias  # (..., T, T, H)
        n_teams = z.shape[-2]
        competing = 1.0 - torch.eye(n_teams, device=z.device, dtype=z.dtype)
        pre = pre + competing.unsqueeze(-1) * self.pair.weight[:, hidden]
        return self.out(torch.relu(pre)).squeeze(-1)


class IntraOptionActor(nn.Module):
    """Deep-Sets intra-option policy: own state, teammates' mean, opponent team's mean."""

    def __init__(self, in_dim: int, hidden: int, n_actions: int) -> None:
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU())
        self.head = mlp(3 * hidden, hidden, n_actions)

    def forward(
        self, x: torch.Tensor, member: torch.Tensor, unit: torch.Tensor, partners: torch.Tensor
    ) -> torch.Tensor:
        """Logits (..., N, A) from ``x`` (..., N, D), ``member`` (..., N, T), each intern's team
        ``unit`` (..., N) and the option in force ``partners`` (..., T)."""
        own = self.embed(x) * member.sum(-1, keepdim=True)  # absent interns embed to zero
        total, count = team_sums(own, member)
        team_total = _rows(total, unit)
        team_count = count.gather(-1, unit).unsqueeze(-1)
        mates = (team_total - own) / (team_count - 1.0).clamp(min=1.0)
        opponent = partners.gather(-1, unit)  # (..., N)
        opponent_mean = _rows(_team_means(total, count), opponent)
        opponent_mean = opponent_mean * (opponent != unit).unsqueeze(-1)
        return self.head(torch.cat([own, mates, opponent_mean], -1))


def _team_means(total: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Team means (..., T, H) from sums and member counts (zeros for an empty team)."""
    return total / count.clamp(min=1.0).unsqueeze(-1)


def _rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table`` (..., T, H), ``index`` (..., N) → (..., N, H)."""
    return table.gather(-2, index.unsqueeze(-1).expand(*index.shape, table.shape[-1]))


class OptionCriticTorchRLModule(EpisodicTorchRLModule):
    """Pair critic (with a target copy) and intra-option actor.

    ``model_config`` keys (filled by :class:`~rllib_maaal.algorithms.option_critic.
    OptionCriticConfig`): ``hidden``, ``temperature``, ``allow_self_pairing``, ``epsilon_option``,
    ``drop_obs_features``, ``critic_drop_obs_features``, ``greedy_messages``.
    """

    def setup(self) -> None:
        space = self.observation_space
        cfg = self.model_config
        self.n_agents, obs_dim = space["obs"].shape
        self.n_teams = space["allocation"].shape[0]
        self.n_actions = space["action_mask"].shape[-1]
        self._register_columns("actor_features", obs_dim, cfg["drop_obs_features"])
        self._register_columns(
            "critic_features",
            obs_dim,
            [*cfg["drop_obs_features"], *cfg["critic_drop_obs_features"]],
        )
        hidden = cfg["hidden"]
        self.critic = PairCritic(len(self.critic_features), hidden)
        self.actor = IntraOptionActor(len(self.actor_features), hidden, self.n_actions)

    def _register_columns(self, name: str, obs_dim: int, drop: list[int]) -> None:
        """The observation columns a network reads: all but ``drop``."""
        if any(i >= obs_dim for i in drop):
            raise ValueError(
                f"drop_obs_features {sorted(set(drop))} must index the {obs_dim} observation "
                f"features (0 to {obs_dim - 1})"
            )
        keep = [i for i in range(obs_dim) if i not in set(drop)]
        self.register_buffer(name, torch.tensor(keep), persistent=False)

    # ---------------------------------------------------------------- networks
    def _inputs(self, obs: Obs, columns: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return obs["obs"].index_select(-1, columns), team_membership(obs, self.n_teams)

    def pair_values(self, obs: Obs, critic: nn.Module | None = None) -> torch.Tensor:
        """q (..., T, T): the value of every pair of teams (diagonal: a team sitting out)."""
        x, member = self._inputs(obs, self.critic_features)
        return (critic or self.critic)(x, member)

    def action_logits(self, obs: Obs, partners: torch.Tensor) -> torch.Tensor:
        """Tempered logits (..., N, A) of every intern's message under the option ``partners``."""
        x, member = self._inputs(obs, self.actor_features)
        logits = self.actor(x, member, obs["agent_unit"].long(), partners.long())
        return logits / self.model_config["temperature"]

    def greedy_option(self, pair_q: torch.Tensor) -> torch.Tensor:
        """argmax_ω Q(s, ω) (..., T): the maximum-weight pairing of the pair values."""
        scores = pair_q.detach().double().cpu().numpy()
        lead, n_teams = scores.shape[:-2], scores.shape[-1]
        partners = max_weight_pairing(
            scores.reshape(-1, n_teams, n_teams), self.model_config["allow_self_pairing"]
        )
        return torch.as_tensor(partners.reshape(*lead, n_teams), device=pair_q.device)

    # ---------------------------------------------------------------- acting
    def _act(self, batch: dict[str, Any], epsilon: float, sample_messages: bool) -> dict[str, Any]:
        obs = batch[Columns.OBS]
        partners = obs["allocation"].long().clone()
        decide = obs["decide"][..., 0] > 0
        if decide.any():
            chosen = self.greedy_option(self.pair_values({k: v[decide] for k, v in obs.items()}))
            if epsilon > 0:  # ε-greedy over options: a random pairing for the whole cohort
                noise = torch.rand(chosen.shape[0], self.n_teams, self.n_teams)
                explore = (torch.rand(chosen.shape[0]) < epsilon).to(chosen.device)
                chosen = torch.where(explore.unsqueeze(-1), self.greedy_option(noise), chosen)
            partners[decide] = chosen
        logits = self.action_logits(obs, partners)
        if sample_messages:
            messages = torch.distributions.Categorical(logits=logits).sample()
        else:
            messages = logits.argmax(-1)
        return {Columns.ACTIONS: {"allocation": partners, "action": messages}}

    def _forward_inference(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        return self._act(batch, 0.0, not self.model_config["greedy_messages"])

    def _forward_exploration(self, batch: dict[str, Any], t: int = 0, **kwargs) -> dict[str, Any]:
        return self._act(batch, piecewise_linear(self.model_config["epsilon_option"], t), True)

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Every term of the critic and actor losses on a padded episode batch (keys: see the
        constants above)."""
        obs = batch[Columns.OBS]
        out = episode_masks(batch)
        valid = out[VALID]
        horizon = valid.shape[1]
        now = {k: v[:, :horizon] for k, v in obs.items()}
        option = batch["allocation"].long()
        out[Q] = option_value(self.pair_values(now), option)
        out[LOGITS] = self.action_logits(now, option)
        out[ACTING] = valid.unsqueeze(-1) & (now["agent_mask"] > 0)
        with torch.no_grad():
            nxt = {k: v[:, 1:] for k, v in obs.items()}
            pair_q = self.forward_target({Columns.OBS: nxt})["pair_q"]  # (B, T, U, U)
            switch = (nxt["decide"][..., 0] > 0) & valid
            out[VALUE_NEXT_TARGET] = option_value(pair_q, self._switch(pair_q, switch, option))
        return out

    def _switch(
        self, pair_q: torch.Tensor, switch: torch.Tensor, option: torch.Tensor
    ) -> torch.Tensor:
        """The option (..., T) in force next: ``option``, or the greedy one where ``switch``.

        The matching runs on the host, so the steps are picked there (one copy of the pair
        values), not with a boolean index on the device.
        """
        switch, chosen = switch.cpu(), option.cpu()
        if switch.any():
            chosen = chosen.clone()
            chosen[switch] = self.greedy_option(pair_q.cpu()[switch]).to(chosen.dtype)
        return chosen.to(option.device)

    # ------------------------------------------------------- target networks
    def make_target_networks(self) -> None:
        self._target_critic = make_target_network(self.critic)

    def get_target_network_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [(self.critic, self._target_critic)]

    def forward_target(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Target pair values q⁻ (..., T, T) of ``batch[OBS]``."""
        return {"pair_q": self.pair_values(batch[Columns.OBS], self._target_critic)}


__all__ = ["OptionCriticTorchRLModule", "option_value"]
