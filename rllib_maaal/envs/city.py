"""SAVETHECITY: firefighters, builders and generalists save a city of burning buildings.

The task of ALMA (Iqbal, Costales, Sha, NeurIPS 2022) used by MAAAL, rewritten from its published
description (``specs/city.md``) and vectorised: :class:`CityCore` steps B cities at once with NumPy
arrays over cities × agents × buildings, with no Python loop over agents or buildings.

Three views share the core:

* :func:`make_team_env` — the team view of :mod:`rllib_maaal.envs.team` that RLlib trains on
  (one ``gymnasium.Env``, or a ``VectorEnv`` of ``num_envs`` cities);
* :func:`parallel_env` / :func:`env` — PettingZoo's parallel and AEC APIs for one city;
* :func:`heuristic_policy` — the scripted controller (rule allocation + rule actions).

Subtasks: building k has ``firefight_k`` (subtask k) and ``repair_k`` (subtask B_max + k), ticked by
the behaviour tree of :func:`city_tree` (per building, in parallel, a fallback of
[on fire → firefight] and [needs repair → repair]).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import py_trees
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.utils import parallel_to_aec
from py_trees.composites import Selector, Sequence

from rllib_maaal.bt import CompiledTree, Condition, SubtaskLeaf, replicate
from rllib_maaal.envs import rendering
from rllib_maaal.envs.team import (
    check_actions,
    check_allocation_interval,
    check_choice,
    check_env_config_keys,
    team_action_space,
    team_env,
    team_observation_space,
)

# --- World constants (specs/city.md) --------------------------------------------------------
GRID = 16
SITE_COORDS = (1, 4, 7, 10, 13)  # building sites: this lattice squared
MAX_STEPS = 150
BURN, REDUCE, GROWTH, BUILD, HELP = 0.035, 0.25, 1.1, 0.125, 0.45
FIRE_PROB = 0.4
HEALTH_BANDS = ((0.25, 0.40), (0.60, 0.75))
FAST_BURN_RATE, SLOW_BURN_RATE = 1.0, 0.5
FAST_REIGNITE, SLOW_REIGNITE = (60, 80), (10, 30)  # inclusive ranges of the re-ignition period
COMPLETION_BONUS = 20.0

# --- Agents and actions ----------------------------------------------------------------------
FIREFIGHTER, BUILDER, GENERALIST = 0, 1, 2
AGENT_TYPES = ("firefighter", "builder", "generalist")
FIRE_SPEED = np.array([1.0, 0.05, 0.0])
BUILD_SPEED = np.array([0.05, 1.0, 0.0])
STAY, EXTINGUISH, BUILD_ACTION, FREEZE = 0, 9, 10, 11
N_ACTIONS = 12
ACTION_NAMES = (
    "stay",
    *(f"move_{d}" for d in "NESW"),
    *(f"move2_{d}" for d in "NESW"),
    "extinguish",
    "build",
    "freeze",
)
# (dx, dy) of the 8 move actions 1..8: N/E/S/W by one, then by two (generalists). y points north.
MOVE_DELTAS = np.array([(0, 1), (1, 0), (0, -1), (-1, 0)] * 2) * np.repeat([1, 2], 4)[:, None]

# What an agent of each type adds, by action, to the per-building sums of a step: extinguish
# power, extinguishers, extinguishing builders, extinguishing generalists, build power, building
# firefighters, building generalists, freezers.
CONTRIBUTION = np.zeros((3, N_ACTIONS, 8))
CONTRIBUTION[:, EXTINGUISH, :4] = np.c_[FIRE_SPEED, np.ones(3), np.eye(3)[:, [BUILDER, GENERALIST]]]
CONTRIBUTION[:, BUILD_ACTION, 4:7] = np.c_[BUILD_SPEED, np.eye(3)[:, [FIREFIGHTER, GENERALIST]]]
CONTRIBUTION[GENERALIST, FREEZE, 7] = 1

# --- Subtasks --------------------------------------------------------------------------------
FIREFIGHT, REPAIR = 0, 1
SUBTASK_MASKS = np.zeros((2, N_ACTIONS), bool)
SUBTASK_MASKS[:, : 1 + len(MOVE_DELTAS)] = True  # stay and every move
SUBTASK_MASKS[FIREFIGHT, [EXTINGUISH, FREEZE]] = True
SUBTASK_MASKS[REPAIR, BUILD_ACTION] = True

# --- Entity features (ALMA's layout) ---------------------------------------------------------
# one-hot type (3 agent types, fast-burn, slow-burn building), one-hot x, one-hot y, x/16, y/16,
# available actions (agents), building features, last action one-hot (agents).
N_ENTITY_TYPES = 5
F_TYPE = 0
F_X = F_TYPE + N_ENTITY_TYPES
F_Y = F_X + GRID
F_POS = F_Y + GRID
F_AVAIL = F_POS + 2
F_BUILDING = F_AVAIL + N_ACTIONS
BUILDING_FEATURES = ("health", "complete", "burned", "fire", "on_fire", "since_fire", "inv_period")
F_LAST = F_BUILDING + len(BUILDING_FEATURES)
N_FEATURES = F_LAST + N_ACTIONS
# subtask status: building type one-hot (2), x/16, y/16, building features, allocated count
STATUS_DIM = 2 + 2 + len(BUILDING_FEATURES) + 1

TRASH = GRID * GRID  # an extra, always-occupied cell: off-grid targets and padded entities
FAR = 4 * GRID * GRID  # walking distance standing for "unreachable"
_SITE_CELLS = np.array([x * GRID + y for x in SITE_COORDS for y in SITE_COORDS])
_CELL_XY = np.stack(np.divmod(np.arange(TRASH + 1), GRID), axis=1)  # (cells + trash, 2)
_CENTRE_DIST = np.abs(_CELL_XY[:TRASH] - (GRID - 1) / 2).sum(1)


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


def _move_targets() -> np.ndarray:
    """(cells + trash, 8): the cell each move action leads to (TRASH when off the grid)."""
    xy = _CELL_XY[:, None, :] + MOVE_DELTAS[None]
    inside = ((xy >= 0) & (xy < GRID)).all(-1)
    inside[TRASH] = False
    return np.where(inside, xy[..., 0] * GRID + xy[..., 1], TRASH)


_MOVE_TARGET = _move_targets()

# Lookup tables turning indices into feature rows (the last row of each is padding: zeros).
_TYPE_ONEHOT = np.eye(N_ENTITY_TYPES + 1, N_ENTITY_TYPES, dtype=np.float32)
PAD_TYPE = N_ENTITY_TYPES
_ACTION_ONEHOT = np.eye(N_ACTIONS + 1, N_ACTIONS, dtype=np.float32)
_CELL_FEATURES = np.concatenate(
    [
        np.eye(GRID + 1, GRID, dtype=np.float32)[_CELL_XY[:, 0]],
        np.eye(GRID + 1, GRID, dtype=np.float32)[_CELL_XY[:, 1]],
        _CELL_XY / GRID,
    ],
    axis=1,
).astype(np.float32)
_CELL_FEATURES[TRASH] = 0
# Scripted walking: bit j of a "move set" stands for move action _BIT_ACTION[j]; moves by two
# take the low bits so that the lowest set bit (_FIRST_MOVE) prefers them.
_BIT_ACTION = np.array([5, 6, 7, 8, 1, 2, 3, 4])
_MOVE_BIT = np.zeros(len(MOVE_DELTAS), np.uint8)
_MOVE_BIT[_BIT_ACTION - 1] = 1 << np.arange(8)
_FIRST_MOVE = np.array(
    [STAY] + [_BIT_ACTION[(m & -m).bit_length() - 1] for m in range(1, 256)], np.uint8
)


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
ENV_CONFIG_DEFAULTS: dict[str, Any] = {
    "scenario": "7a_7b",
    "teams": "random",
    "obs_layout": "entity",
    "allocation_interval": 5,
    "num_envs": None,
    "render_mode": None,
    "seed": None,
}


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
    padded entities sit on an extra ``TRASH`` cell that is always occupied.
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
        )
        self.single_action_space = team_action_space(n_agents=N, n_actions=N_ACTIONS, n_subtasks=M)
        self.subtask_type = np.repeat([FIREFIGHT, REPAIR], K)
        self.subtask_action_mask = SUBTASK_MASKS[self.subtask_type]
        self._rows = np.arange(B)[:, None]
        self._agents = np.arange(N)
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
        # constant parts of the observation (read-only, shared between steps)
        self._constant = {
            "subtask_type": np.broadcast_to(self.subtask_type, (B, M)),
            "subtask_action_mask": np.broadcast_to(
                self.subtask_action_mask.astype(np.float32), (B, M, N_ACTIONS)
            ),
            "agent_unit": np.broadcast_to(np.arange(N), (B, N)),
        }

    # --- episode start -----------------------------------------------------------------------
    def reset(self, which: np.ndarray, seed: int | None = None) -> None:
        """Sample new cities where ``which`` is True (see ``specs/city.md``, World)."""
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
        self.distance[rows], self.closer[rows] = self._walking_distance(
            self.adjacent[rows], building_cell
        )
        self.last_decision[rows] = 0
        self._refresh(rows, new_episode=True)

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
        distance, closer = self._walking_distance(
            self.adjacent[index][None], self.building_cell[index][None]
        )
        self.distance[index], self.closer[index] = distance[0], closer[0]
        self._refresh(np.array([index]), new_episode=True)

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

    def _walking_distance(
        self, adjacent: np.ndarray, building_cell: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(R, cells + trash, K): shortest walk (moves of one cell, around buildings) from each
        cell to a cell touching building k — breadth-first search as repeated relaxation — and
        the set of moves that lead closer (a bit set, see ``_MOVE_BIT``)."""
        R, K = building_cell.shape
        blocked = np.zeros((R, TRASH + 1), bool)
        blocked[np.arange(R)[:, None], building_cell] = True
        blocked = blocked[:, None, :TRASH].reshape(R, 1, GRID, GRID)
        far = FAR
        dist = np.where(adjacent[:, None, :TRASH] == np.arange(K)[:, None], 0.0, far)
        dist = dist.reshape(R, K, GRID, GRID)
        while True:
            step = dist.copy()
            np.minimum(step[..., 1:, :], dist[..., :-1, :] + 1, out=step[..., 1:, :])
            np.minimum(step[..., :-1, :], dist[..., 1:, :] + 1, out=step[..., :-1, :])
            np.minimum(step[..., :, 1:], step[..., :, :-1] + 1, out=step[..., :, 1:])
            np.minimum(step[..., :, :-1], step[..., :, 1:] + 1, out=step[..., :, :-1])
            step = np.where(blocked, far, step)
            if np.array_equal(step, dist):
                break
            dist = step
        dist = np.concatenate([dist.reshape(R, K, TRASH), np.full((R, K, 1), far)], axis=2)
        dist = dist.transpose(0, 2, 1).astype(np.int16)
        closer = dist[:, _MOVE_TARGET] < dist[:, :, None, :]  # (R, cells, 8, K)
        return dist, np.bitwise_or.reduce(closer * _MOVE_BIT[:, None], axis=2).astype(np.uint8)

    # --- transition ----------------------------------------------------------------------------
    def step(
        self, action: dict[str, np.ndarray], which: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Advance the cities where ``which`` is True (``specs/city.md``, building dynamics)."""
        B, N, K = self.num_envs, self.n_agents, self.n_buildings
        act, allocation = self._validated(action, which)
        rows = slice(None) if which.all() else np.flatnonzero(which)
        decide = which & self.decide
        self.allocation[decide] = allocation[decide]
        self.last_decision[decide] = self.t[decide]

        act = act[rows]
        kind = self.agent_type[rows]
        cell = self.agent_cell[rows]
        R = len(kind)
        fire0, health0 = self.fire[rows].copy(), self.health[rows].copy()
        live = self.building_mask[rows] & ~self.complete[rows] & ~self.burned[rows]

        # who works on which building: per-building sums of the agents' contributions
        target = self.adjacent[rows][np.arange(R)[:, None], cell]
        touching = (target[:, None, :] == np.arange(K)[:, None]).astype(float)  # (R, K, N)
        sums = touching @ CONTRIBUTION[kind, act]  # (R, K, 8)
        ext_power, n_ext, b_ext, g_ext, build_power, f_build, g_build, frozen = np.moveaxis(
            sums, -1, 0
        )

        # fire: extinguished (with the builder + generalist bonus) or growing
        fought = n_ext > 0
        reduction = REDUCE * ext_power + HELP * REDUCE * ((b_ext > 0) & (g_ext > 0))
        fire = np.where(fought, np.maximum(fire0 - reduction, 0.0), np.minimum(GROWTH * fire0, 1.0))
        extinguished = live & fought & (fire0 > 0) & (fire == 0)
        # health: building (with the firefighter + generalist bonus), burning unless frozen
        burn_rate = np.where(self.fast[rows], FAST_BURN_RATE, SLOW_BURN_RATE)
        gain = BUILD * build_power + HELP * BUILD * ((f_build > 0) & (g_build > 0))
        loss = np.where(frozen > 0, 0.0, fire * burn_rate * BURN)
        health = np.where(live, np.clip(health0 + gain - loss, 0.0, 1.0), health0)
        completed = live & (health >= 1.0)
        burned = live & (health <= 0.0)
        fire = np.where(live & ~completed & ~burned, fire, 0.0)
        # re-ignition countdown, running while neither complete nor burned down
        still = live & ~completed & ~burned
        countdown = self.countdown[rows] - still
        ignite = still & (countdown <= 0)
        fire = np.where(ignite, 1.0, fire)
        countdown = np.where(ignite, self.period[rows], countdown)

        # moves, simultaneous; when several agents reach one cell, a random one stays there
        moving = (act >= 1) & (act <= len(MOVE_DELTAS))
        dest = np.where(moving, _MOVE_TARGET[cell, np.clip(act - 1, 0, 7)], cell)
        priority = self.rng.random((R, N))
        same = (dest[:, :, None] == dest[:, None, :]) & moving[:, None, :] & moving[:, :, None]
        bumped = (same & (priority[:, None, :] > priority[:, :, None])).any(-1)
        self.agent_cell[rows] = np.where(bumped, cell, dest)

        self.fire[rows], self.health[rows], self.countdown[rows] = fire, health, countdown
        self.complete[rows] |= completed
        self.burned[rows] |= burned
        self.last_action[rows] = act
        self.t[rows] += 1

        # rewards, end of episode
        per_building = 10 * (health - health0) - 20 * burned + 0.5 * extinguished
        finished = self.complete[rows] | self.burned[rows] | ~self.building_mask[rows]
        terminated_r = finished.all(1)
        solved = terminated_r & (self.complete[rows] | ~self.building_mask[rows]).all(1)
        reward_r = (per_building + completed).sum(1) + COMPLETION_BONUS * solved
        subtask_r = per_building + COMPLETION_BONUS * completed
        was_fire = (fire0 > 0)[..., None] == np.array([True, False])  # (R, K, 2)
        subtask_r = (subtask_r[..., None] * was_fire).transpose(0, 2, 1).reshape(R, 2 * K)

        reward, terminated, truncated = np.zeros(B), np.zeros(B, bool), np.zeros(B, bool)
        reward[rows] = self.scale * reward_r
        terminated[rows] = terminated_r
        truncated[rows] = ~terminated_r & (self.t[rows] >= MAX_STEPS)
        self.ended |= terminated | truncated
        subtask_reward = np.zeros((B, 2 * K))
        subtask_reward[rows] = self.scale * subtask_r
        n_real = self.building_mask.sum(1)
        done = terminated | truncated
        infos = {
            "subtask_reward": subtask_reward,
            "success": terminated & (self.complete.sum(1) == n_real),
            "_success": done,
            "fraction_completed": self.complete.sum(1) / np.maximum(n_real, 1),
            "_fraction_completed": done,
        }
        self._refresh(np.arange(B)[rows])
        return reward, terminated, truncated, infos

    def _validated(
        self, action: dict[str, np.ndarray], which: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The (B, N) actions and allocations, checked against the masks and active subtasks."""
        B, N, M = self.num_envs, self.n_agents, self.n_subtasks
        missing = {"action", "allocation"} - set(action)
        if missing:
            raise ValueError(f"action dict needs keys 'allocation' and 'action'; missing {missing}")
        act = np.asarray(action["action"])
        allocation = np.asarray(action["allocation"])
        if allocation.shape != (B, N):
            raise ValueError(f"allocation must have shape {(B, N)}, got {allocation.shape}")
        if (which & self.ended).any():
            b = int(np.flatnonzero(which & self.ended)[0])
            raise ValueError(f"city {b} has no episode running: reset it before stepping")
        check_actions(act, self.avail, self.agent_mask & which[:, None], self.agent_names)
        deciding = self.agent_mask & (which & self.decide)[:, None]
        in_range = (allocation >= 0) & (allocation < M)
        ok = in_range & np.take_along_axis(self.active, np.clip(allocation, 0, M - 1), axis=1)
        bad = deciding & ~ok
        if bad.any():
            b, i = np.argwhere(bad)[0]
            m = int(allocation[b, i])
            name = self.subtask_names[m] if 0 <= m < M else "out of range"
            active = [self.subtask_names[j] for j in np.flatnonzero(self.active[b])]
            raise ValueError(
                f"agent {self.agent_names[i]!r} (env {b}) was allocated to subtask {m} "
                f"({name}), which is not active; active subtasks: {active}"
            )
        return act.astype(np.int64), np.where(self.agent_mask, allocation, 0).astype(np.int64)

    def _refresh(self, rows: np.ndarray, new_episode: bool = False) -> None:
        """Recompute the available actions, the tree's active subtasks and the decision flag."""
        R = len(rows)
        cell = self.agent_cell[rows]
        agents = self.agent_mask[rows]
        # occupancy: buildings, agents, and the always-occupied trash cell
        occupied = np.zeros((R, TRASH + 1), bool)
        occupied[np.arange(R)[:, None], self.building_cell[rows]] = True
        occupied[np.arange(R)[:, None], cell] = True
        occupied[:, TRASH] = True
        targets = _MOVE_TARGET[cell]  # (R, N, 8)
        free = ~occupied[np.arange(R)[:, None, None], targets]
        generalist = self.agent_type[rows] == GENERALIST
        avail = np.zeros((R, self.n_agents, N_ACTIONS), bool)
        avail[..., STAY] = True
        avail[..., 1:5] = free[..., :4] & agents[..., None]
        avail[..., 5:9] = free[..., :4] & free[..., 4:] & (generalist & agents)[..., None]
        target = self.adjacent[rows][np.arange(R)[:, None], cell]
        touching = (target >= 0) & agents
        fire = np.take_along_axis(self.fire[rows], np.maximum(target, 0), axis=1)
        intact = ~np.take_along_axis(
            self.complete[rows] | self.burned[rows], np.maximum(target, 0), axis=1
        )
        avail[..., EXTINGUISH] = touching & (fire > 0)
        avail[..., BUILD_ACTION] = touching & (fire == 0) & intact
        avail[..., FREEZE] = touching & (fire > 0) & generalist
        self.avail[rows] = avail
        self.avail_moves[rows] = np.bitwise_or.reduce(avail[..., 1:9] * _MOVE_BIT, axis=-1)

        # the tree is a pure function of its conditions: tick only where they changed
        live = self.building_mask[rows] & ~self.complete[rows] & ~self.burned[rows]
        on_fire = live & (self.fire[rows] > 0)
        conditions = np.concatenate([on_fire, live & ~on_fire], axis=1)
        stale = (conditions != self.conditions[rows]).any(1)
        active = self.active[rows]
        if stale.any():
            on_fire, needs_repair = np.split(conditions[stale], 2, axis=1)
            ticked = {"on_fire": on_fire, "needs_repair": needs_repair}
            active[stale] = self.tree.tick(ticked, int(stale.sum())).active
            self.conditions[rows[stale]] = conditions[stale]
        if self.allocation_interval:
            changed = (active != self.active[rows]).any(1)
            due = self.t[rows] - self.last_decision[rows] >= self.allocation_interval
            self.decide[rows] = new_episode | changed | due
        else:  # a static allocation (S-AC) is chosen once, at reset
            self.decide[rows] = new_episode
        self.active[rows] = active

    # --- observation ---------------------------------------------------------------------------
    def entity_features(self, out: np.ndarray | None = None) -> np.ndarray:
        """(B, E, F) features of the agents (first N rows) then the buildings (ALMA's layout),
        written into ``out`` (zeros of that shape) when given."""
        B, N, K = self.num_envs, self.n_agents, self.n_buildings
        ent = np.zeros((B, N + K, N_FEATURES), np.float32) if out is None else out
        agent_kind = np.where(self.agent_mask, self.agent_type, PAD_TYPE)
        building_kind = np.where(self.building_mask, np.where(self.fast, 3, 4), PAD_TYPE)
        ent[:, :N, F_TYPE:F_X] = _TYPE_ONEHOT[agent_kind]
        ent[:, N:, F_TYPE:F_X] = _TYPE_ONEHOT[building_kind]
        ent[:, :N, F_X:F_AVAIL] = _CELL_FEATURES[self.agent_cell]
        ent[:, N:, F_X:F_AVAIL] = _CELL_FEATURES[self.building_cell]
        ent[:, :N, F_AVAIL:F_BUILDING] = self.avail & self.agent_mask[..., None]
        ent[:, N:, F_BUILDING:F_LAST] = self._building_features()
        last = np.where(self.agent_mask, self.last_action, N_ACTIONS)
        ent[:, :N, F_LAST:] = _ACTION_ONEHOT[last]
        return ent

    def _building_features(self) -> np.ndarray:
        """(B, K, 7): health, complete, burned, fire, on fire, time since fire/period, 1/period."""
        period = self.period.astype(np.float32)
        features = np.stack(
            [
                self.health,
                self.complete,
                self.burned,
                self.fire,
                self.fire > 0,
                (period - self.countdown) / period,
                1.0 / period,
            ],
            axis=-1,
        )
        return features * self.building_mask[..., None]

    def observe(self) -> dict[str, np.ndarray]:
        """The team observation of every city (keys of ``team.team_observation_space``)."""
        B, N, E = self.num_envs, self.n_agents, self.n_entities
        # the state is every entity's features and the time; the entities are a view into it
        state = np.zeros((B, E * N_FEATURES + 1), np.float32)
        ent = self.entity_features(out=state[:, :-1].reshape(B, E, N_FEATURES))
        state[:, -1] = self.t / MAX_STEPS
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
            "subtask_status": self._subtask_status(ent),
            "subtask_active": self.active.astype(np.float32),
            "allocation": self.allocation.copy(),
            "decide": self.decide[:, None].astype(np.float32),
            "rule_allocation": self.rule_allocation(),
            "rule_action": self.rule_action(),
            **self._constant,
        }
        if self.obs_layout == "entity":
            obs["entities"] = ent
            obs["entity_mask"] = np.concatenate(
                [self.agent_mask, self.building_mask], axis=1
            ).astype(np.float32)
        return obs

    def _subtask_status(self, ent: np.ndarray) -> np.ndarray:
        """(B, M, STATUS_DIM): the building's type, position and features (taken from the
        entity features ``ent``), plus the count of agents allocated to the subtask."""
        B, N, M = self.num_envs, self.n_agents, self.n_subtasks
        buildings = ent[:, N:]
        status = np.empty((B, M, STATUS_DIM), np.float32)
        status[..., 0:2] = np.tile(buildings[..., 3:5], (1, 2, 1))  # fast-, slow-burning
        status[..., 2:4] = np.tile(buildings[..., F_POS : F_POS + 2], (1, 2, 1))
        status[..., 4:-1] = np.tile(buildings[..., F_BUILDING:F_LAST], (1, 2, 1))
        slot = (self._rows * M + self.allocation)[self.agent_mask]
        status[..., -1] = np.bincount(slot, minlength=B * M).reshape(B, M)
        return status

    # --- scripted behaviour ----------------------------------------------------------------------
    def _agent_distance(self) -> np.ndarray:
        """(B, N, K) walking distance from each agent to a cell touching each building."""
        return self.distance[self._rows, self.agent_cell]

    def rule_allocation(self) -> np.ndarray:
        """(B, N) each agent's nearest active subtask that suits its type: firefighters fight
        fires, builders repair, generalists help at the nearest fire, else repair. An agent with
        no suitable active subtask takes the nearest active one."""
        distance = self._agent_distance()
        distance = np.concatenate([distance, distance], axis=2)  # (B, N, M), int16
        unsuited = (self.agent_type == BUILDER)[..., None] == (self.subtask_type == FIREFIGHT)
        cost = np.where(self.active[:, None, :], distance + FAR * unsuited, 4 * FAR)
        return np.where(self.agent_mask, cost.argmin(-1), 0)

    def rule_action(self) -> np.ndarray:
        """(B, N, M) the scripted action of each agent inside each subtask: walk to the
        building (an available move that shortens the walk, moves by two first), then act on
        it — extinguish (firefight; freeze for generalists) or build (repair) — or stay when the
        work action is unavailable."""
        touching = self._agent_distance() == 0  # (B, N, K)
        moves = self.closer[self._rows, self.agent_cell] & self.avail_moves[..., None]
        walk = _FIRST_MOVE[moves]
        fight = np.where(self.agent_type == GENERALIST, FREEZE, EXTINGUISH)  # (B, N)
        fight = np.where(self.avail[self._rows, self._agents, fight], fight, STAY).astype(np.uint8)
        build = np.where(self.avail[..., BUILD_ACTION], BUILD_ACTION, STAY).astype(np.uint8)
        return np.concatenate(
            [
                np.where(touching, fight[..., None], walk),
                np.where(touching, build[..., None], walk),
            ],
            axis=2,
        ).astype(np.int64)

    # --- rendering -------------------------------------------------------------------------------
    def render(self, index: int = 0, allocation_lines: bool = True) -> np.ndarray:
        """An RGB frame of city ``index``: buildings (health bar, fire, green when complete,
        black when burned down), agents by type (red firefighter, blue builder, purple
        generalist), and optionally a line from each agent to its allocated building."""
        cell = 32
        image = rendering.grid_canvas(GRID, cell, (235, 235, 228), (205, 205, 198))
        for k in np.flatnonzero(self.building_mask[index]):
            x, y = _CELL_XY[self.building_cell[index, k]]
            if self.burned[index, k]:
                rendering.fill_cell(image, x, y, cell, (30, 30, 30), inset=1)
                continue
            rendering.fill_cell(image, x, y, cell, (150, 150, 150), inset=1)
            color = (40, 170, 60) if self.complete[index, k] else (90, 120, 200)
            rendering.fill_cell(image, x, y, cell, color, inset=1, fraction=self.health[index, k])
            if self.fire[index, k] > 0:
                inset = int(cell * (0.5 - 0.35 * self.fire[index, k]))
                rendering.fill_cell(image, x, y, cell, (245, 120, 20), inset=max(inset, 2))
        colors = ((220, 40, 40), (40, 80, 230), (150, 60, 190))
        for i in np.flatnonzero(self.agent_mask[index]):
            xy = tuple(_CELL_XY[self.agent_cell[index, i]])
            if allocation_lines:
                k = self.allocation[index, i] % self.n_buildings
                end = tuple(_CELL_XY[self.building_cell[index, k]])
                rendering.draw_line(image, xy, end, cell, colors[self.agent_type[index, i]])
        for i in np.flatnonzero(self.agent_mask[index]):
            x, y = _CELL_XY[self.agent_cell[index, i]]
            rendering.draw_disc(image, x, y, cell, colors[self.agent_type[index, i]], 0.35)
        return image


