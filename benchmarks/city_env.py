"""Team-steps per second of the city task under uniform random valid actions.

One city (the single ``gymnasium`` team env) and batches of B cities (the vector env, one NumPy
call per step for all of them); a team-step is one step of one city, so a batch of B counts B.
Printed against the published environment's 4,700 (7 agents) and 2,300 (16 agents) steps/s.

    python benchmarks/city_env.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rllib_maaal.envs.city import make_team_env

PUBLISHED = {"7a_7b": 4700.0, "16a_16b": 2300.0}


def team_steps_per_second(scenario: str, num_envs: int | None, seconds: float) -> float:
    config = {"scenario": scenario, "teams": "fixed", "seed": 0}
    if num_envs is not None:
        config["num_envs"] = num_envs
    team = make_team_env(config)
    obs, _ = team.reset(seed=0)
    rng = np.random.default_rng(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        mask = obs["action_mask"]
        action = {
            "allocation": obs["rule_allocation"],
            "action": (rng.random(mask.shape) * mask).argmax(-1),
        }
        obs, _, terminated, truncated, _ = team.step(action)
        if num_envs is None and (terminated or truncated):
            obs, _ = team.reset()
        steps += 1
    return steps * (num_envs or 1) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args()
    print(f"{'scenario':9} {'cities':>12} {'team-steps/s':>13} {'vs published':>13}")
    for scenario, published in PUBLISHED.items():
        for num_envs in (None, 1, 16, 64, 256):
            rate = team_steps_per_second(scenario, num_envs, args.seconds)
            label = "single env" if num_envs is None else f"batch {num_envs}"
            print(f"{scenario:9} {label:>12} {rate:13,.0f} {rate / published:12.1f}×")


if __name__ == "__main__":
    main()
