"""Results over seeds as a Markdown table: ``rllib report DIR...``.

One row per method (:func:`rllib_maaal.curves.trial_names`: the trials of one experiment that
differ only in ``seed``), with the paper's name of its variant where the config sets MAAAL's
allocation and action modes, its seeds, and per metric the mean over seeds ± the half-width of
the 95 % confidence interval of that mean (Student t with n - 1 degrees of freedom: with three
seeds the interval is 2.5 standard deviations wide on each side of the mean). A trial's value is its
last greedy evaluation (``evaluation/env_runners/<metric>``), or the mean of its last ``last``
evaluations (``rllib report --last 10``: a success rate over 64 episodes moves by about 0.06
from one evaluation to the next on sampling alone); a method whose trials never evaluated falls
back to the exploring training episodes (``env_runners/<metric>``), and its cell is marked. Env
steps and wall time are each trial's last result, averaged over seeds.

The raw curves behind the table go to a small CSV or JSON file (:func:`curves_csv`,
:func:`report_json`): only the metrics of the table, a row where a value changed (RLlib repeats
the last evaluation in the results between evaluations) and the last result, six significant
digits. Such a CSV is read back as the trials it holds
(:func:`rllib_maaal.curves.read_curves_csv`): ``rllib report docs/results/a.csv
~/ray_results/maaal`` tables kept results and new seeds together.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rllib_maaal.curves import (
    CSV_KEYS,
    DEFAULT_X,
    Run,
    ci95,
    load_runs,
    measurements,
    missing_metric,
)
from rllib_maaal.experiment import ExperimentError

EVALUATION, EXPLORING = "evaluation/env_runners/", "env_runners/"
TIME = "time_total_s"
#: The default columns: heading, task metric (from the episodes' final infos) and format.
DEFAULT_COLUMNS = (
    ("return", "episode_return_mean", ".1f"),
    ("fraction completed", "fraction_completed", ".2f"),
    ("success rate", "success", ".2f"),
)
#: The paper's names of MAAAL's variants by (allocation, action) config; see
#: ``rllib_maaal/algorithms/maaal/maaal.py``. ``allocation: none`` is named by its mixer.
VARIANTS = {
    ("learned", "learned"): "MAAAL",
    ("rule", "learned"): "R-AL",
    ("learned", "rule"): "R-AC",
    ("static", "learned"): "S-AC",
    ("rule", "rule"): "Fixed-BT",
    ("random", "random"): "random",
}
FALLBACK_MARK = "†"


@dataclass(frozen=True)
class Column:
    """A metric of the table: a task metric name (read from the greedy evaluation, else the
    exploring episodes) or a full result key (containing ``/``, read as it is)."""

    heading: str
    metric: str
    fmt: str = ".3g"

    @property
    def sources(self) -> tuple[str, ...]:
        """The result keys to read, in order of preference."""
        if "/" in self.metric:
            return (self.metric,)
        return (EVALUATION + self.metric, EXPLORING + self.metric)


@dataclass
class Trial:
    """One trial's results: its method, seed and variant, and its flattened result rows."""

    path: Path
    trial_id: str
    method: str
    seed: Any
    variant: str
    rows: list[dict[str, float]]

    def final(self, key: str) -> float | None:
        """The last value of ``key`` that is a number (not NaN); None when never logged."""
        for row in reversed(self.rows):
            value = row.get(key)
            if value is not None and not math.isnan(value):
                return value
        return None

    def settled(self, key: str, last: int = 1) -> float | None:
        """The mean of the last ``last`` measurements of ``key`` (RLlib's repeats of an
        evaluation in the results between evaluations counted once,
        :func:`rllib_maaal.curves.measurements`), or of all where it has fewer; None when never
        logged. ``last`` 1 is :meth:`final`."""
        logged = [r for r in self.rows if not math.isnan(r.get(key, math.nan))]
        if not logged:
            return None
        return float(np.mean([r[key] for r in measurements(logged, key)[-last:]]))


@dataclass
class Cell:
    """One method's values of a column: the key they were read from (``fallback``: not the
    column's first choice, the greedy evaluation) and one value per trial that logged it."""

    key: str | None
    values: list[float]
    fallback: bool = False

    def stats(self) -> tuple[float, float, int]:
        """Mean, half-width of the 95 % CI (NaN for one value) and number of values."""
        mean, half = ci95(np.asarray(self.values))
        return float(mean), float(half), len(self.values)


