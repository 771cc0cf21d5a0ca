"""Constructor argument checks shared by the layers; messages name the layer and the argument."""

from __future__ import annotations

import numbers
from typing import Any

from .._backend import xp
from ..errors import ArgumentError, ArgumentTypeError


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, xp.integer)) and not isinstance(value, bool)


def positive_int(value: Any, name: str, owner: str) -> int:
    """``value`` as an int >= 1, or ArgumentError "<owner>: `name` must be a positive int"."""
    if not _is_int(value) or value < 1:
        raise ArgumentError(f"{owner}: `{name}` must be a positive int, received {name}={value!r}")
    return int(value)


def channel_groups(groups: Any, in_channels: int, out_channels: int, owner: str) -> int:
    """``groups`` as a positive int dividing both channel counts, or ArgumentError naming them."""
    groups = positive_int(groups, "groups", owner)
    if in_channels % groups or out_channels % groups:
        raise ArgumentError(
            f"{owner}: `groups` must divide both in_channels and out_channels, received "
            f"groups={groups}, in_channels={in_channels}, out_channels={out_channels}"
        )
    return groups


def one_of(value: Any, choices: tuple[str, ...], name: str, owner: str) -> str:
    """``value`` if it is one of ``choices``, or ArgumentError naming the choices."""
    if value not in choices:
        raise ArgumentError(
            f"{owner}: `{name}` must be one of {choices}, received {name}={value!r}"
        )
    return value


def number_in(value: Any, name: str, owner: str, low: float, high: float,
              high_open: bool = False) -> float:
    """A real number in [low, high] (or [low, high) with ``high_open``) as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{owner}: `{name}` must be a number, received {name}={value!r}")
    ok = low <= value < high if high_open else low <= value <= high
    if not ok:
        bracket = ")" if high_open else "]"
        raise ArgumentError(
            f"{owner}: `{name}` must be in [{low}, {high}{bracket}, received {name}={value!r}"
        )
    return float(value)


def positive_number(value: Any, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ArgumentError(
            f"{owner}: `{name}` must be a positive number, received {name}={value!r}"
        )
    return float(value)


def generator(rng: Any, owner: str) -> xp.random.Generator:
    """``rng`` if it is a numpy Generator, a fresh unseeded one for None."""
    if rng is None:
        return xp.random.default_rng()
    if not isinstance(rng, xp.random.Generator):
        raise ArgumentTypeError(
            f"{owner}: `rng` must be a numpy.random.Generator or None, "
            f"received {type(rng).__name__}"
        )
    return rng


def float_dtype(dtype: Any, owner: str) -> Any:
    """A NumPy float dtype (None: float32)."""
    dt = xp.dtype(xp.float32 if dtype is None else dtype)
    if dt.kind != "f":
        raise ArgumentTypeError(f"{owner}: `dtype` must be a float dtype, received {dtype!r}")
    return dt
