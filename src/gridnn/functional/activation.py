"""Activations, ``where`` and dropout: element-wise, any shape, same shape out."""

from __future__ import annotations

from typing import Any

from .._backend import xp
from ..errors import ArgumentError
from ..ops import activation as act
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


def relu6(x: Tensor) -> Tensor:
    """min(max(x, 0), 6) element-wise (MobileNet's ReLU6); any shape, same shape out."""
    return hardtanh(x, 0.0, 6.0)


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """min(max(x, min_val), max_val) element-wise, one op; any shape, same shape out."""
    return clip(x, min_val, max_val, "hardtanh")


def clip(x: Tensor, low: float | None = None, high: float | None = None,
         op: str = "clip") -> Tensor:
    """min(max(x, low), high) element-wise (a bound of None is no bound); gradient 1 strictly
    inside the bounds, 0 outside. Any shape, same shape out."""
    if low is not None and high is not None and low > high:
        raise ArgumentError(f"{op}: the lower bound {low} is above the upper bound {high}")
    return act.Clip.apply(as_float_tensor(x, "input", op), low=low, high=high)


def hardsigmoid(x: Tensor) -> Tensor:
    """clip(x / 6 + 1/2, 0, 1) element-wise; any shape, same shape out."""
    return act.Hardsigmoid.apply(as_float_tensor(x, "input", "hardsigmoid"))


def hardswish(x: Tensor) -> Tensor:
    """x * hardsigmoid(x) element-wise (MobileNetV3); any shape, same shape out."""
    return act.Hardswish.apply(as_float_tensor(x, "input", "hardswish"))


def silu(x: Tensor) -> Tensor:
    """x * sigmoid(x) element-wise (swish; EfficientNet); any shape, same shape out."""
    return act.SiLU.apply(as_float_tensor(x, "input", "silu"))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x), Phi the standard normal CDF via erf (approximate='none', exact) or its tanh
    approximation (approximate='tanh'); any shape, same shape out."""
    if approximate not in ("none", "tanh"):
        raise ArgumentError(f"gelu: `approximate` must be 'none' or 'tanh', received "
                            f"approximate={approximate!r}")
    return act.GELU.apply(as_float_tensor(x, "input", "gelu"), approximate=approximate)


def erf(x: Tensor) -> Tensor:
    """The error function element-wise; any shape, same shape out."""
    return act.Erf.apply(as_float_tensor(x, "input", "erf"))


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x where x > 0, else alpha * (e**x - 1); any shape, same shape out."""
    return act.ELU.apply(as_float_tensor(x, "input", "elu"), alpha=float(alpha))


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + e**(beta x)) / beta, and x where beta x > threshold; any shape, same out."""
    if beta == 0:
        raise ArgumentError("softplus: `beta` must be non-zero, received beta=0")
    return act.Softplus.apply(as_float_tensor(x, "input", "softplus"), beta=float(beta),
                              threshold=float(threshold))


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, else weight * x: ``weight`` (C,) one slope per channel (axis 1), or (1,)
    one for all. x (N, C, *) -> same shape."""
    x, weight = as_float_tensor(x, "input", "prelu"), as_float_tensor(weight, "weight", "prelu")
    channels = x.shape[1] if x.ndim > 1 else 1
    if weight.ndim != 1 or weight.shape[0] not in (1, channels):
        raise ArgumentError(f"prelu: `weight` must have shape (1,) or ({channels},) for input "
                            f"shape {x.shape}, received {weight.shape}")
    return act.PReLU.apply(x, weight)


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
