"""SAVETHECITY: firefighters, builders and generalists save a city of burning buildings.

The task of ALMA (Iqbal, Costales, Sha, NeurIPS 2022) used by MAAAL, rewritten from its published
description (``docs/tasks.md``) and batched: :class:`CityCore` keeps B cities in NumPy arrays over
cities × agents and cities × buildings, and one call steps all of them. The per-step rules,
observations and scripted behaviour are compiled kernels (:mod:`rllib_maaal.envs.city.kernels`,
numba) that loop over cities, agents and buildings in machine code: as NumPy expressions they
cost about 250 NumPy calls per step, which bound one city to half the published speed.

Three views share the core:

* :func:`~rllib_maaal.envs.city.team.make_team_env` — the team view of
  :mod:`rllib_maaal.envs.team` that RLlib trains on (one ``gymnasium.Env``, or a ``VectorEnv`` of
  ``num_envs`` cities);
* :func:`~rllib_maaal.envs.city.pettingzoo.parallel_env` / ``env`` — PettingZoo's parallel and
  AEC APIs for one city;
* :func:`~rllib_maaal.envs.city.policies.heuristic_policy` — the scripted controller (rule
  allocation + rule actions).

Subtasks: building k has ``firefight_k`` (subtask k) and ``repair_k`` (subtask B_max + k), ticked by
the behaviour tree of :func:`city_tree` (per building, in parallel, a fallback of
[on fire → firefight] and [needs repair → repair]).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import py_trees
from py_trees.composites import Selector, Sequence

from rllib_maaal.bt import CompiledTree, Condition, SubtaskLeaf, replicate
from rllib_maaal.envs.city import kernels
from rllib_maaal.envs.city.codec import CityCodec
from rllib_maaal.envs.city.kernels import (
    BUILD_ACTION,
    CELL_XY,
    EXTINGUISH,
    FREEZE,
    GRID,
    MOVE_DELTAS,
    N_ACTIONS,
    N_FEATURES,
    STATUS_DIM,
    STAY,
    TRASH,
)
from rllib_maaal.envs.city.kernels import BUILDER as BUILDER  # re-exported: the vocabulary
from rllib_maaal.envs.city.kernels import FIREFIGHTER as FIREFIGHTER
from rllib_maaal.envs.city.kernels import GENERALIST as GENERALIST
from rllib_maaal.envs.city.kernels import MAX_STEPS as MAX_STEPS
from rllib_maaal.envs.city.render import render_city
from rllib_maaal.envs.team import (
    action_shape_error,
    check_allocation_interval,
    check_running,
    integer_array,
    team_action_space,
    team_observation_space,
    unavailable_action_error,
)
from rllib_maaal.validation import check_choice

# --- World constants of episode starts (docs/tasks.md; the rules' are in kernels) -------------
SITE_COORDS = (1, 4, 7, 10, 13)  # building sites: this lattice squared
FIRE_PROB = 0.4
HEALTH_BANDS = ((0.25, 0.40), (0.60, 0.75))
FAST_REIGNITE, SLOW_REIGNITE = (60, 80), (10, 30)  # inclusive ranges of the re-ignition period

AGENT_TYPES = ("firefighter", "builder", "generalist")
ACTION_NAMES = (
    "stay",
    *(f"move_{d}" for d in "NESW"),
    *(f"move2_{d}" for d in "NESW"),
    "extinguish",
    "build",
    "freeze",
)

# --- Subtasks --------------------------------------------------------------------------------
FIREFIGHT, REPAIR = 0, 1
SUBTASK_MASKS = np.zeros((2, N_ACTIONS), bool)
SUBTASK_MASKS[:, : 1 + len(MOVE_DELTAS)] = True  # stay and every move
SUBTASK_MASKS[FIREFIGHT, [EXTINGUISH, FREEZE]] = True
SUBTASK_MASKS[REPAIR, BUILD_ACTION] = True

#: The columns of the team view's ``pair`` (agent i, subtask m of building k): the offset from the
#: agent to the building and the walk to touch it (in grid widths; the walk capped at two, which
#: also stands for unreachable), then agent type × subtask type one-hot (which of the six
#: pairings this is: firefighters fight fires best, builders repair, generalists help).
PAIR_FEATURES = (
    "dx",
    "dy",
    "walk",
    *(f"{agent}_{subtask}" for agent in AGENT_TYPES for subtask in ("firefight", "repair")),
)
_WALK_CAP = 2 * GRID

_SITE_CELLS = np.array([x * GRID + y for x in SITE_COORDS for y in SITE_COORDS])
_CENTRE_DIST = np.abs(CELL_XY[:TRASH] - (GRID - 1) / 2).sum(1)


def _adjacent_site() -> np.ndarray:
    """For every cell (and the trash cell), the site it is a 4-neighbour of, or -1.

    Sites are 3 apart, so a cell touches at most one site.
    """
    site = np.full(TRASH + 1, -1)
    for index, cell in enumerate(_SITE_CELLS):
        x, y = divmod(cell, GRID)
        for dx, dy in MOVE_DELTAS[:4]:
            if 0 <= x + dx < GRID and 0 <= y + dy < GRID:
                site[(x + dx) * GRID + y + dy] = index
    return site


_ADJ_SITE = _adjacent_site()


# --- Scenarios -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    """``Na_Nb``: N agents and N + 1 buildings; ``lo-hia_lo-hib`` samples N per episode."""

    name: str
    min_agents: int
    max_agents: int

    @property
    def max_buildings(self) -> int:
        return self.max_agents + 1


def _scenario(name: str) -> Scenario:
    """Parse ``"7a_7b"`` (7 agents) or ``"2-8a_2-8b"`` (2 to 8 agents, sampled per episode)."""
    low, _, high = name.split("a_")[0].partition("-")
    return Scenario(name, int(low), int(high or low))


SCENARIOS = {
    name: _scenario(name)
    for name in (
        "2-5a_2-5b",
        "2-8a_2-8b",
        "2-10a_2-10b",
        "7a_7b",
        "12a_12b",
        "16a_16b",
        "20a_20b",
        "24a_24b",
    )
}

TEAMS = ("random", "fixed")
OBS_LAYOUTS = ("entity", "flat")


def city_tree(n_buildings: int) -> py_trees.behaviour.Behaviour:
    """The city's behaviour tree: per building, in parallel, [on fire → firefight] else
    [needs repair → repair] (seed paper, Fig. 3). Conditions are fed as (B, n_buildings) arrays."""

    def building(k: int) -> Selector:
        return Selector(
            f"building_{k}",
            memory=False,
            children=[
                Sequence(
                    f"fire_{k}",
                    memory=False,
                    children=[
                        Condition("on_fire", k),
                        SubtaskLeaf(f"firefight_{k}", k, SUBTASK_MASKS[FIREFIGHT]),
                    ],
                ),
                Sequence(
                    f"damage_{k}",
                    memory=False,
                    children=[
                        Condition("needs_repair", k),
                        SubtaskLeaf(f"repair_{k}", n_buildings + k, SUBTASK_MASKS[REPAIR]),
                    ],
                ),
            ],
        )

    return replicate("city", building, n_buildings)


class CityCore:
    """B cities of one scenario, simulated together (implements ``team.BatchedCore``).

    State arrays are (B, N) over agents (padded to the scenario's maximum, ``agent_mask``) and
    (B, K) over buildings (``building_mask``). Positions are flat cell indices ``x·16 + y``;
    padded entities sit on an extra ``TRASH`` cell that is always occupied. The kernels of
    :mod:`~rllib_maaal.envs.city.kernels` update them in place through ``self.arrays``, a
    :class:`~rllib_maaal.envs.city.kernels.CityState` of these very arrays: they are changed in
    place, never rebound. Their dtypes are the ones the kernels are compiled for.
    """

    def __init__(
        self,
        num_envs: int = 1,
        scenario: str = "7a_7b",
        teams: str = "random",
        obs_layout: str = "entity",
        allocation_interval: int = 5,
        seed: int | None = None,
    ) -> None:
        self.scenario = SCENARIOS[check_choice("scenario", scenario, SCENARIOS)]
        self.teams = check_choice("teams", teams, TEAMS)
        self.obs_layout = check_choice("obs_layout", obs_layout, OBS_LAYOUTS)
        if not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
        self.allocation_interval = check_allocation_interval(allocation_interval)
        self.num_envs = B = int(num_envs)
        self.n_agents = N = self.scenario.max_agents
        self.n_buildings = K = self.scenario.max_buildings
        self.n_subtasks = M = 2 * K
        self.n_entities = E = N + K
        self.agent_names = [f"agent_{i}" for i in range(N)]
        self.subtask_names = [f"{kind}_{k}" for kind in ("firefight", "repair") for k in range(K)]
        self.scale = 20.0 / (0.5 * 10 * K + K + 20)
        self.tree = CompiledTree(city_tree(K), M)
        self.rng = np.random.default_rng(seed)
        flat = self.obs_layout == "flat"
        self.single_observation_space = team_observation_space(
            n_agents=N,
            obs_dim=N_FEATURES * (1 + E) if flat else N_FEATURES,
            state_dim=E * N_FEATURES + 1,
            n_actions=N_ACTIONS,
            n_subtasks=M,
            status_dim=STATUS_DIM,
            n_subtask_types=2,
            entity_shape=None if flat else (E, N_FEATURES),
            pair_dim=len(PAIR_FEATURES),
        )
        self.single_action_space = team_action_space(n_agents=N, n_actions=N_ACTIONS, n_subtasks=M)
        self.subtask_type = np.repeat([FIREFIGHT, REPAIR], K)
        self.subtask_action_mask = SUBTASK_MASKS[self.subtask_type]
        # state (filled by reset)
        self.agent_mask = np.zeros((B, N), bool)
        self.agent_type = np.zeros((B, N), np.int64)
        self.agent_cell = np.full((B, N), TRASH)
        self.last_action = np.zeros((B, N), np.int64)
        self.building_mask = np.zeros((B, K), bool)
        self.building_cell = np.full((B, K), TRASH)
        self.fast = np.zeros((B, K), bool)
        self.period = np.ones((B, K), np.int64)
        self.countdown = np.ones((B, K), np.int64)
        self.health = np.zeros((B, K))
        self.fire = np.zeros((B, K))
        self.complete = np.zeros((B, K), bool)
        self.burned = np.zeros((B, K), bool)
        self.t = np.zeros(B, np.int64)
        self.adjacent = np.full((B, TRASH + 1), -1)  # building each cell touches, or -1
        self.distance = np.zeros((B, TRASH + 1, K), np.int16)  # walk from a cell to touch k
        self.closer = np.zeros((B, TRASH + 1, K), np.uint8)  # move set bringing a cell closer
        self.allocation = np.zeros((B, N), np.int64)
        self.last_decision = np.zeros(B, np.int64)
        self.active = np.zeros((B, M), bool)
        self.conditions = np.zeros((B, 2 * K), bool)  # the tree's inputs when last ticked
        self.decide = np.ones(B, bool)
        self.ended = np.ones(B, bool)  # episode over (or never started): reset before stepping
        self.avail = np.zeros((B, N, N_ACTIONS), bool)
        self.avail_moves = np.zeros((B, N), np.uint8)  # available moves as a move set
        self.stale = np.zeros(B, bool)  # cities whose tree conditions changed (scratch)
        # constant parts of the observation (read-only, shared between steps)
        self._constant = {
            "subtask_type": np.broadcast_to(self.subtask_type, (B, M)),
            "subtask_action_mask": np.broadcast_to(
                self.subtask_action_mask.astype(np.float32), (B, M, N_ACTIONS)
            ),
            "agent_unit": np.broadcast_to(np.arange(N), (B, N)),
        }
        self.arrays = kernels.city_state(
            {name: getattr(self, name) for name in kernels.STATE_FIELDS}
        )

    # --- episode start -----------------------------------------------------------------------
    def reset(self, which: np.ndarray, seed: int | None = None) -> None:
        """Sample new cities where ``which`` is True (see ``docs/tasks.md``, World)."""
        which = self._cities(which)
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        rows = np.flatnonzero(which)
        R, N, K, rng = len(rows), self.n_agents, self.n_buildings, self.rng
        if R == 0:
            return
        n = rng.integers(self.scenario.min_agents, self.scenario.max_agents + 1, R)
        agent_mask = np.arange(N) < n[:, None]
        building_mask = np.arange(K) < n[:, None] + 1
        # buildings on distinct random sites
        sites = np.argsort(rng.random((R, len(_SITE_CELLS))), axis=1)[:, :K]
        building_cell = np.where(building_mask, _SITE_CELLS[sites], TRASH)
        fast = rng.random((R, K)) < 0.5
        period = np.where(
            fast,
            rng.integers(FAST_REIGNITE[0], FAST_REIGNITE[1] + 1, (R, K)),
            rng.integers(SLOW_REIGNITE[0], SLOW_REIGNITE[1] + 1, (R, K)),
        )
        band = np.array(HEALTH_BANDS)[rng.integers(0, 2, (R, K))]
        health = band[..., 0] + rng.random((R, K)) * (band[..., 1] - band[..., 0])
        fire = (rng.random((R, K)) < FIRE_PROB).astype(float)
        # agents on the free cells nearest the centre (random among equally near ones)
        occupied = np.zeros((R, TRASH + 1), bool)
        occupied[np.arange(R)[:, None], building_cell] = True
        key = _CENTRE_DIST + rng.random((R, TRASH)) * 0.5 + occupied[:, :TRASH] * 1e3
        agent_cell = np.where(agent_mask, np.argsort(key, axis=1)[:, :N], TRASH)
        self.agent_type[rows] = self._team_types(agent_mask)
        site_building = np.full((R, len(_SITE_CELLS) + 1), -1)  # last column: "no site"
        site_building[np.arange(R)[:, None], sites] = np.where(building_mask, np.arange(K), -1)

        self.agent_mask[rows] = agent_mask
        self.agent_cell[rows] = agent_cell
        self.last_action[rows] = STAY
        self.building_mask[rows] = building_mask
        self.building_cell[rows] = building_cell
        self.fast[rows] = fast
        self.period[rows] = period
        self.countdown[rows] = period
        self.health[rows] = np.where(building_mask, health, 0.0)
        self.fire[rows] = np.where(building_mask, fire, 0.0)
        self.complete[rows] = False
        self.burned[rows] = False
        self.t[rows] = 0
        self.ended[rows] = False
        self.adjacent[rows] = site_building[:, _ADJ_SITE]
        self.last_decision[rows] = 0
        kernels.walking_distance(self.arrays, which)
        self._refresh(which, new_episode=True)

    def set_state(
        self,
        index: int,
        *,
        agents: list[tuple[int, int, int]],
        buildings: list[tuple[int, int, float, float]],
        fast: list[bool] | None = None,
        period: list[int] | None = None,
    ) -> None:
        """Put city ``index`` in a hand-made state at t = 0 (for tests and scripted scenarios).

        ``agents``: (x, y, type) per agent; ``buildings``: (x, y, health, fire) per building, on
        the site lattice. Buildings are fast-burning with period 70 unless given.
        """
        n, nb = len(agents), len(buildings)
        if not (1 <= n <= self.n_agents and 1 <= nb <= self.n_buildings):
            raise ValueError(
                f"need 1..{self.n_agents} agents and 1..{self.n_buildings} buildings, "
                f"got {n} and {nb}"
            )
        cells = [x * GRID + y for x, y, *_ in buildings]
        if not set(cells) <= set(_SITE_CELLS.tolist()):
            raise ValueError(f"buildings must stand on sites {SITE_COORDS}², got {buildings}")
        agent_mask = np.arange(self.n_agents) < n
        building_mask = np.arange(self.n_buildings) < nb
        pad = self.n_buildings - nb
        self.agent_mask[index] = agent_mask
        self.agent_cell[index] = TRASH
        self.agent_cell[index, :n] = [x * GRID + y for x, y, _ in agents]
        self.agent_type[index] = 0
        self.agent_type[index, :n] = [kind for *_, kind in agents]
        self.last_action[index] = STAY
        self.building_mask[index] = building_mask
        self.building_cell[index] = cells + [TRASH] * pad
        self.health[index] = [h for *_, h, _ in buildings] + [0.0] * pad
        self.fire[index] = [f for *_, f in buildings] + [0.0] * pad
        self.fast[index] = (fast or [True] * nb) + [False] * pad
        self.period[index] = (period or [70] * nb) + [1] * pad
        self.countdown[index] = self.period[index]
        self.complete[index] = self.burned[index] = False
        self.t[index] = self.last_decision[index] = 0
        self.ended[index] = False
        site_building = np.full(len(_SITE_CELLS) + 1, -1)
        site_building[[_SITE_CELLS.tolist().index(c) for c in cells]] = np.arange(nb)
        self.adjacent[index] = site_building[_ADJ_SITE]
        which = np.arange(self.num_envs) == index
        kernels.walking_distance(self.arrays, which)
        self._refresh(which, new_episode=True)

    def _cities(self, which: np.ndarray) -> np.ndarray:
        """``which`` as a (B,) bool mask; checked, as the kernels do not check their indices."""
        which = np.asarray(which, bool)
        if which.shape != (self.num_envs,):
            raise ValueError(f"which must have shape {(self.num_envs,)}, got {which.shape}")
        return which

    def _team_types(self, agent_mask: np.ndarray) -> np.ndarray:
        """Agent types: "fixed" cycles F, B, G; "random" is one of each type plus uniform draws,
        shuffled (a multiset containing every type when N >= 3)."""
        R, N = agent_mask.shape
        if self.teams == "fixed":
            return np.broadcast_to(np.arange(N) % 3, (R, N)).copy()
        base = np.concatenate(
            [np.argsort(self.rng.random((R, 3)), axis=1), self.rng.integers(0, 3, (R, N))], axis=1
        )[:, :N]
        order = np.argsort(self.rng.random((R, N)) + ~agent_mask * 2.0, axis=1)
        return np.take_along_axis(base, order, axis=1)

    # --- transition ----------------------------------------------------------------------------
    def step(
        self, action: dict[str, np.ndarray], which: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Advance the cities where ``which`` is True (``docs/tasks.md``, one step)."""
        which = self._cities(which)
        act, allocation = self._validated(action, which)
        # collision priorities for every stepped city, drawn whether or not agents collide
        priority = self.rng.random((np.count_nonzero(which), self.n_agents))
        reward, terminated, truncated, subtask_reward, success, fraction, burned = kernels.step(
            self.arrays, which, act, allocation, priority
        )
        self._refresh(which)
        done = terminated | truncated
        infos = {
            "subtask_reward": subtask_reward,
            "success": success,
            "_success": done,
            "fraction_completed": fraction,
            "_fraction_completed": done,
            "fraction_burned": burned,
            "_fraction_burned": done,
        }
        return reward, terminated, truncated, infos

    def _validated(
        self, action: dict[str, np.ndarray], which: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The (B, N) actions and allocations as the kernels take them (C-contiguous int64),
        checked against the action masks and the active subtasks."""
        B, N, M = self.num_envs, self.n_agents, self.n_subtasks
        missing = {"action", "allocation"} - set(action)
        if missing:
            raise ValueError(f"action dict needs keys 'allocation' and 'action'; missing {missing}")
        act = np.asarray(action["action"])
        allocation = np.asarray(action["allocation"])
        if allocation.shape != (B, N):
            raise ValueError(f"allocation must have shape {(B, N)}, got {allocation.shape}")
        check_running("city", which, self.ended)
        if act.shape != (B, N):
            raise action_shape_error(act, (B, N))
        # C-contiguous int64: the one array type the kernels are compiled for
        act, allocation = integer_array("actions", act), integer_array("allocation", allocation)
        kind, b, i = kernels.first_invalid(self.arrays, which, act, allocation)
        if kind == 1:
            raise unavailable_action_error(act, self.avail, b, i, self.agent_names)
        if kind == 2:
            m = int(allocation[b, i])
            name = self.subtask_names[m] if 0 <= m < M else "out of range"
            active = [self.subtask_names[j] for j in np.flatnonzero(self.active[b])]
            raise ValueError(
                f"agent {self.agent_names[i]!r} (env {b}) was allocated to subtask {m} "
                f"({name}), which is not active; active subtasks: {active}"
            )
        return act, allocation

    def _refresh(self, which: np.ndarray, new_episode: bool = False) -> None:
        """Recompute the available actions, the tree's active subtasks and the decision flag."""
        n_stale = kernels.refresh(self.arrays, which, new_episode)
        if n_stale == 0:  # the tree is a pure function of its conditions: tick where they changed
            return
        rows = np.flatnonzero(self.stale)
        on_fire, needs_repair = np.split(self.conditions[rows], 2, axis=1)
        active = self.tree.tick(
            {"on_fire": on_fire, "needs_repair": needs_repair}, len(rows)
        ).active
        if self.allocation_interval:  # else a static allocation (S-AC): decided at reset only
            self.decide[rows] |= (active != self.active[rows]).any(1)
        self.active[rows] = active

    # --- observation ---------------------------------------------------------------------------
    def _state(self) -> np.ndarray:
        """(B, E·F + 1): every entity's features (ALMA's layout), then the time t / 150."""
        state = np.empty((self.num_envs, self.n_entities * N_FEATURES + 1), np.float32)
        kernels.state_features(self.arrays, state)
        return state

    def entity_features(self) -> np.ndarray:
        """(B, E, F) features of the agents (first N rows) then the buildings (ALMA's layout)."""
        return self._state()[:, :-1].reshape(self.num_envs, self.n_entities, N_FEATURES)

    def observe(self) -> dict[str, np.ndarray]:
        """The team observation of every city (keys of ``team.team_observation_space``), in
        freshly allocated arrays (callers may keep them across steps)."""
        B, N, E = self.num_envs, self.n_agents, self.n_entities
        # the state is every entity's features and the time; the entities are a view into it
        state = self._state()
        ent = state[:, :-1].reshape(B, E, N_FEATURES)
        own = ent[:, :N]
        obs = {
            "obs": own
            if self.obs_layout == "entity"
            else np.concatenate(
                [own, np.broadcast_to(state[:, None, :-1], (B, N, E * N_FEATURES))], axis=2
            ),
            "state": state,
            "agent_mask": self.agent_mask.astype(np.float32),
            "action_mask": self.avail.astype(np.float32),
            "subtask_status": self._subtask_status(state),
            "subtask_active": self.active.astype(np.float32),
            "allocation": self.allocation.copy(),
            "decide": self.decide[:, None].astype(np.float32),
            "rule_allocation": self.rule_allocation(),
            "rule_action": self.rule_action(),
            "pair": self._pair_features(),
            **self._constant,
        }
        if self.obs_layout == "entity":
            obs["entities"] = ent
            obs["entity_mask"] = np.concatenate(
                [self.agent_mask, self.building_mask], axis=1
            ).astype(np.float32)
        return obs

    def _subtask_status(self, state: np.ndarray) -> np.ndarray:
        """(B, M, STATUS_DIM): the building's type, position and features (taken from the
        ``state``), plus the count of agents allocated to the subtask."""
        status = np.empty((self.num_envs, self.n_subtasks, STATUS_DIM), np.float32)
        kernels.subtask_status(self.arrays, state, status)
        return status

    def _pair_features(self) -> np.ndarray:
        """(B, N, M, PAIR_FEATURES) features of each agent towards each subtask, zero for padded
        agents and buildings."""
        B, K = self.num_envs, self.n_buildings
        offset = (
            CELL_XY[self.building_cell][:, None] - CELL_XY[self.agent_cell][:, :, None]
        ) / GRID
        walk = self.distance[np.arange(B)[:, None, None], self.agent_cell[:, :, None], np.arange(K)]
        walk = np.minimum(walk, _WALK_CAP) / GRID
        per_building = np.concatenate([offset, walk[..., None]], axis=-1)  # (B, N, K, 3)
        # subtasks m and K + m belong to building m (firefight, repair)
        pairing = self.agent_type[:, :, None] * 2 + self.subtask_type  # (B, N, M)
        pair = np.concatenate(
            [
                np.tile(per_building, (1, 1, 2, 1)),
                np.eye(2 * len(AGENT_TYPES), dtype=np.float32)[pairing],
            ],
            axis=-1,
        )
        present = self.agent_mask[:, :, None] & np.tile(self.building_mask, 2)[:, None]
        return np.where(present[..., None], pair, 0.0).astype(np.float32)

    def observation_codec(self, drop: Iterable[str] = ()) -> CityCodec:
        """How the replay stores this city's observations (see :class:`CityCodec`)."""
        return CityCodec(self.single_observation_space, drop, self.n_agents, self.n_buildings)

    # --- scripted behaviour ----------------------------------------------------------------------
    def rule_allocation(self) -> np.ndarray:
        """(B, N) each agent's nearest active subtask that suits its type: firefighters fight
        fires, builders repair, generalists help at the nearest fire, else repair. An agent with
        no suitable active subtask takes the nearest active one."""
        allocation = np.empty((self.num_envs, self.n_agents), np.int64)
        kernels.rule_allocation(self.arrays, allocation)
        return allocation

    def rule_action(self) -> np.ndarray:
        """(B, N, M) the scripted action of each agent inside each subtask: walk to the
        building (an available move that shortens the walk, moves by two first), then act on
        it — extinguish (firefight; freeze for generalists) or build (repair) — or stay when the
        work action is unavailable."""
        action = np.empty((self.num_envs, self.n_agents, self.n_subtasks), np.int64)
        kernels.rule_action(self.arrays, action)
        return action

    def render(self, index: int = 0, allocation_lines: bool = True) -> np.ndarray:
        """An RGB frame of city ``index`` (:func:`rllib_maaal.envs.city.render.render_city`)."""
        return render_city(self, index, allocation_lines)
