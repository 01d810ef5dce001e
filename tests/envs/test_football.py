"""Tests of the football task: zone geometry and trees (always), the engine wrapper (football)."""

from __future__ import annotations

import numpy as np
import pytest

from rllib_maaal.bt import tick_instance
from rllib_maaal.envs.football_zones import (
    BUILTIN_AI,
    SHOT,
    SLIDING,
    ZoneTree,
)

TEN = ZoneTree("10_subtasks")
SIX = ZoneTree("6_subtasks")

# (point, zone of the 10-subtask tree, zone of the 6-subtask tree), pinned to the documented
# geometry: x bands [-inf, -0.686) [-0.686, 0) [0, 0.686) [0.686, inf); y split at 0 (sides) and
# at -0.249 / 0.249 (corners | penalty area | corners).
POINTS = [
    ((-0.30, -0.10), "back_left_side", "back_left_side"),
    ((-0.30, 0.10), "back_right_side", "back_right_side"),
    ((-0.90, -0.30), "back_left_corner", "back_goal_area"),
    ((-0.90, 0.30), "back_right_corner", "back_goal_area"),
    ((-0.90, 0.00), "back_penalty_area", "back_goal_area"),
    ((0.30, -0.10), "front_left_side", "front_left_side"),
    ((0.30, 0.30), "front_right_side", "front_right_side"),
    ((0.90, -0.40), "front_left_corner", "front_goal_area"),
    ((0.90, 0.40), "front_right_corner", "front_goal_area"),
    ((0.90, 0.20), "front_penalty_area", "front_goal_area"),
    # boundaries: intervals are [lo, hi)
    ((0.0, -0.1), "front_left_side", "front_left_side"),
    ((-0.686, 0.0), "back_right_side", "back_right_side"),
    ((0.686, 0.0), "front_penalty_area", "front_goal_area"),
    ((-0.8, -0.249), "back_penalty_area", "back_goal_area"),
    ((-0.8, 0.249), "back_right_corner", "back_goal_area"),
    # off the pitch (ball out of play) still lies in one zone
    ((-1.05, -0.45), "back_left_corner", "back_goal_area"),
    ((1.05, 0.0), "front_penalty_area", "front_goal_area"),
]


@pytest.mark.parametrize(("tree", "column"), [(TEN, 1), (SIX, 2)])
def test_each_point_lies_in_exactly_the_documented_zone(tree, column):
    points = np.array([p[0] for p in POINTS])
    inside = tree.contains(points)
    assert (inside.sum(-1) == 1).all()
    assert [tree.names[m] for m in inside.argmax(-1)] == [p[column] for p in POINTS]


def test_trees_have_five_and_three_zones_per_part():
    assert TEN.n_subtasks == 10 and SIX.n_subtasks == 6
    assert (TEN.part == [0] * 5 + [1] * 5).all()
    assert (SIX.part == [0] * 3 + [1] * 3).all()


def _active_names(tree, ball, part):
    active = tree.active(np.array([ball]), part)[0]
    return {tree.names[m] for m in np.flatnonzero(active)}


BACK_SIDES = {"back_left_side", "back_right_side"}
FRONT_SIDES = {"front_left_side", "front_right_side"}
BACK_GOAL = {"back_left_corner", "back_right_corner", "back_penalty_area"}
FRONT_GOAL = {"front_left_corner", "front_right_corner", "front_penalty_area"}


@pytest.mark.parametrize(
    ("ball", "part", "expected"),
    [
        # full game: the part follows the ball; the goal group joins once the ball is in it
        ((-0.3, 0.1), "full", BACK_SIDES),
        ((-0.9, 0.3), "full", BACK_SIDES | BACK_GOAL),
        ((-0.9, 0.0), "full", BACK_SIDES | BACK_GOAL),
        ((0.0, 0.0), "full", FRONT_SIDES),
        ((0.5, -0.3), "full", FRONT_SIDES),
        ((0.7, -0.3), "full", FRONT_SIDES | FRONT_GOAL),
        # fixed parts ignore which half the ball is in
        ((0.9, 0.0), "back", BACK_SIDES),
        ((-0.9, 0.0), "back", BACK_SIDES | BACK_GOAL),
        ((-0.9, 0.0), "front", FRONT_SIDES),
        ((0.9, 0.0), "front", FRONT_SIDES | FRONT_GOAL),
    ],
)
def test_active_subtasks_of_the_10_subtask_tree(ball, part, expected):
    assert _active_names(TEN, ball, part) == expected


