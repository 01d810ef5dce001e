"""Which layer holds a trained MAAAL back: its learned allocation with its learned actions, and
the same allocation with the task's scripted actions (``action: rule``), both greedy.

If the scripted actions score much better on the learned allocations, the allocation is fine
and the subtask action networks are the gap (the README's 7a_7b diagnosis). With
``--distance-column K`` it also prints how far the agents stand from their allocated subtask on
average, K the env's ``pair`` column of that distance (the city: 2, the walk in grid widths).
With ``--standing`` (the city) it describes the buildings still standing, neither complete nor
burned down, when an episode ends: how many per episode, their health at the end and at its
highest, the share of slow-burn ones (re-ignited every 10 to 30 steps) and of steps on fire.

    python examples/scripted_actions.py ~/ray_results/maaal/MAAAL_maaal_city_..._seed=0_... \
        --episodes 64 --distance-column 2 --standing
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
from rllib_maaal.envs.city.kernels import (
    BUILDING_FEATURES,
    F_BUILDING,
    FAST_TYPE,
    N_FEATURES,
    SLOW_TYPE,
)
from rllib_maaal.evaluation import episode_stats, evaluation_runner

HEALTH, COMPLETE, BURNED, FIRE = (
    F_BUILDING + BUILDING_FEATURES.index(name) for name in ("health", "complete", "burned", "fire")
)


def greedy_scores(
    algo: Algorithm,
    episodes: int,
    scripted_actions: bool,
    distance_column: int | None = None,
    standing: bool = False,
) -> dict[str, float]:
    """Mean return and task metrics of ``episodes`` greedy episodes of ``algo``'s module, with
    its own actions or the scripted ones (the allocation stays the learned one), with
    ``distance_column`` the agents' mean ``pair`` distance to their allocated subtask, and with
    ``standing`` :func:`standing_buildings`."""
    runner = evaluation_runner(algo, action="rule") if scripted_actions else evaluation_runner(algo)
    done = runner.sample(num_episodes=episodes, explore=False)[:episodes]
    scores = {name: float(np.mean(values)) for name, values in episode_stats(done).items()}
    codec = runner.observation_codec
    observed = [decoded(codec, e) for e in done] if distance_column is not None or standing else []
    if distance_column is not None:
        pairs = zip(observed, done, strict=True)
        distances = [allocated_distance(o, e, distance_column) for o, e in pairs]
        scores["distance_to_subtask"] = float(np.concatenate(distances).mean())
    if standing:
        scores.update(standing_buildings([buildings(o, codec.n_agents) for o in observed]))
    return scores


def decoded(codec: Any, episode: Any) -> dict[str, np.ndarray]:
    """``episode``'s (an EpisodeChunk) observations at its ``len + 1`` steps, the last one the
    observation after its final step."""
    valid = np.ones((1, len(episode) + 1), bool)
    steps = {key: value[None] for key, value in episode.steps.items()}
    constant = {key: value[None] for key, value in episode.constant.items()}
    return {key: value[0] for key, value in codec.decode(steps, constant, valid).items()}


def buildings(obs: dict[str, np.ndarray], n_agents: int) -> np.ndarray:
    """The city's building entity features (T + 1, K, N_FEATURES) in an episode's
    :func:`decoded` observations, padded buildings included (their type one-hot is zero)."""
    entities = obs["state"][:, :-1] if "state" in obs else obs["entities"]
    return entities.reshape(len(entities), -1, N_FEATURES)[:, n_agents:]


def standing_buildings(episodes: list[np.ndarray]) -> dict[str, float]:
    """The buildings standing (real, neither complete nor burned down) after each episode's last
    step, from :func:`buildings` of each episode: their number per episode, then over them their
    mean health at the end, their mean highest health, the share of slow-burn ones and the share
    of the episode's steps they were on fire."""
    rows = []
    for b in episodes:
        real = b[0, :, FAST_TYPE] + b[0, :, SLOW_TYPE] > 0
        standing = real & (b[-1, :, COMPLETE] == 0) & (b[-1, :, BURNED] == 0)
        s = b[:, standing]
        rows.append(
            (
                s[-1, :, HEALTH],
                s[..., HEALTH].max(0),
                s[0, :, SLOW_TYPE],
                (s[..., FIRE] > 0).mean(0),
            )
        )
    end, peak, slow, on_fire = (np.concatenate(column) for column in zip(*rows, strict=True))
    scores = {"standing_per_episode": end.size / len(episodes)}
    if end.size:
        scores |= {
            "standing_health_end": float(end.mean()),
            "standing_health_peak": float(peak.mean()),
            "standing_slow_burn": float(slow.mean()),
            "standing_steps_on_fire": float(on_fire.mean()),
        }
    return scores


def allocated_distance(observed: dict[str, np.ndarray], episode: Any, column: int) -> np.ndarray:
    """Each present agent's ``pair[..., column]`` towards its allocated subtask, at every step
    of ``episode`` (an EpisodeChunk; ``observed`` its :func:`decoded` observations), flattened."""
    obs = {key: value[: len(episode)] for key, value in observed.items()}
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
    parser.add_argument(
        "--standing",
        action="store_true",
        help="the city: describe the buildings still standing when the episodes end",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    checkpoint = evaluation_checkpoint(args.trial)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    algo = Algorithm.from_checkpoint(str(checkpoint))
    try:
        for label, scripted in (("learned actions", False), ("scripted actions", True)):
            scores = greedy_scores(
                algo, args.episodes, scripted, args.distance_column, args.standing
            )
            shown = ", ".join(f"{k} {v:.3g}" for k, v in scores.items())
            print(f"{label:>16}: {shown}")
    finally:
        algo.stop()


if __name__ == "__main__":
    main()
