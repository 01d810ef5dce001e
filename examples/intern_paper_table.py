"""The paper's table (Hu, arXiv 2501.06554) for our intern simulator.

For every policy: the average reward per intern-day and the 0.9-discounted return over a batch of
evaluation cohorts (the same cohorts for every policy), each with a 95 % confidence interval
(± 1.96 standard errors over cohorts), next to the paper's figures:

* the learned option-critic grouping method, from checkpoints (``--checkpoint``, one or more) or
  trained here for ``--iterations`` per seed (``--train-seeds``) with the tuned experiment file;
  one row per checkpoint or seed and, for several, a row pooling their evaluation cohorts;
* MAAAL with pairing allocations, when a MAAAL checkpoint is given (``--maaal-checkpoint``);
* the paper's baselines: always message 0, and random messages, both with random pairings.

Learned policies act greedily over options and sample their messages (as they were trained).

    python examples/intern_paper_table.py --checkpoint ~/ray_results/intern-option-critic/T/cp
    python examples/intern_paper_table.py --train-seeds 0 1 2 --iterations 100 --save ckpts/
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ray.rllib.core.columns import Columns

from rllib_maaal.envs.intern import InternConfig, InternCore
from rllib_maaal.envs.intern.policies import Policy, fixed_policy, random_message_policy

TUNED = Path(__file__).resolve().parents[1] / "tuned_configs" / "intern_option_critic.yaml"
#: The paper's table: average reward per intern-day, 0.9-discounted return.
PAPER = {
    "paper: proposed hierarchical method": (-143.04, -1436.97),
    "paper: fixed, always message 0": (-259.87, -2601.24),
    "paper: random messages": (-248.91, -2495.50),
}
Z95 = 1.96


def module_policy(module: Any) -> Policy:
    """A policy of :mod:`rllib_maaal.envs.intern` from an RLModule (its exploration-free forward
    pass; the option-critic's messages are still sampled from its policy)."""

    def act(core: InternCore, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = {Columns.OBS: {k: torch.as_tensor(v) for k, v in obs.items()}}
        with torch.no_grad():
            actions = module.forward_inference(batch)[Columns.ACTIONS]
        return {k: v.cpu().numpy() for k, v in actions.items()}

    return act


def rollout(policy: Policy, cfg: InternConfig, episodes: int, seed: int) -> dict[str, np.ndarray]:
    """Both metrics, per cohort, of ``episodes`` cohorts in one batched core (seeded: every
    policy starts from the same cohorts)."""
    core = InternCore(cfg, num_envs=episodes, seed=seed)
    every = np.ones(episodes, bool)
    core.reset(every)
    torch.manual_seed(seed)
    for _ in range(cfg.horizon):
        _, _, _, infos = core.step(policy(core, core.observe()), every)
    return {key: infos[key] for key in ("avg_reward_per_intern_day", "discounted_return")}


def load_algorithm(path: str) -> Any:
    from ray.rllib.algorithms.algorithm import Algorithm

    import rllib_maaal  # noqa: F401 - registers our envs and algorithms for the restore

    return Algorithm.from_checkpoint(str(Path(path).expanduser().resolve()))


def train(seed: int, iterations: int, save: Path | None) -> Any:
    """The tuned option-critic experiment, trained for ``iterations`` with ``seed``."""
    from rllib_maaal.algorithms.option_critic import OptionCriticConfig
    from rllib_maaal.experiment import load_file

    (spec,) = load_file(TUNED).values()
    config = OptionCriticConfig().update_from_dict({**spec["config"], "seed": seed})
    algo = config.environment(spec["env"], env_config=spec["config"]["env_config"]).build_algo()
    for i in range(iterations):
        result = algo.train()
        if (i + 1) % 10 == 0:
            sampled = result["env_runners"].get("avg_reward_per_intern_day", float("nan"))
            print(f"  seed {seed}, iteration {i + 1}: exploring policy {sampled:.1f}", flush=True)
    if save is not None:
        print(f"  seed {seed}: checkpoint {algo.save_to_path(str(save / f'seed_{seed}'))}")
    return algo


def row(name: str, values: dict[str, np.ndarray], seeds: str) -> str:
    """A table row: both metrics as mean ± 95 % CI over the evaluation cohorts."""
    cells = []
    for key in ("avg_reward_per_intern_day", "discounted_return"):
        v = values[key]
        half = Z95 * v.std(ddof=1) / np.sqrt(len(v))
        cells.append(f"{v.mean():9.2f} ± {half:6.2f}")
    return f"| {name:<44} | {cells[0]:>21} | {cells[1]:>21} | {seeds:<12} |"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", nargs="*", default=[], help="OptionCritic checkpoint(s)")
    parser.add_argument("--maaal-checkpoint", help="a MAAAL checkpoint (pairing allocations)")
    parser.add_argument("--train-seeds", nargs="*", type=int, default=[], help="train these")
    parser.add_argument("--iterations", type=int, default=100, help="training iterations a seed")
    parser.add_argument("--save", type=Path, help="save the trained algorithms' checkpoints here")
    parser.add_argument("--episodes", type=int, default=256, help="evaluation cohorts a policy")
    parser.add_argument("--seed", type=int, default=12345, help="seed of the evaluation cohorts")
    args = parser.parse_args(argv)
    if args.episodes < 2:
        parser.error(
            f"--episodes must be at least 2 (for a confidence interval), got {args.episodes}"
        )
    if args.iterations < 1:
        parser.error(f"--iterations must be positive, got {args.iterations}")

    import ray

    torch.set_num_threads(1)
    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    learned = [load_algorithm(p) for p in args.checkpoint]
    learned += [train(s, args.iterations, args.save) for s in args.train_seeds]
    maaal = load_algorithm(args.maaal_checkpoint) if args.maaal_checkpoint else None

    env_config = learned[0].config.env_config if learned else {}
    cfg = InternConfig.from_dict(env_config, extra=("num_envs", "seed"))

    def evaluate(policy: Policy) -> dict[str, np.ndarray]:
        return rollout(policy, cfg, args.episodes, args.seed)

    lines = [
        f"Intern team competition: {cfg.n_teams} teams × {cfg.team_size} interns, {cfg.n_weeks} "
        f"weeks; {args.episodes} evaluation cohorts (seed {args.seed}); mean ± 95 % CI.",
        "",
        f"| {'policy':<44} | {'avg reward/intern-day':>21} | {'0.9-discounted return':>21} | "
        f"{'seeds':<12} |",
        f"|{'-' * 46}|{'-' * 23}|{'-' * 23}|{'-' * 14}|",
    ]
    for name, (average, discounted) in PAPER.items():
        lines.append(f"| {name:<44} | {average:>21.2f} | {discounted:>21.2f} | {'':<12} |")
    runs = [evaluate(module_policy(algo.get_module())) for algo in learned]
    seeds = [str(algo.config.seed) for algo in learned]
    for values, seed in zip(runs, seeds, strict=True):
        lines.append(row("option-critic grouping", values, seed))
    if len(runs) > 1:
        pooled = {k: np.concatenate([v[k] for v in runs]) for k in runs[0]}
        lines.append(row("option-critic grouping (pooled)", pooled, ", ".join(seeds)))
    if maaal is not None:
        lines.append(row("MAAAL (pairing)", evaluate(module_policy(maaal.get_module())), ""))
    lines.append(row("fixed: always message 0, random pairing", evaluate(fixed_policy), ""))
    lines.append(row("random messages, random pairing", evaluate(random_message_policy), ""))
    print("\n".join(lines))
    for algo in learned:
        algo.stop()
    if maaal is not None:
        maaal.stop()
    ray.shutdown()


if __name__ == "__main__":
    main()