@pytest.mark.parametrize(
    ("ball", "part", "expected"),
    [
        ((-0.3, 0.1), "full", BACK_SIDES),
        ((-0.8, 0.4), "full", BACK_SIDES | {"back_goal_area"}),
        ((0.2, 0.0), "full", FRONT_SIDES),
        ((0.8, 0.0), "full", FRONT_SIDES | {"front_goal_area"}),
        ((0.8, 0.0), "back", BACK_SIDES),
        ((-0.8, 0.0), "front", FRONT_SIDES),
    ],
)
def test_active_subtasks_of_the_6_subtask_tree(ball, part, expected):
    assert _active_names(SIX, ball, part) == expected


@pytest.mark.parametrize("tree", [TEN, SIX])
@pytest.mark.parametrize("part", ["back", "front", "full"])
def test_batched_tick_matches_py_trees(tree, part):
    balls = np.random.default_rng(0).uniform([-1.1, -0.5], [1.1, 0.5], (64, 2))
    batched = tree.active(balls, part)
    for ball, active in zip(balls, batched, strict=True):
        in_front = ball[0] >= 0
        part_on = {"back": [1, 0], "front": [0, 1], "full": [not in_front, in_front]}[part]
        conditions = {
            "part_on": np.array(part_on, bool),
            "ball_in_goal_area": np.array([-ball[0] >= 0.686, ball[0] >= 0.686]),
        }
        assert (tick_instance(tree.root, conditions, tree.n_subtasks) == active).all()


@pytest.mark.parametrize("tree", [TEN, SIX])
def test_defence_may_not_shoot_and_attack_may_not_slide(tree):
    back, front = tree.action_mask[tree.part == 0], tree.action_mask[tree.part == 1]
    assert not back[:, SHOT].any() and back[:, SLIDING].all()
    assert not front[:, SLIDING].any() and front[:, SHOT].all()
    assert tree.action_mask[:, BUILTIN_AI].all()
    assert tree.action_mask.sum(-1).tolist() == [19] * tree.n_subtasks
    assert (tree.compiled.action_mask == tree.action_mask).all()


def test_rule_allocation_is_the_nearest_active_zone():
    active = TEN.active(np.array([[-0.3, 0.0]]), "full")  # back sides only
    players = np.array(
        [
            [
                [-0.3, -0.2],  # inside back_left_side
                [-0.3, 0.2],  # inside back_right_side
                [-0.9, -0.35],  # left corner (inactive): 0.214 from the left side
                [-0.9, 0.1],  # penalty area (inactive): nearest is the right side
                [0.5, -0.05],  # front half: the left side is 0.5 away, the right 0.5 + 0.05
            ]
        ]
    )
    names = [TEN.names[m] for m in TEN.nearest_active(players, active)[0]]
    assert names == [
        "back_left_side",
        "back_right_side",
        "back_left_side",
        "back_right_side",
        "back_left_side",
    ]
    np.testing.assert_allclose(TEN.distance(players)[0, 2, 0], 0.214, atol=1e-9)


def test_subtask_status_counts_ball_players_and_allocation():
    ball = np.array([[0.9, 0.0]])  # front penalty area
    ours = np.zeros((1, 11, 2))
    ours[0, :3] = [0.9, 0.1]  # three of ours in the penalty area, the rest at the kick-off spot
    theirs = np.full((1, 11, 2), [-0.9, 0.0])  # all of theirs in our penalty area
    allocation = np.array([[9] * 4 + [5] * 6])
    status = TEN.status(ball, np.array([1]), ours, theirs, allocation)
    assert status.shape == (1, 10, 6) and status.dtype == np.float32
    penalty, back_penalty, front_right = 9, 4, 6
    np.testing.assert_allclose(status[0, penalty], [1, 0, 1, 3 / 11, 0, 4 / 10])
    np.testing.assert_allclose(status[0, back_penalty], [0, 0, 0, 0, 1, 0])
    np.testing.assert_allclose(status[0, front_right], [0, 0, 0, 8 / 11, 0, 0])  # (0, 0): right
    assert status[0, :, 0].sum() == 1


def test_bad_tree_and_part_name_the_allowed_values():
    with pytest.raises(ValueError, match="10_subtasks"):
        ZoneTree("3_subtasks")
    with pytest.raises(ValueError, match="back"):
        TEN.active(np.zeros((1, 2)), "middle")
