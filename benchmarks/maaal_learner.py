"""MAAAL learner throughput: trained transitions per CPU-second of one learner update.

One fixed replay batch of city episodes (random valid actions, the tuned config's 32 episodes of
``scenario``), then ``Learner.update`` on it again and again in one process with one torch
thread (as a Ray learner actor runs), timed in CPU seconds (``time.process_time``), so other work
on the machine changes the figure less than it changes wall time. A transition is one valid
(unpadded) env step of the batch.

With ``--baseline ROOT`` the same batch is also timed with the package found under ROOT (e.g. a
git worktree of an older commit) under the same ``--training`` overrides, each code in its own
subprocess, alternating A B A B ..., and the ratio of medians is printed: old and new measured
side by side in one run. Both start from the same weights, so the losses of their first updates
are compared too: the same maths gives the same numbers (up to float rounding).

    python benchmarks/maaal_learner.py --scenario 7a_7b --updates 20 --baseline /tmp/old-learner

With ``--against JSON`` this code is also timed under other ``MAAALConfig.training`` overrides,
alternating in the same way: two configurations side by side, e.g. the QMIX hypernetworks on the
flat state against the pooled one (each run also prints the mixers' parameter counts)::

    python benchmarks/maaal_learner.py --against '{"mixer_state": "pooled"}'
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def collect_batch(scenario: str, episodes: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``episodes`` complete city episodes (one per city, the rule allocation, uniformly random
    actions among those the allocated subtask allows) in the replay's padded batch format,
    flattened to ``obs/<key>`` for ``npz``."""
    from rllib_maaal.algorithms.episodic.episode_replay import EpisodeReplay
    from rllib_maaal.envs.city import make_team_env

    core = make_team_env({"scenario": scenario, "num_envs": episodes, "seed": seed}).core
    running = np.ones(episodes, bool)
    core.reset(running, seed)
    rng = np.random.default_rng(seed)
    obs = [core.observe()]
    allocation, actions, reward, done_at, terminated = [], [], [], {}, {}
    cities = np.arange(episodes)[:, None]
    while running.any():
        now = obs[-1]
        decide = now["decide"][:, :1] > 0
        in_force = np.where(decide, now["rule_allocation"], now["allocation"])
        # The module's action mask: the subtask's actions that are available, else all available.
        subtask = np.take_along_axis(in_force, now["agent_unit"], 1)
        allowed = now["subtask_action_mask"][cities, subtask] * now["action_mask"]
        allowed = np.where(allowed.sum(-1, keepdims=True) > 0, allowed, now["action_mask"])
        action = (rng.random(allowed.shape) * allowed).argmax(-1)
        chosen = {"allocation": in_force, "action": action}
        r, term, trunc, _ = core.step(chosen, running)
        obs.append(core.observe())
        allocation.append(in_force)
        actions.append(action)
        reward.append(r.astype(np.float32))
        for b in np.flatnonzero(running & (term | trunc)):
            done_at[b], terminated[b] = len(reward), bool(term[b])
        running &= ~(term | trunc)
    replay = EpisodeReplay(episodes, seed=seed)
    for b in range(episodes):
        n = done_at[b]
        replay.add_episode(
            {
                "obs": {k: np.stack([o[k][b] for o in obs[: n + 1]]) for k in obs[0]},
                "allocation": np.stack([a[b] for a in allocation[:n]]),
                "action": np.stack([a[b] for a in actions[:n]]),
                "reward": np.array([r[b] for r in reward[:n]], np.float32),
                "terminated": terminated[b],
                "length": n,
            }
        )
    batch = replay.sample(episodes)
    flat = {f"obs/{k}": v for k, v in batch.pop("obs").items()}
    return flat | batch


#: The learner statistics compared between old and new code.
LOSSES = ("l1_loss", "l2_loss", "allocation_td_error", "action_td_error", "q_tot_mean")
#: The module's networks that mix values (and what feeds only them), where it has them.
MIXING_NETWORKS = ("mixer", "alloc_mixer", "state_encoder")


