"""A behaviour tree compiled once into NumPy boolean operations, ticked for a batch at once.

Ticking ``py_trees`` costs a Python call per node per instance, far too slow for hundreds of
environment instances with dozens of subtasks each. :class:`CompiledTree` walks the ``py_trees``
tree once and turns it into array operations over ``(B, lanes)``: B instances, and *lanes* for
identical copies of a branch (children of a ``Parallel`` with the same structure, e.g. "one branch
per building"), so a tree of 25 identical branches costs the same NumPy calls as one branch.

Semantics are those of ``py_trees`` composites without memory (reactive trees):

* ``Sequence`` ticks children in order while they succeed; returns the first non-SUCCESS status.
* ``Selector`` (fallback) ticks children in order while they fail; returns the first non-FAILURE.
* ``Parallel`` ticks every child; FAILURE if any child failed, else SUCCESS per its policy
  (``SuccessOnAll`` / ``SuccessOnOne``), else RUNNING.

A subtask is active when its :class:`~rllib_maaal.bt.nodes.SubtaskLeaf` was ticked and is RUNNING.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import py_trees
from py_trees.common import ParallelPolicy

from rllib_maaal.bt.nodes import Condition, SubtaskLeaf, subtask_leaves

SUCCESS, FAILURE, RUNNING = np.int8(0), np.int8(1), np.int8(2)


@dataclass
class TickResult:
    """The outcome of one batched tick."""

    status: np.ndarray  #: (B,) root status codes (``SUCCESS``, ``FAILURE``, ``RUNNING``)
    active: np.ndarray  #: (B, M) bool, subtasks whose leaf was ticked and is running
    subtask_action_mask: np.ndarray  #: (M, A) bool, the actions each subtask allows

    @property
    def action_mask(self) -> np.ndarray:
        """(B, M, A) the action masks of the active subtasks (all False for inactive ones)."""
        return self.active[..., None] & self.subtask_action_mask


def _signature(node: py_trees.behaviour.Behaviour) -> tuple:
    """The structure of a subtree, ignoring condition indices and subtask ids (what lanes share)."""
    if isinstance(node, Condition):
        return ("condition", node.condition, node.index is None)
    if isinstance(node, SubtaskLeaf):
        done = node.done
        return ("leaf", None if done is None else (done.condition, done.index is None))
    if isinstance(node, py_trees.composites.Parallel):
        if not isinstance(node.policy, ParallelPolicy.SuccessOnAll | ParallelPolicy.SuccessOnOne):
            raise ValueError(
                f"Parallel {node.name!r}: policy must be SuccessOnAll or SuccessOnOne, "
                f"got {type(node.policy).__name__}"
            )
        if node.policy.synchronise:
            raise ValueError(f"Parallel {node.name!r}: synchronise=True is not supported")
        kind = ("parallel", type(node.policy).__name__)
    elif isinstance(node, py_trees.composites.Sequence | py_trees.composites.Selector):
        if node.memory:
            raise ValueError(f"{node.name!r}: only composites without memory are supported")
        kind = ("sequence",) if isinstance(node, py_trees.composites.Sequence) else ("selector",)
    else:
        raise ValueError(
            f"node {node.name!r} of type {type(node).__name__} is not supported; use Sequence, "
            "Selector, Parallel, Condition or SubtaskLeaf"
        )
    return (*kind, tuple(_signature(child) for child in node.children))


class _Gather:
    """Reads a condition for every lane: (B,) inputs broadcast, indexed inputs gathered."""

    def __init__(self, nodes: Sequence[Condition]) -> None:
        self.name = nodes[0].condition
        self.index = None if nodes[0].index is None else np.array([n.index for n in nodes])

    def __call__(self, conditions: Mapping[str, np.ndarray]) -> np.ndarray:
        value = np.asarray(conditions[self.name], dtype=bool)
        return value[:, None] if self.index is None else value[:, self.index]


class _Node:
    """A compiled node over ``lanes`` copies: ``evaluate`` returns (B, lanes) status codes."""

    def evaluate(
        self, conditions: Mapping[str, np.ndarray], tick: np.ndarray, active: np.ndarray
    ) -> np.ndarray:
        raise NotImplementedError


class _Condition(_Node):
    def __init__(self, nodes: Sequence[Condition]) -> None:
        self.gather = _Gather(nodes)

    def evaluate(self, conditions, tick, active):
        return (~self.gather(conditions)).view(np.int8)  # SUCCESS = 0, FAILURE = 1


class _Leaf(_Node):
    def __init__(self, nodes: Sequence[SubtaskLeaf]) -> None:
        self.ids = np.array([n.subtask_id for n in nodes])
        self.unique = len(np.unique(self.ids)) == len(self.ids)
        self.done = _Gather([n.done for n in nodes]) if nodes[0].done is not None else None

    def evaluate(self, conditions, tick, active):
        if self.done is None:
            running = tick
            status = np.full(tick.shape, RUNNING)
        else:
            done = self.done(conditions)
            running = tick & ~done
            status = np.where(done, SUCCESS, RUNNING)
        if self.unique:
            active[:, self.ids] |= running
        else:
            np.logical_or.at(active, (slice(None), self.ids), running)
        return status


class _Chain(_Node):
    """Sequence (stops at the first child that does not succeed) or Selector (stops at the first
    child that does not fail): the status of the child it stopped at, else ``passes``."""

    def __init__(self, children: list[_Node], passes: np.int8) -> None:
        self.children = children
        self.passes = passes

    def evaluate(self, conditions, tick, active):
        going = tick
        status = decided = None
        for child in self.children:
            if decided is not None:
                going = tick & ~decided
            child_status = child.evaluate(conditions, going, active)
            stops = child_status != self.passes
            if decided is None:
                status, decided = child_status, stops
            else:
                status = np.where(decided, status, child_status)
                decided = decided | stops
        return status


class _Parallel(_Node):
    """``stacked``: one compiled child over lanes × children (identical children)."""

    def __init__(self, children: list[_Node], n_children: int, stacked: bool, on_all: bool):
        self.children = children
        self.n_children = n_children
        self.stacked = stacked
        self.on_all = on_all

    def evaluate(self, conditions, tick, active):
        batch, lanes = tick.shape
        if self.stacked:
            child_tick = np.repeat(tick, self.n_children, axis=1)
            child_status = self.children[0].evaluate(conditions, child_tick, active)
            child_status = child_status.reshape(batch, lanes, self.n_children)
        else:
            child_status = np.stack(
                [child.evaluate(conditions, tick, active) for child in self.children], axis=-1
            )
        success = child_status == SUCCESS
        succeeded = success.all(-1) if self.on_all else success.any(-1)
        failed = (child_status == FAILURE).any(-1)
        return np.where(failed, FAILURE, np.where(succeeded, SUCCESS, RUNNING))


def _compile(lanes: list[py_trees.behaviour.Behaviour]) -> _Node:
    """Compile structurally identical nodes (one per lane) into one vectorised node."""
    first = lanes[0]
    if isinstance(first, Condition):
        return _Condition(lanes)
    if isinstance(first, SubtaskLeaf):
        return _Leaf(lanes)
    n_children = len(first.children)
    per_position = (
        [_compile([lane.children[j] for lane in lanes]) for j in range(n_children)]
        if not isinstance(first, py_trees.composites.Parallel)
        else None
    )
    if per_position is not None:
        passes = SUCCESS if isinstance(first, py_trees.composites.Sequence) else FAILURE
        return _Chain(per_position, passes)
    on_all = isinstance(first.policy, ParallelPolicy.SuccessOnAll)
    signatures = {_signature(child) for child in first.children}
    if n_children > 1 and len(signatures) == 1:
        stacked = [lane.children[j] for lane in lanes for j in range(n_children)]
        return _Parallel([_compile(stacked)], n_children, True, on_all)
    children = [_compile([lane.children[j] for lane in lanes]) for j in range(n_children)]
    return _Parallel(children, n_children, False, on_all)


class CompiledTree:
    """A ``py_trees`` tree of subtasks, ticked for B instances at once.

    Conditions are fed as a mapping name → bool array: (B,) for plain :class:`Condition` leaves,
    (B, n) for indexed ones (``Condition(name, index)`` reads column ``index``).
    """

    def __init__(self, root: py_trees.behaviour.Behaviour, n_subtasks: int | None = None) -> None:
        _signature(root)  # validates the node types once, with a clear error
        self.root = root
        leaves = subtask_leaves(root)
        if not leaves:
            raise ValueError("the tree has no SubtaskLeaf: nothing to allocate agents to")
        ids = [leaf.subtask_id for leaf in leaves]
        self.n_subtasks = max(ids) + 1 if n_subtasks is None else n_subtasks
        if min(ids) < 0 or max(ids) >= self.n_subtasks:
            raise ValueError(f"subtask ids must lie in [0, {self.n_subtasks}), got {sorted(ids)}")
        n_actions = {leaf.action_mask.shape for leaf in leaves}
        if len(n_actions) != 1:
            raise ValueError(f"every leaf's action mask needs the same shape, got {n_actions}")
        #: (M, A) the actions each subtask allows (subtasks without a leaf allow none)
        self.action_mask = np.zeros((self.n_subtasks, *n_actions.pop()), bool)
        for leaf in leaves:
            self.action_mask[leaf.subtask_id] |= leaf.action_mask
        self._root = _compile([root])

    def tick(self, conditions: Mapping[str, np.ndarray], batch_size: int) -> TickResult:
        """Tick the tree in every instance; return the root status and the active subtasks."""
        active = np.zeros((batch_size, self.n_subtasks), bool)
        status = self._root.evaluate(conditions, np.ones((batch_size, 1), bool), active)
        return TickResult(status[:, 0], active, self.action_mask)


def replicate(
    name: str, make_branch, copies: int, policy: ParallelPolicy.Base | None = None
) -> py_trees.composites.Parallel:
    """A ``Parallel`` of ``copies`` branches ``make_branch(k)`` (e.g. one per building).

    Branches built by one factory share their structure, so :class:`CompiledTree` evaluates them
    as lanes of a single vectorised branch.
    """
    return py_trees.composites.Parallel(
        name,
        policy=policy if policy is not None else ParallelPolicy.SuccessOnAll(synchronise=False),
        children=[make_branch(k) for k in range(copies)],
    )
