"""The ``rllib`` command: train (YAML experiment files or inline), evaluate, plot curves.

``rllib train`` runs each experiment through Ray Tune's ``Tuner`` so search spaces, search
algorithms, schedulers, checkpointing and ``--resume`` behave as in any Tune script; ``rllib
evaluate`` restores an ``Algorithm`` and runs greedy episodes. Input is validated before Ray
starts; a bad input prints one line and exits with status 2 (``--verbose`` adds the traceback).
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rllib_maaal import curves
from rllib_maaal.curves import DEFAULT_METRICS, DEFAULT_X
from rllib_maaal.experiment import (
    DEFAULT_METRIC,
    Experiment,
    ExperimentError,
    algorithm_class,
    apply_overrides,
    build_experiments,
    did_you_mean,
    inline_spec,
    load_file,
    tuner_parts,
)

#: Columns of the progress table printed while training.
PROGRESS_COLUMNS: dict[str, str] = {
    "training_iteration": "iter",
    DEFAULT_METRIC: "return",
    "env_runners/episode_len_mean": "length",
    "num_env_steps_sampled_lifetime": "env steps",
    "time_total_s": "time (s)",
}

#: A function of one finished episode → numeric task metrics (e.g. ``{"success": 1.0}``).
EpisodeMetricFn = Callable[[Any], dict[str, float]]


def final_info_metrics(episode: Any) -> dict[str, float]:
    """The task metrics of the episode's last ``infos`` (``success``, ...), as in training."""
    from rllib_maaal.callbacks import task_metrics

    return task_metrics(episode.get_infos(-1) or {})


#: Hooks ``rllib evaluate`` calls on every episode; tasks add theirs with
#: :func:`register_episode_metrics`. Later hooks win on equal metric names.
EPISODE_METRICS: list[EpisodeMetricFn] = [final_info_metrics]


