"""Learning curves of Tune experiments: every trial's ``result.json``, plotted over env steps.

``rllib plot ~/ray_results/maaal ~/ray_results/qmix`` draws one panel per metric (by default the
greedy evaluation return, then the exploring training return) with one line per trial, labelled
by experiment (and trial, when an experiment has several), and prints each line's last and best
value. Metrics are nested result keys joined by ``/``. (Tune's ``progress.csv`` keeps only the
columns of the first result, so it lacks the evaluation metrics that appear later.)
"""

from __future__ import annotations

import contextlib
import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rllib_maaal.experiment import ExperimentError

RESULTS = "result.json"
DEFAULT_X = "num_env_steps_sampled_lifetime"
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


def trial_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Every directory holding a ``result.json`` under (or at) ``paths``, in order."""
    found: list[Path] = []
    for path in paths:
        root = Path(path).expanduser()
        if not root.exists():
            raise ExperimentError(f"no such results directory: {root}")
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
    dirs: Sequence[Path],
    metrics: Sequence[str] | None = None,
    x: str = DEFAULT_X,
    smooth: int = 1,
) -> tuple[list[Curve], list[str]]:
    """One :class:`Curve` per trial directory, and the metrics drawn (``metrics``, or
    :func:`default_metrics`). A metric no trial logged is an error that lists the logged
    metrics closest to it (a typo, or evaluation not switched on)."""
    if smooth < 1:
        raise ExperimentError(f"--smooth must be an int >= 1; got {smooth}")
    per_experiment: dict[Path, int] = {}
    for d in dirs:
        per_experiment[d.parent] = per_experiment.get(d.parent, 0) + 1
    all_rows = [flat_results(d) for d in dirs]
    metrics = list(metrics) if metrics else default_metrics(all_rows)
    curves, columns = [], set()
    for d, rows in zip(dirs, all_rows, strict=True):
        for row in rows:
            columns |= row.keys()
        label = d.parent.name if per_experiment[d.parent] == 1 else f"{d.parent.name}/{d.name}"
        curve = Curve(label, window=smooth)
        for name in metrics:
            pairs = np.array([(r[x], r[name]) for r in rows if x in r and name in r])
            pairs = pairs[~np.isnan(pairs).any(1)] if len(pairs) else pairs
            if len(pairs):
                # RLlib repeats the last evaluation (and, without finished episodes, the last
                # return) in later results: a repeated value is one measurement, not several.
                fresh = np.insert(pairs[1:, 1] != pairs[:-1, 1], 0, True)
                pairs = pairs[fresh]
                curve.series[name] = (pairs[:, 0], pairs[:, 1])
        curves.append(curve)
    for name in (x, *metrics):
        if name not in columns:
            near = difflib.get_close_matches(name, sorted(columns), n=3, cutoff=0.5)
            hint = f"; closest logged metrics: {', '.join(near)}" if near else ""
            raise ExperimentError(f"no trial logged {name!r}{hint}")
    return curves, metrics


def stop_budget(paths: Iterable[str | Path], x: str = DEFAULT_X) -> float | None:
    """The largest stop criterion on ``x`` among the experiments under ``paths`` (from Tune's
    saved experiment state), to span the x axis to the budget; None when not recorded."""
    budget = None
    for path in paths:
        root = Path(path).expanduser()
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
) -> Path:
    """Save one panel per metric, one line per curve (smoothed; the raw values faint behind),
    to ``out`` (format from its suffix); the x axis spans the stop ``budget`` when given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(metrics), figsize=(6 * len(metrics), 4.2), squeeze=False, layout="constrained"
    )
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes[0], metrics, strict=True):
        used = 1
        for k, c in enumerate(curves):
            if name not in c.series:
                continue
            xs, ys = c.series[name]
            color = colors[k % len(colors)]
            window = effective_window(c.window, len(ys))
            if window > 1:
                ax.plot(xs, ys, color=color, alpha=0.25, linewidth=1.0)
            ax.plot(xs, smoothed(ys, window), color=color, label=c.label, linewidth=1.8)
            used = max(used, window)
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
