"""Checks of user input, shared by the configs, the envs and the ``rllib`` command.

Every check raises a ``ValueError`` whose message is one line in one format::

    <field> must be <what is allowed>; got <the value given>[ (did you mean <name>?)]

so that a typo in a YAML file, an ``env_config`` or a Python config call reads the same. The
module imports nothing heavy (NumPy only): the command runs these checks before Ray (or torch)
is loaded.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np


def did_you_mean(word: Any, choices: Iterable[Any]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` to ``word``, else ``""``."""
    names = [str(c) for c in choices]
    close = difflib.get_close_matches(str(word), names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def brief(value: Any, limit: int = 80) -> str:
    """A one-line, bounded rendering of ``value`` for an error message."""
    if isinstance(value, np.generic):
        value = value.item()  # 2.5 rather than np.float64(2.5)
    if isinstance(value, int) and value.bit_length() > 64:
        # repr of a huge int is long, and past 4300 digits Python refuses to make it
        return f"an int of {value.bit_length()} bits"
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(value: Any) -> str:
    """``value`` as the messages show it: :func:`brief`, and its type where that hides it."""
    shown = brief(value, limit=60)
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return shown
    return f"{shown} ({type(value).__name__})"


def check_choice(field: str, value: Any, allowed: Iterable[Any]) -> Any:
    """``value`` if it is one of ``allowed``, else an error listing the choices."""
    allowed = list(allowed)
    try:
        if value in allowed:
            return value
    except TypeError:  # unhashable values compare unequal to every choice
        pass
    hint = did_you_mean(value, allowed) if isinstance(value, str) else ""
    choices = ", ".join(str(a) for a in allowed)
    raise ValueError(f"{field} must be one of {choices}; got {describe(value)}{hint}")


def is_number(value: Any) -> bool:
    """A real number that is not NaN; bools excluded (``True`` is no learning rate)."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and type(value).__name__ != "bool_"
        and not math.isnan(value)
    )


def check_number(
    field: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    allow: tuple[Any, ...] = (),
) -> Any:
    """``value`` if it is a finite number within the bounds.

    ``low_open``/``high_open`` exclude the bound itself; ``integer`` asks for an int;
    ``allow`` lists extra accepted values (``None``, ``"auto"``, ...).
    """
    if any(value is a or (isinstance(a, str) and value == a) for a in allow):
        return value
    ok = is_number(value) and (not integer or isinstance(value, numbers.Integral))
    ok = ok and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if ok:
        return value
    raise ValueError(
        f"{field} must be {_number_phrase(low, high, low_open, high_open, integer, allow)}; "
        f"got {describe(value)}"
    )


def _number_phrase(
    low: float | None,
    high: float | None,
    low_open: bool,
    high_open: bool,
    integer: bool,
    allow: tuple[Any, ...],
) -> str:
    kind = "an int" if integer else "a number"
    if low is not None and high is not None:
        phrase = f"{kind} in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low == 0 and low_open:
        phrase = "a positive int" if integer else "a positive number"
    elif low is not None:
        phrase = f"{kind} {'>' if low_open else '>='} {low:g}"
    elif high is not None:
        phrase = f"{kind} {'<' if high_open else '<='} {high:g}"
    else:
        phrase = kind
    if allow:
        phrase += " or " + " or ".join(repr(a) for a in allow)
    return phrase


def check_bool(field: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (YAML's ``yes`` is a string here, not a bool)."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise ValueError(f"{field} must be true or false; got {describe(value)}")


def check_mapping(field: str, value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping (``{key: value}``)."""
    if isinstance(value, Mapping):
        return value
    raise ValueError(f"{field} must be a mapping {{key: value}}; got {describe(value)}")


def check_keys(field: str, mapping: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """Every key of ``mapping`` must be one of ``allowed``; the first unknown one is named."""
    allowed = list(allowed)
    for key in mapping:
        check_choice(f"{field} key", key, allowed)
