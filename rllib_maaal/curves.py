"""Learning curves of Tune experiments: every trial's ``result.json``, plotted over env steps.

``rllib plot ~/ray_results/maaal ~/ray_results/qmix`` draws one panel per metric (by default the
greedy evaluation return, then the exploring training return) with one line per trial, labelled
by experiment (and trial, when an experiment has several), and prints each line's last and best
value. Metrics are nested result keys joined by ``/``. (Tune's ``progress.csv`` keeps only the
columns of the first result, so it lacks the evaluation metrics that appear later.)
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rllib_maaal.experiment import ExperimentError

RESULTS = "result.json"
DEFAULT_X = "num_env_steps_sampled_lifetime"
DEFAULT_METRICS = (
    "evaluation/env_runners/episode_return_mean",
    "env_runners/episode_return_mean",
)


@dataclass
class Curve:
    """The values of a few metrics of one trial, each against ``x`` where it was logged."""

    label: str
    series: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


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


def _flatten(result: dict, prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in result.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}/")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[f"{prefix}{key}"] = float(value)
    return flat


def _results(trial: Path) -> list[dict[str, float]]:
    """The trial's results, flattened; a line cut short by a running trial is skipped."""
    rows = []
    for line in (trial / RESULTS).read_text().splitlines():
        try:
            rows.append(_flatten(json.loads(line)))
        except json.JSONDecodeError:
            continue
    return rows


def load_curves(dirs: Sequence[Path], metrics: Sequence[str], x: str = DEFAULT_X) -> list[Curve]:
    """One :class:`Curve` per trial directory. A metric no trial logged is an error that lists
    the logged metrics closest to it (a typo, or evaluation not switched on)."""
    per_experiment: dict[Path, int] = {}
    for d in dirs:
        per_experiment[d.parent] = per_experiment.get(d.parent, 0) + 1
    curves, columns = [], set()
    for d in dirs:
        rows = _results(d)
        for row in rows:
            columns |= row.keys()
        label = d.parent.name if per_experiment[d.parent] == 1 else f"{d.parent.name}/{d.name}"
        curve = Curve(label)
        for name in metrics:
            pairs = np.array([(r[x], r[name]) for r in rows if x in r and name in r])
            pairs = pairs[~np.isnan(pairs).any(1)] if len(pairs) else pairs
            if len(pairs):
                curve.series[name] = (pairs[:, 0], pairs[:, 1])
        curves.append(curve)
    for name in (x, *metrics):
        if name not in columns:
            near = difflib.get_close_matches(name, sorted(columns), n=3, cutoff=0.5)
            hint = f"; closest logged metrics: {', '.join(near)}" if near else ""
            raise ExperimentError(f"no trial logged {name!r}{hint}")
    return curves


def summary(curves: Sequence[Curve], metrics: Sequence[str]) -> list[str]:
    """Lines ``label  metric  last (at x)  best`` for every curve and metric it has."""
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


def plot(curves: Sequence[Curve], metrics: Sequence[str], out: Path, x: str = DEFAULT_X) -> Path:
    """Save one panel per metric, one line per curve, to ``out`` (format from its suffix)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(metrics), figsize=(6 * len(metrics), 4.2), squeeze=False, layout="constrained"
    )
    for ax, name in zip(axes[0], metrics, strict=True):
        for c in curves:
            if name in c.series:
                ax.plot(*c.series[name], label=c.label, linewidth=1.6)
        ax.set(title=name, xlabel=x)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
