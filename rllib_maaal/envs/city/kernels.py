"""The per-step rules of SAVETHECITY (``docs/tasks.md``), compiled with numba.

:class:`~rllib_maaal.envs.city.CityCore` keeps the state of B cities in NumPy arrays over
cities × agents and cities × buildings. Written as NumPy expressions over those arrays, a step
cost about 250 NumPy calls of 1–4 µs each whatever B, so one city stepped at half the published
environment's speed and batches of hundreds were still bound by call overhead. The kernels here
loop over cities, agents and buildings in compiled machine code (``numba.njit``), not in Python:
one call steps every city, reading and writing the core's arrays in place.

The kernels take the cities' arrays as one :class:`CityState` (a numba ``structref`` holding the
core's own arrays, not copies) instead of a long list of positional arrays, in which two
same-dtype arrays swapped would fail silently; a structref is also cheaper to pass into a kernel
than the arrays one by one or a ``NamedTuple`` of them (``benchmarks/city_env.py``).

Random numbers are not drawn here: the core draws them with its ``np.random.Generator`` and
passes them in, so a seed gives the same episodes as before. ``cache=True`` keeps the machine
code on disk (next to this file, or under ``NUMBA_CACHE_DIR``): only the first use with an empty
cache compiles (about 8 s), later processes load it (well under a second).

Positions are flat cell indices ``x·16 + y``. Padded entities (scenarios with fewer agents than
their maximum) sit on an extra ``TRASH`` cell that is always occupied.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.core import types
from numba.experimental import structref

# --- World constants (docs/tasks.md) --------------------------------------------------------
GRID = 16
MAX_STEPS = 150
BURN, REDUCE, GROWTH, BUILD, HELP = 0.035, 0.25, 1.1, 0.125, 0.45
FAST_BURN_RATE, SLOW_BURN_RATE = 1.0, 0.5
COMPLETION_BONUS = 20.0

# --- Agents and actions ----------------------------------------------------------------------
FIREFIGHTER, BUILDER, GENERALIST = 0, 1, 2
FIRE_SPEED = np.array([1.0, 0.05, 0.0])
BUILD_SPEED = np.array([0.05, 1.0, 0.0])
STAY, EXTINGUISH, BUILD_ACTION, FREEZE = 0, 9, 10, 11
N_ACTIONS = 12
# (dx, dy) of the 8 move actions 1..8: N/E/S/W by one, then by two (generalists). y points north.
MOVE_DELTAS = np.array([(0, 1), (1, 0), (0, -1), (-1, 0)] * 2) * np.repeat([1, 2], 4)[:, None]
N_MOVES = len(MOVE_DELTAS)

# --- Entity features (ALMA's layout) ---------------------------------------------------------
# one-hot type (3 agent types, fast-burn, slow-burn building), one-hot x, one-hot y, x/16, y/16,
# available actions (agents), building features, last action one-hot (agents).
N_ENTITY_TYPES = 5
FAST_TYPE, SLOW_TYPE = 3, 4
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

# --- Grid tables -----------------------------------------------------------------------------
TRASH = GRID * GRID  # an extra, always-occupied cell: off-grid targets and padded entities
FAR = 4 * GRID * GRID  # walking distance standing for "unreachable"
CELL_XY = np.stack(np.divmod(np.arange(TRASH + 1), GRID), axis=1)  # (cells + trash, 2)


def _move_targets() -> np.ndarray:
    """(cells + trash, 8): the cell each move action leads to (TRASH when off the grid)."""
    xy = CELL_XY[:, None, :] + MOVE_DELTAS[None]
    inside = ((xy >= 0) & (xy < GRID)).all(-1)
    inside[TRASH] = False
    return np.where(inside, xy[..., 0] * GRID + xy[..., 1], TRASH)


MOVE_TARGET = _move_targets()
# Scripted walking: bit j of a "move set" stands for move action _BIT_ACTION[j]; moves by two
# take the low bits so that the lowest set bit (FIRST_MOVE) prefers them.
_BIT_ACTION = np.array([5, 6, 7, 8, 1, 2, 3, 4])
MOVE_BIT = np.zeros(N_MOVES, np.uint8)
MOVE_BIT[_BIT_ACTION - 1] = 1 << np.arange(N_MOVES)
FIRST_MOVE = np.array(
    [STAY] + [_BIT_ACTION[(m & -m).bit_length() - 1] for m in range(1, 256)], np.int64
)


# --- The state of B cities -------------------------------------------------------------------
#: Every array of :class:`CityState` with the numba type it is compiled for: (B, N) over agents,
#: (B, K) over buildings, (B,) over cities, (B, cells + trash, ...) over cells, M = 2K subtasks.
STATE_FIELDS: dict[str, types.Type] = {
    # agents
    "agent_mask": types.bool_[:, ::1],  # present (scenarios with fewer agents pad)
    "agent_type": types.int64[:, ::1],  # FIREFIGHTER, BUILDER or GENERALIST
    "agent_cell": types.int64[:, ::1],
    "last_action": types.int64[:, ::1],
    "allocation": types.int64[:, ::1],  # the allocation in force
    "avail": types.bool_[:, :, ::1],  # (B, N, N_ACTIONS) available actions
    "avail_moves": types.uint8[:, ::1],  # the available moves as a move set
    # buildings
    "building_mask": types.bool_[:, ::1],
    "building_cell": types.int64[:, ::1],
    "fast": types.bool_[:, ::1],  # fast-burning
    "period": types.int64[:, ::1],  # re-ignition period
    "countdown": types.int64[:, ::1],  # steps to the next re-ignition
    "health": types.float64[:, ::1],
    "fire": types.float64[:, ::1],
    "complete": types.bool_[:, ::1],
    "burned": types.bool_[:, ::1],
    # cities
    "t": types.int64[::1],
    "last_decision": types.int64[::1],  # t of the last allocation decision
    "decide": types.bool_[::1],  # a new allocation is due
    "ended": types.bool_[::1],  # episode over (or never started)
    "stale": types.bool_[::1],  # scratch of ``refresh``: the tree's conditions changed
    "active": types.bool_[:, ::1],  # (B, M) subtasks the behaviour tree ticks
    "conditions": types.bool_[:, ::1],  # (B, 2K) the tree's inputs when last ticked
    # cells
    "adjacent": types.int64[:, ::1],  # the building each cell touches, or -1
    "distance": types.int16[:, :, ::1],  # (B, cells + trash, K) walk from a cell to touch k
    "closer": types.uint8[:, :, ::1],  # (B, cells + trash, K) moves bringing a cell closer
    # constants of the scenario
    "scale": types.float64,  # reward scale
    "allocation_interval": types.int64,  # steps between decisions (0: at reset only)
}


@structref.register
class _CityStateType(types.StructRef):
    pass


class CityState(structref.StructRefProxy):
    """The arrays of B cities as the kernels take them (fields: ``STATE_FIELDS``).

    Build it with :func:`city_state`; it refers to the given arrays, so the caller keeps working
    on them with NumPy and the kernels see every in-place change (and vice versa).
    """


structref.define_boxing(_CityStateType, CityState)
_STATE_TYPE = _CityStateType(list(STATE_FIELDS.items()))


def city_state(arrays: dict[str, np.ndarray | float | int]) -> CityState:
    """The :class:`CityState` of ``arrays`` (a value for every name of ``STATE_FIELDS``).

    Raises a ``ValueError`` naming the first missing, extra or mistyped array (the kernels would
    otherwise be compiled anew for it, or fail to compile far from the cause)."""
    missing, extra = set(STATE_FIELDS) - set(arrays), set(arrays) - set(STATE_FIELDS)
    if missing or extra:
        raise ValueError(
            f"city state needs {sorted(STATE_FIELDS)}; missing {sorted(missing)}, "
            f"unknown {sorted(extra)}"
        )
    for name, expected in STATE_FIELDS.items():
        if isinstance(expected, types.Array):
            value = arrays[name]
            if numba.typeof(value) != expected:
                raise ValueError(
                    f"city state array {name!r} must be {expected}; got {numba.typeof(value)}"
                )
    return _new_state(**arrays)


@numba.njit(cache=True)
def _new_state(
    agent_mask, agent_type, agent_cell, last_action, allocation, avail, avail_moves,
    building_mask, building_cell, fast, period, countdown, health, fire, complete, burned,
    t, last_decision, decide, ended, stale, active, conditions, adjacent, distance, closer,
    scale, allocation_interval,
):  # fmt: skip
    """A CityState of these arrays (numba sets a structref's fields one by one)."""
    s = structref.new(_STATE_TYPE)
    s.agent_mask = agent_mask
    s.agent_type = agent_type
    s.agent_cell = agent_cell
    s.last_action = last_action
    s.allocation = allocation
    s.avail = avail
    s.avail_moves = avail_moves
    s.building_mask = building_mask
    s.building_cell = building_cell
    s.fast = fast
    s.period = period
    s.countdown = countdown
    s.health = health
    s.fire = fire
    s.complete = complete
    s.burned = burned
    s.t = t
    s.last_decision = last_decision
    s.decide = decide
    s.ended = ended
    s.stale = stale
    s.active = active
    s.conditions = conditions
    s.adjacent = adjacent
    s.distance = distance
    s.closer = closer
    s.scale = scale
    s.allocation_interval = allocation_interval
    return s


# --- Validation ------------------------------------------------------------------------------
@numba.njit(cache=True)
def first_invalid(
    s: CityState, which: np.ndarray, act: np.ndarray, allocation: np.ndarray
) -> tuple[int, int, int]:
    """Where the team action of the cities in ``which`` breaks the rules: ``(1, city, agent)``
    for the first present agent whose action is out of range or unavailable, else
    ``(2, city, agent)`` for the first whose allocation at a decision step is not an active
    subtask, else ``(0, 0, 0)``."""
    n_cities, n_agents = act.shape
    n_actions, n_subtasks = s.avail.shape[2], s.active.shape[1]
    for b in range(n_cities):
        for i in range(n_agents):
            a = act[b, i]
            if (
                which[b]
                and s.agent_mask[b, i]
                and not (a >= 0 and a < n_actions and s.avail[b, i, a])
            ):
                return 1, b, i
    for b in range(n_cities):
        for i in range(n_agents):
            m = allocation[b, i]
            if (
                which[b]
                and s.decide[b]
                and s.agent_mask[b, i]
                and not (m >= 0 and m < n_subtasks and s.active[b, m])
            ):
                return 2, b, i
    return 0, 0, 0


# --- Transition ------------------------------------------------------------------------------
@numba.njit(cache=True)
def step(
    s: CityState, which: np.ndarray, act: np.ndarray, allocation: np.ndarray, priority: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Advance the cities where ``which`` (``docs/tasks.md``, one step), in place.

    ``allocation`` (B, N) is adopted where a decision is due. ``priority`` (cities stepped,
    agents) settles collisions: of the agents moving onto one
    cell, the highest priority gets there. Returns reward, terminated, truncated (B,), the
    per-subtask rewards (B, 2K: firefight then repair) and, for every city, success and the
    fractions of buildings completed and burned down.
    """
    agent_mask, agent_type, agent_cell = s.agent_mask, s.agent_type, s.agent_cell
    last_action = s.last_action
    building_mask, fast, period, countdown = s.building_mask, s.fast, s.period, s.countdown
    health, fire, complete, burned = s.health, s.fire, s.complete, s.burned
    adjacent, t, ended, scale = s.adjacent, s.t, s.ended, s.scale
    n_cities, n_agents = agent_cell.shape
    K = health.shape[1]
    reward = np.zeros(n_cities)
    terminated = np.zeros(n_cities, np.bool_)
    truncated = np.zeros(n_cities, np.bool_)
    subtask_reward = np.zeros((n_cities, 2 * K))
    success = np.zeros(n_cities, np.bool_)
    fraction_completed = np.zeros(n_cities)
    fraction_burned = np.zeros(n_cities)
    # per building, what the agents touching it do this step
    extinguish_power, build_power = np.empty(K), np.empty(K)
    fought, builder_fights, generalist_fights = np.empty((3, K), np.bool_)
    firefighter_builds, generalist_builds, frozen = np.empty((3, K), np.bool_)
    dest = np.empty(n_agents, np.int64)
    moving = np.empty(n_agents, np.bool_)
    r = -1  # row of ``priority``
    for b in range(n_cities):
        if not which[b]:
            continue
        r += 1
        if s.decide[b]:
            for i in range(n_agents):
                s.allocation[b, i] = allocation[b, i] if agent_mask[b, i] else 0
            s.last_decision[b] = t[b]

        extinguish_power[:] = 0.0
        build_power[:] = 0.0
        fought[:] = builder_fights[:] = generalist_fights[:] = False
        firefighter_builds[:] = generalist_builds[:] = frozen[:] = False
        for i in range(n_agents):
            k = adjacent[b, agent_cell[b, i]]
            if not agent_mask[b, i] or k < 0:
                continue
            kind, a = agent_type[b, i], act[b, i]
            if a == EXTINGUISH:
                extinguish_power[k] += FIRE_SPEED[kind]
                fought[k] = True
                builder_fights[k] |= kind == BUILDER
                generalist_fights[k] |= kind == GENERALIST
            elif a == BUILD_ACTION:
                build_power[k] += BUILD_SPEED[kind]
                firefighter_builds[k] |= kind == FIREFIGHTER
                generalist_builds[k] |= kind == GENERALIST
            elif a == FREEZE:  # available to generalists only (validated)
                frozen[k] = True

        total = 0.0
        for k in range(K):
            fire0, health0 = fire[b, k], health[b, k]
            live = building_mask[b, k] and not (complete[b, k] or burned[b, k])
            if fought[k]:
                helped = HELP * REDUCE if builder_fights[k] and generalist_fights[k] else 0.0
                new_fire = max(fire0 - (REDUCE * extinguish_power[k] + helped), 0.0)
            else:
                new_fire = min(GROWTH * fire0, 1.0)
            extinguished = live and fought[k] and fire0 > 0 and new_fire == 0
            new_health, completed, burned_now = health0, False, False
            if live:
                helped = HELP * BUILD if firefighter_builds[k] and generalist_builds[k] else 0.0
                rate = FAST_BURN_RATE if fast[b, k] else SLOW_BURN_RATE
                loss = 0.0 if frozen[k] else new_fire * rate * BURN
                new_health = min(max(health0 + (BUILD * build_power[k] + helped) - loss, 0.0), 1.0)
                completed, burned_now = new_health >= 1.0, new_health <= 0.0
            if live and not (completed or burned_now):
                # the re-ignition countdown runs while neither complete nor burned down
                countdown[b, k] -= 1
                if countdown[b, k] <= 0:
                    new_fire = 1.0
                    countdown[b, k] = period[b, k]
            else:
                new_fire = 0.0
            fire[b, k], health[b, k] = new_fire, new_health
            complete[b, k] |= completed
            burned[b, k] |= burned_now

            per_building = (
                10 * (new_health - health0)
                - (20.0 if burned_now else 0.0)
                + (0.5 if extinguished else 0.0)
            )
            total += per_building + (1.0 if completed else 0.0)
            # the subtask the building was in: firefight while it burned, else repair
            subtask = k if fire0 > 0 else K + k
            subtask_reward[b, subtask] = scale * (
                per_building + (COMPLETION_BONUS if completed else 0.0)
            )

        # simultaneous moves; of the agents reaching one cell, the highest priority stays there
        for i in range(n_agents):
            a = act[b, i]
            moving[i] = agent_mask[b, i] and a >= 1 and a <= N_MOVES
            dest[i] = MOVE_TARGET[agent_cell[b, i], a - 1] if moving[i] else agent_cell[b, i]
        for i in range(n_agents):
            bumped = False
            for j in range(n_agents):
                bumped |= moving[j] and dest[j] == dest[i] and priority[r, j] > priority[r, i]
            if moving[i] and not bumped:
                agent_cell[b, i] = dest[i]
            last_action[b, i] = act[b, i]
        t[b] += 1

        finished, solved = True, True
        for k in range(K):
            finished &= complete[b, k] or burned[b, k] or not building_mask[b, k]
            solved &= complete[b, k] or not building_mask[b, k]
        terminated[b] = finished
        truncated[b] = not finished and t[b] >= MAX_STEPS
        ended[b] |= terminated[b] or truncated[b]
        reward[b] = scale * (total + (COMPLETION_BONUS if finished and solved else 0.0))

    for b in range(n_cities):
        n_real, n_complete, n_burned = 0, 0, 0
        for k in range(K):
            n_real += building_mask[b, k]
            n_complete += complete[b, k]
            n_burned += burned[b, k] and building_mask[b, k]
        success[b] = terminated[b] and n_complete == n_real
        fraction_completed[b] = n_complete / max(n_real, 1)
        # where the rest went: burned down (lost for good: no success), else still standing
        fraction_burned[b] = n_burned / max(n_real, 1)
    return (
        reward,
        terminated,
        truncated,
        subtask_reward,
        success,
        fraction_completed,
        fraction_burned,
    )


@numba.njit(cache=True)
def refresh(s: CityState, which: np.ndarray, new_episode: bool) -> int:
    """Recompute, in the cities where ``which``: the available actions (and the available moves
    as a move set), the behaviour tree's conditions (on fire, needs repair), and the decision
    flag. ``s.stale`` marks the cities whose conditions changed; the caller ticks the tree there
    and adds "the active subtasks changed" to their decision flag. Returns how many are stale.
    """
    agent_mask, agent_type, agent_cell = s.agent_mask, s.agent_type, s.agent_cell
    building_mask, building_cell, adjacent = s.building_mask, s.building_cell, s.adjacent
    fire, complete, burned = s.fire, s.complete, s.burned
    avail, avail_moves, conditions, stale = s.avail, s.avail_moves, s.conditions, s.stale
    n_cities, n_agents = agent_cell.shape
    K = building_cell.shape[1]
    occupied_in = np.full(TRASH + 1, -1)  # the last city that marked the cell occupied
    n_stale = 0
    for b in range(n_cities):
        stale[b] = False
        if not which[b]:
            continue
        for k in range(K):
            occupied_in[building_cell[b, k]] = b
        for i in range(n_agents):
            occupied_in[agent_cell[b, i]] = b
        occupied_in[TRASH] = b
        for i in range(n_agents):
            avail[b, i, :] = False
            avail[b, i, STAY] = True
            moves = 0
            if agent_mask[b, i]:
                cell = agent_cell[b, i]
                generalist = agent_type[b, i] == GENERALIST
                for d in range(4):
                    one = occupied_in[MOVE_TARGET[cell, d]] != b
                    two = one and generalist and occupied_in[MOVE_TARGET[cell, 4 + d]] != b
                    avail[b, i, 1 + d], avail[b, i, 5 + d] = one, two
                    moves |= (MOVE_BIT[d] if one else 0) | (MOVE_BIT[4 + d] if two else 0)
                k = adjacent[b, cell]
                if k >= 0:
                    burning = fire[b, k] > 0
                    avail[b, i, EXTINGUISH] = burning
                    avail[b, i, FREEZE] = burning and generalist
                    avail[b, i, BUILD_ACTION] = not (burning or complete[b, k] or burned[b, k])
            avail_moves[b, i] = moves

        for k in range(K):
            live = building_mask[b, k] and not (complete[b, k] or burned[b, k])
            on_fire = live and fire[b, k] > 0
            needs_repair = live and not on_fire
            if conditions[b, k] != on_fire or conditions[b, K + k] != needs_repair:
                stale[b] = True
            conditions[b, k], conditions[b, K + k] = on_fire, needs_repair
        n_stale += stale[b]
        interval = s.allocation_interval
        due = interval > 0 and s.t[b] - s.last_decision[b] >= interval
        s.decide[b] = new_episode or due
    return n_stale


@numba.njit(cache=True)
def walking_distance(s: CityState, which: np.ndarray) -> None:
    """Fill, in the cities where ``which``, ``distance`` (B, cells + trash, K): the shortest walk
    (moves of one cell, around buildings) from each cell to a cell touching building k, ``FAR``
    where there is none — a breadth-first search from the cells touching it — and ``closer``:
    the moves (a move set) that lead from each cell to a cell nearer building k."""
    adjacent, building_cell, distance, closer = s.adjacent, s.building_cell, s.distance, s.closer
    n_cities, K = building_cell.shape
    blocked_in = np.full(TRASH + 1, -1)  # the last city whose building stands on the cell
    queue = np.empty(TRASH, np.int64)
    for b in range(n_cities):
        if not which[b]:
            continue
        for k in range(K):
            blocked_in[building_cell[b, k]] = b
        for k in range(K):
            dist = distance[b, :, k]
            dist[:] = FAR
            head, tail = 0, 0
            for cell in range(TRASH):
                if adjacent[b, cell] == k:
                    dist[cell] = 0
                    queue[tail] = cell
                    tail += 1
            while head < tail:
                cell = queue[head]
                head += 1
                for d in range(4):
                    near = MOVE_TARGET[cell, d]
                    if near != TRASH and blocked_in[near] != b and dist[near] > dist[cell] + 1:
                        dist[near] = dist[cell] + 1
                        queue[tail] = near
                        tail += 1
            for cell in range(TRASH + 1):
                moves = 0
                for j in range(N_MOVES):
                    if dist[MOVE_TARGET[cell, j]] < dist[cell]:
                        moves |= MOVE_BIT[j]
                closer[b, cell, k] = moves


# --- Observation -----------------------------------------------------------------------------
@numba.njit(cache=True)
def _cell_features(row: np.ndarray, offset: int, cell: int) -> None:
    x, y = CELL_XY[cell, 0], CELL_XY[cell, 1]
    row[offset + F_X + x] = 1.0
    row[offset + F_Y + y] = 1.0
    row[offset + F_POS] = x / GRID
    row[offset + F_POS + 1] = y / GRID


@numba.njit(cache=True)
def state_features(s: CityState, out: np.ndarray) -> None:
    """Fill ``out`` (B, E·F + 1): every entity's features (agents, then buildings; padding is
    zeros), then the time t / 150."""
    agent_mask, agent_type, agent_cell = s.agent_mask, s.agent_type, s.agent_cell
    avail, last_action = s.avail, s.last_action
    building_mask, building_cell = s.building_mask, s.building_cell
    fast, health, complete, burned, fire = s.fast, s.health, s.complete, s.burned, s.fire
    period, countdown, t = s.period, s.countdown, s.t
    n_cities, n_agents = agent_cell.shape
    K = building_cell.shape[1]
    for b in range(n_cities):
        row = out[b]
        row[:] = 0.0
        for i in range(n_agents):
            if agent_mask[b, i]:
                offset = i * N_FEATURES
                row[offset + F_TYPE + agent_type[b, i]] = 1.0
                _cell_features(row, offset, agent_cell[b, i])
                for a in range(N_ACTIONS):
                    row[offset + F_AVAIL + a] = avail[b, i, a]
                row[offset + F_LAST + last_action[b, i]] = 1.0
        for k in range(K):
            if building_mask[b, k]:
                offset = (n_agents + k) * N_FEATURES
                row[offset + F_TYPE + (FAST_TYPE if fast[b, k] else SLOW_TYPE)] = 1.0
                _cell_features(row, offset, building_cell[b, k])
                features = row[offset + F_BUILDING : offset + F_LAST]
                features[0] = health[b, k]
                features[1] = complete[b, k]
                features[2] = burned[b, k]
                features[3] = fire[b, k]
                features[4] = fire[b, k] > 0
                features[5] = (period[b, k] - countdown[b, k]) / period[b, k]
                features[6] = 1.0 / period[b, k]
        row[-1] = t[b] / MAX_STEPS


@numba.njit(cache=True)
def subtask_status(s: CityState, state: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` (B, 2K, STATUS_DIM) from ``state``: each subtask's building type, position
    and features, then the count of agents allocated to the subtask."""
    agent_mask, allocation = s.agent_mask, s.allocation
    n_cities, n_agents = agent_mask.shape
    K = out.shape[1] // 2
    for b in range(n_cities):
        for k in range(K):
            offset = (n_agents + k) * N_FEATURES
            for m in (k, K + k):
                status = out[b, m]
                status[0] = state[b, offset + F_TYPE + FAST_TYPE]
                status[1] = state[b, offset + F_TYPE + SLOW_TYPE]
                status[2] = state[b, offset + F_POS]
                status[3] = state[b, offset + F_POS + 1]
                status[4:-1] = state[b, offset + F_BUILDING : offset + F_LAST]
                status[-1] = 0.0
        for i in range(n_agents):
            if agent_mask[b, i]:
                out[b, allocation[b, i], -1] += 1.0


# --- Scripted behaviour ----------------------------------------------------------------------
@numba.njit(cache=True)
def rule_allocation(s: CityState, out: np.ndarray) -> None:
    """Fill ``out`` (B, N): each agent's nearest active subtask that suits its type (builders
    repair, the others fight fires), else its nearest active one, else subtask 0."""
    agent_mask, agent_type, agent_cell = s.agent_mask, s.agent_type, s.agent_cell
    active, distance = s.active, s.distance
    n_cities, n_agents = agent_cell.shape
    M = active.shape[1]
    K = M // 2
    for b in range(n_cities):
        for i in range(n_agents):
            best, best_cost = 0, 4 * FAR
            if agent_mask[b, i]:
                builder = agent_type[b, i] == BUILDER
                for m in range(M):
                    if active[b, m]:
                        fight = m < K
                        walk = distance[b, agent_cell[b, i], m if fight else m - K]
                        cost = walk + (FAR if builder == fight else 0)  # builders repair
                        if cost < best_cost:
                            best, best_cost = m, cost
            out[b, i] = best


@numba.njit(cache=True)
def rule_action(s: CityState, out: np.ndarray) -> None:
    """Fill ``out`` (B, N, 2K): inside firefight/repair of building k, walk towards it (the first
    available move of the move set leading closer) until touching it, then extinguish (freeze
    for generalists) or build — or stay where that action is unavailable."""
    agent_type, agent_cell, avail, avail_moves = s.agent_type, s.agent_cell, s.avail, s.avail_moves
    distance, closer = s.distance, s.closer
    n_cities, n_agents = agent_cell.shape
    K = out.shape[2] // 2
    for b in range(n_cities):
        for i in range(n_agents):
            cell = agent_cell[b, i]
            fight = FREEZE if agent_type[b, i] == GENERALIST else EXTINGUISH
            fight = fight if avail[b, i, fight] else STAY
            build = BUILD_ACTION if avail[b, i, BUILD_ACTION] else STAY
            for k in range(K):
                if distance[b, cell, k] == 0:
                    out[b, i, k], out[b, i, K + k] = fight, build
                else:
                    walk = FIRST_MOVE[closer[b, cell, k] & avail_moves[b, i]]
                    out[b, i, k] = out[b, i, K + k] = walk
