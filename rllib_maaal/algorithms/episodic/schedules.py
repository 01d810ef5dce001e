"""Exploration schedules."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Schedule = float | Sequence[Sequence[float]]


def piecewise_linear(schedule: Schedule, t: float) -> float:
    """The value of ``schedule`` at env step ``t``.

    A number is constant; a list of ``[step, value]`` points (steps increasing) interpolates
    linearly between them and holds the end values outside, like RLlib's own schedules.
    """
    if isinstance(schedule, int | float):
        return float(schedule)
    steps, values = zip(*schedule, strict=True)
    return float(np.interp(t, steps, values))


def check_schedule(name: str, schedule: Schedule) -> None:
    """Raise a ``ValueError`` naming ``name`` if ``schedule`` is not a valid ε schedule."""
    if isinstance(schedule, int | float):
        points = [(0, schedule)]
    else:
        try:
            points = [(float(s), float(v)) for s, v in schedule]
        except (TypeError, ValueError):
            raise ValueError(
                f"{name} must be a number or a list of [step, value] pairs, got {schedule!r}"
            ) from None
        if not points or any(b[0] < a[0] for a, b in zip(points, points[1:], strict=False)):
            raise ValueError(f"{name}: steps must be non-empty and increasing, got {schedule!r}")
    if any(not 0.0 <= v <= 1.0 for _, v in points):
        raise ValueError(f"{name}: values must lie in [0, 1], got {schedule!r}")
