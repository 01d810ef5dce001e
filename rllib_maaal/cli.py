"""The ``rllib`` command: train (YAML experiment files or inline), evaluate, plot, report.

``rllib train`` runs each experiment through Ray Tune's ``Tuner`` so search spaces, search
algorithms, schedulers, checkpointing and ``--resume`` behave as in any Tune script; ``rllib
evaluate`` restores an ``Algorithm`` and runs greedy episodes. Input is validated before Ray
starts; a bad input prints one line and exits with status 2 (``--verbose`` adds the traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shlex
import signal
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

# Only light modules here: ``rllib --help`` must answer without importing Ray (seconds).
from rllib_maaal.curves import BANDS
from rllib_maaal.evaluation import evaluate_command
from rllib_maaal.experiment import (
    Experiment,
    ExperimentError,
    apply_overrides,
    build_experiments,
    inline_spec,
    load_file,
)
from rllib_maaal.locks import lock_experiments
from rllib_maaal.ray_runtime import (
    RayInstance,
    check_reachable,
    check_resources,
    local_resources,
    quiet,
    trial_resources,
)
from rllib_maaal.validation import did_you_mean

#: Exit statuses of ``rllib train`` (shells report 128 + the signal number for signals).
EXIT_OK, EXIT_TRIAL_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM


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
        "--stop",
        help="stopping criteria as JSON, e.g. '{\"training_iteration\": 5}' (with --file: "
        "replaces every experiment's)",
    )
    train.add_argument(
        "--config",
        help="RLlib config dict as JSON, e.g. '{\"lr\": 0.001}' (with --file: updates every "
        "experiment's)",
    )
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
        help="continue the interrupted experiment in STORAGE_PATH/NAME (each trial not yet at "
        "its stop criterion goes on from its newest complete checkpoint; its saved stop and "
        "config are used)",
    )
    train.add_argument(
        "--max-failures",
        type=int,
        action=_SetMaxFailures,
        metavar="N",
        help="times Tune restarts a failed trial from its latest checkpoint (-1: always; "
        "default 0, or the file's max_failures); same as --set max_failures=N",
    )
    train.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a field of every experiment, e.g. --set config.lr=0.001 (YAML value)",
    )
    train.add_argument("overrides", nargs="*", metavar="KEY.PATH=VALUE", help="as --set")
    train.add_argument(
        "--dry-run",
        action="store_true",
        help="validate every experiment (each search point, resources included), print the "
        "trials it would run, and exit without starting Ray",
    )
    train.add_argument(
        "--progress-interval",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds between progress lines when the output is not a terminal (default 30)",
    )
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
        "directories, raw-curves CSVs of rllib report --csv) against env steps, and print each "
        "trial's last and best value.",
    )
    _add_results(
        plot,
        metric_help="a result metric (nested keys joined by /), one panel each (default: the "
        "greedy evaluation return where a trial logs it, then the exploring return)",
    )
    plot.add_argument(
        "--x",
        default="num_env_steps_sampled_lifetime",
        help="the x axis metric (default env steps)",
    )
    plot.add_argument(
        "--smooth",
        type=int,
        default=5,
        metavar="N",
        help="moving-average window in results (default 5; 1: raw only); the raw curve is faint",
    )
    plot.add_argument(
        "--band",
        choices=tuple(BANDS),
        default="ci",
        help="trials of one experiment that differ only by seed are one method, drawn as their "
        "mean with a shaded band: ci, the 95%% confidence interval of the mean (Student t over "
        "seeds; default); minmax, the lowest to the highest seed; none: one line per trial",
    )
    plot.add_argument("--out", "-o", default="curves.png", help="image file (default curves.png)")
    plot.add_argument("--verbose", "-v", action="store_true", help="tracebacks on errors")
    plot.set_defaults(func=plot_command)

    report = commands.add_parser(
        "report",
        help="a Markdown table of results over seeds, one row per method",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Read every trial's result.json under RESULTS (or the trials of a CSV written by --csv,
such as docs/results/*.csv) and print a Markdown table: one row per method
with its variant, seeds, return, fraction completed and success rate (mean over seeds +- the
half-width of the 95% confidence interval, Student t), env steps and wall time.

Methods: the trials of one experiment directory whose configs (params.json) differ only in
`seed` are one method, named after the experiment (`maaal`, `r-al`; a seed grid is
`seed: {grid_search: [0, 1, 2]}`). Trials that differ in other keys too are separate
methods named with those keys (`grf[lr=0.0005]`). The variant column is the paper's name
of the config's allocation/action modes (MAAAL, QMIX, R-AL, R-AC, S-AC, Fixed-BT, random),
else the algorithm. A CSV's method and an experiment of the same name are one method: kept
results and new seeds are tabled together.

Values: each trial's last greedy evaluation (evaluation/env_runners/<metric>, logged with
evaluation_interval), or with --last N the mean of its last N evaluations; a method that
never evaluated uses the exploring episodes (env_runners/<metric>), marked with a dagger.
The header names the keys used.""",
    )
    _add_results(
        report,
        metric_help="a column instead of the defaults (repeatable): a task metric such as "
        "avg_reward_per_intern_day (greedy evaluation, else exploring), or a full result key "
        "with /",
    )
    report.add_argument(
        "--last",
        type=int,
        default=1,
        help="a trial's value is the mean of its last N evaluations (default 1: its last); "
        "one evaluation's success rate over 64 episodes is only good to about 0.06",
    )
    report.add_argument("--output", "-o", help="also write the table to this Markdown file")
    report.add_argument("--csv", help="write the raw curves of the table's metrics to this CSV")
    report.add_argument("--json", help="write the table's numbers and raw curves to this JSON")
    report.add_argument("--verbose", "-v", action="store_true", help="tracebacks on errors")
    report.set_defaults(func=report_command)
    return parser


