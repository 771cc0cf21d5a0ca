"""Fully connected layer, and the shape helpers Flatten and Identity."""

from __future__ import annotations

import math
from typing import Any

from .. import functional as F
from .._backend import xp
from ..tensor import Tensor
from . import init
from ._checks import float_dtype, generator, positive_int
from .module import Module, Parameter


def init_weight_and_bias(weight: Parameter, bias: Parameter | None, rng: Any) -> None:
    """PyTorch's Linear/Conv default: weight kaiming_uniform(a=sqrt(5)), i.e. U(+-1/sqrt(fan_in)),
    and bias U(+-1/sqrt(fan_in))."""
    init.kaiming_uniform_(weight, a=math.sqrt(5), rng=rng)
    if bias is not None:
        fan_in, _ = init.calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        init.uniform_(bias, -bound, bound, rng=rng)


class Linear(Module):
    """y = x @ weight.T + bias.

    Shape: input (*, in_features) -> output (*, out_features); weight (out_features,
    in_features), bias (out_features,).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 rng: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.in_features = positive_int(in_features, "in_features", "Linear")
        self.out_features = positive_int(out_features, "out_features", "Linear")
        dt = float_dtype(dtype, "Linear")
        self.weight = Parameter(xp.zeros((self.out_features, self.in_features), dt))
        self.bias = Parameter(xp.zeros(self.out_features, dt)) if bias else None
        init_weight_and_bias(self.weight, self.bias, generator(rng, "Linear"))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Flatten(Module):
    """Merge dims start_dim..end_dim: (N, C, H, W) -> (N, C*H*W) with the defaults."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return F.as_float_tensor(x, "input", "Flatten").flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input unchanged (a placeholder layer)."""

    def forward(self, x: Tensor) -> Tensor:
        return x
