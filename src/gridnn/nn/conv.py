"""Convolution layers: thin wrappers that own the weight and call ``F.conv1d`` / ``F.conv2d``."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from .._backend import xp
from ..tensor import Tensor
from ._checks import channel_groups, float_dtype, generator, one_of, positive_int
from .linear import init_weight_and_bias
from .module import Module, Parameter

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """Shared constructor of Conv1d and Conv2d (nd spatial dims)."""

    nd = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", *, rng: Any = None, dtype: Any = None) -> None:
        super().__init__()
        name, nd = type(self).__name__, self.nd
        self.in_channels = positive_int(in_channels, "in_channels", name)
        self.out_channels = positive_int(out_channels, "out_channels", name)
        self.kernel_size = F.ntuple(kernel_size, nd, "kernel_size", name)
        self.stride = F.ntuple(stride, nd, "stride", name)
        self.padding = F.check_padding(padding, nd, name)
        self.dilation = F.ntuple(dilation, nd, "dilation", name)
        self.groups = channel_groups(groups, self.in_channels, self.out_channels, name)
        self.padding_mode = one_of(padding_mode, PADDING_MODES, "padding_mode", name)
        dt = float_dtype(dtype, name)
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        self.weight = Parameter(xp.zeros(shape, dt))
        self.bias = Parameter(xp.zeros(out_channels, dt)) if bias else None
        init_weight_and_bias(self.weight, self.bias, generator(rng, name))

    def forward(self, x: Tensor, then: Any = None) -> Tensor:
        """``then``: see ``F.conv_nd`` (inference: the following activation, fused)."""
        return F.conv_nd(self.nd, x, self.weight, self.bias, self.stride, self.padding,
                         self.dilation, self.groups, self.padding_mode, then=then)

    def extra_repr(self) -> str:
        nd = self.nd
        parts = [f"{self.in_channels}, {self.out_channels}", f"kernel_size={self.kernel_size}",
                 f"stride={self.stride}"]
        if self.padding != (0,) * nd:
            parts.append(f"padding={self.padding}")
        if self.dilation != (1,) * nd:
            parts.append(f"dilation={self.dilation}")
        if self.groups != 1:
            parts.append(f"groups={self.groups}")
        if self.bias is None:
            parts.append("bias=False")
        if self.padding_mode != "zeros":
            parts.append(f"padding_mode={self.padding_mode!r}")
        return ", ".join(parts)


class Conv1d(_ConvNd):
    """1-D convolution (cross-correlation) with ``F.conv1d``.

    Shape: input (N, C_in, L) -> output (N, C_out, L_out),
    L_out = floor((L + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1
    (padding='same': ceil(L / stride) for any stride). weight (C_out, C_in / groups, k),
    bias (C_out,).
    """

    nd = 1


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation) with ``F.conv2d``.

    Shape: input (N, C_in, H, W) -> output (N, C_out, H_out, W_out),
    H_out = floor((H + 2 * padding[0] - dilation[0] * (kernel_size[0] - 1) - 1) / stride[0]) + 1,
    likewise W_out (padding='same': ceil(H / stride[0])). weight (C_out, C_in / groups, kH, kW),
    bias (C_out,).
    """

    nd = 2