class _SetMaxFailures(argparse.Action):
    """``--max-failures N`` is ``--set max_failures=N``: one path validates both."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        namespace.set = [*namespace.set, f"max_failures={values}"]


def _add_results(parser: argparse.ArgumentParser, metric_help: str) -> None:
    """What ``rllib plot`` and ``rllib report`` read: trial folders, and which metrics."""
    parser.add_argument(
        "results",
        nargs="+",
        help="experiment or trial directories, or CSV files of rllib report --csv (their "
        "methods join the experiments of the same name)",
    )
    parser.add_argument("--metric", "-m", action="append", help=metric_help)


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
        return EXIT_BAD_INPUT


def _file_specs(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The experiments of ``--file``, with ``--stop``/``--config`` applied as overrides."""
    for flag, value in (("--env", args.env), ("--name", args.name)):
        if value is not None:
            raise ExperimentError(
                f"{flag} names the inline experiment (--algo); with --file, set it in the file "
                f"or with --set (e.g. --set env=...)"
            )
    specs = load_file(args.file)
    (given,) = inline_spec("x", None, args.stop, args.config, None).values()
    for spec in specs.values():
        # --stop replaces the file's criteria; --config updates its config keys.
        if "stop" in given:
            spec["stop"] = given["stop"]
        if "config" in given:
            spec["config"] = {**(spec.get("config") or {}), **given["config"]}
    return specs


