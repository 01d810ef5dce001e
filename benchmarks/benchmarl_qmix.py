"""Our QMIX against BenchMARL's QMIX (TorchRL) on MPE simple spread, at the same env-step budget.

For each seed, one after the other (never at the same time, so they do not share the CPUs):

* ours: ``run: QMIX`` with ``tuned_configs/mpe_simple_spread_qmix.yaml`` (8 env copies, one
  update of 32 episodes per sampled episode), in this interpreter's environment;
* BenchMARL ``defaults``: BenchMARL 1.5.2's QMIX and experiment defaults (MLP 256-256, lr 5e-5,
  soft target τ 0.005, ε 0.8 → 0.01 over a third of the budget, batches of 6000 frames, 1000
  optimiser steps of 128 transitions per batch), except the number of env copies (8, as ours);
* BenchMARL ``matched``: BenchMARL's code with our schedule and the QMIX references' settings:
  MLP 64-64, batches of 200 frames (one episode per env copy), 8 optimiser steps of 800
  transitions (32 episodes) per batch, lr 5e-4, hard target copy every 200 steps, gradient norm
  clip 10, ε 1 → 0.05 over 50k frames, a buffer of 125k transitions (5000 episodes).

BenchMARL runs in its own virtual environment (it needs ``pettingzoo<1.25``, whose ``mpe`` it
imports; we use ``mpe2``): this script calls that venv's python on itself with ``--side``.
Both sides: simple_spread_v3 with N=3, local_ratio 0.5, max_cycles 25, discrete actions, torch
threads 1; "env steps" are team steps (BenchMARL's frames). Each side reports, measured the same
way:

* env steps/s and trained transitions/s over the whole training loop (sampling and updates,
  setup and evaluation excluded), per second of wall time and per second of the process's CPU
  time (the figure to compare on a shared machine: both sides run in one process, one torch
  thread); a trained transition is one team step in a gradient batch;
* greedy return: the team return (the sum over the 3 agents and the 25 steps) of ``--episodes``
  greedy episodes, before training ("untrained") and after;
* random: ``--episodes`` episodes of uniformly random actions in the side's own env package,
  with seeded resets and action spaces, which checks that both sides run the same task
  (mpe2 and pettingzoo.mpe give the same returns for the same seeds).

BenchMARL's venv, once (torch first, so that pip keeps the CPU build)::

    python3 -m venv /work/venv-benchmarl
    /work/venv-benchmarl/bin/pip install torch==2.13.0
    /work/venv-benchmarl/bin/pip install -c <(printf 'torch==2.13.0\\ntorchvision==0.28.0\\n') \\
        benchmarl==1.5.2 'pettingzoo[mpe]<1.25'

Then::

    OMP_NUM_THREADS=1 python benchmarks/benchmarl_qmix.py --seeds 0 1 2 \\
        --benchmarl-python /work/venv-benchmarl/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: The task, the same on both sides.
TASK: dict[str, Any] = {"N": 3, "local_ratio": 0.5, "max_cycles": 25, "continuous_actions": False}
TUNED = Path(__file__).resolve().parents[1] / "tuned_configs" / "mpe_simple_spread_qmix.yaml"
NUM_ENVS = 8
#: A multiple of both sides' sampling batches (200 and BenchMARL's default 6000), so every run
#: samples exactly the budget; close to the tuned config's 100k.
DEFAULT_BUDGET = 102_000
#: BenchMARL experiment settings of the two BenchMARL runs (on top of its yaml defaults).
BENCHMARL_SETTINGS: dict[str, dict[str, Any]] = {
    "defaults": {"off_policy_n_envs_per_worker": NUM_ENVS},
    "matched": {
        "off_policy_n_envs_per_worker": NUM_ENVS,
        "off_policy_collected_frames_per_batch": NUM_ENVS * TASK["max_cycles"],
        "off_policy_n_optimizer_steps": 8,
        "off_policy_train_batch_size": 32 * TASK["max_cycles"],
        "off_policy_memory_size": 5000 * TASK["max_cycles"],
        "lr": 5e-4,
        "clip_grad_norm": True,
        "clip_grad_val": 10.0,
        "soft_target_update": False,
        "hard_target_update_frequency": 200,
        "exploration_eps_init": 1.0,
        "exploration_eps_end": 0.05,
        "exploration_anneal_frames": 50_000,
    },
}
BENCHMARL_MLP: dict[str, dict[str, Any]] = {"defaults": {}, "matched": {"num_cells": [64, 64]}}


def random_return(parallel_env: Any, episodes: int, seed: int) -> float:
    """Mean team return of uniformly random actions; resets seeded ``seed + k``."""
    env = parallel_env(**TASK)
    total = 0.0
    for k in range(episodes):
        env.reset(seed=seed + k)
        for i, agent in enumerate(env.possible_agents):
            env.action_space(agent).seed(seed + k + 1000 * i)
        while env.agents:
            _, rewards, *_ = env.step({a: env.action_space(a).sample() for a in env.agents})
            total += sum(rewards.values())
    env.close()
    return total / episodes


# -- our side --------------------------------------------------------------------------------------
def run_ours(budget: int, seed: int, episodes: int) -> dict[str, Any]:
    import numpy as np
    import ray
    import torch
    from mpe2 import simple_spread_v3

    from rllib_maaal.evaluation import evaluation_runner
    from rllib_maaal.experiment import build_experiments, load_file, validate_search_space

    torch.set_num_threads(1)
    (experiment,) = build_experiments(load_file(TUNED))
    (config,) = validate_search_space(experiment)
    kwargs = config.env_config["kwargs"]
    if any(kwargs.get(key, value) != value for key, value in TASK.items()):
        raise ValueError(f"{TUNED.name} env kwargs {kwargs} differ from the benchmark's {TASK}")
    config = config.copy(copy_frozen=False)
    config.env_config = {**config.env_config, "kwargs": TASK}
    config.debugging(seed=seed)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)

    def greedy(algo: Any) -> float:
        done = evaluation_runner(algo).sample(num_episodes=episodes, explore=False)
        return float(np.mean([e.get_return() for e in done[:episodes]]))

    algo = config.build_algo()
    untrained = greedy(algo)
    sampled = trained = 0
    start, cpu = time.perf_counter(), time.process_time()
    while sampled < budget:
        result = algo.train()
        sampled = result["env_runners"]["num_env_steps_sampled_lifetime"]
        # Absent until learning starts (after 32 episodes).
        learners = result["learners"].get("__all_modules__", {})
        trained = learners.get("num_env_steps_trained_lifetime", 0)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    out = {
        "run": "ours",
        "env_steps": int(sampled),
        "trained": int(trained),
        "wall_s": wall,
        "cpu_s": cpu,
        "untrained": untrained,
        "greedy": greedy(algo),
        "random": random_return(simple_spread_v3.parallel_env, episodes, seed),
    }
    algo.stop()
    ray.shutdown()
    return out


# -- BenchMARL's side (runs in BenchMARL's venv) -----------------------------------------------
def run_benchmarl(budget: int, seed: int, episodes: int, setting: str) -> dict[str, Any]:
    import torch
    from benchmarl.algorithms import QmixConfig
    from benchmarl.environments import PettingZooTask
    from benchmarl.experiment import Experiment, ExperimentConfig
    from benchmarl.models.mlp import MlpConfig
    from pettingzoo.mpe import simple_spread_v3
    from torchrl.envs.utils import ExplorationType, set_exploration_type

    torch.set_num_threads(1)
    task = PettingZooTask.SIMPLE_SPREAD.get_from_yaml()
    # BenchMARL's task config has no continuous_actions: it is set from the algorithm (QMIX:
    # discrete), checked below.
    task.config.update({k: v for k, v in TASK.items() if k != "continuous_actions"})
    config = ExperimentConfig.get_from_yaml()
    for key, value in BENCHMARL_SETTINGS[setting].items():
        setattr(config, key, value)
    batch = config.off_policy_collected_frames_per_batch
    if budget % batch:
        raise ValueError(f"--env-steps must be a multiple of {batch} (BenchMARL's batch)")
    config.max_n_frames = budget
    config.prefer_continuous_actions = False
    # No loggers, no periodic evaluation, no checkpoints: only the training loop is timed.
    config.loggers = []
    config.create_json = False
    config.evaluation = False
    config.render = False
    config.checkpoint_at_end = False
    config.save_folder = tempfile.mkdtemp(prefix="benchmarl_qmix_")
    model = MlpConfig.get_from_yaml()
    for key, value in BENCHMARL_MLP[setting].items():
        setattr(model, key, value)
    experiment = Experiment(
        task=task,
        algorithm_config=QmixConfig.get_from_yaml(),
        model_config=model,
        seed=seed,
        config=config,
    )
    if experiment.continuous_actions or experiment.max_steps != TASK["max_cycles"]:
        raise RuntimeError("BenchMARL's task differs from TASK (continuous actions or horizon)")

    @torch.no_grad()
    def greedy() -> float:
        env = experiment.test_env
        env.set_seed(seed)
        total = 0.0
        with set_exploration_type(ExplorationType.DETERMINISTIC):
            for _ in range(episodes):
                rollout = env.rollout(
                    max_steps=TASK["max_cycles"],
                    policy=experiment.policy,
                    auto_cast_to_device=True,
                    break_when_any_done=True,
                )
                total += sum(
                    float(rollout["next", group, "reward"].sum()) for group in experiment.group_map
                )
        return total / episodes

    untrained = greedy()
    start, cpu = time.perf_counter(), time.process_time()
    experiment.run()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    iterations = experiment.n_iters_performed
    return {
        "run": f"BenchMARL {setting}",
        "env_steps": int(experiment.total_frames),
        "trained": iterations
        * config.off_policy_n_optimizer_steps
        * config.off_policy_train_batch_size,
        "wall_s": wall,
        "cpu_s": cpu,
        "untrained": untrained,
        "greedy": greedy(),
        "random": random_return(simple_spread_v3.parallel_env, episodes, seed),
    }


# -- the driver ------------------------------------------------------------------------------------
def side(python: str, args: argparse.Namespace, seed: int, which: str) -> dict[str, Any]:
    """One run in a fresh ``python`` process; its result is the last line it prints."""
    command = [python, __file__, "--side", which, "--env-steps", str(args.env_steps)]
    command += ["--seeds", str(seed), "--episodes", str(args.episodes)]
    env = os.environ | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if which != "ours":  # our package must not leak into BenchMARL's interpreter
        env.pop("PYTHONPATH", None)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"{which} (seed {seed}) failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: list[dict[str, Any]]) -> str:
    header = (
        "| run | seed | env steps | wall s | CPU s | env steps/s (wall, CPU) "
        "| trained transitions/s (wall, CPU) | greedy return | untrained | random |"
    )
    lines = [header, "|" + " --- |" * 10]
    for r in rows:
        lines.append(
            f"| {r['run']} | {r['seed']} | {r['env_steps']:,} | {r['wall_s']:.0f} "
            f"| {r['cpu_s']:.0f} | {r['env_steps'] / r['wall_s']:.0f}, "
            f"{r['env_steps'] / r['cpu_s']:.0f} | {r['trained'] / r['wall_s']:,.0f}, "
            f"{r['trained'] / r['cpu_s']:,.0f} | {r['greedy']:.1f} | {r['untrained']:.1f} "
            f"| {r['random']:.1f} |"
        )
    return "\n".join(lines)


def summary(rows: list[dict[str, Any]]) -> str:
    """Per run: mean greedy return over seeds, and throughput relative to ours."""
    import statistics

    runs = {}
    for r in rows:
        runs.setdefault(r["run"], []).append(r)
    ours = runs["ours"]

    def ratio(rs: list[dict[str, Any]], key: str, time: str) -> float:
        """Ours over ``rs``: ``key`` per second of ``time``."""
        rate = [sum(r[key] for r in x) / sum(r[time] for r in x) for x in (ours, rs)]
        return rate[0] / rate[1]

    lines = []
    for name, rs in runs.items():
        greedy = [r["greedy"] for r in rs]
        spread = f" ± {statistics.stdev(greedy):.1f}" if len(greedy) > 1 else ""
        lines.append(
            f"{name}: greedy {statistics.mean(greedy):.1f}{spread} over {len(rs)} seed(s); ours "
            f"samples ×{ratio(rs, 'env_steps', 'cpu_s'):.2f} the env steps per CPU second "
            f"(×{ratio(rs, 'env_steps', 'wall_s'):.2f} per wall second) and trains "
            f"×{ratio(rs, 'trained', 'cpu_s'):.2f} the transitions per CPU second "
            f"(×{ratio(rs, 'trained', 'wall_s'):.2f})"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env-steps", type=int, default=DEFAULT_BUDGET)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--episodes", type=int, default=32, help="greedy/random episodes")
    parser.add_argument(
        "--benchmarl-python",
        default=os.environ.get("BENCHMARL_PYTHON", "/work/venv-benchmarl/bin/python"),
        help="python of BenchMARL's venv (default $BENCHMARL_PYTHON or /work/venv-benchmarl)",
    )
    parser.add_argument(
        "--benchmarl-settings",
        nargs="+",
        choices=sorted(BENCHMARL_SETTINGS),
        default=sorted(BENCHMARL_SETTINGS),
    )
    parser.add_argument("--side", choices=["ours", *BENCHMARL_SETTINGS], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:  # a child: one run, the result as the last line
        (seed,) = args.seeds
        if args.side == "ours":
            result = run_ours(args.env_steps, seed, args.episodes)
        else:
            result = run_benchmarl(args.env_steps, seed, args.episodes, args.side)
        print(json.dumps(result | {"seed": seed}))
        return
    if not Path(args.benchmarl_python).exists():
        raise SystemExit(f"--benchmarl-python {args.benchmarl_python} does not exist")
    rows = []
    for seed in args.seeds:
        runs = [(sys.executable, "ours")]
        runs += [(args.benchmarl_python, setting) for setting in args.benchmarl_settings]
        for python, which in runs:
            rows.append(side(python, args, seed, which))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)  # progress, and the raw row
    print(table(rows))
    print(summary(rows))


if __name__ == "__main__":
    main()
