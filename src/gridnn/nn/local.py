"""Locally connected layers: a convolution's sparse connections without its weight sharing.

A convolution slides one kernel over the input; a locally connected layer has the same windows
(kernel, stride, padding, dilation) but learns a separate kernel for every output position.
It has as many connections as the convolution and as many parameters as it has connections,
so it can learn position-specific detectors (faces aligned in a frame, fixed-layout forms) at
the cost of many more weights. The input size is fixed at construction.
"""

from __future__ import annotations

import math
from typing import Any

from .. import functional as F
from .._backend import xp
from ..errors import ArgumentError
from ..tensor import Tensor
from . import init
from ._checks import float_dtype, generator, one_of, positive_int
from .conv import PADDING_MODES
from .module import Module, Parameter

BIAS_MODES = ("position", "channel")


class _LocallyConnectedNd(Module):
    """Shared constructor of LocallyConnected1d and LocallyConnected2d (nd spatial dims)."""

    nd = 0

    def __init__(self, in_channels: int, out_channels: int, input_size: Any, kernel_size: Any,
                 stride: Any = 1, padding: Any = 0, dilation: Any = 1, bias: bool = True,
                 bias_mode: str = "position", *, padding_mode: str = "zeros", rng: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        name, nd = type(self).__name__, self.nd
        self.in_channels = positive_int(in_channels, "in_channels", name)
        self.out_channels = positive_int(out_channels, "out_channels", name)
        self.input_size = F.ntuple(input_size, nd, "input_size", name)
        self.kernel_size = F.ntuple(kernel_size, nd, "kernel_size", name)
        self.stride = F.ntuple(stride, nd, "stride", name)
        self.padding = F.check_padding(padding, nd, name)
        self.dilation = F.ntuple(dilation, nd, "dilation", name)
        self.bias_mode = one_of(bias_mode, BIAS_MODES, "bias_mode", name)
        self.padding_mode = one_of(padding_mode, PADDING_MODES, "padding_mode", name)
        pads = F.resolve_padding(self.padding, self.input_size, self.kernel_size, self.stride,
                                 self.dilation, name)
        self.output_size = tuple(
            F.conv_output_size(n, k, s, p, d) for n, k, s, p, d
            in zip(self.input_size, self.kernel_size, self.stride, pads, self.dilation))
        if min(self.output_size) < 1:
            raise ArgumentError(
                f"{name}: kernel_size={self.kernel_size} (dilation={self.dilation}) does not fit "
                f"input_size={self.input_size} with padding={self.padding!r}"
            )
        dt = float_dtype(dtype, name)
        o, k = self.output_size, self.out_channels
        self.weight = Parameter(xp.zeros((*o, k, self.in_channels, *self.kernel_size), dt))
        self.bias = None
        if bias:
            self.bias = Parameter(xp.zeros((*o, k) if bias_mode == "position" else (k,), dt))
        # PyTorch's conv default, per position: U(+-1/sqrt(fan_in)), fan_in = C_in * prod(k).
        bound = 1 / math.sqrt(self.in_channels * math.prod(self.kernel_size))
        rng = generator(rng, name)
        init.uniform_(self.weight, -bound, bound, rng=rng)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        shape = tuple(getattr(x, "shape", ()))
        if shape[2:] != self.input_size:
            raise ArgumentError(
                f"{type(self).__name__}: input must be (N, {self.in_channels}, "
                f"{', '.join(map(str, self.input_size))}) (the input_size it was built for), "
                f"received shape {shape}"
            )
        return F.locally_connected(x, self.weight, self.bias, self.stride, self.padding,
                                 self.dilation, self.padding_mode)

    def extra_repr(self) -> str:
        nd = self.nd
        parts = [f"{self.in_channels}, {self.out_channels}", f"input_size={self.input_size}",
                 f"kernel_size={self.kernel_size}", f"stride={self.stride}"]
        if self.padding != (0,) * nd:
            parts.append(f"padding={self.padding!r}")
        if self.dilation != (1,) * nd:
            parts.append(f"dilation={self.dilation}")
        if self.bias is None:
            parts.append("bias=False")
        elif self.bias_mode != "position":
            parts.append(f"bias_mode={self.bias_mode!r}")
        if self.padding_mode != "zeros":
            parts.append(f"padding_mode={self.padding_mode!r}")
        return ", ".join(parts)


class LocallyConnected1d(_LocallyConnectedNd):
    """1-D locally connected layer: a Conv1d with a separate kernel at every output position.

    Shape: input (N, C_in, L) with L = input_size -> output (N, C_out, L_out),
    L_out = floor((L + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1
    (padding='same': ceil(L / stride)). weight (L_out, C_out, C_in, k): ``weight[i]`` is the
    Conv1d-shaped kernel of output position i. bias (L_out, C_out) with bias_mode='position'
    (one bias per output unit), (C_out,) with bias_mode='channel' (shared along the length).

    >>> import numpy as np
    >>> layer = LocallyConnected1d(2, 4, 10, 3, rng=np.random.default_rng(0))
    >>> layer.weight.shape, layer(np.zeros((5, 2, 10), np.float32)).shape
    ((8, 4, 2, 3), (5, 4, 8))
    """

    nd = 1


class LocallyConnected2d(_LocallyConnectedNd):
    """2-D locally connected layer: a Conv2d with a separate kernel at every output position.

    Shape: input (N, C_in, H, W) with (H, W) = input_size -> output (N, C_out, H_out, W_out),
    H_out = floor((H + 2 * padding[0] - dilation[0] * (kH - 1) - 1) / stride[0]) + 1, likewise
    W_out (padding='same': ceil(H / stride[0])). weight (H_out, W_out, C_out, C_in, kH, kW):
    ``weight[i, j]`` is the Conv2d-shaped kernel of output position (i, j). bias
    (H_out, W_out, C_out) with bias_mode='position', (C_out,) with bias_mode='channel'.

    >>> import numpy as np
    >>> layer = LocallyConnected2d(3, 8, (6, 6), 3, stride=1, rng=np.random.default_rng(0))
    >>> layer.weight.shape, layer(np.zeros((2, 3, 6, 6), np.float32)).shape
    ((4, 4, 8, 3, 3, 3), (2, 8, 4, 4))
    """

    nd = 2