def register_episode_metrics(fn: EpisodeMetricFn) -> EpisodeMetricFn:
    """Add a per-episode metric hook to ``rllib evaluate`` (usable as a decorator)."""
    EPISODE_METRICS.append(fn)
    return fn


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``rllib``; its help texts are the command's reference."""
    parser = argparse.ArgumentParser(
        prog="rllib",
        description="Train and evaluate RLlib algorithms (RLlib's and rllib_maaal's).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser(
        "train",
        help="train from a YAML experiment file or inline arguments (through Ray Tune)",
        description="Train through Ray Tune. Give --file F.yaml, or --algo and --env.",
    )
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", "-f", help="YAML experiment file {name: {run, env, ...}}")
    source.add_argument("--algo", "--run", dest="algo", help="algorithm, e.g. PPO or MAAAL")
    train.add_argument("--env", help="environment: maaal/<task>, a gymnasium id, ...")
    train.add_argument(
        "--stop", help="stopping criteria as JSON, e.g. '{\"training_iteration\": 5}'"
    )
    train.add_argument("--config", help="RLlib config dict as JSON, e.g. '{\"lr\": 0.001}'")
    train.add_argument("--name", help="experiment name for the inline form (default ALGO_ENV)")
    train.add_argument(
        "--experiment",
        "-e",
        action="append",
        metavar="NAME",
        help="run only this experiment of --file (repeatable; default: all, in file order)",
    )
    train.add_argument("--storage-path", help="results directory (default ~/ray_results)")
    train.add_argument("--num-samples", type=int, help="trials per search-space point")
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted experiment in STORAGE_PATH/NAME (unfinished and errored "
        "trials go on from their last checkpoint; its saved stop and config are used)",
    )
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a field of every experiment, e.g. --set config.lr=0.001 (YAML value)",
    )
    train.add_argument("overrides", nargs="*", metavar="KEY.PATH=VALUE", help="as --set")
    _add_common(train)
    train.set_defaults(func=train_command)

    evaluate = commands.add_parser(
        "evaluate",
        help="run greedy episodes with a checkpoint and print their metrics",
        description="Restore the Algorithm of CHECKPOINT and run episodes with explore=False.",
    )
    evaluate.add_argument("checkpoint", help="checkpoint directory (or a trial directory)")
    evaluate.add_argument("--episodes", type=int, default=10, help="episodes to run (default 10)")
    _add_common(evaluate)
    evaluate.set_defaults(func=evaluate_command)

    plot = commands.add_parser(
        "plot",
        help="plot learning curves of finished or running experiments",
        description="Plot metrics of every trial found under RESULTS (Tune experiment or trial "
        "directories) against env steps, and print each trial's last and best value.",
    )
    plot.add_argument("results", nargs="+", help="experiment or trial directories")
    plot.add_argument(
        "--metric",
        "-m",
        action="append",
        help="a result metric (nested keys joined by /), one panel each (default: "
        f"{', '.join(DEFAULT_METRICS)})",
    )
    plot.add_argument("--x", default=DEFAULT_X, help=f"the x axis metric (default {DEFAULT_X})")
    plot.add_argument("--out", "-o", default="curves.png", help="image file (default curves.png)")
    plot.add_argument("--verbose", "-v", action="store_true", help="tracebacks on errors")
    plot.set_defaults(func=plot_command)
    return parser


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--address", help="join this Ray cluster, e.g. 127.0.0.1:6379 (default: start locally)"
    )
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="tracebacks on errors; every Tune result"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``rllib``; returns the exit status (2 for bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or argparse's own usage error (status 2)
        return int(exit_.code or 0)
    try:
        return args.func(args)
    except ExperimentError as err:
        if args.verbose:
            traceback.print_exc()
        print(f"rllib: error: {err}", file=sys.stderr)
        return 2


def train_command(args: argparse.Namespace) -> int:
    """``rllib train``: validate every experiment, then run them in order; 1 if a trial failed."""
    if args.file:
        specs = load_file(args.file)
    else:
        specs = inline_spec(args.algo, args.env, args.stop, args.config, args.name)
    if args.experiment:
        if not args.file:
            raise ExperimentError("--experiment selects experiments of --file; give --file")
        unknown = [name for name in args.experiment if name not in specs]
        if unknown:
            raise ExperimentError(
                f"--experiment {unknown[0]!r}{did_you_mean(unknown[0], specs)}: {args.file} has "
                f"{', '.join(specs)}"
            )
        specs = {name: specs[name] for name in specs if name in args.experiment}
    apply_overrides(specs, [*args.set, *args.overrides])
    experiments = build_experiments(specs, args.storage_path, args.num_samples)
    prepared = [(exp, tuner_parts(exp)) for exp in experiments]
    if args.resume:
        from ray.tune import Tuner

        for exp in experiments:
            if not Tuner.can_restore(str(exp.path)):
                raise ExperimentError(f"--resume: no experiment to resume in {exp.path}")

    # Tune's table reporter, whose columns we choose (the default output picks its own).
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    with _ray(args.address) as started_locally:
        if not args.resume:
            for exp in experiments:
                check_resources(exp, strict=started_locally)
        failures = 0
        for exp, parts in prepared:
            results = _tuner(exp, parts, args.resume, args.verbose).fit()
            failures += report(exp, results)
    return 1 if failures else 0


def _tuner(exp: Experiment, parts: dict[str, Any], resume: bool, verbose: bool) -> Any:
    from ray import tune

    trainable = algorithm_class(exp.run)
    if resume:
        return tune.Tuner.restore(
            str(exp.path), trainable, resume_unfinished=True, resume_errored=True
        )
    return tune.Tuner(
        trainable,
        param_space=parts["param_space"],
        tune_config=parts["tune_config"],
        run_config=tune.RunConfig(
            name=exp.name,
            storage_path=exp.storage_path,
            stop=exp.stop,
            checkpoint_config=parts["checkpoint_config"],
            # Tune's verbosity 1 prints the status table; 3 adds every result dict.
            verbose=3 if verbose else 1,
            progress_reporter=tune.CLIReporter(
                metric_columns=PROGRESS_COLUMNS, max_report_frequency=10
            ),
        ),
    )


class _ray:
    """Context: join ``address`` (or ``RAY_ADDRESS``) or start a local Ray instance; shuts down
    only what it started."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self.started = False

    def __enter__(self) -> bool:
        """Whether this started a local instance (which cannot grow, unlike a cluster)."""
        import ray

        # Without an address, ray.init() would join whichever cluster `ray start` last left on
        # this machine; "local" starts our own, as documented. RAY_ADDRESS still wins.
        address = self.address or os.environ.get("RAY_ADDRESS") or "local"
        _check_reachable(address)
        if ray.is_initialized():
            return False
        try:
            ray.init(address=address)
        except ConnectionError as err:
            raise ExperimentError(
                f"cannot connect to the Ray cluster at {self.address}: {err} (a cluster "
                "started with token authentication needs RAY_AUTH_MODE=token here too)"
            ) from err
        self.started = True
        return address == "local"

    def __exit__(self, *exc: object) -> None:
        import ray

        if self.started:
            ray.shutdown()


def _check_reachable(address: str) -> None:
    """Fail fast on a ``host:port`` nobody listens on: ray.init() would retry for minutes."""
    host, sep, port = address.rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return  # "local", "auto", ray:// client addresses: Ray resolves these itself.
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as err:
        raise ExperimentError(f"cannot reach a Ray cluster at {address}: {err}") from err


def check_resources(exp: Experiment, strict: bool) -> None:
    """A trial that needs more CPUs/GPUs than Ray has would wait forever as PENDING: say so.

    PPO, for one, asks for 1 + ``num_env_runners`` (default 2) CPUs. ``strict`` (a local
    instance, which cannot grow) makes it an error; on a cluster, which may autoscale, a warning.
    """
    import ray

    try:  # Search spaces in resource settings leave the request unknown until trials exist.
        request = algorithm_class(exp.run).default_resource_request(exp.config)
        needed = request.required_resources
    except Exception:
        return
    available = ray.cluster_resources()
    short = {k: v for k, v in needed.items() if v > available.get(k, 0.0)}
    if not short:
        return
    message = (
        f"experiment {exp.name!r}: a trial needs {short} but Ray has "
        f"{ {k: available.get(k, 0.0) for k in short} }; lower num_env_runners / num_learners "
        "(or their per-runner resources)"
    )
    if strict:
        raise ExperimentError(message)
    print(f"rllib: warning: {message}", file=sys.stderr)


def metric(metrics: dict[str, Any], path: str) -> float | None:
    """The value at ``a/b/c`` in nested result metrics; None when absent or NaN."""
    value: Any = metrics
    for key in path.split("/"):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def report(exp: Experiment, results: Any) -> int:
    """Print where results and checkpoints are and the best trial; returns the failed count."""
    print(f"\n=== {exp.name}: {len(results)} trial(s); results in {exp.path}")
    best, best_value, failures = None, -math.inf, 0
    for result in results:
        trial = Path(result.path).name
        if result.error is not None:
            failures += 1
            first = str(result.error).strip().splitlines()[-1]
            print(f"  {trial}: FAILED ({first}); see {Path(result.path) / 'error.txt'}")
            continue
        value = metric(result.metrics, DEFAULT_METRIC)
        iteration = result.metrics.get("training_iteration")
        checkpoint = result.checkpoint.path if result.checkpoint else "no checkpoint"
        shown = "n/a" if value is None else f"{value:.4g}"
        print(f"  {trial}: iter {iteration}, {DEFAULT_METRIC} {shown}, checkpoint {checkpoint}")
        if value is not None and value > best_value:
            best, best_value = result, value
    if best is not None:
        print(f"best {DEFAULT_METRIC}: {best_value:.4g} ({Path(best.path).name})")
        if best.checkpoint:
            print(f"best checkpoint: {best.checkpoint.path}")
    return failures


def plot_command(args: argparse.Namespace) -> int:
    """``rllib plot``: learning curves of Tune trials to an image, last/best values printed."""
    metrics = args.metric or list(DEFAULT_METRICS)
    found = curves.load_curves(curves.trial_dirs(args.results), metrics, args.x)
    print("\n".join(curves.summary(found, metrics)))
    print(f"curves: {curves.plot(found, metrics, Path(args.out), args.x)}")
    return 0


def evaluate_command(args: argparse.Namespace) -> int:
    """``rllib evaluate``: greedy episodes with a restored Algorithm; prints their metrics."""
    if args.episodes < 1:
        raise ExperimentError(f"--episodes must be at least 1, got {args.episodes}")
    checkpoint = resolve_checkpoint(args.checkpoint)
    from ray.rllib.algorithms.algorithm import Algorithm

    import rllib_maaal  # noqa: F401 - our envs must be registered to rebuild the algorithm

    with _ray(args.address):
        algo = Algorithm.from_checkpoint(str(checkpoint))
        try:
            episodes = evaluation_runner(algo).sample(num_episodes=args.episodes, explore=False)
        finally:
            algo.stop()
    print(f"checkpoint: {checkpoint}")
    for name, values in episode_stats(episodes[: args.episodes]).items():
        print(_stat_line(name, values))
    return 0


def resolve_checkpoint(path: str) -> Path:
    """An RLlib checkpoint directory: ``path`` itself, or a trial dir's latest checkpoint."""
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise ExperimentError(f"checkpoint not found: {directory}")
    if (directory / "rllib_checkpoint.json").is_file():
        return directory
    checkpoints = sorted(directory.glob("checkpoint_*/rllib_checkpoint.json"))
    if not checkpoints:
        raise ExperimentError(f"not an RLlib checkpoint (no rllib_checkpoint.json): {directory}")
    return checkpoints[-1].parent


def evaluation_runner(algo: Any) -> Any:
    """A local EnvRunner with one env and ``algo``'s weights and connector states."""
    from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
    from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

    config = algo.config.copy(copy_frozen=False)
    config.env_runners(num_env_runners=0, num_envs_per_env_runner=1, explore=False)
    default_cls = MultiAgentEnvRunner if config.is_multi_agent else SingleAgentEnvRunner
    runner = (config.env_runner_cls or default_cls)(config=config)
    runner.set_state(algo.env_runner.get_state())
    return runner


def episode_stats(episodes: Sequence[Any]) -> dict[str, list[float]]:
    """Per-metric lists over episodes: return, length and every hook's task metrics."""
    stats: dict[str, list[float]] = {
        "episode_return": [float(e.get_return()) for e in episodes],
        "episode_length": [float(len(e)) for e in episodes],
    }
    for episode in episodes:
        task: dict[str, float] = {}
        for hook in EPISODE_METRICS:
            task.update(hook(episode))
        for name, value in task.items():
            stats.setdefault(name, []).append(value)
    return stats


def _stat_line(name: str, values: list[float]) -> str:
    import numpy as np

    v = np.asarray(values)
    return (
        f"{name:>24}: mean {v.mean():.4g}  std {v.std():.4g}  min {v.min():.4g}  "
        f"max {v.max():.4g}  (n={v.size})"
    )
