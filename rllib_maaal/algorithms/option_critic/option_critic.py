"""Option-critic grouping (Hu, "Hierarchical RL for Optimal Agent Grouping", arXiv 2501.06554).

A two-level policy for a team view whose allocation is a *pairing* of units (intern teams):

* high level: every ``decide`` step (the first day of a week in the intern task) an option ω, the
  pairing of all teams for the week, is chosen ε-greedily on a centralised critic Q(s, ω) that is
  a sum of Deep-Sets pair values; the greedy option is their maximum-weight matching. Options end
  when the env asks for a new decision (fixed weekly termination, nothing learned);
* low level: every intern picks its daily message from a shared Deep-Sets intra-option policy
  that sees its own state, its teammates' and its opponent team's (decentralised execution).

Training (:mod:`~rllib_maaal.algorithms.option_critic.torch.option_critic_torch_learner`) replays
whole episodes like MAAAL (:class:`~rllib_maaal.algorithms.episodic.episodic.EpisodicAlgorithm`).

Example::

    from rllib_maaal.algorithms.option_critic import OptionCriticConfig

    config = (
        OptionCriticConfig()
        .environment("maaal/intern")
        # The intern's team and opponent labels; the message record (critic only).
        .training(
            drop_obs_features=["team", "opponent"],
            critic_drop_obs_features=[
                "last_message", "response_0", "response_1", "evidence_0", "evidence_1"
            ],
        )
    )
    algo = config.build_algo()
    print(algo.train()["env_runners"]["avg_reward_per_intern_day"])
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rllib_maaal.algorithms.episodic.episode_replay import Episode
from rllib_maaal.algorithms.episodic.episodic import EpisodicAlgorithm, EpisodicConfig
from rllib_maaal.algorithms.episodic.schedules import Schedule, check_schedule, piecewise_linear
from rllib_maaal.envs.intern import obs_columns
from rllib_maaal.envs.team import TEAM_VIEW_KEYS
from rllib_maaal.validation import check_number

CHOICES: dict[str, tuple[str, ...]] = {"td_loss": ("mse", "huber")}
#: The team-view keys the losses and statistics read.
_READ_KEYS = ("obs", "agent_mask", "agent_unit", "allocation", "decide")
MODEL_DEFAULTS: dict[str, Any] = {"hidden": 64}
OPTION_METRICS = "options"


class OptionCriticConfig(EpisodicConfig):
    """Every knob of the option-critic grouping method, validated with errors naming the field.

    The replay and target-network knobs are :class:`EpisodicConfig`'s.
    """

    MODEL_DEFAULTS = MODEL_DEFAULTS
    CHOICES = CHOICES

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or OptionCritic)
        # The paper's discount and width (hidden = 64, in model_config).
        self.gamma = 0.9
        self.lr = 1e-3  # the critic's
        self.actor_lr = 3e-4
        self.grad_clip = 10.0
        self.grad_clip_by = "norm"  # per tensor: the critic's large gradients leave the actor's
        # High level: ε-greedy over options (pairings), 1.0 → 0.1.
        self.epsilon_option: Schedule = [[0, 1.0], [100_000, 0.1]]
        self.allow_self_pairing = True
        # Low level: softmax policy over messages.
        self.temperature = 1.0
        self.entropy_coeff = 0.05
        self.greedy_messages = False
        # Inputs and losses.
        self.drop_obs_features: list[str | int] = []
        self.critic_drop_obs_features: list[str | int] = []
        self.reward_scale = 0.01
        self.td_loss = "mse"
        self.normalize_advantages = True
        # Near on-policy replay: the actor's gradient uses the replayed messages as they are.
        self.replay_capacity = 64
        self.episodes_per_update = 16
        self.updates_per_iteration = 4
        self.num_episodes_before_learning_starts = 16
        self.target_network_update_freq = 20
        self.num_envs_per_env_runner = 16

    def training(
        self,
        *,
        actor_lr: float | None = NotProvided,
        epsilon_option: Schedule | None = NotProvided,
        allow_self_pairing: bool | None = NotProvided,
        temperature: float | None = NotProvided,
        entropy_coeff: float | None = NotProvided,
        greedy_messages: bool | None = NotProvided,
        drop_obs_features: list[str | int] | None = NotProvided,
        critic_drop_obs_features: list[str | int] | None = NotProvided,
        td_loss: str | None = NotProvided,
        normalize_advantages: bool | None = NotProvided,
        **kwargs: Any,
    ) -> OptionCriticConfig:
        """Set the method's knobs (the replay knobs of :meth:`EpisodicConfig.training` and
        RLlib's common ones, ``gamma``, ``lr``, ..., via ``**kwargs``).

        Args:
            actor_lr: learning rate of the intra-option policy (``lr`` is the critic's): a
                slower actor lets the critic settle before it steers the messages.
            epsilon_option: ε of the option choice over env steps: a number or
                ``[[step, value], ...]`` (the paper: 1.0 → 0.1).
            allow_self_pairing: may a team sit a week out (paired with itself); must match the
                env (the intern task's ``pairing_mode``).
            temperature: softmax temperature of the intra-option policy (> 0).
            entropy_coeff: β, weight of the policy's entropy bonus (≥ 0).
            greedy_messages: without exploration (evaluation), send each intern its most
                probable message instead of sampling the policy.
            drop_obs_features: features of ``obs`` the networks ignore, by name (the intern
                observation's ``OBS_FEATURES``; a column index also works); drop the ones
                holding unit labels (``team`` and ``opponent``) to make the method invariant
                to team relabelling.
            critic_drop_obs_features: further features only the critic ignores: those that
                record the message just sent (``last_message``, ``response_0``/``_1``,
                ``evidence_0``/``_1``). The actor's advantage r + γ Q(s', ω) − Q(s, ω) should
                depend on the messages only through their effect on the interns; a critic that
                reads them off s' adds a spurious, message-correlated term that drives the
                shared policy toward one message for everyone.
            td_loss: ``mse`` or ``huber`` (the critic's loss).
            normalize_advantages: standardise the actor's advantages over each batch.
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
                "temperature": self.temperature,
                "allow_self_pairing": self.allow_self_pairing,
                "epsilon_option": self.epsilon_option,
                # The module indexes columns: names are resolved once, here.
                "drop_obs_features": _columns("drop_obs_features", self.drop_obs_features),
                "critic_drop_obs_features": _columns(
                    "critic_drop_obs_features", self.critic_drop_obs_features
                ),
                "greedy_messages": self.greedy_messages,
            }
        )

    @property
    def replay_drop_keys(self) -> tuple[str, ...]:
        """The networks read the agents' observations, team membership, the option and when a
        new one is due; nothing else of the team view is stored."""
        return tuple(key for key in TEAM_VIEW_KEYS if key not in _READ_KEYS)

    def get_default_rl_module_spec(self) -> RLModuleSpec:
        from rllib_maaal.algorithms.option_critic.torch.option_critic_torch_rl_module import (
            OptionCriticTorchRLModule,
        )

        return RLModuleSpec(module_class=OptionCriticTorchRLModule, model_config=self.model_config)

    def get_default_learner_class(self) -> type:
        from rllib_maaal.algorithms.option_critic.torch.option_critic_torch_learner import (
            OptionCriticTorchLearner,
        )

        return OptionCriticTorchLearner

    def validate(self) -> None:
        for name in ("drop_obs_features", "critic_drop_obs_features"):
            _columns(name, getattr(self, name))  # before the model config resolves them
        super().validate()
        check_schedule("OptionCriticConfig.epsilon_option", self.epsilon_option)
        for name in ("allow_self_pairing", "greedy_messages", "normalize_advantages"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"OptionCriticConfig.{name} must be True or False; got {getattr(self, name)!r}"
                )
        for name in ("temperature", "actor_lr"):
            check_number(f"OptionCriticConfig.{name}", getattr(self, name), low=0, low_open=True)
        beta = self.entropy_coeff
        if not isinstance(beta, int | float) or not np.isfinite(beta) or beta < 0:
            raise ValueError(
                f"OptionCriticConfig.entropy_coeff must be a non-negative number; got {beta!r}"
            )


def _columns(field: str, features: Any) -> list[int]:
    """The ``obs`` columns of ``OptionCriticConfig.<field>``: intern observation features given
    by name (or by column); anything else fails naming the field."""
    if not isinstance(features, list | tuple) or not all(
        isinstance(f, str) or (isinstance(f, int) and not isinstance(f, bool) and f >= 0)
        for f in features
    ):
        raise ValueError(
            f"OptionCriticConfig.{field} must be a list of intern observation feature names (or "
            f"column indices ≥ 0); got {features!r}"
        )
    try:
        return [f if isinstance(f, int) else obs_columns([f])[0] for f in features]
    except ValueError as err:
        raise ValueError(f"OptionCriticConfig.{field}: {err}") from None


class OptionCritic(EpisodicAlgorithm):
    """Samples team episodes, replays whole episodes, trains the pair critic and the actor."""

    @classmethod
    def get_default_config(cls) -> OptionCriticConfig:
        return OptionCriticConfig()

    def exploration_metrics(self, env_steps: int) -> dict[str, float]:
        return {"epsilon_option": piecewise_linear(self.config.epsilon_option, env_steps)}

    def on_episodes_completed(self, episodes: list[Episode]) -> None:
        """How often a team sits out and how often a week's pairing differs from the last one."""
        if not episodes:
            return
        sitting_out, changes = [], []
        for ep in episodes:
            option = ep["allocation"]
            decided = ep["obs"]["decide"][: ep["length"], 0] > 0
            weekly = option[decided]
            sitting_out.append((weekly == np.arange(option.shape[1])).mean())
            changes.append((weekly[1:] != weekly[:-1]).any(-1).mean() if len(weekly) > 1 else 0.0)
        self.metrics.log_dict(
            {
                "sit_out_rate": float(np.mean(sitting_out)),
                "repairing_rate": float(np.mean(changes)),
            },
            key=OPTION_METRICS,
            window=20,
        )
