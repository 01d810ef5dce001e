"""Which layer holds a trained MAAAL back: its learned allocation with its learned actions, and
the same allocation with the task's scripted actions (``action: rule``), both greedy.

If the scripted actions score much better on the learned allocations, the allocation is fine
and the subtask action networks are the gap (the README's 7a_7b diagnosis).

    python examples/scripted_actions.py ~/ray_results/maaal/MAAAL_maaal_city_..._seed=0_... \
        --episodes 64
"""

from __future__ import annotations

import argparse

import numpy as np
import ray
import torch
from ray.rllib.algorithms.algorithm import Algorithm

import rllib_maaal  # noqa: F401  (registers the tasks and algorithms)
from rllib_maaal.checkpoints import evaluation_checkpoint
from rllib_maaal.evaluation import episode_stats, evaluation_runner


def greedy_scores(algo: Algorithm, episodes: int, scripted_actions: bool) -> dict[str, float]:
    """Mean return and task metrics of ``episodes`` greedy episodes of ``algo``'s module, with
    its own actions or the scripted ones (the allocation stays the learned one)."""
    runner = evaluation_runner(algo, action="rule") if scripted_actions else evaluation_runner(algo)
    stats = episode_stats(runner.sample(num_episodes=episodes, explore=False)[:episodes])
    return {name: float(np.mean(values)) for name, values in stats.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trial", help="a MAAAL trial or checkpoint directory")
    parser.add_argument("--episodes", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    checkpoint = evaluation_checkpoint(args.trial)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    algo = Algorithm.from_checkpoint(str(checkpoint))
    try:
        for label, scripted in (("learned actions", False), ("scripted actions", True)):
            scores = greedy_scores(algo, args.episodes, scripted)
            shown = ", ".join(f"{k} {v:.3g}" for k, v in scores.items())
            print(f"{label:>16}: {shown}")
    finally:
        algo.stop()


if __name__ == "__main__":
    main()
