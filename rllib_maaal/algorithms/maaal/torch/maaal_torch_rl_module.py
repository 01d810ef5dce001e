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

Beyond the paper (``allocation_mixer="vdn"|"qmix"``): a joint allocation value of a decision,
``Q̂_tot = f_A(Q̂_1(m_1), ..., Q̂_U(m_U); s)`` over the present units, with a mixer f_A of its own
(the VDN sum or a QMIX mixer over units). It only enters L1; the units still choose by their own
Q̂_u, which a monotonic f_A keeps consistent with the joint argmax.

Beyond the paper (``mixer_state="pooled"``): the hypernetworks of the QMIX mixers (f, and a QMIX
f_A) read a compact state instead of the env's flat ``state``: ``s = [mean_e e(x_e); max_e
e(x_e)]`` over the present entities x_e, a per-entity MLP e computed once per step and shared by
both mixers. e is trained by the losses of the mixers that read it (L2, and L1 through f_A).

The subtask networks read the raw subtask status, not ψ's encoding, so that the action loss L2
cannot move the allocation module (the paper's gradient split: L1 → φ, g, ψ[, f_A];
L2 → φ, θ, f).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from torch import nn

from rllib_maaal.algorithms.episodic.torch.episodic_torch_rl_module import (
    VALID,
    EpisodicTorchRLModule,
    episode_masks,
)
from rllib_maaal.algorithms.maaal.allocation import (
    LEARNED_ALLOCATION,
    exploration_epsilons,
    greedy_allocation,
    in_force,
    random_allocation,
)
from rllib_maaal.models import AgentEncoder, PairScorer, PooledSet, TypedMLP, make_mixer, mlp

NEG_INF = float("-inf")

# ``fwd_out`` keys of ``_forward_train`` (besides VALID and TERMINAL), read by MAAALTorchLearner.
#: (B, T) the valid steps where a new allocation was decided.
DECIDE = "decide"
#: (B, T, U) units with at least one present member.
UNIT_PRESENT = "unit_present"
#: (B, T, U, M) Q̂(o_t, v_t, ·) at the decision steps (zeros at the other steps).
Q_ALLOC = "q_alloc"
#: (B, T + 1, U) Q̂⁻(o_t, v_t, m*) under the greedy feasible allocation m* of the target
#: networks, at the decision steps and each episode's final observation (zeros elsewhere).
ALLOC_VALUE_TARGET = "alloc_value_target"
#: With an ``allocation_mixer``: (B, T) Q̂_tot = f_A(Q̂_u(o_t, v_t, m_ut) of the present units;
#: s_t) of the allocation decided, at the decision steps (zeros at the other steps).
Q_ALLOC_MIX = "q_alloc_mix"
#: With an ``allocation_mixer``: (B, T + 1) f_A⁻ of the present units' ALLOC_VALUE_TARGET, at
#: the decision steps and each episode's final observation (zeros elsewhere).
ALLOC_VALUE_MIX_TARGET = "alloc_value_mix_target"
#: (B, T, U) m_{t+1}: the allocation in force at t + 1 (at the final observation: the one the
#: policy would hold there).
NEXT_ALLOCATION = "next_allocation"
#: (B, T) Q_tot(s_t, Q^i_{a_i}) of the actions taken.
Q_TOT = "q_tot"
#: (B, T) Q_tot⁻(s_{t+1}, Q^{i,⁻}_{a'_i}), a'_i chosen by the online networks under
#: ``double_q``, else by the target ones.
Q_TOT_NEXT_TARGET = "q_tot_next_target"

#: The observation keys the agent network and the pooled mixer state read.
_ENCODER_INPUTS = ("obs", "entities", "entity_mask")
#: The observation keys the allocation Q reads.
_ALLOCATION_INPUTS = (
    "agent_unit",
    "agent_mask",
    "subtask_type",
    "subtask_status",
    "subtask_active",
    "pair",
)


