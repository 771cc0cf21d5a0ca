"""argparse ``type=`` converters shared by every room's subcommands.

Each turns a bad value into ``argparse.ArgumentTypeError``, which the ``gridnn`` parser reports
as one line naming the flag, the expected kind of value and what was received (exit 2).
``sizes`` and ``per_dim`` run after parsing (how many values a flag takes depends on another
flag) and raise ``ArgumentError`` naming the flag; ``did_you_mean`` words a suggestion.
"""

from __future__ import annotations

import argparse
import difflib
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from .errors import ArgumentError

# sizes may be written 1x28x28 or 1,28,28 (or with spaces) wherever the command takes them
_SEPARATORS = re.compile(r"\s*[x,]\s*")


def positive_int(text: str) -> int:
    """'3' -> 3; refuses 0, negatives and non-integers."""
    return _checked(text, int, lambda v: v > 0, "a positive int")


def nonnegative_int(text: str) -> int:
    """'0' -> 0; refuses negatives and non-integers (seeds, sample numbers)."""
    return _checked(text, int, lambda v: v >= 0, "an int >= 0")


def fraction(text: str) -> float:
    """'0.1' -> 0.1: a share strictly between 0 and 1."""
    return _checked(text, float, lambda v: 0 < v < 1, "a number between 0 and 1 (exclusive)")


def positive_float(text: str) -> float:
    """'3e-3' -> 0.003; refuses 0, negatives, inf and NaN."""
    return _checked(text, float, lambda v: 0 < v < math.inf, "a positive number")


def nonnegative_float(text: str) -> float:
    """'0' -> 0.0; refuses negatives, inf and NaN."""
    return _checked(text, float, lambda v: 0 <= v < math.inf, "a number >= 0")


def floats(text: str) -> tuple[float, ...]:
    """'0.485,0.456,0.406' (commas or spaces) -> (0.485, 0.456, 0.406); finite numbers only."""
    def convert(t: str) -> tuple[float, ...]:
        return tuple(float(v) for v in re.split(r"[\s,]+", t.strip()) if v)

    return _checked(text, convert, lambda v: bool(v) and all(map(math.isfinite, v)),
                    "numbers separated by commas, such as 0.485,0.456,0.406")


def _checked(text: str, convert: Callable[[str], Any], ok: Callable[[Any], bool],
             expected: str) -> Any:
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, received {text!r}")
    return value


def _ints(text: str) -> tuple[int, ...] | None:
    """'1x28x28', '1,28,28' -> (1, 28, 28); None when a part is not an int."""
    try:
        return tuple(int(t) for t in _SEPARATORS.split(text.strip().lower()))
    except ValueError:
        return None


def shape(text: str) -> tuple[int, ...]:
    """'1,28,28' or '1x28x28' -> (1, 28, 28): one sample's shape, every size positive."""
    dims = _ints(text)
    if not dims or any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(
            f"expected positive ints such as 1x28x28 or 1,28,28, received {text!r}")
    return dims


def spatial_index(text: str) -> tuple[int, ...]:
    """'2x3' or '2,3' -> (2, 3): a position in a feature map, every part an int >= 0."""
    values = _ints(text)
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(
            f"expected ints >= 0 such as 2x3 or 2,3, received {text!r}")
    return values


def sizes(text: str, what: str, exactly: int | None = None) -> tuple[int, ...]:
    """A spatial size: '4x4' or '4,4' -> (4, 4), '8' -> (8,): one or two positive ints
    (``exactly=2``: two). ArgumentError naming the flag ``what`` otherwise."""
    values = _ints(text)
    counts = (1, 2) if exactly is None else (exactly,)
    if values is None or len(values) not in counts:
        form = "one or two sizes like 4x4 or 8" if exactly is None else "HxW like 28x28"
        raise ArgumentError(f"`{what}` must be {form}, received {text!r}")
    if min(values) < 1:
        raise ArgumentError(f"`{what}` sizes must be >= 1, received {text!r}")
    return values


def per_dim(text: str, nd: int, what: str, minimum: int = 1) -> tuple[int, ...]:
    """'2' or '2x1' (or '2,1') -> a tuple of ``nd`` ints; one value is used for every dim.
    ArgumentError naming the flag ``what``: the same words for one value or several."""
    values = _ints(text)
    if values is None or len(values) not in (1, nd):
        form = "an int" if nd == 1 else f"an int or {nd} ints like {'x'.join(['2'] * nd)}"
        raise ArgumentError(f"`{what}` must be {form} for a {nd}-D input, received {text!r}")
    if min(values) < minimum:
        raise ArgumentError(f"`{what}` must be >= {minimum}, received {text!r}")
    return values * nd if len(values) == 1 else values


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """" (did you mean 'digits'?)" for the nearest of ``choices`` to a mistyped ``name``,
    else ""."""
    near = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {near[0]!r}?)" if near else ""
