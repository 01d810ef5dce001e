"""Behaviour trees of subtasks: built with ``py_trees``, ticked vectorised over a batch.

Build the tree with ``py_trees`` composites (``Sequence``/``Selector`` without memory,
``Parallel`` with ``SuccessOnAll``/``SuccessOnOne``), :class:`Condition` leaves (named inputs) and
:class:`SubtaskLeaf` leaves (subtask id + action mask), then compile it once::

    from py_trees.composites import Selector, Sequence
    from rllib_maaal.bt import CompiledTree, Condition, SubtaskLeaf, replicate

    def branch(k):  # identical branches become lanes of one vectorised branch
        return Selector(f"b{k}", memory=False, children=[
            Sequence(f"f{k}", memory=False, children=[
                Condition("on_fire", k), SubtaskLeaf(f"firefight_{k}", k, mask_f)]),
            Sequence(f"r{k}", memory=False, children=[
                Condition("needs_repair", k), SubtaskLeaf(f"repair_{k}", n + k, mask_r)]),
        ])

    tree = CompiledTree(replicate("city", branch, n))
    result = tree.tick({"on_fire": on_fire, "needs_repair": needs_repair}, batch_size)
    result.active       # (B, M) subtasks whose leaf was ticked and is running
    result.action_mask  # (B, M, A) their action masks

``py_trees.display.unicode_tree(tree.root)`` draws it; :func:`tick_instance` ticks one instance
with ``py_trees`` itself (the reference the compiled tick is tested against).
"""

from rllib_maaal.bt.compiled import FAILURE, RUNNING, SUCCESS, CompiledTree, TickResult, replicate
from rllib_maaal.bt.nodes import Condition, SubtaskLeaf, subtask_leaves, tick_instance

__all__ = [
    "FAILURE",
    "RUNNING",
    "SUCCESS",
    "CompiledTree",
    "Condition",
    "SubtaskLeaf",
    "TickResult",
    "replicate",
    "subtask_leaves",
    "tick_instance",
]
