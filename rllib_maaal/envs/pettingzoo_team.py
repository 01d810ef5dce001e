"""The team view of any PettingZoo environment (``env: maaal/pettingzoo``).

QMIX, VDN and MAAAL read the team-view dictionary of :mod:`rllib_maaal.envs.team`; this module
builds it for a PettingZoo ``ParallelEnv`` we did not write (an ``AECEnv`` goes through
PettingZoo's ``aec_to_parallel``), so those algorithms run on it unchanged.

env_config keys:

- ``env`` (required): where the env comes from — a module path whose ``parallel_env(**kwargs)``
  builds it (``"mpe2.simple_spread_v3"``; a module with only ``env()`` gives an AEC env),
  ``"module:callable"`` returning a ``ParallelEnv`` or ``AECEnv``, or a name registered with
  ``ray.tune.register_env`` whose creator returns one (it gets ``kwargs`` as its config);
- ``kwargs``: keyword arguments of that call (default none);
- ``agent_id``: append each agent's one-hot index to its observation (default true): the agent
  network is shared, and agents with equal observations could not act differently otherwise
  (pymarl's ``obs_agent_id``);
- ``seed``: seed of the first reset (instance k gets ``seed + k``);
- ``num_envs``: set by RLlib's vector entry point: a ``VectorEnv`` of that many env instances,
  stepped in turn (PettingZoo envs cannot batch).

Mapping, for the env's ``possible_agents`` (N of them, in order):

- ``obs``: each agent's observation flattened (``gymnasium.spaces.flatten``) and zero-padded to
  the widest agent's, plus the agent index when ``agent_id``;
- ``state``: the env's ``state()`` (flattened) where it has a ``state_space``, else the
  concatenated padded observations;
- ``action_mask``: PettingZoo's convention where the env follows it — an observation dict
  ``{"observation": ..., "action_mask": ...}`` or ``info["action_mask"]`` — else all actions of
  the agent's ``Discrete`` space (actions past a smaller agent's ``n`` are masked);
- ``agent_mask``: 1 for agents in ``env.agents``. An agent that finished early (or has not
  joined) has mask 0, a zero observation, only action 0 available (SMAC's convention for dead
  agents: every row keeps one valid action), its action is ignored and its reward is 0. The
  episode's final observation keeps the agents that were truncated: the learner bootstraps from
  their values there (with none present, QMIX's target would be the mixer's bias alone, which
  nothing ties to the return, and Q_tot drifts above any return the env can give);
- the reward is the sum of the live agents' rewards; the episode ends when ``env.agents`` is
  empty, as truncated if any agent was truncated at the last step (so the learner bootstraps),
  else as terminated;
- one always-active subtask (``allocation: none`` for QMIX/VDN): ``subtask_*`` of that subtask,
  ``allocation``/``rule_allocation``/``rule_action`` zeros, ``agent_unit`` ``arange(N)`` and
  ``decide`` 1 at reset only.

Only ``Discrete`` action spaces are supported.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv
from pettingzoo.utils.conversions import aec_to_parallel

from rllib_maaal.envs.team import (
    check_actions,
    check_env_config_keys,
    check_num_envs,
    check_running,
    integer_array,
    team_action_space,
    team_env,
    team_observation_space,
)
from rllib_maaal.validation import check_bool, check_mapping, check_number

TASK = "pettingzoo"
CONFIG_KEYS = ("env", "kwargs", "agent_id", "seed", "num_envs")
MASK_KEY = "action_mask"

ParallelFactory = Callable[[], ParallelEnv]


# -- where the env comes from ----------------------------------------------------------------------
def env_factory(spec: Any, kwargs: Mapping[str, Any]) -> ParallelFactory:
    """A function building the ``ParallelEnv`` that ``spec`` (env_config ``env``) names."""
    if not isinstance(spec, str) or not spec:
        raise ValueError(
            f"{TASK} env_config.env must be a module path ('mpe2.simple_spread_v3'), "
            f"'module:callable' or a registered env name; got {spec!r}"
        )
    if ":" in spec:
        module_name, name = spec.split(":", 1)
        factory = getattr(_import(module_name, spec), name, None)
        if not callable(factory):
            raise ValueError(
                f"{TASK} env_config.env {spec!r}: {module_name} has no callable {name}"
            )
    elif (creator := _tune_creator(spec)) is not None:

        def factory(**kw: Any) -> Any:
            return creator(kw)

    else:
        module = _import(spec, spec)
        factory = getattr(module, "parallel_env", None) or getattr(module, "env", None)
        if not callable(factory):
            raise ValueError(
                f"{TASK} env_config.env {spec!r}: the module has neither parallel_env() nor env()"
            )
    kwargs = dict(kwargs)
    return lambda: as_parallel(factory(**kwargs), spec)


def _import(module_name: str, spec: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ImportError as err:
        hint = " (pip install 'rllib-maaal[pettingzoo]')" if module_name.startswith("mpe2") else ""
        raise ImportError(
            f"{TASK} env_config.env {spec!r} cannot be imported: {err}{hint}"
        ) from err


def _tune_creator(name: str) -> Callable[[dict], Any] | None:
    """The creator registered with ``ray.tune.register_env`` under ``name``, if any."""
    from ray.tune.registry import ENV_CREATOR, _global_registry

    if not _global_registry.contains(ENV_CREATOR, name):
        return None
    return _global_registry.get(ENV_CREATOR, name)


def as_parallel(env: Any, spec: str) -> ParallelEnv:
    """``env`` as a ``ParallelEnv`` (an ``AECEnv`` through ``aec_to_parallel``)."""
    if isinstance(env, ParallelEnv):
        return env
    if isinstance(env, AECEnv):
        return aec_to_parallel(env)
    raise ValueError(
        f"{TASK} env_config.env {spec!r} built a {type(env).__name__}, not a PettingZoo "
        "ParallelEnv or AECEnv"
    )


# -- layout: the padded team arrays of one env -----------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """How the agents of an env map onto the team arrays."""

    agents: tuple[str, ...]
    obs_spaces: tuple[spaces.Space, ...]  # each agent's observation (without its action mask)
    mask_in_obs: tuple[bool, ...]  # observation dicts carry "action_mask"
    n_actions: np.ndarray  # (N,) each agent's Discrete n
    action_start: np.ndarray  # (N,) each agent's Discrete start
    obs_dim: int  # widest flat observation
    state_space: spaces.Space | None  # the env's, if it has one
    agent_id: bool

    @classmethod
    def of(cls, env: ParallelEnv, agent_id: bool) -> Layout:
        agents = tuple(env.possible_agents)
        obs_spaces, mask_in_obs, n_actions, start = [], [], [], []
        for agent in agents:
            action_space = env.action_space(agent)
            if not isinstance(action_space, spaces.Discrete):
                raise ValueError(
                    f"maaal/{TASK} supports Discrete action spaces only; agent {agent!r} has "
                    f"{action_space}"
                )
            n_actions.append(int(action_space.n))
            start.append(int(action_space.start))
            space = env.observation_space(agent)
            has_mask = isinstance(space, spaces.Dict) and MASK_KEY in space.spaces
            mask_in_obs.append(has_mask)
            obs_spaces.append(space["observation"] if has_mask else space)
        state_space = getattr(env, "state_space", None)
        return cls(
            agents=agents,
            obs_spaces=tuple(obs_spaces),
            mask_in_obs=tuple(mask_in_obs),
            n_actions=np.asarray(n_actions),
            action_start=np.asarray(start),
            obs_dim=max(spaces.flatdim(s) for s in obs_spaces),
            state_space=state_space if isinstance(state_space, spaces.Space) else None,
            agent_id=agent_id,
        )

    @property
    def n_agents(self) -> int:
        return len(self.agents)

    @property
    def width(self) -> int:
        """Width of a team ``obs`` row."""
        return self.obs_dim + (self.n_agents if self.agent_id else 0)

    @property
    def state_dim(self) -> int:
        if self.state_space is not None:
            return spaces.flatdim(self.state_space)
        return self.n_agents * self.obs_dim

    def observation_space(self) -> spaces.Dict:
        return team_observation_space(
            n_agents=self.n_agents,
            obs_dim=self.width,
            state_dim=self.state_dim,
            n_actions=int(self.n_actions.max()),
            n_subtasks=1,
            status_dim=1,
            n_subtask_types=1,
        )

    def action_space(self) -> spaces.Dict:
        return team_action_space(
            n_agents=self.n_agents, n_actions=int(self.n_actions.max()), n_subtasks=1
        )


# -- the batched core ------------------------------------------------------------------------------
class PettingZooCore:
    """B instances of a PettingZoo ``ParallelEnv``, stepped in turn, as a team-view core (see
    :class:`~rllib_maaal.envs.team.BatchedCore`)."""

    #: Observation keys fixed for a whole episode (stored once per episode by the replay).
    constant_keys = ("subtask_type", "subtask_action_mask", "agent_unit")

    def __init__(
        self,
        make: ParallelFactory,
        num_envs: int = 1,
        seed: int | None = None,
        agent_id: bool = True,
    ) -> None:
        self.envs = [make() for _ in range(num_envs)]
        self.layout = Layout.of(self.envs[0], agent_id)
        self.num_envs = num_envs
        self.single_observation_space = self.layout.observation_space()
        self.single_action_space = self.layout.action_space()
        self.agent_names = list(self.layout.agents)
        self._index = {agent: i for i, agent in enumerate(self.agent_names)}
        self._seed = seed
        b, n, a = num_envs, self.layout.n_agents, int(self.layout.n_actions.max())
        self._obs = np.zeros((b, n, self.layout.width), np.float32)
        self._state = np.zeros((b, self.layout.state_dim), np.float32)
        self._agent_mask = np.zeros((b, n), np.float32)
        self._action_mask = np.zeros((b, n, a), np.float32)
        self._decide = np.zeros((b, 1), np.float32)
        self._ended = np.ones(b, bool)  # no episode running: reset first
        # An agent's own actions: 1 below its Discrete n (agents may have fewer actions than A).
        self._own_actions = (np.arange(a) < self.layout.n_actions[:, None]).astype(np.float32)
        self._dead_row = np.eye(1, a, dtype=np.float32)[0]
        self._agent_id = np.eye(n, dtype=np.float32)
        self._constant = {
            "subtask_status": np.zeros((b, 1, 1), np.float32),
            "subtask_type": np.zeros((b, 1), np.int64),
            "subtask_active": np.ones((b, 1), np.float32),
            "subtask_action_mask": np.ones((b, 1, a), np.float32),
            "allocation": np.zeros((b, n), np.int64),
            "rule_allocation": np.zeros((b, n), np.int64),
            "rule_action": np.zeros((b, n, 1), np.int64),
            "agent_unit": np.broadcast_to(np.arange(n), (b, n)).copy(),
        }

    def reset(self, which: np.ndarray, seed: int | None = None) -> None:
        # The configured seed applies to the first reset only; later ones continue each env's RNG.
        base = self._seed if seed is None else seed
        self._seed = None
        for b in np.flatnonzero(which):
            obs, infos = self.envs[b].reset(seed=None if base is None else base + int(b))
            self._record(b, obs, infos, self.envs[b].agents)
            self._decide[b] = 1.0
        self._ended[which] = False

    def step(
        self, action: dict[str, np.ndarray], which: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        check_running("env", which, self._ended)
        actions = integer_array("action", action["action"])
        check_actions(actions, self._action_mask, self._agent_mask, self.agent_names)
        reward = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, bool)
        truncated = np.zeros(self.num_envs, bool)
        env_actions = actions + self.layout.action_start
        for b in np.flatnonzero(which):
            env = self.envs[b]
            live = list(env.agents)
            joint = {agent: int(env_actions[b, self._index[agent]]) for agent in live}
            obs, rewards, terms, truncs, infos = env.step(joint)
            reward[b] = sum(float(rewards.get(agent, 0.0)) for agent in live)
            present = env.agents
            if not present:
                present = [a for a in live if truncs.get(a, False) and not terms.get(a, False)]
                truncated[b] = bool(present)
                terminated[b] = not present
                self._ended[b] = True
            self._record(b, obs, infos, present)
            self._decide[b] = 0.0
        return reward, terminated, truncated, {}

    def _record(
        self, b: int, obs: dict[str, Any], infos: dict[str, Any], present: list[str]
    ) -> None:
        """Write the observations of instance ``b``'s ``present`` agents into the team arrays."""
        layout = self.layout
        self._obs[b] = 0.0
        self._agent_mask[b] = 0.0
        self._action_mask[b] = self._dead_row
        for agent in present:
            i = self._index[agent]
            own = obs[agent]
            mask = self._own_actions[i]
            if layout.mask_in_obs[i]:
                mask = self._padded_mask(i, own[MASK_KEY])
                own = own["observation"]
            elif MASK_KEY in infos.get(agent, {}):
                mask = self._padded_mask(i, infos[agent][MASK_KEY])
            flat = spaces.flatten(layout.obs_spaces[i], own)
            self._obs[b, i, : flat.shape[0]] = flat
            self._action_mask[b, i] = mask
            self._agent_mask[b, i] = 1.0
        if layout.state_space is not None:
            self._state[b] = spaces.flatten(layout.state_space, self.envs[b].state())
        else:
            self._state[b] = self._obs[b, :, : layout.obs_dim].ravel()
        if layout.agent_id:
            self._obs[b, :, layout.obs_dim :] = self._agent_id * self._agent_mask[b, :, None]

    def _padded_mask(self, i: int, mask: Any) -> np.ndarray:
        row = np.zeros(self._action_mask.shape[-1], np.float32)
        row[: self.layout.n_actions[i]] = np.asarray(mask, np.float32)
        return row

    def observe(self) -> dict[str, np.ndarray]:
        return {
            "obs": self._obs.copy(),
            "state": self._state.copy(),
            "agent_mask": self._agent_mask.copy(),
            "action_mask": self._action_mask.copy(),
            "decide": self._decide.copy(),
        } | {key: value.copy() for key, value in self._constant.items()}

    def render(self, index: int = 0) -> np.ndarray | None:
        env = self.envs[index]
        return env.render() if getattr(env, "render_mode", None) == "rgb_array" else None


