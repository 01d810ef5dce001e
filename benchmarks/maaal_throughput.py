"""MAAAL throughput on SAVETHECITY: sampled env steps/s and trained transitions/s.

Runs MAAAL with 1 and 2 EnvRunners on one scenario and, in the same run, the raw batched env
(the same number of cities stepped with uniformly random valid actions, no policy), so sampling
speed is reported as a fraction of what the env alone can do. Three figures:

* raw batched env: the env alone;
* sampling only: one EnvRunner's ``sample()`` (policy forward passes, connectors, episode
  bookkeeping), no learning;
* training, 1 and 2 EnvRunners: whole ``train()`` iterations (sampling, then the tuned config's
  two learner updates of 32 episodes), so sampled steps/s is bound by the learner there.

    python benchmarks/maaal_throughput.py --scenario 7a_7b --iterations 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import ray

import rllib_maaal  # noqa: F401  (registers maaal/city and MAAAL)
from rllib_maaal.algorithms.maaal import MAAALConfig
from rllib_maaal.envs.city import make_team_env


def raw_env_steps_per_s(scenario: str, num_envs: int, steps: int = 300) -> float:
    """Team-steps/s of the batched city with random valid actions (policy-free upper bound)."""
    env = make_team_env({"scenario": scenario, "num_envs": num_envs, "seed": 0})
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(steps):
        scores = rng.random(obs["action_mask"].shape) * obs["action_mask"]
        action = {"allocation": obs["rule_allocation"], "action": scores.argmax(-1)}
        obs, *_ = env.step(action)
    return steps * num_envs / (time.perf_counter() - start)


def sampling_steps_per_s(scenario: str, num_envs: int, steps: int = 20_000) -> float:
    """Env steps/s of one local EnvRunner sampling with exploration, nothing trained."""
    algo = _config(scenario, 0, num_envs).build_algo()
    algo.env_runner.sample(num_timesteps=2_000)  # warm-up
    start = time.perf_counter()
    episodes = algo.env_runner.sample(num_timesteps=steps)
    elapsed = time.perf_counter() - start
    algo.stop()
    return sum(len(e) for e in episodes) / elapsed


def _config(scenario: str, num_env_runners: int, num_envs: int) -> MAAALConfig:
    return (
        MAAALConfig()
        .environment("maaal/city", env_config={"scenario": scenario})
        .env_runners(
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=num_envs,
            rollout_fragment_length=25,
        )
        # tuned_configs/city_7a_7b.yaml's updates
        .training(
            num_episodes_before_learning_starts=32, episodes_per_update=32, updates_per_iteration=2
        )
        .debugging(seed=0)
    )


def maaal_rates(scenario: str, num_env_runners: int, num_envs: int, iterations: int) -> tuple:
    algo = _config(scenario, num_env_runners, num_envs).build_algo()
    for _ in range(3):  # warm-up: fill the replay, start learning
        algo.train()
    sampled0 = algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime"))
    trained0 = algo.metrics.peek(
        ("learners", "__all_modules__", "num_env_steps_trained_lifetime"), default=0
    )
    start = time.perf_counter()
    for _ in range(iterations):
        algo.train()
    elapsed = time.perf_counter() - start
    sampled = algo.metrics.peek(("env_runners", "num_env_steps_sampled_lifetime")) - sampled0
    trained = (
        algo.metrics.peek(
            ("learners", "__all_modules__", "num_env_steps_trained_lifetime"), default=0
        )
        - trained0
    )
    algo.stop()
    return sampled / elapsed, trained / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="7a_7b")
    parser.add_argument("--num-envs", type=int, default=64, help="cities per EnvRunner")
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    ray.init(include_dashboard=False)
    raw = raw_env_steps_per_s(args.scenario, args.num_envs)
    print(f"raw batched env ({args.num_envs} cities, random actions): {raw:10.0f} team-steps/s")
    sampling = sampling_steps_per_s(args.scenario, args.num_envs)
    print(
        f"MAAAL sampling only, 1 EnvRunner: {sampling:8.0f} env steps/s "
        f"({sampling / raw:5.1%} of raw)"
    )
    for runners in (1, 2):
        sampled, trained = maaal_rates(args.scenario, runners, args.num_envs, args.iterations)
        print(
            f"MAAAL, {runners} EnvRunner(s): sampled {sampled:8.0f} env steps/s "
            f"({sampled / raw:5.1%} of raw, x{runners}), trained {trained:8.0f} transitions/s"
        )


if __name__ == "__main__":
    main()
