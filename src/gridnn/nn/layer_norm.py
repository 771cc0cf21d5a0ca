"""LayerNorm and GroupNorm: normalisation per sample, the same in training and inference
(no running statistics), then a learned per-element (LayerNorm) or per-channel (GroupNorm)
scale and shift."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import functional as F
from .._backend import xp
from ..errors import ArgumentError
from ..tensor import Tensor
from ._checks import float_dtype, positive_int, positive_number
from .module import Module, Parameter


class LayerNorm(Module):
    """Normalise over the last dims ``normalized_shape``, then weight * xhat + bias.

    Shape: (*, *normalized_shape) -> same; weight and bias (*normalized_shape). ConvNeXt's
    LayerNorm over the channels of NCHW maps is ``channels_first=True``: x (N, C, H, W) with
    normalized_shape C, normalised over C at every position.
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, *,
                 channels_first: bool = False, dtype: Any = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else \
            tuple(normalized_shape)
        self.normalized_shape = tuple(positive_int(s, "normalized_shape", "LayerNorm")
                                      for s in shape)
        if channels_first and len(self.normalized_shape) != 1:
            raise ArgumentError(f"LayerNorm: channels_first normalises over one channel axis, "
                                f"received normalized_shape={normalized_shape!r}")
        self.eps = positive_number(eps, "eps", "LayerNorm")
        self.channels_first = bool(channels_first)
        dt = float_dtype(dtype, "LayerNorm")
        affine = bool(elementwise_affine)
        self.weight = Parameter(xp.ones(self.normalized_shape, dt)) if affine else None
        self.bias = Parameter(xp.zeros(self.normalized_shape, dt)) if affine and bias else None

    def forward(self, x: Tensor) -> Tensor:
        if not self.channels_first:
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        x = F.as_float_tensor(x, "input", "LayerNorm")
        if x.ndim < 2:
            raise ArgumentError(f"LayerNorm: channels_first needs input (N, C, *S), received "
                                f"shape {x.shape}")
        last = (0, *range(2, x.ndim), 1)
        out = F.layer_norm(x.permute(*last), self.normalized_shape, self.weight, self.bias,
                           self.eps)
        return out.permute(*(0, x.ndim - 1, *range(1, x.ndim - 1)))

    def extra_repr(self) -> str:
        shape = self.normalized_shape
        return f"{shape if len(shape) > 1 else shape[0]}, eps={self.eps}" + (
            ", channels_first=True" if self.channels_first else "") + (
            ", elementwise_affine=False" if self.weight is None else "")


class GroupNorm(Module):
    """Normalise each sample's groups of num_channels / num_groups channels (over those channels
    and all positions), then weight * xhat + bias per channel.

    Shape: (N, C, *S) -> same; weight and bias (C,). num_groups = C is InstanceNorm.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, *, dtype: Any = None) -> None:
        super().__init__()
        self.num_groups = positive_int(num_groups, "num_groups", "GroupNorm")
        self.num_channels = positive_int(num_channels, "num_channels", "GroupNorm")
        if num_channels % num_groups:
            raise ArgumentError(f"GroupNorm: num_groups={num_groups} must divide "
                                f"num_channels={num_channels}")
        self.eps = positive_number(eps, "eps", "GroupNorm")
        dt = float_dtype(dtype, "GroupNorm")
        self.weight = Parameter(xp.ones(num_channels, dt)) if affine else None
        self.bias = Parameter(xp.zeros(num_channels, dt)) if affine else None

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ArgumentError(f"GroupNorm: expected input (N, {self.num_channels}, *S), "
                                f"received shape {tuple(x.shape)}")
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}" + (
            ", affine=False" if self.weight is None else "")



