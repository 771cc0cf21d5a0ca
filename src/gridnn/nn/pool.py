"""Pooling layers: wrappers over ``F.max_pool*``, ``F.avg_pool*`` and ``F.adaptive_avg_pool*``."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..errors import ArgumentError
from ..tensor import Tensor
from .module import Module


class _PoolNd(Module):
    """kernel_size, stride (default: kernel_size), padding (at most half the kernel)."""

    nd = 0

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        name = type(self).__name__
        kernel = F.ntuple(kernel_size, self.nd, "kernel_size", name)
        F.ntuple(kernel_size if stride is None else stride, self.nd, "stride", name)
        pads = F.ntuple(padding, self.nd, "padding", name, minimum=0)
        if any(p > k // 2 for p, k in zip(pads, kernel)):
            raise ArgumentError(
                f"{name}: `padding` must be at most half of kernel_size, received "
                f"padding={padding!r}, kernel_size={kernel_size!r}"
            )
        # Stored as given (an int stays an int), as PyTorch does.
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = bool(ceil_mode)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}")


class MaxPool1d(_PoolNd):
    """Max over windows: (N, C, L) -> (N, C, L_out), L_out = floor((L + 2p - k) / s) + 1
    (ceil with ceil_mode)."""

    nd = 1

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)


class MaxPool2d(_PoolNd):
    """Max over windows: (N, C, H, W) -> (N, C, H_out, W_out),
    H_out = floor((H + 2p - k) / s) + 1 (ceil with ceil_mode), likewise W_out."""

    nd = 2

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)


class _AvgPoolNd(_PoolNd):
    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = bool(count_include_pad)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", count_include_pad={self.count_include_pad}"


class AvgPool1d(_AvgPoolNd):
    """Mean over windows: (N, C, L) -> (N, C, L_out), sizes as MaxPool1d; ``count_include_pad``
    counts the zero padding in the divisor."""

    nd = 1

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """Mean over windows: (N, C, H, W) -> (N, C, H_out, W_out), sizes as MaxPool2d."""

    nd = 2

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)


class _AdaptiveAvgPoolNd(Module):
    nd = 0

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        F.ntuple(output_size, self.nd, "output_size", type(self).__name__)
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """(N, C, L) -> (N, C, output_size); output_size=1 is global average pooling."""

    nd = 1

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool1d(x, self.output_size)


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """(N, C, H, W) -> (N, C, *output_size); output_size=1 is global average pooling."""

    nd = 2

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)
