"""MAAAL's networks as one RLlib ``TorchRLModule`` (Li et al., 2023, Fig. 1).

Upper layer (allocation)::

    w_i   = φ(o_i)                      agent network, shared by all agents
    v_m   = ψ(status_m)                 subtask encoder
    Q̂_um  = g(w_u) · v_m                allocation Q of unit u for subtask m (−inf if inactive)

where a unit is an agent, or a group of agents whose ``w`` is the Deep-Sets mean over its members
(intern teams). Lower layer (action)::

    Q̄^i   = θ_{τ(m_i)}(w_i, status_{m_i}[, pair_{i,m_i}])   subtask network of the subtask type τ
    Q^i   = Q̄^i masked with −inf outside u_{m_i} ∧ avail_i
    Q_tot = f(Q^1_{a_1}, ..., Q^N_{a_N}; s)  QMIX (or VDN) mixer

Deviation from the paper: it writes ``Q_i = Q̄^i * u_m``. Multiplying by a 0/1 mask makes masked
actions worth 0, which beats every valid action whose Q is negative; masking with −inf never
selects them.

Deviation from the paper (``allocation_head="mlp"``, the default where the env gives ``pair``
features): ``Q̂_um = MLP([g(w_u), v_m, pair_um])``. A dot product of separately encoded agents and
subtasks cannot express "how far is agent i from building m", so every agent of a kind prefers
the same subtasks and they herd; the (agent, subtask) features fed jointly can. A unit's ``pair``
is its members' mean, like its ``w``. ``allocation_head="dot"`` is the paper's head. The subtask
networks also read ``pair_{i,m_i}`` (e.g. the offset to the allocated building), which the
absolute positions in ``o_i`` and ``status_m`` only give as a difference to be learned.

The subtask networks read the raw subtask status, not ψ's encoding, so that the action loss L2
cannot move the allocation module (the paper's gradient split: L1 → φ, g, ψ; L2 → φ, θ, f).
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from torch import nn

from rllib_maaal.algorithms.episodic.schedules import piecewise_linear
from rllib_maaal.algorithms.episodic.torch.episodic_torch_rl_module import EpisodicTorchRLModule
from rllib_maaal.algorithms.maaal.allocation import greedy_allocation, random_allocation
from rllib_maaal.models import AgentEncoder, PairScorer, TypedMLP, make_mixer, mlp

NEG_INF = float("-inf")
#: Allocation switches whose choices come from the learned allocation Q.
LEARNED_ALLOCATION = ("learned", "static")


class MAAALTorchRLModule(EpisodicTorchRLModule):
    """Agent network, allocation module, subtask networks and mixer.

    ``model_config`` keys (filled by :class:`~rllib_maaal.algorithms.maaal.MAAALConfig`):
    ``hidden``, ``mixing_embed``, ``hypernet_hidden``, ``mixer``, ``allocation``, ``action``,
    ``allocation_solver``, ``subtask_capacity``, ``allow_self_pairing``, ``allocation_head``,
    ``epsilon_allocation``, ``epsilon_action``.
    """

    def setup(self) -> None:
        space = self.observation_space
        cfg = self.model_config
        self.n_agents, obs_dim = space["obs"].shape
        self.n_units = space["allocation"].shape[0]
        self.n_subtasks, status_dim = space["subtask_status"].shape
        self.n_actions = space["action_mask"].shape[-1]
        if cfg["allocation_solver"] == "pairing" and self.n_units != self.n_subtasks:
            raise ValueError(
                "allocation_solver 'pairing' needs one subtask per unit (subtask m means "
                f"'paired with unit m'); this env has {self.n_units} units and "
                f"{self.n_subtasks} subtasks: use free or capacity"
            )
        n_types = int(space["subtask_type"].high.max()) + 1
        entity_dim = space["entities"].shape[-1] if "entities" in space.spaces else None
        pair_dim = space["pair"].shape[-1] if "pair" in space.spaces else 0
        hidden = cfg["hidden"]
        self.allocation_head = cfg["allocation_head"]
        if self.allocation_head == "auto":
            self.allocation_head = "mlp" if pair_dim else "dot"

        self.agent_net = AgentEncoder(obs_dim, hidden, entity_dim)
        self.alloc_head = mlp(hidden, hidden, hidden)  # g
        self.subtask_encoder = mlp(status_dim + n_types, hidden, hidden)  # ψ
        #: The allocation module: trained by L1 only.
        self.allocation_parts = ["alloc_head", "subtask_encoder"]
        if self.allocation_head == "mlp":
            self.alloc_scorer = PairScorer(hidden, hidden, pair_dim, hidden)
            self.allocation_parts.append("alloc_scorer")
        self.subtask_nets = TypedMLP(
            n_types, hidden + status_dim + pair_dim, hidden, self.n_actions
        )  # θ
        self.mixer = make_mixer(
            cfg["mixer"],
            self.n_agents,
            space["state"].shape[0],
            cfg["mixing_embed"],
            cfg["hypernet_hidden"],
        )
        self.n_types = n_types

    # ---------------------------------------------------------------- networks
    def encode_agents(
        self, obs: dict[str, torch.Tensor], agent_net: nn.Module | None = None
    ) -> torch.Tensor:
        """w = φ(o): (..., N, H)."""
        net = agent_net or self.agent_net
        return net(obs["obs"], obs.get("entities"), obs.get("entity_mask"))

    def allocation_q(
        self, obs: dict[str, torch.Tensor], w: torch.Tensor, target: bool = False
    ) -> torch.Tensor:
        """Q̂ (..., U, M), −inf on inactive subtasks: g(w_u) · ψ(status_m) (``dot``) or
        MLP([g(w_u), ψ(status_m), pair_um]) (``mlp``); with the target networks if ``target``."""
        prefix = "_target_" if target else ""
        alloc_head, subtask_encoder = (
            getattr(self, prefix + name) for name in ("alloc_head", "subtask_encoder")
        )
        g = alloc_head(self._unit_mean(obs, w))
        types = nn.functional.one_hot(obs["subtask_type"].long(), self.n_types).to(w.dtype)
        v = subtask_encoder(torch.cat([obs["subtask_status"], types], dim=-1))
        if self.allocation_head == "dot":
            q = torch.einsum("...uh,...mh->...um", g, v)
        else:
            pair = self._unit_mean(obs, obs["pair"]) if "pair" in obs else None
            q = getattr(self, prefix + "alloc_scorer")(g, v, pair)
        return q.masked_fill(obs["subtask_active"].unsqueeze(-2) <= 0, NEG_INF)

    def agent_q(
        self,
        obs: dict[str, torch.Tensor],
        w: torch.Tensor,
        allocation: torch.Tensor,
        subtask_nets: nn.Module | None = None,
    ) -> torch.Tensor:
        """Q (..., N, A) of every agent inside its allocated subtask, −inf on masked actions."""
        nets = subtask_nets or self.subtask_nets
        m = self.subtask_of_agent(obs, allocation)
        inputs = [w, _gather_rows(obs["subtask_status"], m)]
        if "pair" in obs:  # the agent's features towards its own subtask: pair[i, m_i]
            pair = obs["pair"]
            index = m.long()[..., None, None].expand(*m.shape, 1, pair.shape[-1])
            inputs.append(pair.gather(-2, index).squeeze(-2))
        types = obs["subtask_type"].gather(-1, m)
        q = nets(torch.cat(inputs, dim=-1), types)
        return q.masked_fill(self.valid_actions(obs, m) <= 0, NEG_INF)

    def mix(
        self, q_taken: torch.Tensor, obs: dict[str, torch.Tensor], mixer: nn.Module | None = None
    ) -> torch.Tensor:
        return (mixer or self.mixer)(q_taken, obs["state"], obs["agent_mask"])

    # ------------------------------------------------------------- structure
    def subtask_of_agent(
        self, obs: dict[str, torch.Tensor], allocation: torch.Tensor
    ) -> torch.Tensor:
        """m_i (..., N): the subtask of each agent's allocation unit."""
        if self.model_config["allocation"] == "none":
            return torch.zeros_like(obs["agent_unit"]).long()
        return allocation.long().gather(-1, obs["agent_unit"].long())

    def valid_actions(self, obs: dict[str, torch.Tensor], m: torch.Tensor) -> torch.Tensor:
        """u_{m_i} ∧ avail_i (..., N, A); falls back to avail_i where the two do not meet, so
        that an agent always has an action (e.g. its subtask just finished)."""
        avail = obs["action_mask"]
        if self.model_config["allocation"] == "none":
            return avail
        both = _gather_rows(obs["subtask_action_mask"], m) * avail
        return torch.where(both.sum(-1, keepdim=True) > 0, both, avail)

    def _unit_mean(self, obs: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Deep-Sets mean over each allocation unit's present members of per-agent ``x``
        (..., N, *F) → (..., U, *F), e.g. w (..., N, H) or pair (..., N, M, P).

        With one agent per unit (``agent_unit = arange(N)``) this is ``x`` itself.
        """
        member = nn.functional.one_hot(obs["agent_unit"].long(), self.n_units).to(x.dtype)
        member = member * obs["agent_mask"].unsqueeze(-1)  # (..., N, U)
        lead, features = member.shape[:-2], x.shape[member.dim() - 1 :]
        total = torch.einsum("...nu,...nf->...uf", member, x.reshape(*lead, self.n_agents, -1))
        mean = total / member.sum(-2).clamp(min=1.0).unsqueeze(-1)
        return mean.reshape(*lead, self.n_units, *features)

    # ---------------------------------------------------------------- acting
    def _act(
        self, batch: dict[str, Any], epsilon_allocation: float, epsilon_action: float
    ) -> dict[str, Any]:
        obs = batch[Columns.OBS]
        cfg = self.model_config
        if cfg["allocation"] == "random":
            epsilon_allocation = 1.0
        if cfg["action"] == "random":
            epsilon_action = 1.0
        w = self.encode_agents(obs)
        decide = obs["decide"][..., 0] > 0
        if cfg["allocation"] in LEARNED_ALLOCATION + ("random",):
            q_alloc = self.allocation_q(obs, w)
            new = greedy_allocation(q_alloc, cfg)
            if epsilon_allocation > 0:
                new = random_allocation(q_alloc, cfg, epsilon_allocation, new)
        else:
            new = obs["rule_allocation"].long()
        allocation = torch.where(decide.unsqueeze(-1), new, obs["allocation"].long())

        if cfg["action"] == "rule":
            m = self.subtask_of_agent(obs, allocation)
            actions = obs["rule_action"].long().gather(-1, m.unsqueeze(-1)).squeeze(-1)
        else:
            q = self.agent_q(obs, w, allocation)
            actions = q.argmax(-1)
            if epsilon_action > 0:
                noise = torch.rand_like(q).masked_fill(q == NEG_INF, -1.0)
                explore = torch.rand(actions.shape, device=q.device) < epsilon_action
                actions = torch.where(explore, noise.argmax(-1), actions)
        return {Columns.ACTIONS: {"allocation": allocation, "action": actions}}

    def _forward_inference(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        return self._act(batch, 0.0, 0.0)

    def _forward_exploration(self, batch: dict[str, Any], t: int = 0, **kwargs) -> dict[str, Any]:
        cfg = self.model_config
        return self._act(
            batch,
            piecewise_linear(cfg["epsilon_allocation"], t),
            piecewise_linear(cfg["epsilon_action"], t),
        )

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        # The learner calls the networks it needs directly (see MAAALTorchLearner).
        return {}

    # ------------------------------------------------------- target networks
    def _networks(self) -> list[str]:
        """The names of the trained networks, each with a target copy ``_target_<name>``."""
        return ["agent_net", *self.allocation_parts, "subtask_nets", "mixer"]

    def make_target_networks(self) -> None:
        for name in self._networks():
            setattr(self, f"_target_{name}", make_target_network(getattr(self, name)))

    def get_target_network_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [
            (getattr(self, name), getattr(self, f"_target_{name}")) for name in self._networks()
        ]

    def forward_target(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Target-network encodings of ``batch[OBS]``: w⁻ and Q̂⁻."""
        obs = batch[Columns.OBS]
        w = self.encode_agents(obs, self._target_agent_net)
        return {"w": w, "q_alloc": self.allocation_q(obs, w, target=True)}


def _gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table`` (..., M, K), ``index`` (..., N) → (..., N, K): row ``index`` of each table."""
    return table.gather(-2, index.long().unsqueeze(-1).expand(*index.shape, table.shape[-1]))


__all__ = ["MAAALTorchRLModule"]