# --- Team view for RLlib -----------------------------------------------------------------------
def _core_from_config(config: dict[str, Any], num_envs: int) -> CityCore:
    check_env_config_keys("city", config, ENV_CONFIG_DEFAULTS)
    cfg = {**ENV_CONFIG_DEFAULTS, **config}
    render_mode = cfg["render_mode"]
    check_choice("render_mode", render_mode, (None, *CityParallelEnv.metadata["render_modes"]))
    return CityCore(
        num_envs=num_envs,
        scenario=cfg["scenario"],
        teams=cfg["teams"],
        obs_layout=cfg["obs_layout"],
        allocation_interval=cfg["allocation_interval"],
        seed=cfg["seed"],
    )


def make_team_env(config: dict[str, Any] | None = None) -> gym.Env | gym.vector.VectorEnv:
    """The team view of the city task (registered as ``maaal/city``).

    ``config`` keys (all optional): ``scenario`` (see ``SCENARIOS``), ``teams`` ("random" or
    "fixed" F, B, G cycling), ``obs_layout`` ("entity" or "flat"), ``allocation_interval``,
    ``seed``, ``render_mode``, and ``num_envs`` (RLlib's vector entry point: a ``VectorEnv``).
    """
    config = dict(config or {})
    num_envs = config.get("num_envs")
    core = _core_from_config(config, 1 if num_envs is None else num_envs)
    return team_env(core, batched=num_envs is not None, render_mode=config.get("render_mode"))