class _Networks(NamedTuple):
    """One copy of the trained networks: the online ones or their target twins."""

    agent_net: nn.Module
    alloc_head: nn.Module
    subtask_encoder: nn.Module
    alloc_scorer: nn.Module | None
    subtask_nets: nn.Module
    mixer: nn.Module
    alloc_mixer: nn.Module | None
    state_encoder: nn.Module | None


class MAAALTorchRLModule(EpisodicTorchRLModule):
    """Agent network, allocation module, subtask networks and mixer.

    ``model_config`` keys (filled by :class:`~rllib_maaal.algorithms.maaal.MAAALConfig`):
    ``hidden``, ``mixing_embed``, ``hypernet_hidden``, ``mixer``, ``allocation``, ``action``,
    ``allocation_solver``, ``subtask_capacity``, ``allow_self_pairing``, ``allocation_head``,
    ``allocation_mixer``, ``mixer_state``, ``epsilon_allocation``, ``epsilon_action``, ``double_q``.
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
        state_dim = space["state"].shape[0]
        # (Checkpoints written before mixer_state existed read the flat state.)
        self.mixer_state = cfg.get("mixer_state", "flat")
        if self.mixer_state == "pooled":
            if entity_dim is None:
                raise ValueError(
                    "mixer_state 'pooled' pools the team observation's 'entities', which this "
                    "env does not give (only an entity layout has them, e.g. the city's "
                    "obs_layout 'entity'): use mixer_state 'flat'"
                )
            embed = cfg["mixing_embed"]
            self.state_encoder = PooledSet(entity_dim, embed, embed)  # e: mean ‖ max
            state_dim = 2 * embed
        sizes = (state_dim, cfg["mixing_embed"], cfg["hypernet_hidden"])
        self.mixer = make_mixer(cfg["mixer"], self.n_agents, *sizes)
        # (Checkpoints written before allocation_mixer existed had none.)
        self.allocation_mixer = cfg.get("allocation_mixer", "none")
        if self.allocation_mixer != "none":
            self.alloc_mixer = make_mixer(self.allocation_mixer, self.n_units, *sizes)  # f_A
            self.allocation_parts.append("alloc_mixer")
        self.n_types = n_types

    # ------------------------------------------------- networks (online ones)
    def encode_agents(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """w = φ(o): (..., N, H)."""
        return self._encode(self._networks(), obs)

    def allocation_q(self, obs: dict[str, torch.Tensor], w: torch.Tensor) -> torch.Tensor:
        """Q̂ (..., U, M), −inf on inactive subtasks: g(w_u) · ψ(status_m) (``dot``) or
        MLP([g(w_u), ψ(status_m), pair_um]) (``mlp``)."""
        return self._allocation_q(self._networks(), obs, w)

    def agent_q(
        self, obs: dict[str, torch.Tensor], w: torch.Tensor, allocation: torch.Tensor
    ) -> torch.Tensor:
        """Q (..., N, A) of every agent inside its allocated subtask, −inf on masked actions."""
        return self._agent_q(self._networks(), obs, w, allocation)

    def mix(self, q_taken: torch.Tensor, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Q_tot (...) of the agents' Q values ``q_taken`` (..., N)."""
        return self._mix(self._networks(), q_taken, obs)

    # The same functions of either copy of the networks (online or target).
    def _networks(self, target: bool = False) -> _Networks:
        prefix = "_target_" if target else ""
        return _Networks(*(getattr(self, prefix + name, None) for name in _Networks._fields))

    @staticmethod
    def _encode(nets: _Networks, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return nets.agent_net(obs["obs"], obs.get("entities"), obs.get("entity_mask"))

    def _allocation_q(
        self, nets: _Networks, obs: dict[str, torch.Tensor], w: torch.Tensor
    ) -> torch.Tensor:
        g = nets.alloc_head(self._unit_mean(obs, w))
        types = nn.functional.one_hot(obs["subtask_type"].long(), self.n_types).to(w.dtype)
        v = nets.subtask_encoder(torch.cat([obs["subtask_status"], types], dim=-1))
        if self.allocation_head == "dot":
            q = torch.einsum("...uh,...mh->...um", g, v)
        else:
            pair = self._unit_mean(obs, obs["pair"]) if "pair" in obs else None
            q = nets.alloc_scorer(g, v, pair, item_mask=obs["subtask_active"] > 0)
        return q.masked_fill(obs["subtask_active"].unsqueeze(-2) <= 0, NEG_INF)

    def _agent_q(
        self,
        nets: _Networks,
        obs: dict[str, torch.Tensor],
        w: torch.Tensor,
        allocation: torch.Tensor,
    ) -> torch.Tensor:
        m = self.subtask_of_agent(obs, allocation)
        inputs = [w, _gather_rows(obs["subtask_status"], m)]
        if "pair" in obs:  # the agent's features towards its own subtask: pair[i, m_i]
            pair = obs["pair"]
            index = m.long()[..., None, None].expand(*m.shape, 1, pair.shape[-1])
            inputs.append(pair.gather(-2, index).squeeze(-2))
        types = obs["subtask_type"].gather(-1, m)
        q = nets.subtask_nets(torch.cat(inputs, dim=-1), types)
        return q.masked_fill(self.valid_actions(obs, m) <= 0, NEG_INF)

    def _mix(
        self, nets: _Networks, q_taken: torch.Tensor, obs: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        return nets.mixer(q_taken, self._mixer_state(nets, obs), obs["agent_mask"])

    @staticmethod
    def _mixer_state(nets: _Networks, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The state (..., S) the mixers' hypernetworks read: the env's ``state``, or under
        ``mixer_state="pooled"`` the pooled entity embedding."""
        if nets.state_encoder is None:
            return obs["state"]
        return nets.state_encoder(obs["entities"], obs["entity_mask"])

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

    def _membership(self, obs: dict[str, torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
        """(..., N, U) 1 where agent i is present and a member of unit u."""
        member = nn.functional.one_hot(obs["agent_unit"].long(), self.n_units).to(dtype)
        return member * obs["agent_mask"].unsqueeze(-1).to(dtype)

    def _unit_mean(self, obs: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Deep-Sets mean over each allocation unit's present members of per-agent ``x``
        (..., N, *F) → (..., U, *F), e.g. w (..., N, H) or pair (..., N, M, P).

        With one agent per unit (``agent_unit = arange(N)``) this is ``x`` itself.
        """
        member = self._membership(obs, x.dtype)
        lead, features = member.shape[:-2], x.shape[member.dim() - 1 :]
        total = torch.einsum("...nu,...nf->...uf", member, x.reshape(*lead, self.n_agents, -1))
        mean = total / member.sum(-2).clamp(min=1.0).unsqueeze(-1)
        return mean.reshape(*lead, self.n_units, *features)

    # ---------------------------------------------------------------- acting
    def _act(self, batch: dict[str, Any], epsilon: dict[str, float]) -> dict[str, Any]:
        obs = batch[Columns.OBS]
        cfg = self.model_config
        w = self.encode_agents(obs)
        if cfg["allocation"] in LEARNED_ALLOCATION + ("random",):
            q_alloc = self.allocation_q(obs, w)
            new = greedy_allocation(q_alloc, cfg)
            if epsilon["epsilon_allocation"] > 0:
                new = random_allocation(q_alloc, cfg, epsilon["epsilon_allocation"], new)
        else:
            new = obs["rule_allocation"]
        allocation = in_force(obs["decide"][..., 0] > 0, new, obs["allocation"])

        if cfg["action"] == "rule":
            m = self.subtask_of_agent(obs, allocation)
            actions = obs["rule_action"].long().gather(-1, m.unsqueeze(-1)).squeeze(-1)
        else:
            q = self.agent_q(obs, w, allocation)
            actions = q.argmax(-1)
            if epsilon["epsilon_action"] > 0:
                noise = torch.rand_like(q).masked_fill(q == NEG_INF, -1.0)
                explore = torch.rand(actions.shape, device=q.device) < epsilon["epsilon_action"]
                actions = torch.where(explore, noise.argmax(-1), actions)
        return {Columns.ACTIONS: {"allocation": allocation, "action": actions}}

    def _forward_inference(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        return self._act(batch, exploration_epsilons(self.model_config, None))

    def _forward_exploration(self, batch: dict[str, Any], t: int = 0, **kwargs) -> dict[str, Any]:
        return self._act(batch, exploration_epsilons(self.model_config, t))

    # -------------------------------------------------------------- training
    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Every term of L1 and L2 on a padded episode batch (keys: see the constants above).

        Each observation is encoded once by the online and once by the target agent network;
        the allocation Q is evaluated only where the losses read it (decision steps and final
        observations, about a quarter of the steps in the city task), and the online agent Q
        once over all T + 1 steps under the allocation in force: the same Q serves L2 at t and
        the double-Q choice at t + 1.
        """
        cfg = self.model_config
        obs = batch[Columns.OBS]
        out = episode_masks(batch)
        valid = out[VALID]
        horizon = valid.shape[1]
        online, target = self._networks(), self._networks(target=True)
        rows = torch.arange(valid.shape[0], device=valid.device)
        last = batch["length"].long()
        # The encoders see only the observations the episodes have (steps 0..length); the
        # padding, a fifth of a city batch, gets zeros that no loss term reads.
        seen = torch.arange(obs["obs"].shape[1], device=last.device) <= last.unsqueeze(1)
        at = seen.flatten().nonzero().squeeze(1)  # (a host sync on a GPU)
        packed = {k: obs[k].flatten(0, 1).index_select(0, at) for k in _ENCODER_INPUTS if k in obs}
        w, state = self._step_encodings(online, obs, packed, at)  # state: read by both mixers
        with torch.no_grad():
            w_target, state_target = self._step_encodings(target, obs, packed, at)
        out[DECIDE] = (obs["decide"][:, :horizon, 0] > 0) & valid
        now = {k: obs[k][:, :horizon] for k in ("agent_unit", "agent_mask")}
        out[UNIT_PRESENT] = self._membership(now, w.dtype).sum(-2) > 0

        if cfg["allocation"] in LEARNED_ALLOCATION:
            q_final = self._allocation_terms(
                out, obs, (w, w_target), (state, state_target), last, batch["allocation"]
            )
            proposal = greedy_allocation(q_final.detach(), cfg)
        else:  # (the replay keeps rule_allocation only for these switches)
            proposal = obs["rule_allocation"][rows, last]
        # The allocation in force at every step 0..T (padding: 0), and at each final
        # observation the one the policy would hold there.
        allocation = batch["allocation"].long()
        in_force_steps = torch.cat([allocation, torch.zeros_like(allocation[:, :1])], dim=1)
        in_force_steps[rows, last] = in_force(
            obs["decide"][rows, last, 0] > 0, proposal, obs["allocation"][rows, last]
        )
        out[NEXT_ALLOCATION] = in_force_steps[:, 1:]
        if cfg["action"] == "learned":
            self._action_terms(out, batch, (w, w_target), (state, state_target), in_force_steps)
        return out

    def _step_encodings(
        self,
        nets: _Networks,
        obs: dict[str, torch.Tensor],
        packed: dict[str, torch.Tensor],
        at: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """w (B, T + 1, N, H) and the mixer state (B, T + 1, S) of ``nets`` from ``packed``, the
        observations at the flat (b, t) indices ``at`` of the batch ``obs``; zeros elsewhere
        (the flat state is the env's, whole)."""
        batch_size, steps = obs["obs"].shape[:2]
        w = _scatter_steps(self._encode(nets, packed), at, batch_size, steps)
        if nets.state_encoder is None:
            return w, obs["state"]
        return w, _scatter_steps(self._mixer_state(nets, packed), at, batch_size, steps)

    def _allocation_terms(
        self,
        out: dict[str, torch.Tensor],
        obs: dict[str, torch.Tensor],
        ws: tuple[torch.Tensor, torch.Tensor],
        states: tuple[torch.Tensor, torch.Tensor],
        last: torch.Tensor,
        allocation: torch.Tensor,
    ) -> torch.Tensor:
        """Adds Q_ALLOC and ALLOC_VALUE_TARGET (and with an allocation mixer Q_ALLOC_MIX and
        ALLOC_VALUE_MIX_TARGET) to ``out``; returns Q̂ at the final observations (B, U, M).

        ``ws`` and ``states`` are (online, target) pairs of w and of the mixer state."""
        w, w_target = ws
        batch_size, steps = w.shape[:2]
        decide = nn.functional.pad(out[DECIDE], (0, 1))  # (B, T + 1)
        # Flat (b, t) indices: the decision steps, then each episode's final observation. The
        # ``nonzero`` is the update's one host sync on a GPU, worth it: the allocation Q is most
        # of the update's work (a (U, M) grid per step) and only these steps need it.
        decisions = decide.flatten().nonzero().squeeze(1)
        finals = torch.arange(batch_size, device=last.device) * steps + last
        at = torch.cat([decisions, finals])
        picked = {
            k: obs[k].flatten(0, 1).index_select(0, at) for k in _ALLOCATION_INPUTS if k in obs
        }
        online, target = self._networks(), self._networks(target=True)
        q = self._allocation_q(online, picked, w.flatten(0, 1)[at])  # (K, U, M)
        with torch.no_grad():
            q_target = self._allocation_q(target, picked, w_target.flatten(0, 1)[at])
            best = greedy_allocation(q_target, self.model_config)
            value = q_target.gather(-1, best.long().unsqueeze(-1)).squeeze(-1)
            # No active subtask, no future value.
            value = torch.where(torch.isfinite(value), value, torch.zeros_like(value))
        out[Q_ALLOC] = _scatter_steps(q, at, batch_size, steps)[:, :-1]
        out[ALLOC_VALUE_TARGET] = _scatter_steps(value, at, batch_size, steps)
        if self.allocation_mixer != "none":
            state, state_target = (s.flatten(0, 1).index_select(0, at) for s in states)
            present = self._membership(picked, q.dtype).sum(-2) > 0
            # Q̂_u of the allocation decided, at the decision steps only (the final
            # observations decide nothing: their allocation is padding, maybe −inf).
            n = len(decisions)
            chosen = nn.functional.pad(allocation.long(), (0, 0, 0, 1)).flatten(0, 1)[decisions]
            q_chosen = q[:n].gather(-1, chosen.unsqueeze(-1)).squeeze(-1)
            mixed = self._mix_units(online, q_chosen, state[:n], present[:n])
            out[Q_ALLOC_MIX] = _scatter_steps(mixed, decisions, batch_size, steps)[:, :-1]
            with torch.no_grad():
                mixed = self._mix_units(target, value, state_target, present)
            out[ALLOC_VALUE_MIX_TARGET] = _scatter_steps(mixed, at, batch_size, steps)
        return q[-batch_size:]

    @staticmethod
    def _mix_units(
        nets: _Networks, q: torch.Tensor, state: torch.Tensor, present: torch.Tensor
    ) -> torch.Tensor:
        """f_A (K,) of the units' values ``q`` (K, U) on the states (K, S); absent units count
        0 (their value may be −inf: an allocation to an inactive subtask)."""
        q = torch.where(present, q, torch.zeros_like(q))
        return nets.alloc_mixer(q, state, present.to(q.dtype))

    def _action_terms(
        self,
        out: dict[str, torch.Tensor],
        batch: dict[str, Any],
        ws: tuple[torch.Tensor, torch.Tensor],
        states: tuple[torch.Tensor, torch.Tensor],
        in_force_steps: torch.Tensor,
    ) -> None:
        """Adds Q_TOT and Q_TOT_NEXT_TARGET to ``out`` (``ws``, ``states``: as in
        ``_allocation_terms``)."""
        (w, w_target), (state, state_target) = ws, states
        obs = batch[Columns.OBS]
        horizon = in_force_steps.shape[1] - 1
        now = {k: v[:, :horizon] for k, v in obs.items()}
        nxt = {k: v[:, 1:] for k, v in obs.items()}
        q = self._agent_q(self._networks(), obs, w, in_force_steps)  # (B, T + 1, N, A)
        taken = q[:, :horizon].gather(-1, batch["action"].long().unsqueeze(-1)).squeeze(-1)
        # Absent agents, and the padded steps (whose replayed action may be masked), count 0.
        present = (now["agent_mask"] > 0) & out[VALID].unsqueeze(-1)
        taken = torch.where(present, taken, torch.zeros_like(taken))
        out[Q_TOT] = self.mixer(taken, state[:, :horizon], now["agent_mask"])
        with torch.no_grad():
            target = self._networks(target=True)
            q_target = self._agent_q(target, nxt, w_target[:, 1:], in_force_steps[:, 1:])
            # (Checkpoints written before double_q moved into model_config used double Q.)
            chooser = q[:, 1:] if self.model_config.get("double_q", True) else q_target
            q_next = q_target.gather(-1, chooser.argmax(-1, keepdim=True)).squeeze(-1)
            q_next = torch.where(nxt["agent_mask"] > 0, q_next, torch.zeros_like(q_next))
            # An agent left without any available action at a final observation has no future.
            q_next = torch.nan_to_num(q_next, neginf=0.0)
            out[Q_TOT_NEXT_TARGET] = target.mixer(q_next, state_target[:, 1:], nxt["agent_mask"])

    # ------------------------------------------------------- target networks
    def _trained_networks(self) -> list[str]:
        """The names of the trained networks, each with a target copy ``_target_<name>``."""
        pooled = ["state_encoder"] if self.mixer_state == "pooled" else []
        return ["agent_net", *self.allocation_parts, "subtask_nets", "mixer", *pooled]

    def make_target_networks(self) -> None:
        for name in self._trained_networks():
            setattr(self, f"_target_{name}", make_target_network(getattr(self, name)))

    def get_target_network_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        return [
            (getattr(self, name), getattr(self, f"_target_{name}"))
            for name in self._trained_networks()
        ]

    @torch.no_grad()
    def forward_target(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        """The target networks on ``batch[OBS]`` (any leading shape): ``w`` (w⁻) and
        ``q_alloc`` (Q̂⁻); with ``batch["allocation"]`` also ``q`` (Q⁻ (..., N, A) under it), and
        with ``batch["action"]`` too ``q_tot`` (Q_tot⁻ of those actions)."""
        obs = batch[Columns.OBS]
        nets = self._networks(target=True)
        w = self._encode(nets, obs)
        out = {"w": w, "q_alloc": self._allocation_q(nets, obs, w)}
        if "allocation" in batch:
            q = self._agent_q(nets, obs, w, batch["allocation"])
            out["q"] = q
            if "action" in batch:
                taken = q.gather(-1, batch["action"].long().unsqueeze(-1)).squeeze(-1)
                present = obs["agent_mask"] > 0
                out["q_tot"] = self._mix(nets, torch.where(present, taken, 0.0), obs)
        return out


def _scatter_steps(
    values: torch.Tensor, at: torch.Tensor, batch_size: int, steps: int
) -> torch.Tensor:
    """``values`` (K, ...) at the flat (b, t) indices ``at`` → (B, T + 1, ...), zeros elsewhere."""
    dense = values.new_zeros(batch_size * steps, *values.shape[1:]).index_put((at,), values)
    return dense.view(batch_size, steps, *values.shape[1:])


def _gather_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table`` (..., M, K), ``index`` (..., N) → (..., N, K): row ``index`` of each table."""
    return table.gather(-2, index.long().unsqueeze(-1).expand(*index.shape, table.shape[-1]))


__all__ = ["MAAALTorchRLModule"]
