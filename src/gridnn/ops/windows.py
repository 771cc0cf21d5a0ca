"""The windows a kernel slides over, shared by convolution, pooling and the locally connected op.

- ``ConvGeometry``: how the windows of one convolution lie (stride, dilation, pads, padding
  mode, groups, output size), computed and checked once by ``gridnn.functional``.
- ``windows``: every window of a padded input as a strided view (no copy): im2col's reads.
- ``add_windows``: its adjoint (col2im): a gradient per window entry added back onto the input
  element that entry was read from. ``window_slices`` is the part of the input one kernel
  offset touches over all outputs.
- ``padded_channels_last``: the padded input laid out (N, *Sp, C), where a window row is a few
  long contiguous runs; the fast convolution and the locally connected op read it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from numpy.lib.stride_tricks import as_strided

from .shape import pad_array
from .workspace import copy_in_slices, scratch

Array = Any
Pads = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class ConvGeometry:
    """Where a convolution's windows lie, one entry per spatial dim (d of them).

    O_i = (S_i + lo_i + hi_i - dilation_i * (k_i - 1) - 1) // stride_i + 1.
    """

    stride: tuple[int, ...]  # step between neighbouring windows
    dilation: tuple[int, ...]  # step between the taps of one window
    pads: Pads  # (low, high) padding added to the input
    mode: str  # padding mode: 'zeros', 'reflect', 'replicate' or 'circular'
    groups: int  # channel groups: filter k sees only the input channels of its group
    out_size: tuple[int, ...]  # O, the output's spatial size


def windows(a: Array, kernel: tuple[int, ...], stride: tuple[int, ...],
            dilation: tuple[int, ...], out: tuple[int, ...], spatial_start: int) -> Array:
    """Read-only strided view of every window of ``a``: spatial axes ``spatial_start...`` become
    output positions ``out`` followed by kernel offsets ``kernel``. No data is copied.

    For channels-last (N, *Sp, C) with spatial_start=1: (N, *out, *kernel, C).
    For channels-first (N, C, *Sp) with spatial_start=2: (N, C, *out, *kernel).
    """
    nd = len(kernel)
    sp = a.strides[spatial_start:spatial_start + nd]
    head, tail = a.shape[:spatial_start], a.shape[spatial_start + nd:]
    shape = (*head, *out, *kernel, *tail)
    strides = (*a.strides[:spatial_start], *(s * st for s, st in zip(sp, stride)),
               *(s * d for s, d in zip(sp, dilation)), *a.strides[spatial_start + nd:])
    return as_strided(a, shape=shape, strides=strides, writeable=False)


def window_slices(offset: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...],
                  out: tuple[int, ...]) -> tuple[slice, ...]:
    """Slices of the padded input that kernel offset ``offset`` touches over all outputs."""
    return tuple(slice(o * d, o * d + s * (n - 1) + 1, s)
                 for o, s, d, n in zip(offset, stride, dilation, out))


def add_windows(dst: Array, cols: Array, kernel_start: int, stride: tuple[int, ...],
                dilation: tuple[int, ...], out: tuple[int, ...], spatial_start: int) -> None:
    """col2im, the adjoint of ``windows``: add the gradient of every window entry onto the
    element of ``dst`` it was read from.

    ``cols`` holds the kernel offsets on axes ``kernel_start...``; with them taken out it is
    shaped like the slice of ``dst`` (spatial axes from ``spatial_start``, of output size
    ``out``) that one kernel offset touches.
    """
    kernel = cols.shape[kernel_start:kernel_start + len(out)]
    lead, at = (slice(None),) * spatial_start, (slice(None),) * kernel_start
    for offset in itertools.product(*map(range, kernel)):
        dst[lead + window_slices(offset, stride, dilation, out)] += cols[at + offset]


def channels_last(a: Array) -> Array:
    """(N, C, *S) -> (N, *S, C), a view: ``np.moveaxis(a, 1, -1)`` without its argument
    checks, which cost more than a small layer's work at batch 1."""
    return a.transpose(0, *range(2, a.ndim), 1)


def channels_first(a: Array) -> Array:
    """(N, *S, C) -> (N, C, *S), a view (the inverse of ``channels_last``)."""
    return a.transpose(0, a.ndim - 1, *range(1, a.ndim - 1))


def padded_channels_last(x: Array, pads: Pads, mode: str,
                         keep: bool = False) -> tuple[Array, bool]:
    """(N, C, *S) -> (C-contiguous (N, *Sp, C) padded input, whether the caller owns a pool
    buffer that it must give back to ``scratch()``).

    Without ``keep`` the result is borrowed, to be read at once and never written: it may be
    the caller's own memory (no padding, already channels-last) or, with zero padding, a shared
    buffer whose borders stay zero, valid until the next call. With ``keep`` a zero-padded
    result is a buffer from the scratch pool that the caller owns (and gives back). Other
    padding modes always make a new array."""
    x_cl = channels_last(x)
    if not any(lo or hi for lo, hi in pads):
        return (x_cl, False) if x_cl.flags.c_contiguous else (copy_in_slices(x_cl), False)
    if mode != "zeros":
        return pad_array(x_cl, ((0, 0), *pads, (0, 0)), mode), False
    sizes = x_cl.shape[1:-1]
    shape = (x_cl.shape[0], *(n + lo + hi for n, (lo, hi) in zip(sizes, pads)), x_cl.shape[-1])
    if keep:
        buf = scratch().take(shape, x.dtype)
        for axis, (lo, hi) in enumerate(pads, start=1):  # zero the borders only
            index = [slice(None)] * buf.ndim
            for part in (slice(0, lo), slice(shape[axis] - hi, shape[axis])):
                index[axis] = part
                buf[tuple(index)] = 0
    else:
        buf = scratch().bordered(shape, pads, x.dtype)
    copy_in_slices(x_cl, buf[(slice(None), *(slice(lo, lo + n) for n, (lo, _)
                                               in zip(sizes, pads)))])
    return buf, keep
