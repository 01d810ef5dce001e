"""What our value-based team algorithms share: whole-episode replay and its training loop.

MAAAL and the option-critic grouping method both learn from complete team episodes (their targets
follow an allocation or an option over several steps), keep target networks and sample batched
team envs through the vector entry point. This module holds that plumbing once:

* :class:`EpisodicConfig`: the replay, update and target-network knobs, validated;
* :class:`~rllib_maaal.algorithms.episodic.team_env_runner.TeamEnvRunner`: the EnvRunner of
  every episodic config (``env_runner_cls``), which writes the sampled steps straight into the
  replay's stored form;
* :class:`EpisodicAlgorithm`: ``training_step`` = sample on the EnvRunners → add the episode
  chunks to the :class:`~rllib_maaal.algorithms.episodic.episode_replay.EpisodeReplay` → a few
  learner updates on padded episode batches → sync the weights back; its checkpoints hold the
  replay (``replay.npz``, with ``store_replay_in_checkpoint``), so a resumed run learns at once;
* :class:`~rllib_maaal.algorithms.episodic.torch.episodic_torch_learner.EpisodicTorchLearner`:
  builds the module's target networks and updates them (hard copy every
  ``target_network_update_freq`` updates or env steps (``target_update_unit``), or Polyak
  averaging with ``tau`` < 1).

A subclass adds its own knobs, exploration metrics (:meth:`EpisodicAlgorithm.exploration_metrics`)
and episode statistics (:meth:`EpisodicAlgorithm.on_episodes_completed`).
"""

from __future__ import annotations

import pathlib
import time
from typing import Any, ClassVar

import numpy as np
import pyarrow.fs
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig, NotProvided
from ray.rllib.core import DEFAULT_MODULE_ID
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

from rllib_maaal.algorithms.episodic.episode_replay import (
    SUBTASK_REWARD,
    Episode,
    EpisodeReplay,
)
from rllib_maaal.algorithms.episodic.team_env_runner import TeamEnvRunner
from rllib_maaal.callbacks import TaskMetricsCallback
from rllib_maaal.validation import check_choice, check_number, did_you_mean

#: The replay's file in a checkpoint directory (see :meth:`EpisodicAlgorithm.save_to_path`).
REPLAY_FILE_NAME = "replay.npz"

#: What ``target_network_update_freq`` counts.
TARGET_UPDATE_UNITS = ("updates", "env_steps")

_POSITIVE_INTS = (
    "torch_threads_per_learner",
    "replay_capacity",
    "episodes_per_update",
    "updates_per_iteration",
    "target_network_update_freq",
)