# --- PettingZoo ------------------------------------------------------------------------------
class CityParallelEnv(ParallelEnv):
    """One city with PettingZoo's parallel API.

    Observations are dicts ``{"observation": own features + every entity's (flat layout),
    "action_mask": int8 (12,)}`` (PettingZoo's masking convention); every agent receives the team
    reward. An unavailable action is carried out as ``stay`` (so that unmasked random sampling,
    e.g. ``parallel_seed_test``, stays valid); ``invalid_action="raise"`` makes it an error.
    Agents are named ``agent_i``; their types are in ``infos[agent]["type"]``.
    """

    metadata = {
        "name": "savethecity_v0",
        "render_modes": ["human", "rgb_array"],
        "is_parallelizable": True,
        "render_fps": 5,
    }

    def __init__(
        self,
        scenario: str = "7a_7b",
        teams: str = "fixed",
        render_mode: str | None = None,
        invalid_action: str = "stay",
    ) -> None:
        self.core = CityCore(1, scenario=scenario, teams=teams)
        self.render_mode = check_choice(
            "render_mode", render_mode, (None, *self.metadata["render_modes"])
        )
        self.invalid_action = check_choice("invalid_action", invalid_action, ("stay", "raise"))
        self.possible_agents = list(self.core.agent_names)
        self.agents: list[str] = []
        dim = N_FEATURES * (1 + self.core.n_entities)
        self._observation_space = spaces.Dict(
            {
                "observation": spaces.Box(-np.inf, np.inf, (dim,), np.float32),
                "action_mask": spaces.Box(0, 1, (N_ACTIONS,), np.int8),
            }
        )
        self._action_space = spaces.Discrete(N_ACTIONS)
        self._figure = None

    def observation_space(self, agent: str) -> spaces.Space:
        return self._observation_space

    def action_space(self, agent: str) -> spaces.Space:
        return self._action_space

    def reset(self, seed: int | None = None, options: dict | None = None):
        self.core.reset(np.ones(1, bool), seed)
        self.agents = [
            a for a, m in zip(self.possible_agents, self.core.agent_mask[0], strict=True) if m
        ]
        return self._observations(), self._infos()

    def step(self, actions: dict[str, int]):
        unknown = set(actions) - set(self.agents)
        if unknown:
            raise ValueError(f"actions for agents not in the episode: {sorted(unknown)}")
        joint = np.zeros((1, self.core.n_agents), np.int64)
        for i, agent in enumerate(self.agents):
            joint[0, i] = actions.get(agent, STAY)
        if ((joint < 0) | (joint >= N_ACTIONS)).any():
            raise ValueError(f"actions must lie in [0, {N_ACTIONS}), got {actions}")
        available = np.take_along_axis(self.core.avail[0], joint[0, :, None], 1)[:, 0]
        if self.invalid_action == "raise":
            check_actions(joint, self.core.avail, self.core.agent_mask, self.core.agent_names)
        joint[0] = np.where(available, joint[0], STAY)
        allocation = {"allocation": self.core.rule_allocation(), "action": joint}
        reward, terminated, truncated, infos = self.core.step(allocation, np.ones(1, bool))
        agents = self.agents
        observations, agent_infos = self._observations(), self._infos()
        for agent in agents:
            agent_infos[agent]["success"] = bool(infos["success"][0])
            agent_infos[agent]["fraction_completed"] = float(infos["fraction_completed"][0])
        rewards = dict.fromkeys(agents, float(reward[0]))
        terms = dict.fromkeys(agents, bool(terminated[0]))
        truncs = dict.fromkeys(agents, bool(truncated[0]))
        if terminated[0] or truncated[0]:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return observations, rewards, terms, truncs, agent_infos

    def heuristic_actions(self) -> dict[str, int]:
        """The scripted team's actions in the current state: each agent's rule action inside
        its rule-allocated subtask (re-allocated every step here)."""
        allocation = self.core.rule_allocation()[0]
        rule = self.core.rule_action()[0]
        return {agent: int(rule[i, allocation[i]]) for i, agent in enumerate(self.agents)}

    def _observations(self) -> dict[str, dict[str, np.ndarray]]:
        ent = self.core.entity_features()[0]
        flat = ent.reshape(-1)
        mask = self.core.avail[0].astype(np.int8)
        return {
            agent: {"observation": np.concatenate([ent[i], flat]), "action_mask": mask[i]}
            for i, agent in enumerate(self.agents)
        }

    def _infos(self) -> dict[str, dict[str, Any]]:
        types = self.core.agent_type[0]
        return {agent: {"type": AGENT_TYPES[types[i]]} for i, agent in enumerate(self.agents)}

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array'")
            return None
        frame = self.core.render(0)
        if self.render_mode == "rgb_array":
            return frame
        import matplotlib.pyplot as plt

        if self._figure is None:
            self._figure = plt.imshow(frame)
            plt.axis("off")
        else:
            self._figure.set_data(frame)
        plt.pause(1 / self.metadata["render_fps"])
        return None

    def close(self) -> None:
        if self._figure is not None:
            import matplotlib.pyplot as plt

            plt.close(self._figure.figure)
            self._figure = None


def parallel_env(**kwargs: Any) -> CityParallelEnv:
    """PettingZoo parallel env of one city (``scenario``, ``teams``, ``render_mode``, ...)."""
    return CityParallelEnv(**kwargs)


def env(**kwargs: Any):
    """PettingZoo AEC env of one city (the parallel env through ``parallel_to_aec``)."""
    return parallel_to_aec(parallel_env(**kwargs))


def heuristic_policy(observation: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The scripted team: rule allocation and, inside each agent's subtask, the rule action.

    Takes a team observation (batched (B, ...) or single) and returns the matching team action.
    With ``allocation`` kept from the env between decisions, this is the Fixed-BT controller.
    """
    allocation = np.where(
        observation["decide"][..., :1] > 0,
        observation["rule_allocation"],
        observation["allocation"],
    )
    action = np.take_along_axis(observation["rule_action"], allocation[..., None], -1)[..., 0]
    return {"allocation": allocation, "action": action}