# -- RLlib entry points ----------------------------------------------------------------------------
def _parse(config: Mapping[str, Any]) -> tuple[ParallelFactory, dict[str, Any]]:
    """The env factory and the core's options of a ``maaal/pettingzoo`` env_config."""
    check_env_config_keys(TASK, dict(config), CONFIG_KEYS)
    if "env" not in config:
        raise ValueError(
            f"{TASK} env_config needs 'env': a module path such as 'mpe2.simple_spread_v3', "
            "'module:callable' or a registered env name"
        )
    kwargs = check_mapping(f"{TASK} env_config.kwargs", config.get("kwargs") or {})
    agent_id = check_bool(f"{TASK} env_config.agent_id", config.get("agent_id", True))
    seed = check_number(f"{TASK} env_config.seed", config.get("seed"), integer=True, allow=(None,))
    check_num_envs(config.get("num_envs"))
    return env_factory(config["env"], kwargs), {"seed": seed, "agent_id": agent_id}


def make_team_env(config: dict[str, Any]) -> gym.Env | gym.vector.VectorEnv:
    """The team view for RLlib (``env: maaal/pettingzoo``); batched when ``num_envs`` is given."""
    make, options = _parse(config)
    num_envs = config.get("num_envs")
    core = PettingZooCore(make, num_envs=num_envs or 1, **options)
    return team_env(core, batched=num_envs is not None)


def check_env_config(config: dict[str, Any]) -> tuple[spaces.Space, spaces.Space]:
    """Validate a ``maaal/pettingzoo`` env_config by building one env instance (cheap for the
    envs PettingZoo ships); the team view's observation and action spaces."""
    make, options = _parse(config)
    env = make()
    try:
        layout = Layout.of(env, options["agent_id"])
    finally:
        env.close()
    return layout.observation_space(), layout.action_space()
