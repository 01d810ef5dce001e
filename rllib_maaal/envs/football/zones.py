"""The football subtasks: pitch zones organised by a behaviour tree (the MAAAL paper's Fig. 2).

Coordinates are the engine's: x ∈ [-1, 1] along the pitch (our goal at x = -1, we attack towards
+x), y ∈ [-0.42, 0.42] across it, growing downwards on the screen, so a player running towards
+x has y < 0 on his *left*. On a 105 × 68 m pitch the penalty box starts 16.5 m from the goal
line (|x| > 0.686) and is 40.3 m wide (|y| < 0.249). The pitch is split into two parts by the
halfway line, the **Back-field** (x < 0) and the **Front-field** (x ≥ 0); each part is split into
a *central area* (|x| < 0.686) and a *goal area* (|x| ≥ 0.686, the full width behind the edge of
the penalty box). Every interval is half-open ``[lo, hi)``; the outer edges are unbounded, so a
ball or player off the pitch still lies in exactly one zone of each tree.

Central area: x in [-0.686, 0) (Back-field) / [0, 0.686) (Front-field); goal area: x in
[-inf, -0.686) / [0.686, inf). 10-subtask tree, five zones per part (``back_*`` defensive,
``front_*`` attacking; m is the subtask index in the Back-field / Front-field):

=====  ============  ============  ================
m      zone          x             y
=====  ============  ============  ================
0 / 5  left side     central area  [-inf, 0)
1 / 6  right side    central area  [0, inf)
2 / 7  left corner   goal area     [-inf, -0.249)
3 / 8  right corner  goal area     [0.249, inf)
4 / 9  penalty area  goal area     [-0.249, 0.249)
=====  ============  ============  ================

6-subtask tree (three zones per part, the corners and the penalty area merged into one goal
area): 0/3 left side, 1/4 right side (as above), 2/5 goal area (x as the corners, any y).

Tree shape (both trees; ``goal group`` is the corners + penalty area, or the single goal area)::

    Parallel root (SuccessOnAll)
    ├── Sequence back
    │   ├── Condition back_part_on          ball in our half (part=full) / always (part=back)
    │   └── Sequence back-field             the two parent nodes run in sequence
    │       ├── Parallel central (SuccessOnOne): left side, right side,
    │       │                                Condition ball_in_goal_area[back]
    │       └── Parallel goal area: left corner, right corner, penalty area
    └── Sequence front                       (mirror image, attacking)

A subtask is active when its leaf is ticked (leaves are always running). The central pair is
ticked whenever its part is. Its Parallel also holds the condition ``ball_in_goal_area``: it
succeeds once the ball has reached the part's goal area and fails otherwise, which stops the
sequence before the goal-area group (but not the ticking of the two sides). So with the ball in
the central area of a part only its two sides are active; with the ball in its goal area all of
the part's zones are: players keep covering the central area while others attack or defend the
box (the paper's Fig. 7 shows sides and penalty area staffed at once). ``part`` selects the part:
``full`` follows the ball (the full game), ``back`` / ``front`` fix it for part-wise training.

Action masks: defensive (Back-field) subtasks may not shoot; attacking (Front-field) subtasks may
not slide. Every subtask allows the built-in AI action, so the Fixed-BT baseline is always legal.
``zones.png`` next to this module draws the zones of both trees (:func:`plot_zones`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import py_trees
from py_trees.common import ParallelPolicy

from rllib_maaal.bt import CompiledTree, Condition, SubtaskLeaf
from rllib_maaal.validation import check_choice

#: Half-length and half-width of the pitch in engine units.
PITCH_X, PITCH_Y = 1.0, 0.42
#: Edge of the penalty box: its front line (|x|) and its sides (|y|).
BOX_X, BOX_Y = 0.686, 0.249

#: Action indices of the ``v2`` action set (the 19 default actions + the built-in AI).
ACTION_NAMES = (
    "idle",
    "left",
    "top_left",
    "top",
    "top_right",
    "right",
    "bottom_right",
    "bottom",
    "bottom_left",
    "long_pass",
    "high_pass",
    "short_pass",
    "shot",
    "sprint",
    "release_direction",
    "release_sprint",
    "sliding",
    "dribble",
    "release_dribble",
    "builtin_ai",
)
N_ACTIONS = len(ACTION_NAMES)
SHOT, SLIDING, BUILTIN_AI = (ACTION_NAMES.index(a) for a in ("shot", "sliding", "builtin_ai"))

TREES = ("10_subtasks", "6_subtasks")
#: Bit of each tree condition in a joint code: part_on[back, front], ball_in_goal_area[back, front].
_CONDITION_BITS = np.array([1, 2, 4, 8])
#: Band edges of the zone grid, and a point inside each band (x; times BOX_Y for y).
_X_EDGES, _Y_EDGES = np.array([-BOX_X, 0.0, BOX_X]), np.array([-BOX_Y, 0.0, BOX_Y])
_BAND_CENTRES = np.array([-1.5, -0.5, 0.5, 1.5])
PARTS = ("back", "front", "full")
INF = np.inf


@dataclass(frozen=True)
class Zone:
    """An axis-aligned rectangle ``[x_lo, x_hi) × [y_lo, y_hi)`` of one part of the pitch."""

    name: str
    part: int  #: 0 Back-field, 1 Front-field
    x: tuple[float, float]
    y: tuple[float, float]
    goal_area: bool  #: in the part's goal group (ticked after the central pair)


def _part_zones(part: int, tree: str) -> list[Zone]:
    """The zones of one part; the Front-field mirrors the Back-field's x bands."""
    prefix = ("back", "front")[part]
    central = (-BOX_X, 0.0) if part == 0 else (0.0, BOX_X)
    goal = (-INF, -BOX_X) if part == 0 else (BOX_X, INF)
    zones = [
        Zone(f"{prefix}_left_side", part, central, (-INF, 0.0), False),
        Zone(f"{prefix}_right_side", part, central, (0.0, INF), False),
    ]
    if tree == "6_subtasks":
        return [*zones, Zone(f"{prefix}_goal_area", part, goal, (-INF, INF), True)]
    return [
        *zones,
        Zone(f"{prefix}_left_corner", part, goal, (-INF, -BOX_Y), True),
        Zone(f"{prefix}_right_corner", part, goal, (BOX_Y, INF), True),
        Zone(f"{prefix}_penalty_area", part, goal, (-BOX_Y, BOX_Y), True),
    ]


