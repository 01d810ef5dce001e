"""Learning curves of Tune experiments: every trial's ``result.json``, plotted over env steps.

``rllib plot ~/ray_results/maaal ~/ray_results/qmix`` draws one panel per metric (by default the
greedy evaluation return, then the exploring training return) with one line per method and
prints each trial's last and best value. A method is the trials of one experiment whose configs
differ only in ``seed`` (:func:`trial_names`): one trial is drawn as it is, several as their mean
with a shaded band (a 95 % confidence interval of the mean, or min to max). Metrics are nested
result keys joined by ``/``. (Tune's ``progress.csv`` keeps only the columns of the first result,
so it lacks the evaluation metrics that appear later.) A CSV of raw curves written by
``rllib report --csv`` (:func:`read_curves_csv`) is read like the trials it was written from, so
that results kept in a repository (``docs/results/*.csv``) can be drawn and tabled beside new
runs: a method of the CSV and an experiment of the same name are one method, over all their
seeds.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rllib_maaal.experiment import ExperimentError

RESULTS = "result.json"
PARAMS = "params.json"
SEED = "seed"
#: How the trials of a method are drawn: mean ± 95 % CI, mean and min to max, one line each.
BANDS = {"ci": "95 % CI", "minmax": "min to max", "none": None}
DEFAULT_X = "num_env_steps_sampled_lifetime"
#: The episode metrics that tell a new measurement from RLlib's repeat of the last one.
SIGNATURE = ("episode_return_mean", "episode_len_mean")
#: The columns of a raw-curves CSV that say whose curve a row is; every other column is a number.
CSV_KEYS = ("method", "variant", "seed", "trial_id")
#: The metrics drawn by default and ranked for "best" (``rllib train``'s summary too), in order
#: of preference: the greedy evaluation return where a trial logs it, else the exploring one.
DEFAULT_METRICS = (
    "evaluation/env_runners/episode_return_mean",
    "env_runners/episode_return_mean",
)


@dataclass
class Curve:
    """The values of a few metrics of one trial, each against ``x`` where it was logged."""

    label: str
    series: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    window: int = 1  # moving-average window of the drawn line
    method: str = ""  # the curves of one method (they differ only by seed) share a band


@dataclass(frozen=True)
class TrialName:
    """Which method a trial runs (its experiment and the config keys that set it apart), its
    seed, and the label of its own line."""

    method: str
    seed: Any
    label: str


@dataclass
class Run:
    """One trial's results: read from its Tune directory (``path``; its ``config``), or from the
    rows of a raw-curves CSV (``path`` the file; the ``variant`` the CSV recorded)."""

    path: Path
    trial_id: str
    name: TrialName
    rows: list[dict[str, float]]
    config: dict[str, Any] = field(default_factory=dict)
    variant: str | None = None


def trial_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Every directory holding a ``result.json`` under (or at) ``paths``, in order."""
    found: list[Path] = []
    for path in paths:
        root = Path(path).expanduser()
        if not root.exists():
            raise ExperimentError(f"no such results directory or CSV file: {root}")
        hits = [root] if (root / RESULTS).is_file() else []
        hits += sorted(p.parent for p in root.rglob(RESULTS) if p.parent != root)
        if not hits:
            raise ExperimentError(f"no {RESULTS} (a Tune trial's results) under {root}")
        found += hits
    return found


def flatten_result(result: dict, prefix: str = "") -> dict[str, float]:
    """The numbers of a nested result, keyed by their path joined with ``/``."""
    flat: dict[str, float] = {}
    for key, value in result.items():
        if isinstance(value, dict):
            flat |= flatten_result(value, f"{prefix}{key}/")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[f"{prefix}{key}"] = float(value)
    return flat


def read_results(trial: Path) -> list[dict[str, Any]]:
    """The rows of a trial's ``result.json`` as Tune wrote them (nested); a line cut short by a
    running or crashed trial is skipped, a missing file gives none."""
    path = Path(trial) / RESULTS
    rows = []
    for line in path.read_text().splitlines() if path.is_file() else ():
        with contextlib.suppress(json.JSONDecodeError):
            rows.append(json.loads(line))
    return rows