def variant(trial: Path, config: dict[str, Any]) -> str:
    """The paper's name of the trial's variant (:data:`VARIANTS`), else its algorithm (the
    trainable's name, with which Tune starts a trial directory's name)."""
    modes = (config.get("allocation"), config.get("action"))
    if modes[0] == "none":
        return str(config.get("mixer", "none")).upper()
    if modes in VARIANTS:
        return VARIANTS[modes]
    if None not in modes:
        return f"allocation={modes[0]}, action={modes[1]}"
    return trial.name.split("_")[0]


def load_trials(paths: Sequence[str | Path]) -> list[Trial]:
    """The results of every trial under ``paths`` (:func:`rllib_maaal.curves.load_runs`:
    trial directories and raw-curves CSVs), with the variant a CSV recorded or the config
    names."""
    return [_trial(run) for run in load_runs(paths)]


def _trial(run: Run) -> Trial:
    name = variant(run.path, run.config) if run.variant is None else run.variant
    return Trial(run.path, run.trial_id, run.name.method, run.name.seed, name, run.rows)


def by_method(trials: Sequence[Trial]) -> dict[str, list[Trial]]:
    """``trials`` grouped by method, in the order the methods first appear."""
    methods: dict[str, list[Trial]] = {}
    for t in trials:
        methods.setdefault(t.method, []).append(t)
    return methods


def cell(trials: Sequence[Trial], column: Column, last: int = 1) -> Cell:
    """The values of ``column`` over ``trials`` (each the mean of its ``last`` measurements,
    :meth:`Trial.settled`), from its first source any of them logged."""
    for i, key in enumerate(column.sources):
        values = [v for t in trials if (v := t.settled(key, last)) is not None]
        if values:
            return Cell(key, values, fallback=i > 0)
    return Cell(None, [])


def columns(trials: Sequence[Trial], metrics: Sequence[str] | None = None) -> list[Column]:
    """The table's columns: one per metric of ``metrics`` (an error when no trial logged it),
    else :data:`DEFAULT_COLUMNS` less those no trial logged (CartPole has no ``success``)."""
    chosen = [Column(m, m) for m in metrics] if metrics else [Column(*c) for c in DEFAULT_COLUMNS]
    logged = [c for c in chosen if cell(trials, c).key is not None]
    missing = [c for c in chosen if c not in logged]
    if metrics and missing:
        keys = {k for t in trials for row in t.rows for k in row}
        raise missing_metric(missing[0].sources[0], keys)
    if not logged:
        raise ExperimentError(
            f"no trial logged any of {', '.join(EVALUATION + c.metric for c in chosen)} "
            "(or their training versions); name the metrics to report with --metric"
        )
    return logged


def markdown(trials: Sequence[Trial], cols: Sequence[Column], last: int = 1) -> str:
    """The table, after a header that names the result key each column was read from; each
    trial's value is the mean of its ``last`` evaluations (:func:`cell`)."""
    from rllib_maaal.progress import duration

    methods = by_method(trials)
    cells = {m: [cell(ts, c, last) for c in cols] for m, ts in methods.items()}
    read = {v.key for row in cells.values() for v in row}
    sources = ", ".join(
        f"{c.heading} = " + " or ".join(f"`{k}`" for k in c.sources if k in read) for c in cols
    )
    where = "result.json" if all(t.path.is_dir() for t in trials) else "result.json or CSV"
    value = "last value" if last == 1 else f"mean of its last {last} evaluations"
    lines = [
        f"Read from each trial's {where}: {sources} (`{EVALUATION}...`: the greedy "
        f"evaluation); each trial's {value}, as the mean over seeds ± the half-width of its "
        "95 % confidence interval (Student t; no interval for one seed). Env steps and wall "
        "time: each trial's last result, mean over seeds.",
        "",
        "| method | variant | seeds | " + " | ".join(c.heading for c in cols) + " | env steps "
        "| wall time |",
        "|---|---|---|" + "---:|" * (len(cols) + 2),
    ]
    for method, ts in methods.items():
        row = [method, " / ".join(sorted({t.variant for t in ts})), _seeds(ts)]
        row += [_cell_text(v, c, len(ts)) for v, c in zip(cells[method], cols, strict=True)]
        steps = [v for t in ts if (v := t.final(DEFAULT_X)) is not None]
        times = [v for t in ts if (v := t.final(TIME)) is not None]
        row.append(_steps(float(np.mean(steps))) if steps else "n/a")
        row.append(duration(float(np.mean(times))) if times else "n/a")
        lines.append("| " + " | ".join(row) + " |")
    if any(v.fallback for row in cells.values() for v in row):
        lines += [
            "",
            f"{FALLBACK_MARK} no greedy evaluation logged: the exploring training episodes' "
            f"metric (`{EXPLORING}...`).",
        ]
    return "\n".join(lines) + "\n"


