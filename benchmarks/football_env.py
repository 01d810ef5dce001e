"""Engine steps per second through our football wrapper versus the bare gfootball env.

Both sides play the same scenario (our keeper on the game's AI, ten controlled players) with every
player on the built-in AI action, so they do the same engine work; the difference is what our
wrapper adds per step (features, tree tick, team observation). Measured in the same run:

1. one process: the bare env (``raw``, as ``gfootball.env.create_environment`` builds it) and our
   PettingZoo env and team env, in interleaved rounds (the median of each is reported), plus the
   time our per-step code takes on its own;
2. several workers: one process per worker, bare vs team env, total steps/s;
3. the vector team env (``num_envs`` = workers), ``sync`` vs ``async``.

Target: the wrapper costs at most 10 % of the bare engine's steps/s.

    python benchmarks/football_env.py [--steps 600] [--rounds 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from rllib_maaal.envs import football
from rllib_maaal.envs.football.zones import BUILTIN_AI


def bare_env(scenario: str):
    """gfootball's own raw env on our keeper-on-AI scenario, v2 actions."""
    from gfootball.env import create_environment

    level, layout = football.keeper_on_ai_scenario(scenario)
    env = create_environment(
        env_name=level,
        representation="raw",
        number_of_left_players_agent_controls=len(layout.ours),
        other_config_options={"action_set": "v2"},
    )
    return env, [BUILTIN_AI] * len(layout.ours)


def run_bare(steps: int, scenario: str) -> float:
    env, actions = bare_env(scenario)
    env.reset()
    start = time.perf_counter()
    for _ in range(steps):
        _, _, done, _ = env.step(actions)
        if done:
            env.reset()
    return steps / (time.perf_counter() - start)


def run_parallel(steps: int, scenario: str) -> float:
    env = football.parallel_env(scenario=scenario)
    env.reset(seed=0)
    actions = dict.fromkeys(env.possible_agents, BUILTIN_AI)
    start = time.perf_counter()
    for _ in range(steps):
        *_, terminations, _, _ = env.step(actions)
        if any(terminations.values()):
            env.reset()
    return steps / (time.perf_counter() - start)


def run_team(steps: int, scenario: str) -> float:
    env = football.make_team_env({"scenario": scenario})
    obs, _ = env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(football.fixed_bt_policy(obs))
        if terminated or truncated:
            obs, _ = env.reset()
    return steps / (time.perf_counter() - start)


def wrapper_time(steps: int, scenario: str) -> float:
    """Seconds per step of our code alone: features + tree + team observation on a fixed raw obs."""
    core = football.FootballTeamCore({"scenario": scenario})
    core.reset(np.ones(1, bool), seed=0)
    raw = core.match.raw
    start = time.perf_counter()
    for _ in range(steps):
        core.match._read(raw)
        core._tick()
        football.fixed_bt_policy({k: v[0] for k, v in core.observe().items()})
    return (time.perf_counter() - start) / steps


def run_vector(steps: int, scenario: str, workers: int, mode: str) -> float:
    env = football.make_team_env({"scenario": scenario, "num_envs": workers, "vectorize": mode})
    obs, _ = env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps):
        obs, *_ = env.step(football.fixed_bt_policy(obs))
    elapsed = time.perf_counter() - start
    env.close()
    return steps * workers / elapsed


def in_workers(fn, steps: int, scenario: str, workers: int) -> float:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        return sum(pool.map(fn, [steps] * workers, [scenario] * workers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scenario", default="11_vs_11_stochastic")
    args = parser.parse_args()
    steps, scenario = args.steps, args.scenario

    runs = {"bare": run_bare, "parallel_env": run_parallel, "team_env": run_team}
    rates = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, fn in runs.items():
            rates[name].append(fn(steps, scenario))
    bare = float(np.median(rates["bare"]))
    print(f"one process, {scenario}, {steps} steps x {args.rounds} rounds (median steps/s):")
    for name, values in rates.items():
        rate = float(np.median(values))
        print(f"  {name:13s} {rate:7.1f} steps/s   {rate / bare:6.1%} of bare")
    ours = wrapper_time(steps, scenario)
    print(f"  our code alone: {ours * 1e3:.3f} ms/step = {ours * bare:.1%} of a bare step")

    workers = args.workers
    bare_w = in_workers(run_bare, steps, scenario, workers)
    team_w = in_workers(run_team, steps, scenario, workers)
    print(f"{workers} worker processes (total steps/s):")
    print(f"  bare          {bare_w:7.1f}")
    print(f"  team_env      {team_w:7.1f}   {team_w / bare_w:6.1%} of bare")
    print(f"vector team env, num_envs={workers} (total steps/s):")
    for mode in football.VECTORIZE:
        print(f"  {mode:6s}        {run_vector(steps, scenario, workers, mode):7.1f}")


if __name__ == "__main__":
    main()
