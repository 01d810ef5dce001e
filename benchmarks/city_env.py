"""Team-steps per second of the city task under uniform random valid actions.

One city (the single ``gymnasium`` team env) and batches of B cities (the vector env, one call of
the compiled kernels per step for all of them); a team-step is one step of one city, so a batch of
B counts B. A first step before timing compiles the kernels (or loads them from numba's cache).
Printed against the published environment's 4,700 (7 agents) and 2,300 (16 agents) steps/s.
Each figure is the best of ``--repeats`` timed stretches, by the wall clock and by this process's
CPU time (the published figures are per core; on a shared machine the wall clock also counts the
time other processes hold the core). The load average is printed alongside.

    python benchmarks/city_env.py [--seconds 1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from rllib_maaal.envs.city import make_team_env

PUBLISHED = {"7a_7b": 4700.0, "16a_16b": 2300.0}


def team_steps_per_second(
    scenario: str, num_envs: int | None, seconds: float, repeats: int
) -> tuple[float, float]:
    """Best team-steps per wall-clock second and per CPU second over ``repeats`` stretches."""
    config = {"scenario": scenario, "teams": "fixed", "seed": 0}
    if num_envs is not None:
        config["num_envs"] = num_envs
    team = make_team_env(config)
    obs, _ = team.reset(seed=0)
    rng = np.random.default_rng(0)

    def step() -> None:
        nonlocal obs
        mask = obs["action_mask"]
        action = {
            "allocation": obs["rule_allocation"],
            "action": (rng.random(mask.shape) * mask).argmax(-1),
        }
        obs, _, terminated, truncated, _ = team.step(action)
        if num_envs is None and (terminated or truncated):
            obs, _ = team.reset()

    step()
    best_wall = best_cpu = 0.0
    for _ in range(repeats):
        steps, start, cpu_start = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds:
            step()
            steps += 1
        team_steps = steps * (num_envs or 1)
        best_wall = max(best_wall, team_steps / (time.perf_counter() - start))
        best_cpu = max(best_cpu, team_steps / max(time.process_time() - cpu_start, 1e-9))
    return best_wall, best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed stretch")
    parser.add_argument("--repeats", type=int, default=5, help="timed stretches per figure")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(
        f"{'scenario':9} {'cities':>12} {'team-steps/s':>13} {'vs published':>13} "
        f"{'per CPU-s':>10} {'vs published':>13}"
    )
    for scenario, published in PUBLISHED.items():
        for num_envs in (None, 1, 16, 64, 256):
            wall, cpu = team_steps_per_second(scenario, num_envs, args.seconds, args.repeats)
            label = "single env" if num_envs is None else f"batch {num_envs}"
            print(
                f"{scenario:9} {label:>12} {wall:13,.0f} {wall / published:12.1f}× "
                f"{cpu:10,.0f} {cpu / published:12.1f}×"
            )


if __name__ == "__main__":
    main()
