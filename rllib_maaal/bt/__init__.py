"""Behaviour trees of subtasks: built with ``py_trees``, ticked vectorised over a batch."""

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
