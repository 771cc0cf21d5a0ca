"""Activations, ``where`` and dropout: element-wise, any shape, same shape out."""

from __future__ import annotations

from typing import Any

from .._backend import xp
from ..errors import ArgumentError
from ..ops import elementwise as ew
from ..tensor import Tensor
from .checks import as_float_tensor


def relu(x: Tensor) -> Tensor:
    """max(x, 0) element-wise; any shape, same shape out."""
    return as_float_tensor(x, "input", "relu").relu()


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope * x; any shape, same shape out."""
    return as_float_tensor(x, "input", "leaky_relu").leaky_relu(negative_slope)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e**-x) element-wise, without overflow; any shape, same shape out."""
    return as_float_tensor(x, "input", "sigmoid").sigmoid()


def tanh(x: Tensor) -> Tensor:
    """Element-wise hyperbolic tangent; any shape, same shape out."""
    return as_float_tensor(x, "input", "tanh").tanh()


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """Probabilities along ``dim`` (e.g. (N, classes) logits, dim -1); same shape out."""
    return as_float_tensor(x, "input", "softmax").softmax(dim)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """log(softmax(x)) along ``dim``, computed stably; same shape out."""
    return as_float_tensor(x, "input", "log_softmax").log_softmax(dim)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Element-wise ``a`` where ``condition`` else ``b`` (broadcasting); condition has no grad."""
    cond = xp.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    ref = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else Tensor(a)
    return ew.Where.apply(ref._lift(a), ref._lift(b), cond=cond)


def dropout(x: Tensor, p: float = 0.5, training: bool = True,
            rng: xp.random.Generator | None = None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (when training)."""
    if not 0 <= p <= 1:
        raise ArgumentError(f"dropout: `p` must be in [0, 1], received p={p!r}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    rng = rng if rng is not None else xp.random.default_rng()
    keep = rng.random(x.shape, dtype=xp.float32) >= p
    return x * (keep * x.dtype.type(1.0 / (1.0 - p)))
