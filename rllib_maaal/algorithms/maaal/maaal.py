"""MAAAL: hierarchical multi-agent allocation-action learning (Li et al., 2023) for RLlib.

The paper's baselines and ablations are configurations of this one algorithm:

=============  =====================================================================
name           configuration
=============  =====================================================================
MAAAL          ``allocation="learned", action="learned"`` (default)
QMIX           ``allocation="none"`` (one subtask: no allocation, mixer on)
R-AL           ``allocation="rule"`` (the task's heuristic allocation), learned action
R-AC           ``action="rule"`` (the task's scripted controller), learned allocation
S-AC           ``allocation="static"``: allocated once at reset, learned action
Fixed-BT       ``allocation="rule", action="rule"`` (nothing is trained)
random         ``allocation="random", action="random"`` (uniform over valid choices)
VDN mixing     ``mixer="vdn"``
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

import difflib
from typing import Any

import numpy as np
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TIMERS,
)

from rllib_maaal.algorithms.maaal.episode_replay import EpisodeReplay
from rllib_maaal.algorithms.maaal.schedules import Schedule, check_schedule, piecewise_linear
from rllib_maaal.callbacks import TaskMetricsCallback

CHOICES: dict[str, tuple[str, ...]] = {
    "allocation": ("learned", "rule", "random", "static", "none"),
    "action": ("learned", "rule", "random"),
    "allocation_solver": ("free", "capacity", "pairing"),
    "mixer": ("qmix", "vdn"),
    "td_loss": ("mse", "huber"),
}
MODEL_DEFAULTS: dict[str, Any] = {"hidden": 64, "mixing_embed": 32, "hypernet_hidden": 64}
ALLOCATION_METRICS = "allocation"


class MAAALConfig(AlgorithmConfig):
    """Every knob of MAAAL (spec: maaal.md), validated with errors that name the field."""

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
        self.mixer = "qmix"
        # Exploration: ε for allocations and for actions, each a number or [[step, value], ...].
        self.epsilon_allocation: Schedule = [[0, 1.0], [50_000, 0.05]]
        self.epsilon_action: Schedule = [[0, 1.0], [50_000, 0.05]]
        # Episode replay and updates.
        self.replay_capacity = 1000
        self.episodes_per_update = 32
        self.updates_per_iteration = 1
        self.num_episodes_before_learning_starts = 32
        self.target_network_update_freq = 200
        self.tau = 1.0
        self.double_q = True
        self.td_loss = "mse"
        self.l1_coeff = 1.0
        self.l2_coeff = 1.0
        # Sampling: batched team envs stepped through the vector entry point.
        self.num_envs_per_env_runner = 8
        self.gym_env_vectorize_mode = "vector_entry_point"
        self.rollout_fragment_length = 50
        self.batch_mode = "truncate_episodes"
        self.callbacks_class = TaskMetricsCallback

    def training(
        self,
        *,
        allocation: str | None = NotProvided,
        action: str | None = NotProvided,
        allocation_solver: str | None = NotProvided,
        subtask_capacity: int | list[int] | None = NotProvided,
        allow_self_pairing: bool | None = NotProvided,
        mixer: str | None = NotProvided,
        epsilon_allocation: Schedule | None = NotProvided,
        epsilon_action: Schedule | None = NotProvided,
        replay_capacity: int | None = NotProvided,
        episodes_per_update: int | None = NotProvided,
        updates_per_iteration: int | None = NotProvided,
        num_episodes_before_learning_starts: int | None = NotProvided,
        target_network_update_freq: int | None = NotProvided,
        tau: float | None = NotProvided,
        double_q: bool | None = NotProvided,
        td_loss: str | None = NotProvided,
        l1_coeff: float | None = NotProvided,
        l2_coeff: float | None = NotProvided,
        **kwargs: Any,
    ) -> MAAALConfig:
        """Set MAAAL's training knobs (and RLlib's common ones via ``**kwargs``).

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
            allow_self_pairing: for ``pairing``: may a unit stay unpaired.
            mixer: ``qmix`` (monotonic hypernetwork on the global state) or ``vdn`` (sum).
            epsilon_allocation: ε of the allocation choice over env steps.
            epsilon_action: ε of the action choice over env steps.
            replay_capacity: episodes kept in the replay.
            episodes_per_update: episodes per gradient update.
            updates_per_iteration: gradient updates per training iteration.
            num_episodes_before_learning_starts: replay size before the first update.
            target_network_update_freq: updates between hard target copies (when tau = 1).
            tau: Polyak factor of the target update (1.0: hard copy).
            double_q: choose the next action with the online networks (L2).
            td_loss: ``mse`` or ``huber``.
            l1_coeff: weight of the allocation loss L1.
            l2_coeff: weight of the action loss L2.
        """
        super().training(**kwargs)
        for name, value in dict(locals()).items():
            if name not in ("self", "kwargs", "__class__") and value is not NotProvided:
                setattr(self, name, value)
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
                "mixer": self.mixer,
                "epsilon_allocation": self.epsilon_allocation,
                "epsilon_action": self.epsilon_action,
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

    def validate(self) -> None:
        super().validate()
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(
                    f"MAAALConfig.{name} must be one of {', '.join(allowed)}; got {value!r}"
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
        for name in (
            "replay_capacity",
            "episodes_per_update",
            "updates_per_iteration",
            "target_network_update_freq",
        ):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(
                    f"MAAALConfig.{name} must be a positive int; got {getattr(self, name)!r}"
                )
        if not 0.0 < self.tau <= 1.0:
            raise ValueError(f"MAAALConfig.tau must lie in (0, 1]; got {self.tau!r}")
        unknown = (
            set(self.model_config)
            - set(MODEL_DEFAULTS)
            - set(super()._model_config_auto_includes)
            - set(self._model_config_auto_includes)
        )
        if unknown:
            name = sorted(unknown)[0]
            near = difflib.get_close_matches(name, MODEL_DEFAULTS, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ValueError(
                f"unknown model_config key {name!r}{hint}; MAAAL's keys are "
                f"{', '.join(MODEL_DEFAULTS)}"
            )


class MAAAL(Algorithm):
    """Samples team episodes on the EnvRunners, replays whole episodes, trains L1 + L2."""

    @classmethod
    def get_default_config(cls) -> MAAALConfig:
        return MAAALConfig()

    def setup(self, config: AlgorithmConfig) -> None:
        super().setup(config)
        self.replay = EpisodeReplay(self.config.replay_capacity, seed=self.config.seed)

    def training_step(self) -> None:
        cfg = self.config
        with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            episodes, env_runner_results = synchronous_parallel_sample(
                worker_set=self.env_runner_group,
                concat=True,
                sample_timeout_s=cfg.sample_timeout_s,
                _uses_new_env_runners=True,
                _return_metrics=True,
            )
        self.metrics.aggregate(env_runner_results, key=ENV_RUNNER_RESULTS)
        self._log_allocation_metrics(self.replay.add(episodes))

        steps = self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)
        self.metrics.log_dict(
            {
                "epsilon_allocation": piecewise_linear(cfg.epsilon_allocation, steps),
                "epsilon_action": piecewise_linear(cfg.epsilon_action, steps),
                "replay_episodes": len(self.replay),
            },
            key=LEARNER_RESULTS,
            window=1,
        )
        if not cfg.learns or len(self.replay) < cfg.num_episodes_before_learning_starts:
            return

        for _ in range(cfg.updates_per_iteration):
            batch = self.replay.sample(cfg.episodes_per_update)
            train_batch = MultiAgentBatch(
                {DEFAULT_MODULE_ID: SampleBatch(batch)}, env_steps=int(batch["length"].sum())
            )
            with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
                learner_results = self.learner_group.update(
                    batch=train_batch, timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: steps}
                )
            self.metrics.aggregate(learner_results, key=LEARNER_RESULTS)

        with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
            self.env_runner_group.sync_weights(
                from_worker_or_learner_group=self.learner_group, inference_only=True
            )

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
