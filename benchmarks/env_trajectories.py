"""Check that two checkouts of rllib_maaal play identical city and intern trajectories.

Each checkout runs the same seeded random play in a subprocess of its own (that checkout first on
``PYTHONPATH``) and reports, after every step, a digest of every array: the team observation,
reward, terminated, truncated, infos, every NumPy array the core holds (its state) and the state
of its random generator. The digests must match exactly (bit for bit), step by step; the first
difference is printed with its step and key. Only the registered names (``env_creator``) and the
team view's contract are used, so any two versions with that API can be compared, e.g. a branch
against main:

    git -C /work/main worktree add --detach /tmp/envs-old main
    python benchmarks/env_trajectories.py --old /tmp/envs-old [--new .] [--steps 300]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

#: (task, env_config) pairs: batches exercise the vector env's autoreset, single envs the reset.
CASES = [
    ("maaal/city", {"scenario": "7a_7b", "num_envs": 4, "seed": 0}),
    ("maaal/city", {"scenario": "16a_16b", "num_envs": 4, "seed": 1}),
    ("maaal/city", {"scenario": "16a_16b", "teams": "fixed", "seed": 2}),
    ("maaal/city", {"scenario": "2-8a_2-8b", "obs_layout": "flat", "num_envs": 3, "seed": 3}),
    ("maaal/intern", {"num_envs": 4, "seed": 0}),
    ("maaal/intern", {"n_teams": 5, "n_weeks": 4, "seed": 1}),
]


def digest(value: Any) -> str:
    """A digest of an array's dtype, shape and bytes."""
    array = np.ascontiguousarray(value)
    header = f"{array.dtype.str}{array.shape}".encode()
    return hashlib.sha256(header + array.tobytes()).hexdigest()[:20]


def core_digests(core: Any) -> dict[str, str]:
    """Every NumPy array the core holds (a leading underscore dropped from its name) and the state
    of its random generator."""
    arrays = {
        f"core.{name.lstrip('_')}": digest(value)
        for name, value in vars(core).items()
        if isinstance(value, np.ndarray)
    }
    arrays["core.rng"] = hashlib.sha256(
        json.dumps(core.rng.bit_generator.state, sort_keys=True).encode()
    ).hexdigest()[:20]
    return arrays


def random_action(obs: dict[str, np.ndarray], rng: np.random.Generator, task: str) -> dict:
    """Uniform random available actions; at decisions, uniform random active subtasks (city) or
    the rule pairing (intern: a pairing must be valid)."""
    mask = obs["action_mask"]
    action = (rng.random(mask.shape) * (mask + 1e-3)).argmax(-1)  # + ε: never an all-zero row
    allocation = obs["rule_allocation"]
    if task == "maaal/city":
        active = obs["subtask_active"][..., None, :]
        shape = (*mask.shape[:-1], active.shape[-1])
        allocation = (rng.random(shape) * active).argmax(-1)
    return {"allocation": allocation, "action": action}


def record(steps: int) -> dict[str, list[dict[str, str]]]:
    """Digests of every step of every case, in this process's rllib_maaal."""
    from rllib_maaal.envs import env_creator

    trajectories = {}
    for index, (task, config) in enumerate(CASES):
        env = env_creator(task)(dict(config))
        batched = "num_envs" in config
        rng = np.random.default_rng(index)
        obs, _ = env.reset(seed=config["seed"])
        rows = []
        for _ in range(steps):
            obs, reward, terminated, truncated, infos = env.step(random_action(obs, rng, task))
            row = {f"obs.{key}": digest(value) for key, value in obs.items()}
            row.update({f"infos.{key}": digest(value) for key, value in infos.items()})
            row.update(
                reward=digest(reward), terminated=digest(terminated), truncated=digest(truncated)
            )
            row.update(core_digests(env.unwrapped.core if not batched else env.core))
            rows.append(row)
            if not batched and (terminated or truncated):
                obs, _ = env.reset()
        trajectories[f"{task} {json.dumps(config, sort_keys=True)}"] = rows
    return trajectories


def run_checkout(path: Path, steps: int) -> dict[str, list[dict[str, str]]]:
    """:func:`record` in a subprocess that imports rllib_maaal from ``path``."""
    env = {**os.environ, "PYTHONPATH": str(path), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, __file__, "--record", "--steps", str(steps)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def compare(old: dict, new: dict) -> list[str]:
    """The differences between two recordings: the first differing step of every case, and keys
    present in only one of them."""
    problems = []
    for case, old_rows in old.items():
        new_rows = new[case]
        only_old = sorted(set(old_rows[0]) - set(new_rows[0]))
        only_new = sorted(set(new_rows[0]) - set(old_rows[0]))
        if only_old or only_new:
            problems.append(f"{case}: keys only in old {only_old}, only in new {only_new}")
        for step, (a, b) in enumerate(zip(old_rows, new_rows, strict=True)):
            differ = sorted(key for key in set(a) & set(b) if a[key] != b[key])
            if differ:
                problems.append(f"{case}: step {step} differs in {differ}")
                break
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, help="checkout to compare against (e.g. main)")
    parser.add_argument("--new", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--steps", type=int, default=300, help="steps of every case")
    parser.add_argument("--record", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.record:
        print(json.dumps(record(args.steps)))
        return
    if args.old is None:
        parser.error("--old is required")
    old, new = run_checkout(args.old, args.steps), run_checkout(args.new, args.steps)
    for case, rows in new.items():
        print(f"{case}: {len(rows)} steps, {len(rows[0])} arrays per step")
    problems = compare(old, new)
    print("\n".join(problems) if problems else "identical: every array of every step")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
