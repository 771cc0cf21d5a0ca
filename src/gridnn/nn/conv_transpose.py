"""Transposed convolution layers: own the weight (C_in, C_out / groups, *k) and call
``F.conv_transpose1d`` / ``F.conv_transpose2d`` (the convolution run backwards)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from .._backend import xp
from ..tensor import Tensor
from ._checks import channel_groups, float_dtype, generator, positive_int
from .linear import init_weight_and_bias
from .module import Module, Parameter


class _ConvTransposeNd(Module):
    nd = 0
    _functional: Any = None

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True,
                 dilation: Any = 1, *, rng: Any = None, dtype: Any = None) -> None:
        super().__init__()
        name, nd = type(self).__name__, self.nd
        self.in_channels = positive_int(in_channels, "in_channels", name)
        self.out_channels = positive_int(out_channels, "out_channels", name)
        self.kernel_size = F.ntuple(kernel_size, nd, "kernel_size", name)
        self.stride = F.ntuple(stride, nd, "stride", name)
        self.padding = padding if isinstance(padding, (tuple, list)) and padding and \
            isinstance(padding[0], (tuple, list)) else F.ntuple(padding, nd, "padding", name, 0)
        self.output_padding = F.ntuple(output_padding, nd, "output_padding", name, 0)
        self.dilation = F.ntuple(dilation, nd, "dilation", name)
        self.groups = channel_groups(groups, self.in_channels, self.out_channels, name)
        dt = float_dtype(dtype, name)
        shape = (in_channels, out_channels // groups, *self.kernel_size)
        self.weight = Parameter(xp.zeros(shape, dt))
        self.bias = Parameter(xp.zeros(out_channels, dt)) if bias else None
        init_weight_and_bias(self.weight, self.bias, generator(rng, name))

    def forward(self, x: Tensor) -> Tensor:
        return type(self)._functional(x, self.weight, self.bias, self.stride, self.padding,
                                      self.output_padding, self.groups, self.dilation)

    def extra_repr(self) -> str:
        nd = self.nd
        parts = [f"{self.in_channels}, {self.out_channels}", f"kernel_size={self.kernel_size}",
                 f"stride={self.stride}"]
        for key, plain in (("padding", (0,) * nd), ("output_padding", (0,) * nd),
                           ("dilation", (1,) * nd), ("groups", 1)):
            if getattr(self, key) != plain:
                parts.append(f"{key}={getattr(self, key)}")
        if self.bias is None:
            parts.append("bias=False")
        return ", ".join(parts)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution with ``F.conv_transpose1d``.

    Shape: (N, C_in, L) -> (N, C_out, L_out), L_out = (L - 1) * stride - 2 * padding
    + dilation * (kernel_size - 1) + output_padding + 1. weight (C_in, C_out / groups, k).
    """

    nd = 1
    _functional = staticmethod(F.conv_transpose1d)


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution with ``F.conv_transpose2d`` (a learned upsampling).

    Shape: (N, C_in, H, W) -> (N, C_out, H_out, W_out), H_out = (H - 1) * stride[0]
    - 2 * padding[0] + dilation[0] * (kH - 1) + output_padding[0] + 1, likewise W_out.
    weight (C_in, C_out / groups, kH, kW).
    """

    nd = 2
    _functional = staticmethod(F.conv_transpose2d)