def learner_rate(batch_file: str, scenario: str, updates: int, training: dict) -> dict:
    """Transitions per CPU-second of ``updates`` learner updates on the saved batch, the losses
    of the first update and the parameter count of each of the module's mixing networks."""
    import torch
    from ray.rllib.core import DEFAULT_MODULE_ID
    from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
    from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

    from rllib_maaal.algorithms.maaal import MAAALConfig
    from rllib_maaal.envs.city import make_team_env

    torch.set_num_threads(1)
    with np.load(batch_file) as npz:
        arrays = {k: npz[k] for k in npz.files}
    batch = {"obs": {k[4:]: v for k, v in arrays.items() if k.startswith("obs/")}}
    batch |= {k: v for k, v in arrays.items() if not k.startswith("obs/")}
    transitions = int(batch["length"].sum())
    env_config = {"scenario": scenario, "allocation_interval": 5}
    config = (
        MAAALConfig()
        .environment("maaal/city", env_config=env_config)
        # tuned_configs/city_7a_7b.yaml's learner settings
        .training(lr=5e-4, gamma=0.99, mixer="qmix", target_network_update_freq=200, **training)
        .debugging(seed=0)
    )
    torch.manual_seed(0)
    learner = config.build_learner(env=make_team_env(env_config))
    module = learner.module[DEFAULT_MODULE_ID]
    mixing = [name for name in MIXING_NETWORKS if hasattr(module, name)]
    params = {name: sum(p.numel() for p in getattr(module, name).parameters()) for name in mixing}

    def update() -> dict:
        return learner.update(
            batch=MultiAgentBatch({DEFAULT_MODULE_ID: SampleBatch(batch)}, env_steps=transitions),
            timesteps={NUM_ENV_STEPS_SAMPLED_LIFETIME: 100_000},
        )

    first = update()[DEFAULT_MODULE_ID]
    for _ in range(2):  # warm-up: allocator, first-call dispatch
        update()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(updates):
        update()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    losses = {k: float(first[k]) for k in LOSSES if k in first}
    return {"per_cpu_s": updates * transitions / cpu, "per_s": updates * transitions / wall} | {
        "losses": losses,
        "params": params,
    }


def _timed_in_subprocess(
    root: Path, training: str, args: argparse.Namespace, batch_file: str
) -> dict:
    command = [sys.executable, __file__, "--time-only", batch_file, "--scenario", args.scenario]
    command += ["--updates", str(args.updates), "--training", training]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="7a_7b")
    parser.add_argument("--episodes", type=int, default=32, help="episodes per update")
    parser.add_argument("--updates", type=int, default=20, help="timed updates per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs per code")
    parser.add_argument("--baseline", type=Path, help="root of the code to compare against")
    parser.add_argument(
        "--training", default="{}", help="JSON of MAAALConfig.training overrides (both codes)"
    )
    parser.add_argument(
        "--against", metavar="JSON", help="time this code under these training overrides too"
    )
    parser.add_argument("--time-only", metavar="BATCH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.time_only:
        rate = learner_rate(args.time_only, args.scenario, args.updates, json.loads(args.training))
        print(json.dumps(rate))
        return

    with tempfile.TemporaryDirectory() as tmp:
        batch_file = f"{tmp}/batch.npz"
        batch = collect_batch(args.scenario, args.episodes)
        np.savez(batch_file, **batch)
        length = batch["length"]
        print(
            f"{args.scenario}: {len(length)} episodes, {length.sum()} transitions "
            f"({length.sum() / (len(length) * length.max()):.0%} of the padded batch)"
        )
        # name: (package root, training overrides)
        variants = {"new": (ROOT, args.training)}
        if args.baseline:
            variants["old"] = (args.baseline.resolve(), args.training)
        if args.against:
            variants["alt"] = (ROOT, args.against)
        rates: dict[str, list[dict]] = {name: [] for name in variants}
        for _ in range(args.repeats):
            for name, (root, training) in variants.items():
                rates[name].append(_timed_in_subprocess(root, training, args, batch_file))
    median = {}
    for name, runs in rates.items():
        median[name] = float(np.median([r["per_cpu_s"] for r in runs]))
        wall = float(np.median([r["per_s"] for r in runs]))
        root, training = variants[name]
        print(
            f"{name:>3} ({root}, training {training}): {median[name]:7.0f} transitions per "
            f"CPU-second (median of {len(runs)}; {wall:7.0f} per wall-second); "
            f"parameters {runs[0]['params']}"
        )
    for other in ("old", "alt"):
        if other in median:
            print(f"new / {other}: {median['new'] / median[other]:.2f}x")
    if "old" in median:
        new, old = rates["new"][0]["losses"], rates["old"][0]["losses"]
        gap = max(abs(new[k] - old[k]) / max(abs(old[k]), 1e-8) for k in old)
        print(f"first-update losses, largest relative difference new vs old: {gap:.1e}")


if __name__ == "__main__":
    main()