class EpisodicConfig(AlgorithmConfig):
    """Replay, update and target-network knobs shared by our episodic algorithms.

    Subclasses set ``MODEL_DEFAULTS`` (their network sizes, the only ``model_config`` keys a user
    may set) and ``CHOICES`` (knobs that take one of a few names), and may extend
    ``training``/``validate``.
    """

    MODEL_DEFAULTS: ClassVar[dict[str, Any]] = {}
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class)
        # Episode replay and updates.
        self.replay_capacity = 1000
        self.episodes_per_update = 32
        self.updates_per_iteration = 1
        self.num_episodes_before_learning_starts = 32
        self.target_network_update_freq = 200
        self.target_update_unit = "updates"
        self.tau = 1.0
        self.reward_scale = 1.0
        self.store_replay_in_checkpoint = True
        # Torch intra-op threads of each learner (the local one, in the driver, too).
        self.torch_threads_per_learner = 1
        # With num_learners > 1: the baselines leave networks untrained (QMIX's allocation
        # module), which DDP refuses unless told to look for them.
        self.torch_ddp_kwargs = {"find_unused_parameters": True}
        # Sampling: batched team envs stepped through the vector entry point, by the runner
        # that writes the replay's arrays directly.
        self.env_runner_cls = TeamEnvRunner
        self.num_envs_per_env_runner = 8
        self.gym_env_vectorize_mode = "vector_entry_point"
        self.rollout_fragment_length = 50
        self.batch_mode = "truncate_episodes"
        # Team actions are discrete: RLlib's unsquash/clip pass would only deep-copy them.
        self.normalize_actions = False
        self.clip_actions = False
        self.callbacks_class = TaskMetricsCallback

    def training(
        self,
        *,
        replay_capacity: int | None = NotProvided,
        episodes_per_update: int | None = NotProvided,
        updates_per_iteration: int | None = NotProvided,
        num_episodes_before_learning_starts: int | None = NotProvided,
        target_network_update_freq: int | None = NotProvided,
        target_update_unit: str | None = NotProvided,
        tau: float | None = NotProvided,
        reward_scale: float | None = NotProvided,
        store_replay_in_checkpoint: bool | None = NotProvided,
        torch_threads_per_learner: int | None = NotProvided,
        **kwargs: Any,
    ) -> EpisodicConfig:
        """Set the replay knobs (and RLlib's common ones via ``**kwargs``).

        Args:
            replay_capacity: episodes kept in the replay.
            episodes_per_update: episodes per gradient update.
            updates_per_iteration: gradient updates per training iteration.
            num_episodes_before_learning_starts: replay size before the first update.
            target_network_update_freq: period of the hard target copies (when tau = 1), in
                ``target_update_unit``.
            target_update_unit: ``updates`` (gradient updates) or ``env_steps`` (sampled env
                steps, as the QMIX references count it: a copy whenever the lifetime env steps
                cross a multiple of the period, however many updates an iteration makes).
            tau: Polyak factor of the target update (1.0: hard copy).
            reward_scale: c, replayed rewards (and subtask rewards, where stored) are
                multiplied by c before learning. Values of order 1 train faster: a network's
                output layer moves by about ``lr`` per update, so values of order 1,000 (the
                intern task's rewards of −250 a day with γ 0.9) take thousands of updates just to
                reach their scale.
            store_replay_in_checkpoint: write the replay into every checkpoint (``replay.npz``,
                about the size of ``replay_capacity`` episodes' observations) and restore it
                with the checkpoint, so that a resumed run goes on learning at once instead of
                waiting for ``num_episodes_before_learning_starts`` new episodes.
            torch_threads_per_learner: torch's intra-op threads in each learner, set when it is
                built (a local learner sets them for the whole driver process). 1 (default)
                matches the one CPU a learner actor reserves (``num_cpus_per_learner``); more
                threads only pay on cores nothing else uses: on a busy 2-core machine two
                threads made the update 3x slower than one.
        """
        super().training(**kwargs)
        self._set_provided(locals())
        return self

    def _set_provided(self, arguments: dict[str, Any]) -> None:
        """Store every keyword argument of a ``training`` call that was given."""
        for name, value in arguments.items():
            if name not in ("self", "kwargs", "__class__") and value is not NotProvided:
                setattr(self, name, value)

    @property
    def learns(self) -> bool:
        """Whether anything is trained (a configuration of scripted baselines trains nothing)."""
        return True

    @property
    def replay_drop_keys(self) -> tuple[str, ...]:
        """Observation keys the losses never read: the replay does not store them."""
        return ()

    @property
    def replay_subtask_reward(self) -> bool:
        """Whether the losses read the env's per-subtask rewards: only then do the EnvRunners
        record ``infos["subtask_reward"]`` and the replay store it."""
        return False

    def validate(self) -> None:
        super().validate()
        prefix = type(self).__name__
        for name in _POSITIVE_INTS:
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(
                    f"{prefix}.{name} must be a positive int; got {getattr(self, name)!r}"
                )
        starts = self.num_episodes_before_learning_starts
        if not isinstance(starts, int) or starts < 0:
            raise ValueError(
                f"{prefix}.num_episodes_before_learning_starts must be a non-negative int; "
                f"got {starts!r}"
            )
        check_number(f"{prefix}.reward_scale", self.reward_scale, low=0, low_open=True)
        runner = self.env_runner_cls
        if not (isinstance(runner, type) and issubclass(runner, TeamEnvRunner)):
            raise ValueError(
                f"{prefix}.env_runner_cls must be TeamEnvRunner or a subclass (the replay "
                f"stores its episode chunks); got {runner!r}"
            )
        if not isinstance(self.store_replay_in_checkpoint, bool):
            raise ValueError(
                f"{prefix}.store_replay_in_checkpoint must be a bool; "
                f"got {self.store_replay_in_checkpoint!r}"
            )
        for name, allowed in self.CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(
                    f"{prefix}.{name} must be one of {', '.join(allowed)}; got {value!r}"
                )
        check_choice(f"{prefix}.target_update_unit", self.target_update_unit, TARGET_UPDATE_UNITS)
        check_number(f"{prefix}.tau", self.tau, low=0, high=1, low_open=True)
        # RLlib's own validate() leaves these to fail (or silently misbehave) inside a trial.
        check_number(f"{prefix}.gamma", self.gamma, low=0, high=1, low_open=True)
        check_number(f"{prefix}.lr", self.lr, low=0, low_open=True)
        check_number(f"{prefix}.grad_clip", self.grad_clip, low=0, low_open=True, allow=(None,))
        self._check_model_config(prefix)

    def _check_model_config(self, prefix: str) -> None:
        defaults = self.MODEL_DEFAULTS
        known = set(defaults) | set(self._model_config_auto_includes)
        unknown = sorted(set(self.model_config) - known)
        for key in defaults:
            check_number(f"model_config.{key}", self.model_config[key], low=1, integer=True)
        if unknown:
            raise ValueError(
                f"unknown model_config key {unknown[0]!r}{did_you_mean(unknown[0], defaults)}; "
                f"{prefix.removesuffix('Config')}'s keys are {', '.join(defaults)}"
            )