def train_command(args: argparse.Namespace) -> int:
    """``rllib train``: validate every experiment, then run them in order.

    Returns 0 when every trial finished, 1 if one failed, 130 after Ctrl-C and 143 after
    SIGTERM (both stop the whole file; the summary says how to resume).
    """
    if args.file:
        specs = _file_specs(args)
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
    from rllib_maaal.experiment import quick_check

    for name, spec in specs.items():  # the common mistakes, before RLlib is even loaded
        quick_check(name, spec)
    experiments = build_experiments(specs, args.storage_path, args.num_samples)
    quiet(args.verbose)
    from rllib_maaal.experiment import tuner_parts, validate_search_space
    from rllib_maaal.progress import home

    configs = {exp.name: validate_search_space(exp) for exp in experiments}
    needs = {exp.name: trial_resources(exp, configs[exp.name]) for exp in experiments}
    prepared = [(exp, tuner_parts(exp)) for exp in experiments]
    if args.resume:
        from ray.tune import Tuner

        # A file stopped early has experiments that never started: those start afresh, but
        # a resume with nothing to resume is a wrong path or name.
        if not any(Tuner.can_restore(str(exp.path)) for exp in experiments):
            where = ", ".join(str(exp.path) for exp in experiments)
            raise ExperimentError(f"--resume: no experiment to resume in {where}")
    # Held while training: a second `rllib train` of a running experiment is refused.
    locks = lock_experiments(exp.path for exp in experiments)
    address = args.address or os.environ.get("RAY_ADDRESS")
    if address is None:  # a local instance gets this machine's CPUs and GPUs, no more
        local = local_resources()
        for exp in experiments:
            check_resources(exp, needs[exp.name], local, strict=True)
    else:
        check_reachable(address)
    if args.dry_run:
        for exp in experiments:
            trials = len(configs[exp.name]) * exp.num_samples
            print(
                f"{exp.name}: {exp.run} on {exp.env}, {trials} trial(s) of {needs[exp.name]}, "
                f"stop {exp.stop}, results in {home(exp.path)}"
            )
        return EXIT_OK

    # Tune's legacy output at verbosity 0 prints nothing: the progress lines are ours.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    failures = 0
    from rllib_maaal.checkpoints import CheckpointThenStop

    graceful = CheckpointThenStop()
    with (
        locks,
        RayInstance(args.address, args.verbose) as started_locally,
        _signals(graceful) as stopped,
    ):
        if not started_locally:
            import ray

            for exp in experiments:
                check_resources(exp, needs[exp.name], ray.cluster_resources(), strict=False)
        try:
            for exp, parts in prepared:
                results = _tuner(exp, parts, args, graceful).fit()
                failures += report(exp, results)
                if stopped:
                    break
        except KeyboardInterrupt:  # a second signal, or one before Tune listened for it
            stopped.append("SIGINT")
    if stopped:
        print(f"\n{stopped[0]}: stopped. Resume with:\n  {resume_command(args)}")
        return EXIT_TERMINATED if stopped[0] == "SIGTERM" else EXIT_INTERRUPTED
    return EXIT_TRIAL_FAILED if failures else EXIT_OK


def resume_command(args: argparse.Namespace) -> str:
    """The command line that resumes this run (``--resume`` added once)."""
    argv = [a for a in sys.argv[1:] if a != "--resume"] if sys.argv[1:] else ["train"]
    if not argv or argv[0] != "train":
        argv = ["train", "--file", args.file] if args.file else ["train"]
    return shlex.join(["rllib", *argv, "--resume"])


@contextlib.contextmanager
def _signals(graceful: Any) -> Iterator[list[str]]:
    """Turn the first SIGINT or SIGTERM into a graceful stop of the whole file: ``graceful`` (a
    :class:`~rllib_maaal.checkpoints.CheckpointThenStop` among the Tune callbacks) has each
    running trial checkpoint after its current iteration, then Tune saves the experiment state
    and stops. A second signal stops at once. Yields a list that holds the signal's name once
    one arrived."""
    stopped: list[str] = []
    # Tune's own SIGINT handler would end only the experiment in flight, without checkpoints,
    # and it cannot see SIGTERM.
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"

    def handler(signum: int, frame: Any) -> None:
        if stopped:
            raise KeyboardInterrupt
        stopped.append(signal.Signals(signum).name)
        if signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, None):
            raise KeyboardInterrupt  # Tune is not running yet: nothing to stop gracefully
        print(
            f"\n{stopped[0]}: checkpointing each running trial after its current iteration, "
            "then stopping (again: stop at once)"
        )
        graceful.requested = True

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopped
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _tuner(exp: Experiment, parts: dict[str, Any], args: argparse.Namespace, graceful: Any) -> Any:
    from ray import tune

    from rllib_maaal.checkpoints import CheckpointMarker, restore_tuner
    from rllib_maaal.experiment import algorithm_class
    from rllib_maaal.progress import ProgressCallback

    trainable = algorithm_class(exp.run)
    progress = ProgressCallback(exp.stop, interval=args.progress_interval)
    if args.resume:
        if not tune.Tuner.can_restore(str(exp.path)):  # this experiment never started
            print(f"resume: {exp.name} had not started; starting it")
        else:
            callbacks = [progress, graceful]
            tuner, lines = restore_tuner(exp.path, trainable, exp.max_failures, callbacks)
            print("\n".join(lines))
            return tuner
    return tune.Tuner(
        trainable,
        param_space=parts["param_space"],
        tune_config=parts["tune_config"],
        run_config=tune.RunConfig(
            name=exp.name,
            storage_path=exp.storage_path,
            stop=exp.stop,
            checkpoint_config=parts["checkpoint_config"],
            # Our progress lines replace Tune's table; --verbose adds Tune's result dicts.
            verbose=3 if args.verbose else 0,
            callbacks=[progress, graceful, CheckpointMarker()],
            failure_config=parts["failure_config"],
        ),
    )


