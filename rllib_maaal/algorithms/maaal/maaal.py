"""MAAAL: hierarchical multi-agent allocation-action learning (Li et al., 2023) for RLlib.

The paper's baselines and ablations are configurations of this one algorithm:

=============  =====================================================================
name           configuration
=============  =====================================================================
MAAAL          ``allocation="learned", action="learned"`` (default)
QMIX           ``allocation="none"`` (one subtask: no allocation, mixer on): ``run: QMIX``
R-AL           ``allocation="rule"`` (the task's heuristic allocation), learned action
R-AC           ``action="rule"`` (the task's scripted controller), learned allocation
S-AC           ``allocation="static"``: allocated once at reset, learned action
Fixed-BT       ``allocation="rule", action="rule"`` (nothing is trained)
random         ``allocation="random", action="random"`` (uniform over valid choices)
VDN            ``allocation="none", mixer="vdn"``: ``run: VDN``
=============  =====================================================================

Example::

    from rllib_maaal.algorithms.maaal import MAAALConfig

    config = (
        MAAALConfig()
        .environment("maaal/city", env_config={"scenario": "7a_7b"})
        .training(allocation="learned", mixer="qmix")
    )
    algo = config.build_algo()
    print(algo.train()["env_runners"]["episode_return_mean"])
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rllib_maaal.algorithms.episodic.episodic import EpisodicAlgorithm, EpisodicConfig
from rllib_maaal.algorithms.episodic.schedules import Schedule, check_schedule
from rllib_maaal.algorithms.maaal.allocation import LEARNED_ALLOCATION, exploration_epsilons
from rllib_maaal.validation import check_bool, check_number

CHOICES: dict[str, tuple[str, ...]] = {
    "allocation": ("learned", "rule", "random", "static", "none"),
    "action": ("learned", "rule", "random"),
    "allocation_solver": ("free", "capacity", "pairing"),
    "allocation_head": ("auto", "mlp", "dot"),
    "mixer": ("qmix", "vdn"),
    "allocation_mixer": ("none", "vdn", "qmix"),
    "mixer_state": ("flat", "pooled"),
    "td_loss": ("mse", "huber"),
}
MODEL_DEFAULTS: dict[str, Any] = {"hidden": 64, "mixing_embed": 32, "hypernet_hidden": 64}
ALLOCATION_METRICS = "allocation"


class MAAALConfig(EpisodicConfig):
    """Every knob of MAAAL (``docs/maaal.md``), validated with errors that name the field.

    The replay and target-network knobs are :class:`EpisodicConfig`'s.
    """

    MODEL_DEFAULTS = MODEL_DEFAULTS
    CHOICES = CHOICES

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or MAAAL)
        # The paper's optimiser settings.
        self.lr = 5e-4
        self.gamma = 0.99
        self.grad_clip = 10.0
        self.grad_clip_by = "global_norm"
        # Hierarchy switches (baselines and ablations).
        self.allocation = "learned"
        self.action = "learned"
        self.allocation_solver = "free"
        self.subtask_capacity: int | list[int] | None = None
        self.allow_self_pairing = True
        self.allocation_head = "auto"
        self.mixer = "qmix"
        # Beyond the paper: a joint allocation value in L1, per-subtask reward shaping in L2,
        # a compact state for the hypernetworks.
        self.allocation_mixer = "none"
        self.mixer_state = "flat"
        self.subtask_reward_weight = 0.0
        self.approach_reward_weight = 0.0
        self.approach_pair_feature: int | None = None
        # Exploration: ε for allocations and for actions, each a number or [[step, value], ...].
        self.epsilon_allocation: Schedule = [[0, 1.0], [50_000, 0.05]]
        self.epsilon_action: Schedule = [[0, 1.0], [50_000, 0.05]]
        self.double_q = True
        self.td_lambda = 0.0
        self.td_loss = "mse"
        self.l1_coeff = 1.0
        self.l2_coeff = 1.0

    def training(
        self,
        *,
        allocation: str | None = NotProvided,
        action: str | None = NotProvided,
        allocation_solver: str | None = NotProvided,
        subtask_capacity: int | list[int] | None = NotProvided,
        allow_self_pairing: bool | None = NotProvided,
        allocation_head: str | None = NotProvided,
        mixer: str | None = NotProvided,
        allocation_mixer: str | None = NotProvided,
        mixer_state: str | None = NotProvided,
        subtask_reward_weight: float | None = NotProvided,
        approach_reward_weight: float | None = NotProvided,
        approach_pair_feature: int | None = NotProvided,
        epsilon_allocation: Schedule | None = NotProvided,
        epsilon_action: Schedule | None = NotProvided,
        double_q: bool | None = NotProvided,
        td_lambda: float | None = NotProvided,
        td_loss: str | None = NotProvided,
        l1_coeff: float | None = NotProvided,
        l2_coeff: float | None = NotProvided,
        **kwargs: Any,
    ) -> MAAALConfig:
        """Set MAAAL's training knobs (the replay knobs of :meth:`EpisodicConfig.training` and
        RLlib's common ones via ``**kwargs``).

        Args:
            allocation: ``learned`` (MAAAL), ``rule`` (R-AL, Fixed-BT), ``random`` (uniform over
                active subtasks), ``static`` (S-AC: chosen by the learned module once at reset),
                ``none`` (QMIX: a single subtask).
            action: ``learned``, ``rule`` (R-AC, Fixed-BT) or ``random`` (uniform over valid
                actions).
            allocation_solver: ``free`` (independent argmax, the paper), ``capacity`` (at most
                ``subtask_capacity`` units per subtask), ``pairing`` (maximum-weight matching of
                units, e.g. intern teams).
            subtask_capacity: c_m for ``capacity``: one int for all subtasks or one per subtask.
                They bind the active subtasks only (no unit goes to an inactive one); where the
                active subtasks' c_m leave room for fewer than U units, each is raised to at
                least ⌈U / #active⌉, so an allocation always exists.
            allow_self_pairing: for ``pairing``: may a unit stay unpaired.
            allocation_head: how the allocation Q scores unit u for subtask m: ``dot`` (the
                paper's g(w_u) · v_m), ``mlp`` (an MLP of [g(w_u), v_m, pair_um], with the env's
                (agent, subtask) features ``pair`` where it gives them) or ``auto`` (``mlp`` where
                the env gives ``pair``, else ``dot``).
            mixer: ``qmix`` (monotonic hypernetwork on the global state) or ``vdn`` (sum).
            allocation_mixer: how L1 values a decision: ``none`` (the paper: each unit's Q̂_u
                fitted to its own semi-MDP target), ``vdn`` or ``qmix`` (beyond the paper: the
                present units' chosen Q̂_u summed, or mixed by a monotonic hypernetwork on the
                global state, and the mix fitted to one team target; the units still choose by
                their own Q̂_u). Needs a learned allocation (``learned`` or ``static``).
            mixer_state: what the QMIX hypernetworks (``mixer`` and ``allocation_mixer``) read:
                ``flat`` (default, the paper: the env's global ``state``) or ``pooled`` (beyond
                the paper: a per-entity MLP over the team observation's ``entities``, its mean
                and max over the present entities concatenated, 2 · ``mixing_embed`` values,
                computed once per step for both mixers and trained by their losses). Needs a
                QMIX mixer and an env whose observation has ``entities`` (the city's entity
                layout).
            subtask_reward_weight: w ≥ 0, reward shaping of L2 (the actions): its reward is
                r_t + w Σ_m staffed_mt R^m_t, R^m the env's ``infos["subtask_reward"]``,
                staffed_mt = 1 where a present unit is allocated to subtask m at t. 0 (default,
                the paper) trains on the global reward r_t alone and records no subtask rewards;
                L1 always uses r_t. Needs a learned action and an allocation.
            approach_reward_weight: c ≥ 0, potential-based shaping of L2 (beyond the paper): its
                reward gains c Σ_i [d_i,t − γ d_i,t+1], each present agent's progress towards
                the subtask allocated to it at t, d the ``pair`` column
                ``approach_pair_feature``, in the env's reward units (``reward_scale`` scales it
                with the rewards). 0 (default, the paper) adds nothing. Needs a learned
                action, an allocation and pair features (the city: column 2, the walk in grid
                widths; football: column 0, the distance to the zone).
            approach_pair_feature: which ``pair`` column is the distance the approach shaping
                reads; required when ``approach_reward_weight`` > 0.
            epsilon_allocation: ε of the allocation choice over env steps.
            epsilon_action: ε of the action choice over env steps.
            double_q: choose the next action with the online networks (L2).
            td_lambda: λ in [0, 1] of L2's targets: 0 (default, the paper) the one-step target,
                > 0 the λ-return over the episode from the target Q_tot (pymarl2 uses 0.6).
            td_loss: ``mse`` or ``huber``.
            l1_coeff: weight of the allocation loss L1.
            l2_coeff: weight of the action loss L2.
        """
        super().training(**kwargs)
        self._set_provided(locals())
        return self

    @property
    def _model_config_auto_includes(self) -> dict[str, Any]:
        return (
            super()._model_config_auto_includes
            | MODEL_DEFAULTS
            | {
                "allocation": self.allocation,
                "action": self.action,
                "allocation_solver": self.allocation_solver,
                "subtask_capacity": self.subtask_capacity,
                "allow_self_pairing": self.allow_self_pairing,
                "allocation_head": self.allocation_head,
                "mixer": self.mixer,
                "allocation_mixer": self.allocation_mixer,
                "mixer_state": self.mixer_state,
                "epsilon_allocation": self.epsilon_allocation,
                "epsilon_action": self.epsilon_action,
                "double_q": self.double_q,
            }
        )

    def get_default_rl_module_spec(self) -> RLModuleSpec:
        from rllib_maaal.algorithms.maaal.torch.maaal_torch_rl_module import MAAALTorchRLModule

        return RLModuleSpec(module_class=MAAALTorchRLModule, model_config=self.model_config)

    def get_default_learner_class(self) -> type:
        from rllib_maaal.algorithms.maaal.torch.maaal_torch_learner import MAAALTorchLearner

        return MAAALTorchLearner

    @property
    def learns(self) -> bool:
        """Whether anything is trained (Fixed-BT trains nothing)."""
        return self.allocation in ("learned", "static") or self.action == "learned"

    @property
    def replay_drop_keys(self) -> tuple[str, ...]:
        """The scripted actions only act; the rule allocation is the next step's allocation in
        L2's target unless the allocation is learned."""
        learned = self.allocation in ("learned", "static")
        return ("rule_action", "rule_allocation") if learned else ("rule_action",)

    @property
    def replay_subtask_reward(self) -> bool:
        """The subtask rewards are recorded and replayed only for reward shaping."""
        return self.subtask_reward_weight > 0

    def validate(self) -> None:
        super().validate()
        check_number("MAAALConfig.subtask_reward_weight", self.subtask_reward_weight, low=0)
        if self.subtask_reward_weight > 0 and (
            self.action != "learned" or self.allocation == "none"
        ):
            raise ValueError(
                "MAAALConfig.subtask_reward_weight must be 0 unless action='learned' and an "
                "allocation is made (it shapes L2 with the allocated subtasks' rewards); got "
                f"{self.subtask_reward_weight!r} with action={self.action!r}, "
                f"allocation={self.allocation!r}"
            )
        check_number("MAAALConfig.approach_reward_weight", self.approach_reward_weight, low=0)
        check_number(
            "MAAALConfig.approach_pair_feature",
            self.approach_pair_feature,
            low=0,
            integer=True,
            allow=(None,),
        )
        if self.approach_reward_weight > 0 and (
            self.action != "learned"
            or self.allocation == "none"
            or self.approach_pair_feature is None
        ):
            raise ValueError(
                "MAAALConfig.approach_reward_weight must be 0 unless action='learned', an "
                "allocation is made and approach_pair_feature names the pair column of the "
                "distance to a subtask; got "
                f"{self.approach_reward_weight!r} with action={self.action!r}, "
                f"allocation={self.allocation!r}, approach_pair_feature="
                f"{self.approach_pair_feature!r}"
            )
        if self.allocation_mixer != "none" and self.allocation not in LEARNED_ALLOCATION:
            raise ValueError(
                "MAAALConfig.allocation_mixer must be 'none' unless allocation is learned or "
                "static (it mixes L1's allocation values); got "
                f"{self.allocation_mixer!r} with allocation={self.allocation!r}"
            )
        qmix_reads_state = (
            self.mixer == "qmix" and self.action == "learned"
        ) or self.allocation_mixer == "qmix"
        if self.mixer_state != "flat" and not qmix_reads_state:
            raise ValueError(
                "MAAALConfig.mixer_state must be 'flat' unless a QMIX mixer reads the state "
                "(mixer='qmix' with action='learned', or allocation_mixer='qmix'); got "
                f"{self.mixer_state!r} with mixer={self.mixer!r}, action={self.action!r}, "
                f"allocation_mixer={self.allocation_mixer!r}"
            )
        if self.allocation_solver == "capacity" and self.subtask_capacity is None:
            raise ValueError(
                "MAAALConfig.subtask_capacity must be set (an int or one int per subtask) when "
                "allocation_solver='capacity'"
            )
        if self.allocation == "static" and self.env_config.get("allocation_interval") != 0:
            raise ValueError(
                "MAAALConfig.allocation='static' allocates once per episode: set "
                "env_config['allocation_interval'] = 0 (the env then decides only at reset)"
            )
        for name in ("epsilon_allocation", "epsilon_action"):
            check_schedule(f"MAAALConfig.{name}", getattr(self, name))
        for name in ("double_q", "allow_self_pairing"):
            check_bool(f"MAAALConfig.{name}", getattr(self, name))
        for name in ("l1_coeff", "l2_coeff"):
            check_number(f"MAAALConfig.{name}", getattr(self, name), low=0)
        check_number("MAAALConfig.td_lambda", self.td_lambda, low=0, high=1)
        capacity = self.subtask_capacity
        for value in capacity if isinstance(capacity, list | tuple) else [capacity]:
            check_number("MAAALConfig.subtask_capacity", value, low=1, integer=True, allow=(None,))

    def validate_spaces(self, observation_space: spaces.Dict) -> None:
        """The checks that need the env's team observation space: the approach shaping's
        distance must be a column of its ``pair`` features."""
        if self.approach_reward_weight == 0:
            return
        pair = observation_space.spaces.get("pair")
        width = pair.shape[-1] if pair is not None else 0
        if not width:
            raise ValueError(
                "MAAALConfig.approach_reward_weight must be 0 for an env without pair features "
                "(the approach shaping reads the distance to a subtask from them)"
            )
        if self.approach_pair_feature >= width:
            raise ValueError(
                "MAAALConfig.approach_pair_feature must name a column of the env's pair "
                f"features, 0..{width - 1}; got {self.approach_pair_feature}"
            )


