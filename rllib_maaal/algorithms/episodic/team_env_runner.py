"""An EnvRunner for team views: one module forward per vector step, steps written into arrays.

RLlib's ``SingleAgentEnvRunner`` keeps a ``SingleAgentEpisode`` per env slot, unbatches every
observation into it, re-batches them through the env-to-module connectors and converts the
episodes to NumPy at the end (dm-tree in each of those steps): on the city task that
bookkeeping took about two thirds of sampling time. A team view needs none of it: its
observation is already a dict of (B, ...) arrays, its action a dict of (B, ...) arrays, and our
episodic algorithms store whole episodes in a replay of arrays.

:class:`TeamEnvRunner` steps the vector env (NEXT_STEP autoreset), calls the module's
``forward_exploration``/``forward_inference`` on the whole batch at once, and writes each step
into preallocated (rows, envs, ...) arrays in the replay's stored form (the env's
:class:`~rllib_maaal.envs.team.ObservationCodec`: only the keys the losses read, per-episode keys
once, masks as bool). A finished episode, or the part of an episode sampled in one ``sample()``
call, leaves as an :class:`~rllib_maaal.algorithms.episodic.episode_replay.EpisodeChunk`. The
env's per-subtask rewards (``infos["subtask_reward"]``) are recorded only where the config's
``replay_subtask_reward`` asks for them (MAAAL's reward shaping), so by default they cost nothing.

Everything else is RLlib's runner's: the module and its weight sync (``get_state``/``set_state``),
the connector states it checkpoints, seeding, the env-step fault tolerance
(``restart_failed_sub_environments``), ``explore=False`` for evaluation, the sampling timers and
the ``env_runners/`` metrics (episode return/length means, min, max, step counts). Callbacks get
``on_environment_created``, ``on_episode_end`` (with the episode's last chunk) and
``on_sample_end``; per-step hooks (``on_episode_created/start/step``) would need an episode
object per env slot and are refused.

When an env step fails with restarts on, the env is rebuilt and reset, as in RLlib; the episodes
it was running are lost, and those already handed over in part are marked with
:meth:`EpisodeChunk.dropped <rllib_maaal.algorithms.episodic.episode_replay.EpisodeChunk.dropped>`
so that the replay discards their parts. The sample counts the steps it returns (RLlib's counts
the steps after the failure only, leaving out the episodes completed before it in the same call).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.callbacks.utils import make_callback
from ray.rllib.core.columns import Columns
from ray.rllib.env.env_context import EnvContext
from ray.rllib.env.env_runner import ENV_STEP_FAILURE
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
from ray.rllib.utils.metrics import RLMODULE_INFERENCE_TIMER
from ray.tune.registry import ENV_CREATOR, _global_registry

from rllib_maaal.algorithms.episodic.episode_replay import SUBTASK_REWARD, EpisodeChunk
from rllib_maaal.envs.team import ObservationCodec

#: Callback hooks this runner never calls (they need an episode object per env slot and step).
UNSUPPORTED_HOOKS = ("on_episode_created", "on_episode_start", "on_episode_step")
#: Rows of the step arrays at first; they double when an episode outgrows them.
_INITIAL_ROWS = 64


class TeamEnvRunner(SingleAgentEnvRunner):
    """Samples a batched team env into the replay's arrays (see the module docstring)."""

    def __init__(self, *, config: AlgorithmConfig, **kwargs: Any) -> None:
        super().__init__(config=config, **kwargs)
        for name in ("env_to_module_connector", "module_to_env_connector"):
            if getattr(self.config, f"_{name}") is not None:
                raise ValueError(
                    f"TeamEnvRunner feeds the module the env's batched observation directly; "
                    f"config.{name} must be None"
                )
        for hook in UNSUPPORTED_HOOKS:
            custom = [
                type(c).__name__
                for c in self._callbacks
                if getattr(type(c), hook) is not getattr(RLlibCallback, hook)
            ]
            if custom or getattr(self.config, f"callbacks_{hook}"):
                raise ValueError(
                    f"TeamEnvRunner does not call {hook} ({', '.join(custom) or 'config'}); "
                    "its callbacks are on_environment_created, on_episode_end, on_sample_end"
                )
        #: (length, return, seconds) of the episodes finished since the last get_metrics().
        self._finished: list[tuple[int, float, float]] = []

    # ------------------------------------------------------------------- env
    def make_env(self) -> None:
        """The vector env of ``num_envs_per_env_runner`` instances, through the env's vector
        entry point (``num_envs`` in its env_config), and the codec of its observations."""
        if self.env is not None:
            self.env.close()
        env_ctx = self.config.env_config
        if not isinstance(env_ctx, EnvContext):
            env_ctx = EnvContext(
                env_ctx,
                worker_index=self.worker_index,
                num_workers=self.num_workers,
                remote=self.config.remote_worker_envs,
            )
        num_envs = self.config.num_envs_per_env_runner
        env = self.config.env
        if isinstance(env, str) and _global_registry.contains(ENV_CREATOR, env):
            env = _global_registry.get(ENV_CREATOR, env)
        if callable(env):
            self.env = env(env_ctx | {"num_envs": num_envs})
        else:
            mode = gym.VectorizeMode(self.config.gym_env_vectorize_mode)
            self.env = gym.make_vec(env, num_envs=num_envs, vectorization_mode=mode, **env_ctx)
        if not isinstance(self.env, gym.vector.VectorEnv):
            raise ValueError(
                f"TeamEnvRunner needs a gymnasium VectorEnv: the creator of env "
                f"{self.config.env!r} returned a {type(self.env).__name__} for num_envs={num_envs}"
            )
        autoreset = self.env.metadata.get("autoreset_mode")
        if autoreset != gym.vector.AutoresetMode.NEXT_STEP:
            raise ValueError(
                f"TeamEnvRunner needs a vector env with NEXT_STEP autoreset; "
                f"{self.config.env!r} has {autoreset}"
            )
        self.num_envs = self.env.num_envs
        #: M where the per-subtask rewards are recorded, else 0.
        self._n_subtask_rewards = (
            self.env.single_observation_space["subtask_active"].shape[0]
            if getattr(self.config, "replay_subtask_reward", False)
            else 0
        )
        drop = getattr(self.config, "replay_drop_keys", ())
        if hasattr(self.env, "observation_codec"):
            self.observation_codec: ObservationCodec = self.env.observation_codec(drop)
        else:
            self.observation_codec = ObservationCodec(self.env.single_observation_space, (), drop)
        self._needs_initial_reset = True
        make_callback(
            "on_environment_created",
            callbacks_objects=self._callbacks,
            callbacks_functions=self.config.callbacks_on_environment_created,
            kwargs=dict(
                env_runner=self,
                metrics_logger=self.metrics,
                env=self.env.unwrapped,
                env_context=env_ctx,
            ),
        )

    # -------------------------------------------------------------- sampling
    def _sample(
        self,
        *,
        num_timesteps: int | None = None,
        num_episodes: int | None = None,
        explore: bool,
        random_actions: bool = False,
        force_reset: bool = False,
    ) -> list[EpisodeChunk]:
        """Step all env slots until ``num_timesteps`` steps or ``num_episodes`` episodes; return
        the finished episodes' last chunks, (sampling timesteps) every running episode's chunk
        of this call and the marks of the episodes an env failure dropped."""
        if force_reset or num_episodes is not None or self._needs_initial_reset:
            self._reset_all()
        if num_episodes is not None:
            self._needs_initial_reset = True  # RLlib's rule: sampling episodes starts afresh
        ts = 0
        chunks: list[EpisodeChunk] = []
        dropped: list[EpisodeChunk] = []
        while (ts < num_timesteps) if num_timesteps is not None else (len(chunks) < num_episodes):
            if random_actions:
                actions = self.env.action_space.sample()
            else:
                actions = self._actions(explore, ts)
            results = self._try_env_step(actions)
            if results == ENV_STEP_FAILURE:
                # The env was rebuilt: its running episodes are lost (those already handed over
                # in part are marked dropped), the ended ones kept, and only their steps count.
                dropped += [EpisodeChunk.dropped(self._ids[slot]) for slot in self._prev_chunks]
                ts = sum(map(len, chunks))
                self._reset_all()
                continue
            obs, reward, terminated, truncated, infos = results
            ts += self._record(actions, obs, reward, infos)
            done = terminated | truncated
            ended = np.flatnonzero(done)
            if num_episodes is not None:
                ended = ended[: num_episodes - len(chunks)]
            if len(ended):
                chunks += self._end_episodes(ended, terminated, truncated, infos)
            self._autoreset = done
            self._obs = obs
        if num_timesteps is not None:
            chunks.extend(self._cut_running())
        self._log_env_steps(metric=self._metrics_num_env_steps_sampled, num_steps=ts)
        self._increase_sampled_metrics(ts, sum(c.is_done for c in chunks))
        return chunks + dropped

    def _try_env_step(self, actions: dict[str, np.ndarray]) -> Any:
        """RLlib's env step. Without restarts RLlib raises a bare RuntimeError (the env's error
        only logged and chained); this one names the env's error and the remedy."""
        try:
            return super()._try_env_step(actions)
        except RuntimeError as e:
            cause = e.__cause__
            if self.config.restart_failed_sub_environments or cause is None:
                raise
            raise RuntimeError(
                f"env {self.config.env!r} failed in step: {type(cause).__name__}: {cause} "
                "(config.fault_tolerance(restart_failed_sub_environments=True) rebuilds a failed "
                "env and drops the episodes it was running)"
            ) from cause

    def _actions(self, explore: bool, ts: int) -> dict[str, np.ndarray]:
        """The module's actions for every env slot, from one forward pass over the batch."""
        batch = {Columns.OBS: {key: self._tensor(value) for key, value in self._obs.items()}}
        with self.metrics.log_time(RLMODULE_INFERENCE_TIMER):
            if explore:
                # RLlib's global step estimate: this runner's share of the lifetime count, times
                # the number of runners, plus this call's steps.
                runners = self.config.num_env_runners or 1
                t = (self.num_env_steps_sampled_lifetime // runners + ts) * runners
                out = self.module.forward_exploration(batch, t=t)
            else:
                out = self.module.forward_inference(batch)
        return {key: value.cpu().numpy() for key, value in out[Columns.ACTIONS].items()}

    def _tensor(self, value: np.ndarray) -> torch.Tensor:
        # Read-only arrays (e.g. a core's constant parts, broadcast views) are copied: torch
        # shares memory with writable ones only.
        return torch.from_numpy(value if value.flags.writeable else np.array(value)).to(
            self._device
        )

    # ---------------------------------------------------------- step arrays
    def _reset_all(self) -> None:
        """Reset every env slot and start its step arrays at row 0."""
        obs, _ = self._try_env_reset(seed=self._seed if self._needs_initial_reset else None)
        self._needs_initial_reset = False
        codec, num_envs = self.observation_codec, self.num_envs
        steps = codec.encode_step(obs)
        space = self.env.single_action_space
        self._rows = {k: np.empty((_INITIAL_ROWS, *v.shape), v.dtype) for k, v in steps.items()}
        self._taken = {
            key: np.zeros((_INITIAL_ROWS, num_envs, *space[key].shape), _index_dtype(space[key]))
            for key in ("allocation", "action")
        }
        self._taken["reward"] = np.zeros((_INITIAL_ROWS, num_envs), np.float32)
        if self._n_subtask_rewards:
            shape = (_INITIAL_ROWS, num_envs, self._n_subtask_rewards)
            self._taken[SUBTASK_REWARD] = np.zeros(shape, np.float32)
        for key, value in steps.items():
            self._rows[key][0] = value
        self._constant = {k: np.array(v) for k, v in codec.encode_constant(obs).items()}
        self._row = 0
        self._first = np.zeros(num_envs, np.int64)  # each slot's first row of this chunk
        self._chunk_return = np.zeros(num_envs)  # the env's rewards, as it gave them
        self._episode_return = np.zeros(num_envs)
        self._episode_length = np.zeros(num_envs, np.int64)
        self._episode_start = np.full(num_envs, time.perf_counter())
        self._ids = [uuid.uuid4().hex for _ in range(num_envs)]
        self._prev_chunks: dict[int, list[EpisodeChunk]] = {}
        self._autoreset = np.zeros(num_envs, bool)
        self._obs = obs

    def _record(
        self, actions: dict[str, Any], obs: dict[str, np.ndarray], reward: Any, infos: dict
    ) -> int:
        """Write one vector step (the actions taken at the current row, the reward they got,
        the next observation); return the number of env steps it made (slots being reset by
        it made none)."""
        row = self._row
        self._taken["allocation"][row] = actions["allocation"]
        self._taken["action"][row] = actions["action"]
        self._taken["reward"][row] = reward
        if self._n_subtask_rewards:
            self._taken[SUBTASK_REWARD][row] = self._subtask_rewards(infos)
        row += 1
        if row == len(self._taken["reward"]):
            self._grow()
        self._row = row
        for key, value in self.observation_codec.encode_step(obs).items():
            self._rows[key][row] = value
        constant = self.observation_codec.encode_constant(obs)
        started = self._autoreset
        if started.any():
            self._start_episodes(started, row, constant)
        live = ~started
        self._check_constant(constant, live)
        reward = np.asarray(reward, np.float64)
        self._chunk_return += np.where(live, reward, 0.0)
        self._episode_return += np.where(live, reward, 0.0)
        self._episode_length += live
        return int(live.sum())

    def _subtask_rewards(self, infos: dict[str, Any]) -> np.ndarray:
        """``infos["subtask_reward"]`` (num_envs, M); zero in slots without it (a vector env of
        single envs leaves it out where a slot was reset, whose row no episode keeps)."""
        value = infos.get(SUBTASK_REWARD)
        shape = (self.num_envs, self._n_subtask_rewards)
        if value is None and self._autoreset.all():
            return np.zeros(shape, np.float32)
        if value is None or np.shape(value) != shape:
            got = "none" if value is None else f"shape {np.shape(value)}"
            raise ValueError(
                f"infos['subtask_reward'] must be an array of shape (num_envs, M) = {shape} "
                f"(subtask_reward_weight > 0 shapes L2 with it); got {got} from env "
                f"{self.config.env!r}"
            )
        kept = np.asarray(infos.get(f"_{SUBTASK_REWARD}", True), bool)[..., None]
        return np.where(kept, value, 0.0)

    def _start_episodes(self, slots: np.ndarray, row: int, constant: dict[str, Any]) -> None:
        self._first[slots] = row
        for key, value in constant.items():
            self._constant[key][slots] = value[slots]
        for slot in np.flatnonzero(slots):
            self._ids[slot] = uuid.uuid4().hex
        self._episode_return[slots] = 0.0
        self._episode_length[slots] = 0
        self._episode_start[slots] = time.perf_counter()

    def _check_constant(self, constant: dict[str, np.ndarray], live: np.ndarray) -> None:
        """Refuse an env whose per-episode observation keys change within an episode: the
        replay would keep only their first value."""
        for key, value in constant.items():
            changed = (value != self._constant[key]).reshape(self.num_envs, -1).any(1) & live
            if changed.any():
                raise ValueError(
                    f"observation {key!r} changed within an episode (env {np.argmax(changed)}), "
                    "but the env's observation codec stores it once per episode"
                )

    def _grow(self) -> None:
        """Double the rows of the step arrays (an episode ran longer than they hold)."""
        for arrays in (self._rows, self._taken):
            for key, value in arrays.items():
                arrays[key] = np.concatenate([value, np.zeros_like(value)])

    def _chunks(self, slots: np.ndarray) -> list[EpisodeChunk]:
        """The chunks of env slots ``slots``: each one's rows from its first row of this chunk
        up to the current row. One copy per key serves them all (the chunks are views of it)."""
        first, row = self._first[slots], self._row
        start = first.min()
        steps = {key: value[start : row + 1, slots] for key, value in self._rows.items()}
        taken = {key: value[start:row, slots] for key, value in self._taken.items()}
        constant = {key: value[slots] for key, value in self._constant.items()}
        chunks = [
            EpisodeChunk(
                id_=self._ids[slot],
                steps={key: value[skip:, j] for key, value in steps.items()},
                constant={key: value[j] for key, value in constant.items()},
                return_=float(self._chunk_return[slot]),
                **{key: value[skip:, j] for key, value in taken.items()},
            )
            for j, (slot, skip) in enumerate(zip(slots, first - start, strict=True))
        ]
        self._chunk_return[slots] = 0.0
        return chunks

    def _end_episodes(
        self, slots: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, infos: dict
    ) -> list[EpisodeChunk]:
        """The last chunks of the episodes that ended in ``slots``, after their callbacks."""
        chunks = self._chunks(slots)
        for slot, chunk in zip(slots, chunks, strict=True):
            chunk.is_terminated, chunk.is_truncated = bool(terminated[slot]), bool(truncated[slot])
            chunk.final_info = _final_info(infos, slot)
            self._finished.append(
                (
                    int(self._episode_length[slot]),
                    float(self._episode_return[slot]),
                    time.perf_counter() - self._episode_start[slot],
                )
            )
            make_callback(
                "on_episode_end",
                callbacks_objects=self._callbacks,
                callbacks_functions=self.config.callbacks_on_episode_end,
                kwargs=dict(
                    episode=chunk,
                    prev_episode_chunks=self._prev_chunks.pop(slot, []),
                    env_runner=self,
                    metrics_logger=self.metrics,
                    env=self.env.unwrapped,
                    rl_module=self.module,
                    env_index=int(slot),
                ),
            )
        return chunks

    def _cut_running(self) -> list[EpisodeChunk]:
        """The chunks of the episodes still running, which go on from the current row, now
        moved to row 0."""
        running = np.flatnonzero(~self._autoreset & (self._first < self._row))
        chunks = self._chunks(running) if len(running) else []
        for slot, chunk in zip(running, chunks, strict=True):
            self._prev_chunks.setdefault(slot, []).append(chunk)
        for value in self._rows.values():
            value[0] = value[self._row]
        self._first[:] = 0
        self._row = 0
        return chunks

    # --------------------------------------------------------------- metrics
    def get_metrics(self) -> dict[str, Any]:
        for length, ret, seconds in self._finished:
            self._log_episode_metrics(length, ret, seconds)
        self._finished.clear()
        return self.metrics.reduce()


def _index_dtype(space: gym.spaces.MultiDiscrete) -> np.dtype:
    """The narrowest integer dtype holding every value of a MultiDiscrete ``space``."""
    return np.min_scalar_type(-int(space.nvec.max()))


def _final_info(infos: dict[str, Any], slot: int) -> dict[str, Any]:
    """Env slot ``slot``'s entries of a vector env's batched ``infos`` (gymnasium's layout: an
    entry ``key`` counts for the slots where the mask ``_key`` is True, if there is one)."""
    return {
        key: value[slot]
        for key, value in infos.items()
        if not key.startswith("_") and infos.get(f"_{key}", np.ones(slot + 1, bool))[slot]
    }
