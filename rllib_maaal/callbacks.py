"""Episode metrics of our tasks, reported by RLlib next to the episode return, and where each
part of a trial ran (``placement``): on a cluster, which node sampled and which one learned."""

from __future__ import annotations

from typing import Any

import numpy as np
import ray
from ray.rllib.callbacks.callbacks import RLlibCallback


def task_metrics(final_info: dict[str, Any]) -> dict[str, float]:
    """The scalar numbers of an episode's final info (``success``, ``fraction_completed``,
    goals, ...): each task reports its own metrics this way."""
    return {
        key: float(value)
        for key, value in final_info.items()
        if not key.startswith("_")
        and np.ndim(value) == 0
        and np.isreal(value)
        and not isinstance(value, str)
    }


def _node_id(*_: Any) -> str:
    return ray.get_runtime_context().get_node_id()


def placement(algorithm: Any) -> dict[str, Any]:
    """The Ray node ids of the algorithm's process, its remote EnvRunners and its learners (the
    algorithm's own node where the learner is local, ``num_learners: 0``)."""
    learners = algorithm.learner_group.foreach_learner(_node_id)
    return {
        "algorithm_node": _node_id(),
        "env_runner_nodes": algorithm.env_runner_group.foreach_env_runner(
            _node_id, local_env_runner=False
        ),
        "learner_nodes": [result.get() for result in learners],
    }


class TaskMetricsCallback(RLlibCallback):
    """Logs ``task_metrics`` of every finished episode under ``env_runners/<name>``, and adds
    :func:`placement` to every training result: RLlib reports no node ids, and a node id per
    EnvRunner is what shows that a cluster's resources placed them where they were meant to go.
    """

    def on_episode_end(self, *, episode: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        if metrics_logger is None or len(episode) == 0:
            return
        for key, value in task_metrics(episode.get_infos(-1)).items():
            metrics_logger.log_value(key, value, window=100)

    def on_train_result(self, *, algorithm: Any, result: dict, **kwargs: Any) -> None:
        result["placement"] = placement(algorithm)
