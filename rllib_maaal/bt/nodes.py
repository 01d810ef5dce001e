"""Behaviour-tree leaves whose actions are subtasks, on top of ``py_trees``.

The tree structure is an ordinary ``py_trees`` tree (so it can be drawn with
``py_trees.display``): composites are ``py_trees.composites.Sequence`` / ``Selector`` /
``Parallel`` (without memory, i.e. reactive trees re-evaluated every tick, as in the MAAAL paper),
and the leaves are the two kinds defined here:

* :class:`Condition` — a named proposition, fed from outside as an array of truth values;
* :class:`SubtaskLeaf` — an action node standing for a subtask (id + action mask). It is RUNNING
  while ticked (a subtask is a long-lived activity carried out by the agents allocated to it) or
  SUCCESS once its optional ``done`` condition holds.

A subtask is *active* when its leaf was ticked this tick and is RUNNING. :func:`tick_instance`
ticks one instance with ``py_trees`` itself (the reference semantics, slow);
:mod:`rllib_maaal.bt.compiled` evaluates the same tree for a whole batch in NumPy.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import py_trees
from py_trees.common import Status


class Condition(py_trees.behaviour.Behaviour):
    """SUCCESS when ``conditions[name]`` (optionally at column ``index``) is true, else FAILURE."""

    def __init__(self, name: str, index: int | None = None) -> None:
        super().__init__(name if index is None else f"{name}[{index}]")
        self.condition = name
        self.index = index
        self.source: Mapping[str, np.ndarray] = {}

    def value(self) -> bool:
        """The condition's truth value in ``self.source`` (one instance)."""
        value = np.asarray(self.source[self.condition])
        return bool(value if self.index is None else value[self.index])

    def update(self) -> Status:
        return Status.SUCCESS if self.value() else Status.FAILURE


class SubtaskLeaf(py_trees.behaviour.Behaviour):
    """An action node standing for subtask ``subtask_id``, allowing the actions in ``action_mask``.

    ``done`` names an optional :class:`Condition`-style input (with its own ``done_index``) that
    turns the leaf to SUCCESS, so a ``Sequence`` can move on to its next child.
    """

    def __init__(
        self,
        name: str,
        subtask_id: int,
        action_mask: np.ndarray,
        done: str | None = None,
        done_index: int | None = None,
    ) -> None:
        super().__init__(name)
        self.subtask_id = int(subtask_id)
        self.action_mask = np.asarray(action_mask, dtype=bool)
        self.done = Condition(done, done_index) if done is not None else None
        self.ticked_running = False

    def initialise(self) -> None:
        self.ticked_running = False

    def update(self) -> Status:
        if self.done is not None and self.done.value():
            self.ticked_running = False
            return Status.SUCCESS
        self.ticked_running = True
        return Status.RUNNING


def subtask_leaves(root: py_trees.behaviour.Behaviour) -> list[SubtaskLeaf]:
    """Every :class:`SubtaskLeaf` of the tree, in depth-first order."""
    return [node for node in root.iterate() if isinstance(node, SubtaskLeaf)]


def tick_instance(
    root: py_trees.behaviour.Behaviour, conditions: Mapping[str, np.ndarray], n_subtasks: int
) -> np.ndarray:
    """Tick one instance with ``py_trees`` and return its active subtasks as an (M,) bool array.

    ``conditions`` maps each condition name to a scalar or a 1-D array (indexed conditions).
    """
    leaves = []
    for node in root.iterate():
        if isinstance(node, Condition):
            node.source = conditions
        elif isinstance(node, SubtaskLeaf):
            if node.done is not None:
                node.done.source = conditions
            node.ticked_running = False
            leaves.append(node)
    root.tick_once()
    active = np.zeros(n_subtasks, bool)
    for leaf in leaves:
        active[leaf.subtask_id] |= leaf.ticked_running
    return active