class EpisodicAlgorithm(Algorithm):
    """Samples team episodes on the EnvRunners, replays whole episodes, updates the learner."""

    def setup(self, config: AlgorithmConfig) -> None:
        super().setup(config)
        group = self.env_runner_group
        codecs = group.foreach_env_runner(
            lambda runner: runner.observation_codec,
            local_env_runner=group.num_remote_env_runners() == 0,
        )
        self.replay = EpisodeReplay(
            self.config.replay_capacity,
            seed=self.config.seed,
            codec=codecs[0],
            subtask_reward=self.config.replay_subtask_reward,
        )

    def save_to_path(
        self,
        path: str | pathlib.Path | None = None,
        *,
        state: dict[str, Any] | None = None,
        filesystem: pyarrow.fs.FileSystem | None = None,
        use_msgpack: bool = False,
    ) -> str:
        """RLlib's checkpoint, plus the replay as ``replay.npz`` with store_replay_in_checkpoint.

        Tune's checkpoints (``Algorithm.save_checkpoint``) are written through here too. The
        replay stays out of :meth:`get_state`, whose state RLlib also hands to other places
        (``from_state``, EnvRunner syncs) that have no use for thousands of episodes.
        """
        if path is not None and filesystem is None:
            # Resolved here once, so that the replay lands where RLlib writes the rest.
            filesystem, path = pyarrow.fs.FileSystem.from_uri(str(path))
        path = super().save_to_path(
            path, state=state, filesystem=filesystem, use_msgpack=use_msgpack
        )
        if self.config.store_replay_in_checkpoint:
            final = f"{path}/{REPLAY_FILE_NAME}"
            partial = f"{final}.partial"
            filesystem = filesystem or pyarrow.fs.LocalFileSystem()
            with filesystem.open_output_stream(partial) as out:
                np.savez(out, **self.replay.get_state())
            # A run killed while writing leaves only the .partial file, which restoring ignores.
            filesystem.move(partial, final)
        return path

    def restore_from_path(
        self,
        path: str | pathlib.Path,
        *,
        component: str | None = None,
        filesystem: pyarrow.fs.FileSystem | None = None,
        **kwargs: Any,
    ) -> None:
        """RLlib's restore, plus the replay where the checkpoint holds ``replay.npz``.

        Used by ``from_checkpoint`` and Tune's restore (``Algorithm.load_checkpoint``). A
        checkpoint without the file (saved with store_replay_in_checkpoint off) leaves the
        replay as it is, as does restoring a single ``component``.
        """
        super().restore_from_path(path, component=component, filesystem=filesystem, **kwargs)
        if component is not None:
            return
        if filesystem is None:
            filesystem, path = pyarrow.fs.FileSystem.from_uri(str(path))
        replay_file = f"{path}/{REPLAY_FILE_NAME}"
        if filesystem.get_file_info(replay_file).type != pyarrow.fs.FileType.File:
            return
        with filesystem.open_input_file(replay_file) as f, np.load(f, allow_pickle=False) as npz:
            self.replay.set_state({key: npz[key] for key in npz.files})

    def exploration_metrics(self, env_steps: int) -> dict[str, float]:
        """Exploration parameters at ``env_steps`` sampled steps, logged every iteration."""
        return {}

    def on_episodes_completed(self, episodes: list[Episode]) -> None:
        """Called with the episodes that this iteration's samples completed (for statistics)."""

    def _sample_every_runner(self) -> tuple[list[Any], list[dict[str, Any]]]:
        """One sample of each EnvRunner: the episodes and the runners' metrics.

        With ``restart_failed_env_runners`` (RLlib's default), RLlib drops the sample of a
        runner that dies and brings the runner back only before the next iteration, so an
        iteration while it is down samples less, or nothing, and still counts toward the stop
        criterion. Here the missing samples are taken in the same iteration, from the runners
        that are healthy or restored (RLlib's ``restore_env_runners``, weights included), for
        at most ``env_runner_restore_timeout_s``.
        """
        cfg, group = self.config, self.env_runner_group
        episodes, metrics = synchronous_parallel_sample(
            worker_set=group,
            concat=True,
            sample_timeout_s=cfg.sample_timeout_s,
            _uses_new_env_runners=True,
            _return_metrics=True,
        )
        wanted = group.num_remote_env_runners()
        if group.num_healthy_remote_env_runners() == wanted:
            return episodes, metrics  # no failure (a slow sample is RLlib's sample_timeout_s)
        deadline = time.monotonic() + cfg.env_runner_restore_timeout_s
        while len(metrics) < wanted:
            restored = self.restore_env_runners(group)
            if restored:
                self._make_on_env_runners_recreated_callbacks(
                    config=cfg, env_runner_group=group, restored_env_runner_indices=restored
                )
            healthy = group.healthy_env_runner_ids()
            if not healthy and not cfg.restart_failed_env_runners:
                raise RuntimeError("every EnvRunner failed (restart_failed_env_runners is off)")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"EnvRunners failed and gave {len(metrics)} of {wanted} samples within "
                    f"env_runner_restore_timeout_s={cfg.env_runner_restore_timeout_s} s"
                )
            if not healthy:  # a restarting runner answers again once it is rebuilt
                time.sleep(1.0)
                continue
            for runner_episodes, runner_metrics in group.foreach_env_runner(
                lambda runner: (runner.sample(), runner.get_metrics()),
                local_env_runner=False,
                remote_worker_ids=healthy[: wanted - len(metrics)],
                timeout_seconds=cfg.sample_timeout_s,
            ):
                episodes.extend(runner_episodes)
                metrics.append(runner_metrics)
        return episodes, metrics

    def training_step(self) -> None:
        cfg = self.config
        with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
            episodes, env_runner_results = self._sample_every_runner()
        self.metrics.aggregate(env_runner_results, key=ENV_RUNNER_RESULTS)
        self.on_episodes_completed(self.replay.add(episodes))

        steps = self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)
        self.metrics.log_dict(
            self.exploration_metrics(steps) | {"replay_episodes": len(self.replay)},
            key=LEARNER_RESULTS,
            window=1,
        )
        if not cfg.learns or len(self.replay) < cfg.num_episodes_before_learning_starts:
            return

        for _ in range(cfg.updates_per_iteration):
            batch = self.replay.sample(cfg.episodes_per_update)
            batch["reward"] = cfg.reward_scale * batch["reward"]
            if SUBTASK_REWARD in batch:
                batch[SUBTASK_REWARD] = cfg.reward_scale * batch[SUBTASK_REWARD]
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
