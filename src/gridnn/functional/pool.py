"""Max, average, adaptive and global average pooling."""

from __future__ import annotations

from typing import Any

from .._backend import xp
from ..errors import ArgumentError
from ..ops.pool import AdaptiveAvgPoolNd, AvgPoolNd, MaxPoolNd
from ..ops.windows import windows
from ..tensor import Tensor
from .checks import Size, as_float_tensor, check_rank, ntuple


def _pool_geometry(nd: int, op: str, x: Tensor, kernel_size: Size, stride: Size | None,
                   padding: Size, ceil_mode: bool) -> tuple[Any, ...]:
    check_rank(x, nd, "input", op)
    kernel = ntuple(kernel_size, nd, "kernel_size", op)
    stride_t = kernel if stride is None else ntuple(stride, nd, "stride", op)
    pad = ntuple(padding, nd, "padding", op, minimum=0)
    for p, k in zip(pad, kernel):
        if p > k // 2:
            raise ArgumentError(
                f"{op}: padding {p} must be at most half the kernel size {k}"
            )
    out_size, pads = [], []
    for i, (n, k, s, p) in enumerate(zip(x.shape[2:], kernel, stride_t, pad)):
        span = n + 2 * p - k
        if span < 0:
            raise ArgumentError(
                f"{op}: kernel size {k} is larger than the padded input size {n + 2 * p} in "
                f"spatial dim {i} (input shape {x.shape})"
            )
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= n + p:  # the last window must start inside the input
            o -= 1
        out_size.append(o)
        pads.append((p, max((o - 1) * s + k - n - p, p)))
    return kernel, stride_t, tuple(pads), tuple(out_size)


def _max_pool(nd: int, op: str, x: Tensor, kernel_size: Size, stride: Size | None,
              padding: Size, ceil_mode: bool) -> Tensor:
    x = as_float_tensor(x, "input", op)
    kernel, stride_t, pads, out_size = _pool_geometry(nd, op, x, kernel_size, stride, padding,
                                                      ceil_mode)
    return MaxPoolNd.apply(x, kernel=kernel, stride=stride_t, pads=pads, out_size=out_size)


def _avg_pool(nd: int, op: str, x: Tensor, kernel_size: Size, stride: Size | None,
              padding: Size, ceil_mode: bool, count_include_pad: bool) -> Tensor:
    x = as_float_tensor(x, "input", op)
    kernel, stride_t, pads, out_size = _pool_geometry(nd, op, x, kernel_size, stride, padding,
                                                      ceil_mode)
    # Divisor per output: the window's cells inside the input (plus its zero padding when
    # count_include_pad), never the cells ceil_mode adds past the padding.
    inside = xp.zeros(tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads)), x.dtype)
    if count_include_pad:
        inside[tuple(slice(0, n + 2 * lo) for n, (lo, _) in zip(x.shape[2:], pads))] = 1
    else:
        inside[tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[2:], pads))] = 1
    counts = windows(inside[None, None], kernel, stride_t, (1,) * nd, out_size, 2)
    counts = counts.sum(axis=tuple(range(2 + nd, 2 + 2 * nd)))[0, 0]
    divisor: Any = float(counts.flat[0]) if (counts == counts.flat[0]).all() else counts
    return AvgPoolNd.apply(x, kernel=kernel, stride=stride_t, pads=pads, out_size=out_size,
                           divisor=divisor)


def max_pool1d(x: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
               ceil_mode: bool = False) -> Tensor:
    """Max over windows: (N, C, L) -> (N, C, Lout), Lout = floor((L + 2p - k) / s) + 1
    (ceil with ``ceil_mode``). ``stride`` defaults to ``kernel_size``; padding <= k/2."""
    return _max_pool(1, "max_pool1d", x, kernel_size, stride, padding, ceil_mode)


def max_pool2d(x: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
               ceil_mode: bool = False) -> Tensor:
    """Max over windows: (N, C, H, W) -> (N, C, Hout, Wout), Hout = floor((H + 2p - k) / s) + 1
    (ceil with ``ceil_mode``). ``stride`` defaults to ``kernel_size``; padding <= k/2."""
    return _max_pool(2, "max_pool2d", x, kernel_size, stride, padding, ceil_mode)


def avg_pool1d(x: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """Mean over windows: (N, C, L) -> (N, C, Lout), sizes as ``max_pool1d``."""
    return _avg_pool(1, "avg_pool1d", x, kernel_size, stride, padding, ceil_mode,
                     count_include_pad)


def avg_pool2d(x: Tensor, kernel_size: Size, stride: Size | None = None, padding: Size = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """Mean over windows: (N, C, H, W) -> (N, C, Hout, Wout), sizes as ``max_pool2d``."""
    return _avg_pool(2, "avg_pool2d", x, kernel_size, stride, padding, ceil_mode,
                     count_include_pad)


def _adaptive(nd: int, op: str, x: Tensor, output_size: Size) -> Tensor:
    x = as_float_tensor(x, "input", op)
    check_rank(x, nd, "input", op)
    return AdaptiveAvgPoolNd.apply(x, out_size=ntuple(output_size, nd, "output_size", op))


def adaptive_avg_pool1d(x: Tensor, output_size: Size) -> Tensor:
    """(N, C, L) -> (N, C, output_size); bin i averages floor(i*L/O) .. ceil((i+1)*L/O)."""
    return _adaptive(1, "adaptive_avg_pool1d", x, output_size)


def adaptive_avg_pool2d(x: Tensor, output_size: Size) -> Tensor:
    """(N, C, H, W) -> (N, C, oH, oW), bins as ``adaptive_avg_pool1d`` along each axis."""
    return _adaptive(2, "adaptive_avg_pool2d", x, output_size)


def global_avg_pool(x: Tensor) -> Tensor:
    """Mean over all spatial positions: (N, C, *S) -> (N, C)."""
    x = as_float_tensor(x, "input", "global_avg_pool")
    if x.ndim < 3:
        raise ArgumentError(
            f"global_avg_pool: input must be (N, C, *spatial), received shape {x.shape}"
        )
    return x.mean(axis=tuple(range(2, x.ndim)))
