"""Weight initialisation, in place, with an explicit random generator (as ``torch.nn.init``).

For a weight of shape (out, in, *kernel): fan_in = in * prod(kernel), fan_out = out *
prod(kernel). Each function fills ``tensor`` (a Tensor or ndarray) in place, keeps its dtype and
returns it. ``rng`` is a ``numpy.random.Generator``; None draws from a fresh, unseeded one.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from typing import Any

from .._backend import xp
from ..errors import ArgumentError
from ..tensor import Tensor

__all__ = [
    "calculate_fan_in_and_fan_out", "calculate_gain", "constant_", "kaiming_normal_",
    "kaiming_uniform_", "normal_", "ones_", "skipped", "uniform_", "xavier_normal_",
    "xavier_uniform_", "zeros_",
]
_state = threading.local()


@contextlib.contextmanager
def skipped() -> Iterator[None]:
    """Layers built inside skip their random initialisation (``uniform_`` and ``normal_`` leave
    the zeros untouched, which the OS has not even allocated yet): for code that assigns
    every weight right after, such as ``gridnn.onnx.load``. Per thread."""
    previous = getattr(_state, "skip", False)
    _state.skip = True
    try:
        yield
    finally:
        _state.skip = previous

_LINEAR = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
           "conv_transpose2d", "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended std scale for a nonlinearity: 1 (linear, conv, sigmoid), 5/3 (tanh),
    sqrt(2) (relu), sqrt(2 / (1 + slope^2)) (leaky_relu, slope ``param`` or 0.01), 3/4 (selu)."""
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ArgumentError(
                f"calculate_gain: `param` must be a number (the negative slope), received {param!r}"
            )
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ArgumentError(
        f"calculate_gain: unknown `nonlinearity` {nonlinearity!r}; expected one of "
        f"{(*_LINEAR, 'tanh', 'relu', 'leaky_relu', 'selu')}"
    )


def _array(tensor: Any) -> Any:
    return tensor.data if isinstance(tensor, Tensor) else tensor


def calculate_fan_in_and_fan_out(tensor: Any) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight (out, in, *kernel): (in * k, out * k), k = prod(kernel)."""
    shape = _array(tensor).shape
    if len(shape) < 2:
        raise ArgumentError(
            f"init: fan in and fan out need a tensor with at least 2 dimensions, "
            f"received shape {shape}"
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor: Any, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ArgumentError(f"init: `mode` must be 'fan_in' or 'fan_out', received {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor: Any, values: Any) -> Any:
    arr = _array(tensor)
    arr[...] = values  # in place, cast to the tensor's dtype
    return tensor


def _rng(rng: xp.random.Generator | None) -> xp.random.Generator:
    return xp.random.default_rng() if rng is None else rng


def uniform_(tensor: Any, a: float = 0.0, b: float = 1.0, *,
             rng: xp.random.Generator | None = None) -> Any:
    """Fill with U(a, b)."""
    if not a <= b:
        raise ArgumentError(f"uniform_: `a` must be <= `b`, received a={a}, b={b}")
    if getattr(_state, "skip", False):
        return tensor
    return _fill(tensor, _rng(rng).uniform(a, b, _array(tensor).shape))


def normal_(tensor: Any, mean: float = 0.0, std: float = 1.0, *,
            rng: xp.random.Generator | None = None) -> Any:
    """Fill with N(mean, std^2)."""
    if std < 0:
        raise ArgumentError(f"normal_: `std` must be non-negative, received std={std}")
    if getattr(_state, "skip", False):
        return tensor
    return _fill(tensor, _rng(rng).normal(mean, std, _array(tensor).shape))


def constant_(tensor: Any, value: float) -> Any:
    """Fill ``tensor`` (a Parameter, Tensor or array, any shape) with ``value`` in place."""
    return _fill(tensor, value)


def zeros_(tensor: Any) -> Any:
    """Fill ``tensor`` with zeros in place."""
    return _fill(tensor, 0)


def ones_(tensor: Any) -> Any:
    """Fill ``tensor`` with ones in place."""
    return _fill(tensor, 1)


def xavier_uniform_(tensor: Any, gain: float = 1.0, *,
                    rng: xp.random.Generator | None = None) -> Any:
    """Glorot: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, rng=rng)


def xavier_normal_(tensor: Any, gain: float = 1.0, *,
                   rng: xp.random.Generator | None = None) -> Any:
    """Glorot: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng=rng)


def kaiming_uniform_(tensor: Any, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", *,
                     rng: xp.random.Generator | None = None) -> Any:
    """He: U(-b, b) with b = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).

    With a = sqrt(5) (the Linear/Conv default) b = 1 / sqrt(fan_in).
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, rng=rng)


def kaiming_normal_(tensor: Any, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", *,
                    rng: xp.random.Generator | None = None) -> Any:
    """He: N(0, std^2) with std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, rng=rng)
