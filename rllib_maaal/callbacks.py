"""Episode metrics of our tasks, reported by RLlib next to the episode return."""

from __future__ import annotations

from typing import Any

import numpy as np
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


class TaskMetricsCallback(RLlibCallback):
    """Logs ``task_metrics`` of every finished episode under ``env_runners/<name>``."""

    def on_episode_end(self, *, episode: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        if metrics_logger is None or len(episode) == 0:
            return
        for key, value in task_metrics(episode.get_infos(-1)).items():
            metrics_logger.log_value(key, value, window=100)