def report(exp: Experiment, results: Any) -> int:
    """Print where results and checkpoints are, each trial's last and best (maximum) value of
    its ranked metric, and the best trial; returns the number of failed trials."""
    from rllib_maaal.curves import default_metrics, flat_results, flatten_result
    from rllib_maaal.progress import home, lookup

    print(f"\n=== {exp.name}: {len(results)} trial(s); results in {home(exp.path)}")
    best, best_value, best_metric, failures = None, -float("inf"), None, 0
    for result in results:
        trial = Path(result.path).name
        if result.error is not None:
            failures += 1
            first = str(result.error).strip().splitlines()[-1]
            print(f"  {trial}: FAILED ({first}); see {home(Path(result.path) / 'error.txt')}")
            continue
        rows = flat_results(Path(result.path)) or [flatten_result(result.metrics)]
        name = default_metrics([rows])[0]
        values = [row[name] for row in rows if name in row and not math.isnan(row[name])]
        iteration = result.metrics.get("training_iteration")
        if iteration is None:
            print(f"  {trial}: not started")
            continue
        steps = lookup(result.metrics, "num_env_steps_sampled_lifetime")
        checkpoint = home(result.checkpoint.path) if result.checkpoint else "no checkpoint"
        shown = f"last {values[-1]:.4g}, best {max(values):.4g}" if values else "n/a"
        steps_text = f", {steps:,.0f} env steps" if steps is not None else ""
        print(f"  {trial}: iter {iteration}{steps_text}, {name} {shown}; checkpoint {checkpoint}")
        if values and max(values) > best_value:
            best, best_value, best_metric = result, max(values), name
    if best is not None:
        print(
            f"best trial (highest {best_metric} reached): {Path(best.path).name}, {best_value:.4g}"
        )
        if best.checkpoint:
            print(f"best trial's checkpoint: {home(best.checkpoint.path)}")
    return failures


def plot_command(args: argparse.Namespace) -> int:
    """``rllib plot``: learning curves of Tune trials to an image, last/best values printed."""
    from rllib_maaal import curves

    found, metrics = curves.load_curves(
        curves.load_runs(args.results), args.metric, args.x, smooth=args.smooth
    )
    print("\n".join(curves.summary(found, metrics)))
    budget = curves.stop_budget(args.results, args.x)
    out = curves.plot(found, metrics, Path(args.out), args.x, budget=budget, bands=args.band)
    print(f"curves: {out}")
    return 0


def report_command(args: argparse.Namespace) -> int:
    """``rllib report``: the results table to stdout, and to the files asked for."""
    import json

    from rllib_maaal import report as tables  # not cli.report, the summary of `rllib train`

    if args.last < 1:
        raise ExperimentError(
            f"--last must be an int >= 1 (evaluations per trial); got {args.last}"
        )
    trials = tables.load_trials(args.results)
    columns = tables.columns(trials, args.metric)
    table = tables.markdown(trials, columns, args.last)
    print(table, end="")
    outputs = (
        (args.output, lambda: table),
        (args.csv, lambda: tables.curves_csv(trials, columns)),
        (
            args.json,
            lambda: json.dumps(tables.report_json(trials, columns, args.last), indent=1) + "\n",
        ),
    )
    for path, text in outputs:
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text())
            print(f"wrote {path}")
    return 0
