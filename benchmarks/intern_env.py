"""Throughput of the intern competition, and the reference figures of every policy.

Steps per second of the PettingZoo parallel env, the single team view and the batched team view
(B = 1, 64, 256 cohorts in one NumPy call), as a ratio to the single team view measured in the
same run; then both of the paper's metrics (average reward per intern-day, 0.9-discounted return)
for the baselines and the oracle planners on the default config.

    python benchmarks/intern_env.py [--steps 2000] [--episodes 1024]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rllib_maaal.envs.intern import OraclePlanner, evaluate, make_team_env, parallel_env
from rllib_maaal.envs.intern.policies import (
    fixed_policy,
    random_message_policy,
    response_policy,
)

PAPER = {
    "always message 0, random pairing": (-259.87, -2601.24),
    "random messages, random pairing": (-248.91, -2495.50),
    "paper's learned hierarchical method": (-143.04, -1436.97),
}


def pettingzoo_steps_per_second(steps: int) -> float:
    pz = parallel_env()
    pz.reset(seed=0)
    actions = {a: 0 for a in pz.possible_agents}
    start = time.perf_counter()
    for _ in range(steps):
        if not pz.agents:
            pz.reset()
        pz.step(actions)
    return steps / (time.perf_counter() - start)


def team_steps_per_second(num_envs: int | None, steps: int) -> float:
    """Env steps per second (one step of one cohort = one env step)."""
    config = {} if num_envs is None else {"num_envs": num_envs}
    team = make_team_env(config)
    obs, _ = team.reset(seed=0)
    zeros = np.zeros(team.action_space["action"].shape, np.int64)
    start = time.perf_counter()
    for _ in range(steps):
        obs, _, terminated, truncated, _ = team.step(
            {"allocation": obs["rule_allocation"], "action": zeros}
        )
        if num_envs is None and (terminated or truncated):
            obs, _ = team.reset()
    return steps * (num_envs or 1) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--episodes", type=int, default=1024)
    args = parser.parse_args()

    single = team_steps_per_second(None, args.steps)
    rows = [("team view, gymnasium.Env", single)]
    rows.append(("PettingZoo parallel_env", pettingzoo_steps_per_second(args.steps)))
    for b in (1, 64, 256):
        rows.append((f"team view, batched B = {b}", team_steps_per_second(b, args.steps // 4)))
    print(f"{'env':32} {'env steps/s':>12} {'intern steps/s':>15} {'vs single':>10}")
    for name, rate in rows:
        print(f"{name:32} {rate:12.0f} {32 * rate:15.0f} {rate / single:9.1f}×")

    print(f"\n{args.episodes} cohorts of the default config (T = 8 teams of 4, 26 weeks):")
    print(f"{'policy':40} {'avg reward/intern-day':>22} {'0.9-discounted return':>22}")
    for name, (average, discounted) in PAPER.items():
        print(f"{'paper: ' + name:40} {average:22.2f} {discounted:22.2f}")
    policies = {
        "always message 0, random pairing": fixed_policy,
        "random messages, random pairing": random_message_policy,
        "response record, random pairing": response_policy,
        "oracle messages, random pairing": OraclePlanner(pair=False),
        "message 0, oracle pairing": OraclePlanner(know_types=False),
        "oracle messages and pairing": OraclePlanner(),
    }
    for name, policy in policies.items():
        start = time.perf_counter()
        r = evaluate(policy, episodes=args.episodes, seed=0)
        average = f"{r['avg_reward_per_intern_day']:.2f} ± {r['avg_reward_sem']:.2f}"
        discounted = f"{r['discounted_return']:.1f} ± {r['discounted_return_sem']:.1f}"
        seconds = time.perf_counter() - start
        print(f"{'ours: ' + name:40} {average:>22} {discounted:>22}   ({seconds:.1f} s)")


if __name__ == "__main__":
    main()
