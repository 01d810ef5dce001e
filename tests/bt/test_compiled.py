"""The compiled (NumPy) tick must agree with ticking the same tree in ``py_trees``."""

from __future__ import annotations

import numpy as np
import py_trees
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from py_trees.common import ParallelPolicy
from py_trees.composites import Parallel, Selector, Sequence

from rllib_maaal.bt import CompiledTree, Condition, SubtaskLeaf, replicate, tick_instance
from rllib_maaal.envs.city.core import city_tree

MASK = np.ones(4, bool)


def zone_tree() -> py_trees.behaviour.Behaviour:
    """A football-like tree: per half of the pitch, a Sequence of two Parallel parents of zone
    leaves (the first pair finishes when its ``cleared`` condition holds)."""

    def half(h: int) -> Sequence:
        first = Parallel(
            f"centre_{h}",
            policy=ParallelPolicy.SuccessOnAll(synchronise=False),
            children=[SubtaskLeaf(f"side_{h}_{j}", 5 * h + j, MASK, "cleared", h) for j in (0, 1)],
        )
        second = Parallel(
            f"goal_{h}",
            policy=ParallelPolicy.SuccessOnOne(),
            children=[SubtaskLeaf(f"zone_{h}_{j}", 5 * h + 2 + j, MASK) for j in range(3)],
        )
        return Sequence(
            f"half_{h}", memory=False, children=[Condition("ball_in", h), first, second]
        )

    return Selector("pitch", memory=False, children=[half(0), half(1)])


def reference(root, conditions, batch, n_subtasks):
    return np.stack(
        [
            tick_instance(root, {k: v[b] for k, v in conditions.items()}, n_subtasks)
            for b in range(batch)
        ]
    )


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_city_tree_matches_py_trees(n_buildings, seed):
    rng = np.random.default_rng(seed)
    root = city_tree(n_buildings)
    conditions = {
        "on_fire": rng.random((8, n_buildings)) < 0.4,
        "needs_repair": rng.random((8, n_buildings)) < 0.6,
    }
    result = CompiledTree(root, 2 * n_buildings).tick(conditions, 8)
    np.testing.assert_array_equal(result.active, reference(root, conditions, 8, 2 * n_buildings))
    # the city's rule: firefight while on fire, else repair while it needs repair
    on_fire, repair = conditions["on_fire"], conditions["needs_repair"]
    np.testing.assert_array_equal(result.active[:, :n_buildings], on_fire)
    np.testing.assert_array_equal(result.active[:, n_buildings:], ~on_fire & repair)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_zone_tree_matches_py_trees(seed):
    rng = np.random.default_rng(seed)
    root = zone_tree()
    conditions = {"ball_in": rng.random((16, 2)) < 0.5, "cleared": rng.random((16, 2)) < 0.5}
    tree = CompiledTree(root)
    result = tree.tick(conditions, 16)
    assert tree.n_subtasks == 10
    np.testing.assert_array_equal(result.active, reference(root, conditions, 16, 10))


def test_sequence_moves_on_only_after_success():
    tree = CompiledTree(zone_tree())
    conditions = {"ball_in": np.array([[1, 0], [1, 0], [0, 0]]), "cleared": np.array([[0, 0]] * 3)}
    conditions["cleared"][1, 0] = 1
    active = tree.tick(conditions, 3).active
    np.testing.assert_array_equal(np.flatnonzero(active[0]), [0, 1])  # first pair running
    np.testing.assert_array_equal(np.flatnonzero(active[1]), [2, 3, 4])  # pair done: next
    assert not active[2].any()  # the ball in no half: nothing ticks


def test_action_masks_by_subtask():
    tree = CompiledTree(city_tree(3), 6)
    assert tree.action_mask.shape == (6, 12)
    assert tree.action_mask[0, 9] and not tree.action_mask[0, 10]  # firefight: extinguish
    assert tree.action_mask[3, 10] and not tree.action_mask[3, 9]  # repair: build
    on_fire = np.array([[True, False, False]])
    result = tree.tick({"on_fire": on_fire, "needs_repair": np.array([[1, 1, 0]], bool)}, 1)
    np.testing.assert_array_equal(result.action_mask.any(-1)[0], [1, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(result.action_mask[0, 4], tree.action_mask[4])


def test_identical_branches_are_compiled_once():
    root = replicate("many", lambda k: Condition("x", k), 25)
    tree = CompiledTree(Sequence("s", memory=False, children=[root, SubtaskLeaf("a", 0, MASK)]))
    status = tree.tick({"x": np.ones((2, 25), bool)}, 2)
    assert tree.tick({"x": np.ones((2, 25), bool)}, 2).active.all()
    assert (status.status == 2).all()  # leaf running


def test_unsupported_trees_are_rejected():
    with pytest.raises(ValueError, match="memory"):
        CompiledTree(Sequence("s", memory=True, children=[SubtaskLeaf("a", 0, MASK)]))
    with pytest.raises(ValueError, match="not supported"):
        CompiledTree(py_trees.behaviours.Success("ok"))
    with pytest.raises(ValueError, match="no SubtaskLeaf"):
        CompiledTree(Condition("x"))
    with pytest.raises(ValueError, match="subtask ids"):
        CompiledTree(SubtaskLeaf("a", 3, MASK), n_subtasks=2)
