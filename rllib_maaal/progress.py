"""What ``rllib train`` shows while it trains: one line per trial, and the final summary.

Each line says where a trial stands against its stop criterion::

    MAAAL_maaal_city_8e0f1_00000  RUNNING  iter 12  steps 4,800/50,000  612/s  ETA 1m14s
        return -40.1  greedy -35.2  fraction_completed 0.21

On a terminal the lines are redrawn in place (at most once a second); otherwise, as in CI logs
or ``nohup``, all lines are printed every ``interval`` seconds and when a trial ends.

"best" means one thing everywhere (here, in the summary and in ``rllib plot``): the highest
value a trial's ranked metric reached during the run (the first of
:data:`rllib_maaal.curves.DEFAULT_METRICS` it logs: the greedy evaluation return when the trial
logs one, else the exploring return).
"""

from __future__ import annotations

import collections
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from ray.tune import Callback

from rllib_maaal.curves import DEFAULT_METRICS

GREEDY, EXPLORING = DEFAULT_METRICS
#: Task metrics shown next to the returns (those a trial logs), from the envs' final infos.
TASK_METRICS: tuple[str, ...] = ("success", "fraction_completed", "goal_difference")
STEPS = "num_env_steps_sampled_lifetime"
#: Seconds of training over which the env steps/s (and so the ETA) are measured.
RATE_WINDOW = 60.0


def lookup(result: dict[str, Any], path: str) -> float | None:
    """The number at ``a/b/c`` in a nested result; None when absent or NaN."""
    value: Any = result
    for key in path.split("/"):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def home(path: str | Path) -> str:
    """``path`` with the home directory written as ``~`` (what users type)."""
    path, user_home = str(path), str(Path.home())
    return "~" + path[len(user_home) :] if path.startswith(user_home + "/") else path


def duration(seconds: float) -> str:
    """``1h02m``, ``3m05s`` or ``42s``."""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class TrialLine:
    """The progress of one trial, from its results."""

    def __init__(self, name: str, stop: dict[str, float]) -> None:
        self.name = name
        self.stop = stop
        self.status = "PENDING"
        self.result: dict[str, Any] = {}
        self.greedy: float | None = None
        self._recent: collections.deque[tuple[float, float]] = collections.deque()
        self.steps_per_s: float | None = None

    def update(self, result: dict[str, Any]) -> None:
        steps, elapsed = lookup(result, STEPS), lookup(result, "time_total_s")
        if steps is not None and elapsed is not None:
            # The rate over the last RATE_WINDOW seconds of training: one iteration's rate
            # jumps (episode ends, learner updates), the lifetime one lags behind changes.
            self._recent.append((elapsed, steps))
            while len(self._recent) > 2 and elapsed - self._recent[1][0] >= RATE_WINDOW:
                self._recent.popleft()
            (t0, s0), (t1, s1) = self._recent[0], self._recent[-1]
            if t1 > t0:
                self.steps_per_s = (s1 - s0) / (t1 - t0)
            elif elapsed > 0:
                self.steps_per_s = steps / elapsed
        greedy = lookup(result, GREEDY)
        if greedy is not None:  # evaluated every few iterations: keep the latest
            self.greedy = greedy
        self.result = result

    def eta(self) -> float | None:
        """Seconds until the nearest stop criterion, from the current rates."""
        r = self.result
        elapsed = lookup(r, "time_total_s")
        if not elapsed:
            return None
        remaining = []
        for key, target in self.stop.items():
            if key == "time_total_s":
                remaining.append(target - elapsed)
            elif key == STEPS and self.steps_per_s:
                remaining.append((target - (lookup(r, STEPS) or 0)) / self.steps_per_s)
            elif key == "training_iteration" and r.get("training_iteration"):
                per_iteration = elapsed / r["training_iteration"]
                remaining.append((target - r["training_iteration"]) * per_iteration)
        return max(0.0, min(remaining)) if remaining else None

    def render(self) -> str:
        r = self.result
        parts = [self.name, self.status]
        if r:
            parts.append(f"iter {r.get('training_iteration', 0)}")
            steps = lookup(r, STEPS)
            if steps is not None:
                target = self.stop.get(STEPS)
                parts.append(f"steps {steps:,.0f}" + (f"/{target:,.0f}" if target else ""))
            if self.steps_per_s:
                parts.append(f"{self.steps_per_s:,.0f}/s")
            eta = self.eta() if self.status == "RUNNING" else None
            if eta is not None:
                parts.append(f"ETA {duration(eta)}")
            exploring = lookup(r, EXPLORING)
            if exploring is not None:
                parts.append(f"return {exploring:.4g}")
            if self.greedy is not None:
                parts.append(f"greedy {self.greedy:.4g}")
            for name in TASK_METRICS:
                value = lookup(r, f"env_runners/{name}")
                if value is not None:
                    parts.append(f"{name} {value:.3g}")
        return "  ".join(parts)


class ProgressCallback(Callback):
    """A Tune callback printing :class:`TrialLine` s: in place on a TTY, else every
    ``interval`` seconds (and whenever a trial starts, ends or fails)."""

    def __init__(
        self, stop: dict[str, float], interval: float = 30.0, out: TextIO | None = None
    ) -> None:
        self.stop = stop
        self.interval = interval
        self.out = out or sys.stdout
        self.tty = self.out.isatty()
        self.lines: dict[str, TrialLine] = {}
        self._drawn = 0
        self._last = 0.0

    def _line(self, trial: Any) -> TrialLine:
        key = str(trial)
        if key not in self.lines:
            self.lines[key] = TrialLine(key, self.stop)
        return self.lines[key]

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._line(trial).status = "RUNNING"
        self.draw(force=True)

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        line = self._line(trial)
        line.status = "RUNNING"
        line.update(result)
        self.draw()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._line(trial).status = "DONE"
        self.draw(force=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._line(trial).status = "FAILED"
        self.draw(force=True)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        for trial in trials:  # trials that wait for resources show up as PENDING
            self._line(trial)
        self.draw()

    def draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < (1.0 if self.tty else self.interval):
            return
        self._last = now
        text = [line.render() for line in self.lines.values()]
        if self.tty:
            width = _terminal_width()
            if self._drawn:  # back to the first line of the previous drawing
                self.out.write(f"\x1b[{self._drawn}F")
            self.out.write("".join(f"\x1b[2K{t[:width]}\n" for t in text))
            self._drawn = len(text)
        else:
            stamp = time.strftime("%H:%M:%S")
            self.out.write("".join(f"[{stamp}] {t}\n" for t in text))
        self.out.flush()


def _terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size((120, 24)).columns