class ZoneTree:
    """The zones of one tree as arrays, and its behaviour tree compiled for batched ticks.

    ``lo`` / ``hi`` (M, 2) are the zone corners; every method works on batches of instances (B)
    and of points (P) at once.
    """

    def __init__(self, tree: str = "10_subtasks") -> None:
        self.name = check_choice("tree", tree, TREES)
        self.zones = tuple(_part_zones(0, tree) + _part_zones(1, tree))
        self.names = tuple(zone.name for zone in self.zones)
        self.n_subtasks = len(self.zones)
        self.lo = np.array([(z.x[0], z.y[0]) for z in self.zones])
        self.hi = np.array([(z.x[1], z.y[1]) for z in self.zones])
        self.part = np.array([z.part for z in self.zones])
        #: (M, A) u_m: defensive zones may not shoot, attacking zones may not slide
        self.action_mask = np.ones((self.n_subtasks, N_ACTIONS), bool)
        self.action_mask[self.part == 0, SHOT] = False
        self.action_mask[self.part == 1, SLIDING] = False
        self.root = self._build_root()
        self.compiled = CompiledTree(self.root, self.n_subtasks)
        self._active_table = self._tick_every_condition()
        self._ids = np.arange(self.n_subtasks)
        self._one_hot = np.eye(self.n_subtasks, dtype=np.float32)
        cells = np.stack(np.meshgrid(_BAND_CENTRES, _BAND_CENTRES * BOX_Y, indexing="ij"), -1)
        in_cell = self._in_rectangles(cells)  # (4, 4, M): each cell lies in exactly one zone
        assert (in_cell.sum(-1) == 1).all(), "the zones must tile the pitch"
        self._zone_of_cell = in_cell.argmax(-1)
        pitch = np.array([PITCH_X, PITCH_Y])
        self._pitch_lo, self._pitch_hi = np.maximum(self.lo, -pitch), np.minimum(self.hi, pitch)

    def _build_root(self) -> py_trees.behaviour.Behaviour:
        """The ``py_trees`` tree of the module docstring."""

        def leaf(m: int) -> SubtaskLeaf:
            return SubtaskLeaf(self.names[m], m, self.action_mask[m])

        parts = []
        for part, prefix in enumerate(("back", "front")):
            ids = np.flatnonzero(self.part == part)
            central = [leaf(m) for m in ids if not self.zones[m].goal_area]
            goal = [leaf(m) for m in ids if self.zones[m].goal_area]
            field = py_trees.composites.Sequence(
                f"{prefix}-field",
                memory=False,
                children=[
                    py_trees.composites.Parallel(
                        f"{prefix} central area",
                        policy=ParallelPolicy.SuccessOnOne(),
                        children=[*central, Condition("ball_in_goal_area", part)],
                    ),
                    py_trees.composites.Parallel(
                        f"{prefix} goal area",
                        policy=ParallelPolicy.SuccessOnAll(synchronise=False),
                        children=goal,
                    ),
                ],
            )
            parts.append(
                py_trees.composites.Sequence(
                    prefix, memory=False, children=[Condition("part_on", part), field]
                )
            )
        return py_trees.composites.Parallel(
            "football", policy=ParallelPolicy.SuccessOnAll(synchronise=False), children=parts
        )

    def _in_rectangles(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) points → (..., M) bool: ``lo <= point < hi`` per zone (the definition)."""
        p = points[..., None, :]
        return ((p >= self.lo) & (p < self.hi)).all(-1)

    def zone_of(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) points → (...,) the zone each point lies in.

        The zones tile a 4 × 4 grid of x bands and y bands, so two ``searchsorted`` calls and a
        table look-up replace comparing every point with every rectangle.
        """
        x_band = np.searchsorted(_X_EDGES, points[..., 0], side="right")
        y_band = np.searchsorted(_Y_EDGES, points[..., 1], side="right")
        return self._zone_of_cell[x_band, y_band]

    def contains(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) points → (..., M) bool: which zone each point lies in."""
        return self.zone_of(points)[..., None] == self._ids

    def active(self, ball: np.ndarray, part: str) -> np.ndarray:
        """(B, 2) ball positions → (B, M) bool active subtasks, as the tree's tick gives them."""
        check_choice("part", part, PARTS)
        x = ball[:, 0]
        back_on = {"back": True, "front": False, "full": x < 0.0}[part]
        bits = np.zeros((len(ball), 4), np.int64)
        bits[:, 0], bits[:, 1] = back_on, np.logical_not(back_on)
        bits[:, 2], bits[:, 3] = -x >= BOX_X, x >= BOX_X
        return self._active_table[bits @ _CONDITION_BITS]

    def _tick_every_condition(self) -> np.ndarray:
        """(16, M) the tree's active subtasks for each joint value of its four conditions.

        The conditions (which part is on, whether the ball is in each part's goal area) take only
        16 joint values, so one batched tick at construction replaces a tick per step.
        """
        bits = (np.arange(16)[:, None] & _CONDITION_BITS) > 0
        conditions = {"part_on": bits[:, :2], "ball_in_goal_area": bits[:, 2:]}
        return self.compiled.tick(conditions, len(bits)).active

    def distance(self, points: np.ndarray) -> np.ndarray:
        """(..., 2) points → (..., M) distance to each zone (0 inside; zones cut to the pitch)."""
        p = points[..., None, :]
        gap = np.maximum(np.maximum(self._pitch_lo - p, p - self._pitch_hi), 0.0)
        return np.hypot(gap[..., 0], gap[..., 1])

    def nearest_active(self, points: np.ndarray, active: np.ndarray) -> np.ndarray:
        """(B, N, 2) player positions, (B, M) active → (B, N) the nearest active zone of each.

        This is the rule allocation (R-AL, Fixed-BT): every player covers the active zone he is
        in or closest to.
        """
        distance = np.where(active[:, None, :], self.distance(points), INF)
        return distance.argmin(-1)

    def status(
        self,
        ball: np.ndarray,
        ball_owner: np.ndarray,
        ours: np.ndarray,
        theirs: np.ndarray,
        allocation: np.ndarray,
    ) -> np.ndarray:
        """Raw subtask status (B, M, STATUS_DIM), see :data:`STATUS_FEATURES`.

        ``ball`` (B, 2), ``ball_owner`` (B,) -1 none / 0 us / 1 them, ``ours`` / ``theirs``
        (B, 11, 2) positions, ``allocation`` (B, N) subtask of each agent.
        """
        ball_in = self._one_hot[self.zone_of(ball)]
        counts = self._one_hot[self.zone_of(np.concatenate([ours, theirs], axis=1))]
        n_ours = ours.shape[1]
        counts = np.stack([counts[:, :n_ours].sum(1), counts[:, n_ours:].sum(1)], -1)
        allocated = self._one_hot[allocation].sum(1)
        status = np.empty((*ball_in.shape, STATUS_DIM), np.float32)
        status[..., 0] = ball_in
        status[..., 1] = ball_in * (ball_owner == 0)[:, None]
        status[..., 2] = ball_in * (ball_owner == 1)[:, None]
        status[..., 3:5] = counts / np.array([n_ours, theirs.shape[1]])
        status[..., 5] = allocated / allocation.shape[1]
        return status


