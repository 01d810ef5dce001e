"""Which layer holds a trained MAAAL back: its learned allocation with its learned actions, and
the same allocation with the task's scripted actions (``action: rule``), both greedy.

If the scripted actions score much better on the learned allocations, the allocation is fine
and the subtask action networks are the gap (the README's 7a_7b diagnosis). With
``--distance-column K`` it also prints how far the agents stand from their allocated subtask on
average, K the env's ``pair`` column of that distance (the city: 2, the walk in grid widths).

    python examples/scripted_actions.py ~/ray_results/maaal/MAAAL_maaal_city_..._seed=0_... \
        --episodes 64 --distance-column 2
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import ray
import torch
from ray.rllib.algorithms.algorithm import Algorithm

import rllib_maaal  # noqa: F401  (registers the tasks and algorithms)
from rllib_maaal.checkpoints import evaluation_checkpoint
from rllib_maaal.evaluation import episode_stats, evaluation_runner


def greedy_scores(
    algo: Algorithm, episodes: int, scripted_actions: bool, distance_column: int | None = None
) -> dict[str, float]:
    """Mean return and task metrics of ``episodes`` greedy episodes of ``algo``'s module, with
    its own actions or the scripted ones (the allocation stays the learned one), and with
    ``distance_column`` the agents' mean ``pair`` distance to their allocated subtask."""
    runner = evaluation_runner(algo, action="rule") if scripted_actions else evaluation_runner(algo)
    done = runner.sample(num_episodes=episodes, explore=False)[:episodes]
    scores = {name: float(np.mean(values)) for name, values in episode_stats(done).items()}
    if distance_column is not None:
        distances = [allocated_distance(runner.observation_codec, e, distance_column) for e in done]
        scores["distance_to_subtask"] = float(np.concatenate(distances).mean())
    return scores


def allocated_distance(codec: Any, episode: Any, column: int) -> np.ndarray:
    """Each present agent's ``pair[..., column]`` towards its allocated subtask, at every step
    of ``episode`` (an EpisodeChunk), flattened."""
    length = len(episode)
    valid = np.ones((1, length + 1), bool)
    steps = {key: value[None] for key, value in episode.steps.items()}
    constant = {key: value[None] for key, value in episode.constant.items()}
    obs = {key: value[0, :length] for key, value in codec.decode(steps, constant, valid).items()}
    subtask = np.take_along_axis(episode.allocation, obs["agent_unit"], axis=1)  # (T, N)
    distance = np.take_along_axis(obs["pair"][..., column], subtask[..., None], axis=2)[..., 0]
    return distance[obs["agent_mask"] > 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trial", help="a MAAAL trial or checkpoint directory")
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument(
        "--distance-column",
        type=int,
        help="the env's pair column of the distance to a subtask (the city: 2)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    checkpoint = evaluation_checkpoint(args.trial)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    algo = Algorithm.from_checkpoint(str(checkpoint))
    try:
        for label, scripted in (("learned actions", False), ("scripted actions", True)):
            scores = greedy_scores(algo, args.episodes, scripted, args.distance_column)
            shown = ", ".join(f"{k} {v:.3g}" for k, v in scores.items())
            print(f"{label:>16}: {shown}")
    finally:
        algo.stop()


if __name__ == "__main__":
    main()