def flat_results(trial: Path) -> list[dict[str, float]]:
    """:func:`read_results` with nested keys joined by ``/`` and only the numbers kept."""
    return [flatten_result(row) for row in read_results(trial)]


def trial_params(trial: Path) -> dict[str, Any]:
    """The config Tune gave a trial: its ``params.json`` (the experiment's config with the
    search space's values filled in), else the config of its first result."""
    path = Path(trial) / PARAMS
    if path.is_file():
        with contextlib.suppress(json.JSONDecodeError):
            return json.loads(path.read_text())
    rows = read_results(trial)
    return rows[0].get("config", {}) if rows else {}


def _flat_params(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """``params`` keyed by paths joined with ``.``, each value as it is written in a label."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        if isinstance(value, dict) and value:
            flat |= _flat_params(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, str) else json.dumps(value)
    return flat


def trial_names(dirs: Sequence[Path]) -> list[TrialName]:
    """The method, seed and label of each trial in ``dirs``.

    The trials of one experiment directory whose configs (:func:`trial_params`) differ only in
    ``seed`` run one method, named after the experiment (``maaal``); where its trials differ in
    other keys too (a grid over ``lr``), the method adds those keys and values
    (``grf[lr=0.0005]``), and one experiment name found under two result roots adds the root
    (``runs-a/maaal``). A key that only some of the trials record (a setting added by a later
    version of the code, e.g. seeds added to an experiment after an upgrade) is not counted as a
    difference. A trial's label is its method, plus its seed when the method has several trials
    (``maaal seed=1``), or its directory name when their seeds are the same.
    """
    params = [trial_params(d) for d in dirs]
    seeds = [p.get(SEED) for p in params]
    return labelled(_methods(dirs, params), seeds, [d.name for d in dirs])


def _methods(dirs: Sequence[Path], params: Sequence[dict[str, Any]]) -> list[str]:
    """The method of each trial in ``dirs`` (see :func:`trial_names`)."""
    flat = [_flat_params({k: v for k, v in p.items() if k != SEED}) for p in params]
    by_experiment: dict[Path, list[int]] = {}
    for i, d in enumerate(dirs):
        by_experiment.setdefault(d.parent, []).append(i)
    clashes = {n for n, k in Counter(exp.name for exp in by_experiment).items() if k > 1}
    methods = [""] * len(dirs)
    for exp, members in by_experiment.items():
        base = f"{exp.parent.name}/{exp.name}" if exp.name in clashes else exp.name
        keys = sorted(set.intersection(*(set(flat[i]) for i in members)))
        varying = [k for k in keys if len({flat[i][k] for i in members}) > 1]
        for i in members:
            setting = ", ".join(f"{k}={flat[i][k]}" for k in varying)
            methods[i] = f"{base}[{setting}]" if setting else base
    return methods


def labelled(methods: Sequence[str], seeds: Sequence[Any], names: Sequence[str]) -> list[TrialName]:
    """Each trial's :class:`TrialName`: its method, plus its seed when the method has several
    trials, or its own ``name`` (directory, trial id) when their seeds are the same."""
    seeds_of: dict[str, list[str]] = {}
    for method, seed in zip(methods, seeds, strict=True):
        seeds_of.setdefault(method, []).append(json.dumps(seed))
    out = []
    for method, seed, name in zip(methods, seeds, names, strict=True):
        group = seeds_of[method]
        if len(group) == 1:
            label = method
        elif len(set(group)) == len(group):
            label = f"{method} seed={seed}"
        else:
            label = f"{method}/{name}"
        out.append(TrialName(method, seed, label))
    return out


def read_curves_csv(path: Path) -> list[Run]:
    """The trials of a raw-curves CSV (``rllib report --csv``), one per ``trial_id``, each with
    its rows' numbers; unnamed until :func:`load_runs` labels them beside the other trials. An
    older CSV without the ``variant`` column leaves it unknown."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        if not {"method", "seed", "trial_id"} <= set(columns):
            raise ExperimentError(
                f"{path}: not a CSV of raw curves (rllib report --csv): it needs the columns "
                f"method, seed and trial_id; it has {', '.join(columns) or 'none'}"
            )
        runs: dict[tuple[str, str, str], Run] = {}
        for line, row in enumerate(reader, start=2):
            key = (row["method"], row["seed"], row["trial_id"])
            if key not in runs:
                seed = _csv_seed(row["seed"])
                name = TrialName(row["method"], seed, row["method"])
                variant = row.get("variant") or ""
                runs[key] = Run(path, row["trial_id"], name, [], variant=variant)
            try:
                values = {k: float(v) for k, v in row.items() if k not in CSV_KEYS and v}
            except (TypeError, ValueError):
                raise ExperimentError(
                    f"{path}, line {line}: every column but {', '.join(CSV_KEYS)} must be a "
                    "number or empty"
                ) from None
            runs[key].rows.append(values)
    return list(runs.values())


def _csv_seed(text: str) -> Any:
    """A seed as the CSV wrote it: empty for none, else its JSON value (``0``), else the text."""
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def load_runs(paths: Iterable[str | Path]) -> list[Run]:
    """The trials under ``paths`` in order: Tune experiment or trial directories
    (:func:`trial_dirs`, named by :func:`trial_names`) and raw-curves CSV files
    (:func:`read_curves_csv`), labelled together, so that a CSV's method and an experiment of
    the same name are one method over both's seeds."""
    runs: list[Run] = []
    for path in paths:
        root = Path(path).expanduser()
        if root.suffix == ".csv" and root.is_file():
            runs += read_curves_csv(root)
            continue
        for d in trial_dirs([root]):
            rows = read_results(d)
            trial_id = str(rows[0].get("trial_id", d.name)) if rows else d.name
            config = rows[0].get("config", {}) if rows else {}
            flat = [flatten_result(row) for row in rows]
            runs.append(Run(d, trial_id, TrialName("", None, ""), flat, config))
    dirs = [i for i, r in enumerate(runs) if r.path.is_dir()]
    for i, name in zip(dirs, trial_names([runs[i].path for i in dirs]), strict=True):
        runs[i].name = name
    names = labelled(
        [r.name.method for r in runs],
        [r.name.seed for r in runs],
        [r.path.name if r.path.is_dir() else r.trial_id for r in runs],
    )
    for run, name in zip(runs, names, strict=True):
        run.name = name
    return runs


def missing_metric(name: str, logged: Iterable[str]) -> ExperimentError:
    """The error for a metric no trial logged, naming the logged metrics closest to it (a
    typo, or evaluation not switched on)."""
    near = difflib.get_close_matches(name, sorted(logged), n=3, cutoff=0.5)
    hint = f"; closest logged metrics: {', '.join(near)}" if near else ""
    return ExperimentError(f"no trial logged {name!r}{hint}")


def ci95(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the first axis of ``values`` (one row per seed) and the half-width of its 95 %
    confidence interval (Student t with n - 1 degrees of freedom; NaN for one seed)."""
    from scipy.special import stdtrit

    values = np.asarray(values, float)
    n = values.shape[0]
    mean = values.mean(0)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    return mean, stdtrit(n - 1, 0.975) * values.std(0, ddof=1) / np.sqrt(n)


def default_metrics(rows: Sequence[Sequence[dict[str, float]]]) -> list[str]:
    """The greedy evaluation return where any trial logged it, then the exploring return."""
    logged = {key for trial in rows for row in trial for key in row}
    return [m for m in DEFAULT_METRICS if m in logged] or [DEFAULT_METRICS[-1]]


def effective_window(window: int, n_points: int) -> int:
    """The moving-average window used for ``n_points`` values: ``window``, but at most a tenth
    of the curve, so that a few evaluations are drawn as they are rather than lagged."""
    return max(1, min(window, n_points // 10))


def smoothed(ys: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` points (the first points average fewer)."""
    if window <= 1 or len(ys) < 2:
        return ys
    cumulative = np.cumsum(np.insert(np.asarray(ys, float), 0, 0.0))
    end = np.arange(1, len(ys) + 1)
    begin = np.maximum(end - window, 0)
    return (cumulative[end] - cumulative[begin]) / (end - begin)


def load_curves(
    runs: Sequence[Run],
    metrics: Sequence[str] | None = None,
    x: str = DEFAULT_X,
    smooth: int = 1,
) -> tuple[list[Curve], list[str]]:
    """One :class:`Curve` per trial of ``runs`` (:func:`load_runs`), and the metrics drawn
    (``metrics``, or :func:`default_metrics`). A metric no trial logged is an error
    (:func:`missing_metric`)."""
    if smooth < 1:
        raise ExperimentError(f"--smooth must be an int >= 1; got {smooth}")
    metrics = list(metrics) if metrics else default_metrics([r.rows for r in runs])
    curves, columns = [], set()
    for run in runs:
        for row in run.rows:
            columns |= row.keys()
        curve = Curve(run.name.label, window=smooth, method=run.name.method)
        for name in metrics:
            measured = [r for r in run.rows if x in r and not np.isnan(r.get(name, np.nan))]
            if measured:
                fresh = measurements(measured, name)
                xs = np.array([r[x] for r in fresh])
                curve.series[name] = (xs, np.array([r[name] for r in fresh]))
        curves.append(curve)
    for name in (x, *metrics):
        if name not in columns:
            raise missing_metric(name, columns)
    return curves, metrics


def measurements(rows: Sequence[dict[str, float]], name: str) -> list[dict[str, float]]:
    """The rows of ``rows`` (each logging ``name``) that hold a new measurement of it.

    RLlib repeats the last evaluation in the next result, and the exploring return while no
    episode finished (its episode counters are no guide: an evaluation's result counts 64
    lifetime episodes, its repeat all of them). A row repeats the one before when the episode
    metrics of ``name``'s group (``<group>/episode_return_mean`` and ``episode_len_mean``) are
    unchanged, else (no such metrics) when ``name`` is. So a success rate of 0 at every
    evaluation is as many points as evaluations, not one.
    """
    parts = name.split("/")
    groups = ["/".join(parts[:k]) + "/" for k in range(len(parts) - 1, 0, -1)] + [""]
    group = next((g for g in groups if any(g + SIGNATURE[0] in r for r in rows)), None)
    keys = [name] if group is None else [group + k for k in SIGNATURE]
    fresh, previous = [], None
    for row in rows:
        signature = [row.get(k) for k in keys]
        if signature != previous:
            fresh.append(row)
        previous = signature
    return fresh


def band(curves: Sequence[Curve], name: str, kind: str) -> tuple[np.ndarray, ...]:
    """The mean of metric ``name`` over ``curves`` (the seeds of one method, each smoothed as
    drawn) and its band, ``(x, mean, low, high)``: ``kind`` ``ci`` is mean ± the 95 % confidence
    interval (:func:`ci95`), ``minmax`` the lowest and highest seed. Seeds log at slightly
    different env steps, so each is interpolated onto all of their steps, over the range every
    seed has reached (a running experiment's band ends where its slowest seed is)."""
    series = []
    for c in curves:
        xs, ys = c.series[name]
        series.append((xs, smoothed(ys, effective_window(c.window, len(ys)))))
    start, end = max(xs[0] for xs, _ in series), min(xs[-1] for xs, _ in series)
    grid = np.unique(np.concatenate([xs for xs, _ in series]))
    grid = grid[(grid >= start) & (grid <= end)]
    values = np.stack([np.interp(grid, xs, ys) for xs, ys in series])
    if kind == "minmax":
        return grid, values.mean(0), values.min(0), values.max(0)
    mean, half = ci95(values)
    return grid, mean, mean - half, mean + half


def stop_budget(paths: Iterable[str | Path], x: str = DEFAULT_X) -> float | None:
    """The largest stop criterion on ``x`` among the experiments under ``paths`` (from Tune's
    saved experiment state), to span the x axis to the budget; None when not recorded."""
    budget = None
    for path in paths:
        root = Path(path).expanduser()
        if not root.is_dir():  # a raw-curves CSV records no stop
            continue
        states = sorted(root.glob("experiment_state-*.json")) + sorted(
            root.parent.glob("experiment_state-*.json")
        )
        for state in states[-1:]:  # the newest
            for value in _stop_values(state.read_text(), x):
                budget = value if budget is None else max(budget, value)
    return budget


def _stop_values(text: str, x: str) -> list[float]:
    """The ``x`` entries of every trial's ``stopping_criterion`` in an experiment state file."""
    try:
        state = json.loads(text)
    except json.JSONDecodeError:
        return []
    values = []
    for entry in state.get("trial_data", []):
        trial_json = entry[0] if isinstance(entry, list) else entry  # [trial, run metadata]
        try:
            trial = json.loads(trial_json) if isinstance(trial_json, str) else trial_json
            value = (
                json.loads(trial["stopping_criterion"])
                if isinstance(trial["stopping_criterion"], str)
                else trial["stopping_criterion"]
            )
            if x in value:
                values.append(float(value[x]))
        except (KeyError, TypeError, ValueError):
            continue
    return values


def summary(curves: Sequence[Curve], metrics: Sequence[str]) -> list[str]:
    """Lines ``label  metric  last (at x)  best`` for every curve and metric it has; best is the
    maximum over the run (as in ``rllib train``'s summary), of the raw values."""
    lines = []
    width = max(len(c.label) for c in curves)
    for name in metrics:
        lines.append(name)
        for c in curves:
            if name in c.series:
                xs, ys = c.series[name]
                lines.append(
                    f"  {c.label:<{width}}  last {ys[-1]:10.4g} (at {xs[-1]:,.0f})  "
                    f"best {ys.max():10.4g}"
                )
    return lines


def plot(
    curves: Sequence[Curve],
    metrics: Sequence[str],
    out: Path,
    x: str = DEFAULT_X,
    budget: float | None = None,
    bands: str = "ci",
) -> Path:
    """Save one panel per metric to ``out`` (format from its suffix): a method of one trial is
    its smoothed line with the raw values faint behind, a method of several is their mean with
    a shaded :func:`band` of kind ``bands`` (``none``: one line per trial instead). The x axis
    spans the stop ``budget`` when given."""
    if bands not in BANDS:
        raise ExperimentError(f"--band must be one of {', '.join(BANDS)}; got {bands!r}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(metrics), figsize=(6 * len(metrics), 4.2), squeeze=False, layout="constrained"
    )
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    methods: dict[str, list[Curve]] = {}
    for c in curves:
        methods.setdefault(c.method or c.label, []).append(c)
    for ax, name in zip(axes[0], metrics, strict=True):
        lines = []  # each a method's band (its trials) or a single trial
        for members in methods.values():
            drawn = [c for c in members if name in c.series]
            lines += [drawn] if len(drawn) > 1 and BANDS[bands] else [[c] for c in drawn]
        windows = [effective_window(c.window, len(c.series[name][1])) for g in lines for c in g]
        for k, group in enumerate(lines):
            _draw(ax, group, name, bands, colors[k % len(colors)])
        used = max(windows, default=1)
        if budget is not None:
            ax.set_xlim(0, budget)
        title = name if used <= 1 else f"{name} (moving average of {used})"
        ax.set(title=title, xlabel=x)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def _draw(ax: Any, group: Sequence[Curve], name: str, bands: str, color: str) -> None:
    """One line of :func:`plot`: the mean of ``group`` with its band, or its one curve. A line of
    one point (a scripted team's greedy evaluations are all the same measurement) gets a marker,
    since a line alone draws nothing there."""
    if len(group) > 1:
        xs, mean, low, high = band(group, name, bands)
        ax.fill_between(xs, low, high, color=color, alpha=0.2, linewidth=0)
        label = f"{group[0].method} (mean of {len(group)} seeds, {BANDS[bands]})"
        ax.plot(xs, mean, color=color, label=label, linewidth=1.8, marker=_marker(xs))
        return
    (curve,) = group
    xs, ys = curve.series[name]
    window = effective_window(curve.window, len(ys))
    if window > 1:
        ax.plot(xs, ys, color=color, alpha=0.25, linewidth=1.0)
    line = smoothed(ys, window)
    ax.plot(xs, line, color=color, label=curve.label, linewidth=1.8, marker=_marker(xs))


def _marker(xs: Sequence[float]) -> str | None:
    return "o" if len(xs) == 1 else None
