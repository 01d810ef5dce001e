"""``rllib evaluate``: greedy episodes with a restored Algorithm, and their metrics.

Ray is imported inside the functions: ``rllib --help`` must answer without it (seconds).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from rllib_maaal.experiment import ExperimentError
from rllib_maaal.ray_runtime import RayInstance, quiet

#: A function of one finished episode → numeric task metrics (e.g. ``{"success": 1.0}``).
EpisodeMetricFn = Callable[[Any], dict[str, float]]


def final_info_metrics(episode: Any) -> dict[str, float]:
    """The task metrics of the episode's last ``infos`` (``success``, ...), as in training."""
    from rllib_maaal.callbacks import task_metrics

    return task_metrics(episode.get_infos(-1) or {})


#: Hooks ``rllib evaluate`` calls on every episode; tasks add theirs with
#: :func:`register_episode_metrics`. Later hooks win on equal metric names.
EPISODE_METRICS: list[EpisodeMetricFn] = [final_info_metrics]


def register_episode_metrics(fn: EpisodeMetricFn) -> EpisodeMetricFn:
    """Add a per-episode metric hook to ``rllib evaluate`` (usable as a decorator)."""
    EPISODE_METRICS.append(fn)
    return fn


def evaluate_command(args: argparse.Namespace) -> int:
    """``rllib evaluate``: greedy episodes with a restored Algorithm; prints their metrics."""
    if args.episodes < 1:
        raise ExperimentError(f"--episodes must be at least 1, got {args.episodes}")
    from rllib_maaal.checkpoints import evaluation_checkpoint

    checkpoint = evaluation_checkpoint(args.checkpoint)
    quiet(args.verbose)
    from ray.rllib.algorithms.algorithm import Algorithm

    import rllib_maaal  # noqa: F401 - our envs must be registered to rebuild the algorithm

    with RayInstance(args.address):
        algo = Algorithm.from_checkpoint(str(checkpoint))
        try:
            episodes = evaluation_runner(algo).sample(num_episodes=args.episodes, explore=False)
        finally:
            algo.stop()
    print(f"checkpoint: {checkpoint}")
    for name, values in episode_stats(episodes[: args.episodes]).items():
        print(_stat_line(name, values))
    return 0


def evaluation_runner(algo: Any, **training: Any) -> Any:
    """A local EnvRunner with one env and ``algo``'s weights and connector states; ``training``
    overrides ``algo``'s training settings in the runner (e.g. MAAAL's ``action="rule"``: its
    learned allocation with the scripted actions)."""
    from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    config = algo.config.copy(copy_frozen=False)
    if training:
        config.training(**training)
    config.env_runners(num_env_runners=0, num_envs_per_env_runner=1, explore=False)
    default_cls = MultiAgentEnvRunner if config.is_multi_agent else SingleAgentEnvRunner
    runner = (config.env_runner_cls or default_cls)(config=config)
    runner.set_state(algo.env_runner.get_state())
    return runner


def episode_stats(episodes: Sequence[Any]) -> dict[str, list[float]]:
    """Per-metric lists over episodes: return, length and every hook's task metrics."""
    stats: dict[str, list[float]] = {
        "episode_return": [float(e.get_return()) for e in episodes],
        "episode_length": [float(len(e)) for e in episodes],
    }
    for episode in episodes:
        task: dict[str, float] = {}
        for hook in EPISODE_METRICS:
            task.update(hook(episode))
        for name, value in task.items():
            stats.setdefault(name, []).append(value)
    return stats


def _stat_line(name: str, values: list[float]) -> str:
    import numpy as np

    v = np.asarray(values)
    return (
        f"{name:>24}: mean {v.mean():.4g}  std {v.std():.4g}  min {v.min():.4g}  "
        f"max {v.max():.4g}  (n={v.size})"
    )