class MAAAL(EpisodicAlgorithm):
    """Samples team episodes on the EnvRunners, replays whole episodes, trains L1 + L2."""

    @classmethod
    def get_default_config(cls) -> MAAALConfig:
        return MAAALConfig()

    def exploration_metrics(self, env_steps: int) -> dict[str, float]:
        return exploration_epsilons(self.config.model_config, env_steps)

    def on_episodes_completed(self, episodes: list[dict[str, Any]]) -> None:
        self._log_allocation_metrics(episodes)

    def _log_allocation_metrics(self, episodes: list[dict[str, Any]]) -> None:
        """Share of agents per subtask type and how often decisions change an allocation."""
        if not episodes or self.config.allocation == "none":
            return
        shares, changes = [], []
        for ep in episodes:
            obs = ep["obs"]
            length = ep["length"]
            subtask_of_agent = np.take_along_axis(
                ep["allocation"], obs["agent_unit"][:length], axis=1
            )
            types = np.take_along_axis(obs["subtask_type"][:length], subtask_of_agent, axis=1)
            present = obs["agent_mask"][:length] > 0
            n_types = int(obs["subtask_type"].max()) + 1
            shares.append(np.bincount(types[present], minlength=n_types) / max(present.sum(), 1))
            decided = obs["decide"][1:length, 0] > 0
            changed = (ep["allocation"][1:] != ep["allocation"][:-1]).any(-1)
            changes.append(changed[decided].mean() if decided.any() else 0.0)
        width = max(len(s) for s in shares)
        share = np.mean([np.pad(s, (0, width - len(s))) for s in shares], axis=0)
        self.metrics.log_dict(
            {f"share_subtask_type_{k}": float(v) for k, v in enumerate(share)}
            | {"reallocation_rate": float(np.mean(changes))},
            key=ALLOCATION_METRICS,
            window=20,
        )