#: The columns of :meth:`ZoneTree.status` (counts are fractions of the team / of the agents).
STATUS_FEATURES = (
    "ball_in_zone",
    "ball_ours_in_zone",
    "ball_theirs_in_zone",
    "our_players",
    "their_players",
    "allocated_agents",
)
STATUS_DIM = len(STATUS_FEATURES)


def plot_zones(path: str | Path) -> None:
    """Draw the zones of both trees side by side into ``path`` (the module's PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    pitch = np.array([PITCH_X, PITCH_Y])
    for ax, name in zip(axes, TREES, strict=True):
        tree = ZoneTree(name)
        lo, hi = np.maximum(tree.lo, -pitch), np.minimum(tree.hi, pitch)
        colours = plt.get_cmap("tab10")
        for m, zone in enumerate(tree.zones):
            ax.add_patch(
                Rectangle(lo[m], *(hi[m] - lo[m]), facecolor=colours(m % 10), alpha=0.35, ec="k")
            )
            centre = (lo[m] + hi[m]) / 2
            label = f"{m}: {zone.name.split('_', 1)[1].replace('_', ' ')}"
            ax.text(*centre, label, ha="center", va="center", fontsize=8)
        ax.plot([0, 0], [-PITCH_Y, PITCH_Y], "k-", lw=2)
        ax.annotate("", xy=(0.9, 0.47), xytext=(0.5, 0.47), arrowprops={"arrowstyle": "->"})
        ax.text(0.45, 0.47, "we attack", ha="right", va="center", fontsize=8)
        ax.text(-0.5, -0.47, "Back-field (x < 0), defence", ha="center", va="center")
        ax.text(0.5, -0.47, "Front-field (x ≥ 0), attack", ha="center", va="center")
        ax.set_xlim(-1.05, 1.05)
        ax.set_ylim(0.52, -0.52)  # engine y grows downwards, as on the screen
        ax.set_aspect("equal")
        ax.set_title(f"{name}: x = ±{BOX_X}, y = ±{BOX_Y} and 0 (our goal at x = -1)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    plot_zones(Path(__file__).with_name("zones.png"))
