"""argparse ``type=`` converters shared by every room's subcommands.

Each turns a bad value into ``argparse.ArgumentTypeError``, which the ``gridnn`` parser reports
as one line naming the flag, the expected kind of value and what was received (exit 2).
"""

from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    """'3' -> 3; refuses 0, negatives and non-integers."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive int, received {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive int, received {text!r}")
    return value


def positive_float(text: str) -> float:
    """'3e-3' -> 0.003; refuses 0, negatives, inf and NaN."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, received {text!r}") \
            from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a positive number, received {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """'0' -> 0.0; refuses negatives, inf and NaN."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, received {text!r}")
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