def _seeds(trials: Sequence[Trial]) -> str:
    """The seeds of a method's trials, or their number when seeds are unset or repeated."""
    seeds = [t.seed for t in trials]
    if None in seeds or len(set(map(str, seeds))) < len(seeds):
        return f"{len(trials)} trial(s)"
    return ", ".join(str(s) for s in sorted(seeds, key=str))


def _cell_text(values: Cell, col: Column, n_trials: int) -> str:
    """``mean ± half`` in the column's format; ``(n=k)`` when only k trials logged it."""
    if values.key is None:
        return "n/a"
    mean, half, n = values.stats()
    text = f"{mean:{col.fmt}}" if math.isnan(half) else f"{mean:{col.fmt}} ± {half:{col.fmt}}"
    if n < n_trials:
        text += f" (n={n})"
    return f"{text} {FALLBACK_MARK}" if values.fallback else text


def _steps(steps: float) -> str:
    if steps >= 1e6:
        return f"{steps / 1e6:.2f}M"
    return f"{steps / 1e3:.1f}k" if steps >= 1e3 else f"{steps:.0f}"


def _curve_keys(trials: Sequence[Trial], cols: Sequence[Column]) -> list[str]:
    """The result keys the table read, for the raw curves."""
    keys = [cell(ts, c).key for ts in by_method(trials).values() for c in cols]
    return list(dict.fromkeys(k for k in keys if k is not None))


def _curve_rows(trial: Trial, keys: Sequence[str]) -> list[list[float | None]]:
    """``[env steps, wall time, *keys]`` of every result where one of ``keys`` has a new value,
    and of the last result, whose env steps and wall time are the table's (env steps exact,
    seconds to 0.1, metrics to six significant digits)."""
    rows, previous = [], None
    for i, row in enumerate(trial.rows):
        values = [_number(row.get(k)) for k in keys]
        last = i == len(trial.rows) - 1
        if not last and (all(v is None for v in values) or values == previous):
            continue
        previous = values
        steps, seconds = row.get(DEFAULT_X), row.get(TIME)
        rows.append([steps, None if seconds is None else round(seconds, 1), *values])
    return rows


def _number(value: float | None) -> float | None:
    """``value`` to six significant digits; None for missing or NaN."""
    if value is None or math.isnan(value):
        return None
    return float(f"{value:.6g}")


def curves_csv(trials: Sequence[Trial], cols: Sequence[Column]) -> str:
    """The raw curves as CSV: ``method, variant, seed, trial id, env steps, wall time, *keys``
    (:data:`rllib_maaal.curves.CSV_KEYS` first), which ``rllib report`` and ``rllib plot`` read
    back."""
    keys = _curve_keys(trials, cols)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_KEYS, DEFAULT_X, TIME, *keys])
    for t in trials:
        seed = "" if t.seed is None else json.dumps(t.seed)
        for values in _curve_rows(t, keys):
            cells = ["" if v is None else f"{v:.10g}" for v in values]
            writer.writerow([t.method, t.variant, seed, t.trial_id, *cells])
    return out.getvalue()


def report_json(trials: Sequence[Trial], cols: Sequence[Column], last: int = 1) -> dict[str, Any]:
    """The table's numbers (each trial's value the mean of its ``last`` evaluations, recorded
    once as ``last``) and the raw curves (one list per key, as in the CSV), JSON-able."""
    keys = _curve_keys(trials, cols)
    fields = [DEFAULT_X, TIME, *keys]
    methods = []
    for method, ts in by_method(trials).items():
        summary = {}
        for col in cols:
            values = cell(ts, col, last)
            if values.key is not None:
                mean, half, n = values.stats()
                summary[col.heading] = {
                    "key": values.key,
                    "mean": _number(mean),
                    "ci95": _number(half),
                    "n": n,
                }
        runs = []
        for t in ts:
            rows = _curve_rows(t, keys)
            curve = {f: [r[i] for r in rows] for i, f in enumerate(fields)}
            final = {f: _number(t.final(f)) for f in fields}
            trial = t.path.name if t.path.is_dir() else t.trial_id  # a CSV's trials: their ids
            runs.append({"trial": trial, "seed": t.seed, "final": final, "curve": curve})
        variants = " / ".join(sorted({t.variant for t in ts}))
        methods.append({"method": method, "variant": variants, "summary": summary, "trials": runs})
    return {"metrics": keys, "last": last, "methods": methods}
