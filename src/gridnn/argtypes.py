"""argparse ``type=`` converters shared by every room's subcommands.

Each turns a bad value into ``argparse.ArgumentTypeError``, which the ``gridnn`` parser reports
as one line naming the flag, the expected kind of value and what was received (exit 2).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any


def positive_int(text: str) -> int:
    """'3' -> 3; refuses 0, negatives and non-integers."""
    return _checked(text, int, lambda v: v > 0, "a positive int")


def positive_float(text: str) -> float:
    """'3e-3' -> 0.003; refuses 0, negatives, inf and NaN."""
    return _checked(text, float, lambda v: 0 < v < math.inf, "a positive number")


def nonnegative_float(text: str) -> float:
    """'0' -> 0.0; refuses negatives, inf and NaN."""
    return _checked(text, float, lambda v: 0 <= v < math.inf, "a number >= 0")


def _checked(text: str, convert: Callable[[str], Any], ok: Callable[[Any], bool],
             expected: str) -> Any:
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}, received {text!r}")
    return value


def shape(text: str) -> tuple[int, ...]:
    """'1,28,28' -> (1, 28, 28): one sample's shape, every size positive."""
    try:
        dims = tuple(int(t) for t in text.split(","))
    except ValueError:
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(
            f"expected positive ints separated by commas such as 1,28,28, received {text!r}")
    return dims
