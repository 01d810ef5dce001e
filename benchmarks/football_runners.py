"""Football sampling across EnvRunners: MAAAL's team steps/s with N remote EnvRunners against the
bare engine.

Each EnvRunner (one CPU, one match) samples MAAAL's exploring policy on the 10-subtask front
field of tuned_configs/grf_10subtasks.yaml, nothing trained. One algorithm with max(N) EnvRunners
is built; for each N of ``--runners``, its first N EnvRunners sample at once. In interleaved
rounds (the median of each figure is reported, so load that comes and goes hits all alike):

* total team steps/s of N EnvRunners, and the speed-up over one EnvRunner;
* per-runner efficiency: one EnvRunner's share against the bare engine (gfootball's raw env,
  every player on the built-in AI) stepping alone in one process, and against N bare engines in
  N processes at once (what this machine's cores give the engine alone).

    python benchmarks/football_runners.py [--runners 1 2] [--steps 500] [--rounds 3]
    python benchmarks/football_runners.py --runners 1 2 4 8 16      # on a bigger machine
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import ray
import torch
from football_env import in_workers, run_bare

import rllib_maaal
from rllib_maaal.algorithms.maaal import MAAALConfig

ENV_CONFIG = {
    "scenario": "11_vs_11_stochastic",
    "tree": "10_subtasks",
    "part": "front",
    "rewards": "scoring,checkpoints",
    "allocation_interval": 10,
}


def _sample(runner, num_timesteps: int) -> int:
    return sum(len(episode) for episode in runner.sample(num_timesteps=num_timesteps))


def build(runners: int):
    config = (
        MAAALConfig()
        .environment("maaal/football", env_config=ENV_CONFIG)
        .env_runners(
            num_env_runners=runners,
            num_envs_per_env_runner=1,
            num_cpus_per_env_runner=1,
            rollout_fragment_length=100,
        )
    )
    algo = config.build_algo()
    algo.env_runner_group.foreach_env_runner(lambda r: _sample(r, 100), local_env_runner=False)
    return algo


def runners_steps_per_s(algo, runners: int, steps: int) -> float:
    """Team steps/s of the first ``runners`` EnvRunners sampling ``steps`` each, all at once."""
    start = time.perf_counter()
    sampled = algo.env_runner_group.foreach_env_runner(
        lambda r: _sample(r, steps),
        local_env_runner=False,
        remote_worker_ids=list(range(1, runners + 1)),
    )
    return sum(sampled) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runners", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=500, help="team steps per EnvRunner")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rllib_maaal.register()
    # Loopback only: the benchmark's Ray instance is not reachable from other machines.
    ray.init(num_cpus=max(args.runners), include_dashboard=False, _node_ip_address="127.0.0.1")
    scenario, steps = ENV_CONFIG["scenario"], args.steps
    algo = build(max(args.runners))
    bare, total, ideal = [], {n: [] for n in args.runners}, {n: [] for n in args.runners}
    for _ in range(args.rounds):
        bare.append(run_bare(steps, scenario))
        for n in args.runners:
            total[n].append(runners_steps_per_s(algo, n, steps))
            ideal[n].append(in_workers(run_bare, steps, scenario, n) / n)
    algo.stop()
    ray.shutdown()

    bare_rate = float(np.median(bare))
    print(f"{scenario}, {steps} team steps per EnvRunner, median of {args.rounds} rounds")
    print(f"bare engine, one process: {bare_rate:7.1f} team steps/s")
    first = float(np.median(total[args.runners[0]])) / args.runners[0]
    for n in args.runners:
        rate, per_engine = float(np.median(total[n])), float(np.median(ideal[n]))
        share = rate / n
        print(
            f"{n:3d} EnvRunner(s): {rate:7.1f} team steps/s, x{rate / first:5.2f} one runner; "
            f"per runner {share:6.1f} = {share / bare_rate:5.1%} of the bare engine alone, "
            f"{share / per_engine:5.1%} of a bare engine among {n} at once ({per_engine:.1f})"
        )


if __name__ == "__main__":
    main()
