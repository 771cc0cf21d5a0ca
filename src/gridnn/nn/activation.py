"""Activation layers (element-wise, shape-preserving; PReLU learns its slopes) and Softmax
over one dim."""

from __future__ import annotations

import numbers
from typing import Any

from .. import functional as F
from .._backend import xp
from ..errors import ArgumentError, ArgumentTypeError
from ..tensor import Tensor
from ._checks import float_dtype, positive_int
from .module import Module, Parameter


class ReLU(Module):
    """max(x, 0). Shape: any -> same."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x. Shape: any -> same."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
            raise ArgumentTypeError(
                f"LeakyReLU: `negative_slope` must be a number, "
                f"received negative_slope={negative_slope!r}"
            )
        self.negative_slope = float(negative_slope)

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    """1 / (1 + exp(-x)). Shape: any -> same."""

    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x). Shape: any -> same."""

    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``dim``. Shape: any -> same."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise ArgumentTypeError(f"Softmax: `dim` must be an int, received dim={dim!r}")
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Hardtanh(Module):
    """min(max(x, min_val), max_val), one op. Shape: any -> same."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        super().__init__()
        self.min_val, self.max_val = _number(min_val, "min_val", type(self).__name__), \
            _number(max_val, "max_val", type(self).__name__)
        if self.min_val > self.max_val:
            raise ArgumentError(f"{type(self).__name__}: min_val={min_val} is above "
                                f"max_val={max_val}")

    def forward(self, x: Tensor) -> Tensor:
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class ReLU6(Hardtanh):
    """min(max(x, 0), 6) (MobileNetV2). Shape: any -> same."""

    def __init__(self) -> None:
        super().__init__(0.0, 6.0)

    def extra_repr(self) -> str:
        return ""


class Hardsigmoid(Module):
    """clip(x / 6 + 1/2, 0, 1). Shape: any -> same."""

    def forward(self, x: Tensor) -> Tensor:
        return F.hardsigmoid(x)


class Hardswish(Module):
    """x * hardsigmoid(x) (MobileNetV3). Shape: any -> same."""

    def forward(self, x: Tensor) -> Tensor:
        return F.hardswish(x)


class SiLU(Module):
    """x * sigmoid(x) (swish; EfficientNet). Shape: any -> same."""

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)


class GELU(Module):
    """x * Phi(x): exact via erf (approximate='none') or the tanh approximation.
    Shape: any -> same."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ArgumentError(f"GELU: `approximate` must be 'none' or 'tanh', received "
                                f"approximate={approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}" if self.approximate != "none" else ""


class ELU(Module):
    """x if x > 0 else alpha * (exp(x) - 1). Shape: any -> same."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = _number(alpha, "alpha", "ELU")

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class Softplus(Module):
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold. Shape: any -> same."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = _number(beta, "beta", "Softplus")
        self.threshold = _number(threshold, "threshold", "Softplus")

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class PReLU(Module):
    """x if x > 0 else weight * x, with a learned slope per channel (num_parameters = C) or
    one for all (1). Shape: (N, C, *) -> same; weight (num_parameters,)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, *, dtype: Any = None
                 ) -> None:
        super().__init__()
        self.num_parameters = positive_int(num_parameters, "num_parameters", "PReLU")
        self.weight = Parameter(xp.full(self.num_parameters, _number(init, "init", "PReLU"),
                                        float_dtype(dtype, "PReLU")))

    def forward(self, x: Tensor) -> Tensor:
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


def _number(value: Any, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{owner}: `{name}` must be a number, received {name}={value!r}")
    return float(value)
