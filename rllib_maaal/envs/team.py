"""The team view: every agent of one task instance as one logical RLlib agent.

Value-decomposition methods (QMIX and MAAAL's mixer) need all agents of a time step together, so
RLlib sees a team as a single agent (RLlib's own rule for grouped agents). Every task of this
package exposes the same observation/action dictionary, which is what the algorithms consume:

Observation (``gymnasium.spaces.Dict``), N agents, M subtasks, A actions, U allocation units:

=========================  ===============  =====================================================
key                        shape            meaning
=========================  ===============  =====================================================
``obs``                    (N, D)           per-agent observation: everything the agent sees
                                            (flat layout), or only its own features (entity
                                            layout)
``entities``               (E, F)           entity layout only: the features of every entity,
                                            computed once per instance and shared by all agents
``entity_mask``            (E,)             entity layout only: 1 for real (non-padding) entities
``state``                  (S,)             global state for the mixer
``agent_mask``             (N,)             1 for agents that are present (padding/dead → 0)
``action_mask``            (N, A)           the env's own available actions ``avail_i``
``subtask_status``         (M, K)           raw subtask status (encoded by the algorithm, ``ψ``)
``subtask_type``           (M,)             which subtask network θ serves subtask m
``subtask_active``         (M,)             1 while the behaviour tree ticks subtask m
``subtask_action_mask``    (M, A)           ``u_m``: actions subtask m allows
``allocation``             (U,)             allocation in force (unit → subtask)
``decide``                 (1,)             1 when a new allocation is due at this step
``rule_allocation``        (U,)             the task's heuristic allocation (R-AL, Fixed-BT)
``rule_action``            (N, M)           the task's scripted action of agent i inside subtask m
``agent_unit``             (N,)             allocation unit of each agent (agent i itself unless
                                            units are groups, e.g. intern teams)
``pair``                   (N, M, P)        optional: features of agent i towards subtask m (e.g.
                                            the offset and walk to its site, how well the agent's
                                            type suits it), each of order one; what separately
                                            encoded agents and subtasks cannot express
=========================  ===============  =====================================================

Action (``gymnasium.spaces.Dict``): ``allocation`` (U,) with values in [0, M) and ``action``
(N,) with values in [0, A). The env adopts ``allocation`` only on steps where ``decide`` was 1
(then every unit must point at an active subtask) and keeps the one in force otherwise; ``action``
must respect ``action_mask`` for present agents. The team reward is the global reward r;
per-subtask rewards travel in ``infos["subtask_reward"]``.

Decision timing lives in the env (``allocation_interval`` steps, or earlier when the set of
active subtasks changes; ``allocation_interval=0`` allocates once at reset, for static
allocations) so that allocations are part of the recorded episode and the algorithm's module
stays stateless.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from rllib_maaal.validation import brief, check_keys, check_number

OBS_KEYS = (
    "obs",
    "state",
    "agent_mask",
    "action_mask",
    "subtask_status",
    "subtask_type",
    "subtask_active",
    "subtask_action_mask",
    "allocation",
    "decide",
    "rule_allocation",
    "rule_action",
    "agent_unit",
)

#: Every key a team view may have (``OBS_KEYS`` and the optional ones).
TEAM_VIEW_KEYS = (*OBS_KEYS, "entities", "entity_mask", "pair")

#: Team-view keys whose entries are 0 or 1: the replay stores them as bool.
BINARY_KEYS = frozenset(
    {"agent_mask", "action_mask", "subtask_active", "subtask_action_mask", "decide", "entity_mask"}
)


class ObservationCodec:
    """How the replay stores a team view's observations: exactly, in fewer bytes.

    Keys the losses never read (``drop``) are not stored; ``constant`` keys (the same at every
    step of an episode) are stored once per episode; 0/1 masks (:data:`BINARY_KEYS`) as bool and
    bounded integer indices in the narrowest integer type that holds their space's bounds. A
    task whose observation repeats itself (the city's ``state`` holds every ``entities`` row)
    subclasses this and derives the repeated keys in :meth:`decode`.

    Every method works on arrays with any leading dimensions (envs, or episodes × time).
    """

    def __init__(
        self, space: spaces.Dict, constant: Iterable[str] = (), drop: Iterable[str] = ()
    ) -> None:
        drop, constant = set(drop), set(constant)
        self.dtypes = {key: sub.dtype for key, sub in space.spaces.items() if key not in drop}
        self.constant_keys = tuple(key for key in self.dtypes if key in constant)
        self.step_keys = tuple(key for key in self.dtypes if key not in constant)
        self._storage = {key: _storage_dtype(key, space[key]) for key in self.dtypes}

    def encode_step(self, obs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The per-step entries of ``obs`` as stored."""
        return {key: self._narrow(key, obs[key]) for key in self.step_keys}

    def encode_constant(self, obs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The per-episode entries of ``obs`` as stored."""
        return {key: self._narrow(key, obs[key]) for key in self.constant_keys}

    def decode(
        self, steps: Mapping[str, np.ndarray], constant: Mapping[str, np.ndarray], valid: np.ndarray
    ) -> dict[str, np.ndarray]:
        """The observations (B, T, ...) of stored ``steps`` (B, T, ...) and ``constant`` (B, ...)
        entries, zero where ``valid`` (B, T) is False, in the space's dtypes."""
        out = {key: steps[key].astype(self.dtypes[key], copy=False) for key in self.step_keys}
        for key in self.constant_keys:
            value = constant[key][:, None].astype(self.dtypes[key])
            out[key] = np.where(valid.reshape(valid.shape + (1,) * (value.ndim - 2)), value, 0)
        return out

    def _narrow(self, key: str, value: np.ndarray) -> np.ndarray:
        dtype = self._storage[key]
        if dtype == value.dtype:
            return value
        if dtype == np.bool_:
            if ((value != 0) & (value != 1)).any():
                raise ValueError(f"observation {key!r} must hold only 0 and 1 (a mask)")
        else:
            bounds = np.iinfo(dtype)
            if value.size and (value.min() < bounds.min or value.max() > bounds.max):
                raise ValueError(
                    f"observation {key!r} has values outside its space's bounds "
                    f"[{bounds.min}, {bounds.max}]"
                )
        return value.astype(dtype)


def _storage_dtype(key: str, space: spaces.Space) -> np.dtype:
    """The narrowest dtype holding every value of ``space`` exactly (see ObservationCodec)."""
    if key in BINARY_KEYS:
        return np.dtype(bool)
    if isinstance(space, spaces.Box) and np.issubdtype(space.dtype, np.integer):
        for dtype in (np.int8, np.int16, np.int32):
            bounds = np.iinfo(dtype)
            if space.low.min() >= bounds.min and space.high.max() <= bounds.max:
                return np.dtype(dtype)
    return space.dtype


def team_observation_space(
    *,
    n_agents: int,
    obs_dim: int,
    state_dim: int,
    n_actions: int,
    n_subtasks: int,
    status_dim: int,
    n_subtask_types: int,
    n_units: int | None = None,
    entity_shape: tuple[int, int] | None = None,
    pair_dim: int | None = None,
) -> spaces.Dict:
    """The observation space of a team view (see the module docstring for the keys).

    ``entity_shape=(E, F)`` selects the entity layout (adds ``entities`` and ``entity_mask``);
    ``pair_dim=P`` adds the (agent, subtask) features ``pair`` (N, M, P).
    """
    n_units = n_agents if n_units is None else n_units
    f32 = np.float32
    space = {
        "obs": spaces.Box(-np.inf, np.inf, (n_agents, obs_dim), f32),
        "state": spaces.Box(-np.inf, np.inf, (state_dim,), f32),
        "agent_mask": spaces.Box(0.0, 1.0, (n_agents,), f32),
        "action_mask": spaces.Box(0.0, 1.0, (n_agents, n_actions), f32),
        "subtask_status": spaces.Box(-np.inf, np.inf, (n_subtasks, status_dim), f32),
        "subtask_type": spaces.Box(0, n_subtask_types - 1, (n_subtasks,), np.int64),
        "subtask_active": spaces.Box(0.0, 1.0, (n_subtasks,), f32),
        "subtask_action_mask": spaces.Box(0.0, 1.0, (n_subtasks, n_actions), f32),
        "allocation": spaces.Box(0, n_subtasks - 1, (n_units,), np.int64),
        "decide": spaces.Box(0.0, 1.0, (1,), f32),
        "rule_allocation": spaces.Box(0, n_subtasks - 1, (n_units,), np.int64),
        "rule_action": spaces.Box(0, n_actions - 1, (n_agents, n_subtasks), np.int64),
        "agent_unit": spaces.Box(0, n_units - 1, (n_agents,), np.int64),
    }
    if entity_shape is not None:
        space["entities"] = spaces.Box(-np.inf, np.inf, entity_shape, f32)
        space["entity_mask"] = spaces.Box(0.0, 1.0, entity_shape[:1], f32)
    if pair_dim is not None:
        space["pair"] = spaces.Box(-np.inf, np.inf, (n_agents, n_subtasks, pair_dim), f32)
    return spaces.Dict(space)


def team_action_space(
    *, n_agents: int, n_actions: int, n_subtasks: int, n_units: int | None = None
) -> spaces.Dict:
    """The joint action of a team view: an allocation per unit and an action per agent."""
    n_units = n_agents if n_units is None else n_units
    return spaces.Dict(
        {
            "allocation": spaces.MultiDiscrete(np.full(n_units, n_subtasks, np.int64)),
            "action": spaces.MultiDiscrete(np.full(n_agents, n_actions, np.int64)),
        }
    )


def check_env_config_keys(task: str, config: dict[str, Any], allowed: Any) -> None:
    """Raise a ``ValueError`` naming the first key of ``config`` that ``task`` lacks."""
    check_keys(f"{task} env_config", config, sorted(allowed, key=str))


def check_allocation_interval(value: Any) -> int:
    """A valid ``allocation_interval`` (0: allocate once at reset) as an int."""
    if not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(
            f"allocation_interval must be an int >= 0 (0: allocate once at reset), got {value!r}"
        )
    return int(value)


def check_actions(
    actions: np.ndarray, action_mask: np.ndarray, agent_mask: np.ndarray, agent_names: list[str]
) -> None:
    """Raise a ``ValueError`` naming the first agent whose action is malformed or unavailable.

    ``actions`` is (B, N) integer, ``action_mask`` (B, N, A), ``agent_mask`` (B, N).
    """
    n_actions = action_mask.shape[-1]
    if actions.shape != action_mask.shape[:-1]:
        raise action_shape_error(actions, action_mask.shape[:-1])
    in_range = (actions >= 0) & (actions < n_actions)
    clipped = np.clip(actions, 0, n_actions - 1)
    allowed = np.take_along_axis(action_mask, clipped[..., None], axis=-1)[..., 0] > 0
    bad = (agent_mask > 0) & ~(in_range & allowed)
    if bad.any():
        b, i = np.argwhere(bad)[0]
        raise unavailable_action_error(actions, action_mask, b, i, agent_names)


def action_shape_error(actions: np.ndarray, shape: tuple[int, ...]) -> ValueError:
    """The error for (B, N) team actions of the wrong shape."""
    return ValueError(f"actions must have shape {shape} (envs × agents), got {actions.shape}")


def unavailable_action_error(
    actions: np.ndarray, action_mask: np.ndarray, b: int, i: int, agent_names: list[str]
) -> ValueError:
    """The error for agent ``i`` of instance ``b`` taking an action outside its mask (for envs
    that find the first bad agent their own, faster way)."""
    valid = np.flatnonzero(action_mask[b, i]).tolist()
    return ValueError(
        f"agent {agent_names[i]!r} (env {b}) took action {int(actions[b, i])}, which is not "
        f"available; available actions: {valid}"
    )


def check_num_envs(value: Any) -> None:
    """``num_envs`` (RLlib's vector entry point) is absent or a count of instances."""
    check_number("num_envs", value, low=1, integer=True, allow=(None,))


def check_agent_actions(
    actions: Any, live_agents: Sequence[str], n_actions: int, *, started: bool
) -> np.ndarray:
    """The actions of a PettingZoo parallel step as int64 (one per live agent, in their order).

    The one check of every parallel env of this package, so that all of them refuse the same
    input with the same words: stepping before ``reset`` or after the episode ended (no live
    agents, PettingZoo's sign of the end), anything but a dict, names that are not live agents,
    a live agent without an action, and actions that are not integers in ``[0, n_actions)``.
    """
    if not started:
        raise ValueError("call reset() before step()")
    if not live_agents:
        raise ValueError("episode is over; call reset()")
    if not isinstance(actions, Mapping):
        raise ValueError(f"actions must be a dict of agent name to action; got {brief(actions)}")
    live = set(live_agents)
    unknown = [agent for agent in actions if agent not in live]
    if unknown:
        raise ValueError(
            f"actions for agents not in the episode: {brief(unknown)}; "
            f"live agents: {list(live_agents)}"
        )
    missing = [agent for agent in live_agents if agent not in actions]
    if missing:
        raise ValueError(f"every live agent must act; actions missing for {missing}")
    return np.array(
        [_agent_action(agent, actions[agent], n_actions) for agent in live_agents], np.int64
    )


def _agent_action(agent: str, value: Any, n_actions: int) -> int:
    """``value`` as an action index of ``agent``, or the ``ValueError`` that names it."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]  # a 0-d array stands for the scalar it holds
    # bool is a subclass of int, but True is no action index (np.bool_ is no np.integer)
    is_int = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not (is_int and 0 <= value < n_actions):
        raise ValueError(
            f"agent {agent!r} action must be an int in [0, {n_actions}); "
            f"got {brief(value)} ({type(value).__name__})"
        )
    return int(value)


def integer_array(name: str, values: Any) -> np.ndarray:
    """``values`` (a team view's ``action`` or ``allocation``) as C-contiguous int64.

    Only integer dtypes pass: a cast would silently truncate 2.7 to 2 or read True as 1.
    """
    try:
        array = np.asarray(values)
    except ValueError as error:  # ragged nesting
        raise ValueError(f"{name} must be a rectangular integer array: {error}") from None
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers, got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.int64)


def check_running(instance: str, which: np.ndarray, ended: np.ndarray) -> None:
    """Refuse to step an instance (a ``which`` (B,) entry) whose episode ended or never began."""
    stale = which & ended
    if stale.any():
        raise ValueError(
            f"{instance} {int(np.flatnonzero(stale)[0])} has no episode running: "
            "reset it before stepping"
        )


class BatchedCore(Protocol):
    """A task simulated for B instances at once in NumPy (arrays over instances first)."""

    num_envs: int
    single_observation_space: spaces.Dict
    single_action_space: spaces.Dict

    def reset(self, which: np.ndarray, seed: int | None = None) -> None:
        """Start new episodes in the instances where ``which`` (B,) is True."""

    def step(
        self, action: dict[str, np.ndarray], which: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Advance the instances where ``which`` is True; return reward, terminated, truncated
        (each (B,)) and infos as a dict of (B, ...) arrays. Other instances are left untouched."""

    def observe(self) -> dict[str, np.ndarray]:
        """The team observation of every instance, each key batched as (B, ...)."""

    def render(self, index: int = 0) -> np.ndarray | None:
        """An RGB frame of instance ``index``."""


class BatchedTeamEnv(gym.vector.VectorEnv):
    """A ``gymnasium`` vector env over a batched core, with NEXT_STEP autoreset.

    This is what RLlib's EnvRunners step when ``gym_env_vectorize_mode="vector_entry_point"``:
    one NumPy call advances every instance, instead of one Python env object per instance.
    """

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}

    def __init__(self, core: BatchedCore) -> None:
        self.core = core
        self.num_envs = core.num_envs
        self.single_observation_space = core.single_observation_space
        self.single_action_space = core.single_action_space
        self.observation_space = gym.vector.utils.batch_space(
            self.single_observation_space, self.num_envs
        )
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self._autoreset = np.zeros(self.num_envs, bool)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self.core.reset(np.ones(self.num_envs, bool), seed)
        self._autoreset[:] = False
        return self.core.observe(), {}

    def step(self, actions: dict[str, np.ndarray]):
        live = ~self._autoreset
        reward, terminated, truncated, infos = self.core.step(actions, live)
        if self._autoreset.any():
            self.core.reset(self._autoreset)
            reward = np.where(live, reward, 0.0)
            terminated = terminated & live
            truncated = truncated & live
        self._autoreset = terminated | truncated
        return self.core.observe(), reward, terminated, truncated, infos

    def render(self) -> np.ndarray | None:
        return self.core.render(0)

    def observation_codec(self, drop: Iterable[str] = ()) -> ObservationCodec:
        """How the replay stores this task's observations: the core's own codec where it has
        one (``core.observation_codec(drop)``), else the generic one with the core's
        ``constant_keys`` (keys fixed for a whole episode)."""
        if hasattr(self.core, "observation_codec"):
            return self.core.observation_codec(drop)
        constant = getattr(self.core, "constant_keys", ())
        return ObservationCodec(self.single_observation_space, constant, drop)


class SingleTeamEnv(gym.Env):
    """One instance of a batched core as a plain ``gymnasium.Env``."""

    def __init__(self, core: BatchedCore, render_mode: str | None = None) -> None:
        if core.num_envs != 1:
            raise ValueError(f"SingleTeamEnv needs a core with num_envs=1, got {core.num_envs}")
        self.core = core
        self.observation_space = core.single_observation_space
        self.action_space = core.single_action_space
        self.render_mode = render_mode
        self._one = np.ones(1, bool)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.core.reset(self._one, seed)
        return _first(self.core.observe()), {}

    def step(self, action: dict[str, Any]):
        batched = {k: np.asarray(v)[None] for k, v in action.items()}
        reward, terminated, truncated, infos = self.core.step(batched, self._one)
        return (
            _first(self.core.observe()),
            float(reward[0]),
            bool(terminated[0]),
            bool(truncated[0]),
            _first(infos),
        )

    def render(self) -> np.ndarray | None:
        return self.core.render(0)


def team_env(
    core: BatchedCore, *, batched: bool, render_mode: str | None = None
) -> gym.Env | gym.vector.VectorEnv:
    """The RLlib view of ``core``: its vector env when RLlib passed ``num_envs`` (vector entry
    point), otherwise the single env of its one instance."""
    return BatchedTeamEnv(core) if batched else SingleTeamEnv(core, render_mode=render_mode)


def rule_policy(observation: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The task's scripted team: the rule allocation at decisions (else the one in force), and
    every agent's rule action inside the subtask of its unit (R-AL / Fixed-BT).

    Takes a team observation (batched (B, ...) or single) and returns the matching team action.
    """
    allocation = np.where(
        observation["decide"][..., :1] > 0,
        observation["rule_allocation"],
        observation["allocation"],
    )
    subtask = np.take_along_axis(allocation, np.asarray(observation["agent_unit"]), -1)
    action = np.take_along_axis(observation["rule_action"], subtask[..., None], -1)[..., 0]
    return {"allocation": allocation, "action": action}


def _first(batch: dict[str, np.ndarray]) -> dict[str, Any]:
    return {k: v[0] for k, v in batch.items() if not k.startswith("_")}
