"""N-d max and average pooling over windows, and adaptive average pooling.

Shapes: x (N, C, *S) -> out (N, C, *O), with per spatial dim
    O = floor_or_ceil((S + 2 * padding - kernel) / stride) + 1
(ceil_mode rounds up, but a window must start inside the input or its left padding).
Windows are strided views of the input; the max or sum runs over kernel offsets with
element-wise NumPy calls, which beats reducing over small strided axes many times over.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from .._backend import xp
from ..autograd import Function
from .conv import window_slices, windows

Array = Any
Pads = tuple[tuple[int, int], ...]
_ONES = (1, 1, 1)


def _padded(x: Array, pads: Pads, value: float) -> Array:
    if not any(lo or hi for lo, hi in pads):
        return x
    return xp.pad(x, ((0, 0), (0, 0), *pads), mode="constant", constant_values=value)


class MaxPoolNd(Function):
    """Max over each window; the gradient goes to the first maximum in the window (as PyTorch)."""

    def forward(self, x: Array, kernel: tuple[int, ...], stride: tuple[int, ...], pads: Pads,
                out_size: tuple[int, ...]) -> Array:
        xpad = _padded(x, pads, -xp.inf)
        win = windows(xpad, kernel, stride, _ONES[:len(kernel)], out_size, 2)  # (N, C, *O, *k)
        offsets = list(itertools.product(*map(range, kernel)))
        nd = len(kernel)
        lead = (slice(None),) * (2 + nd)
        out = xp.copy(win[lead + offsets[0]], order="K")
        for off in offsets[1:]:
            xp.maximum(out, win[lead + off], out=out)
        self.win, self.out, self.offsets = win, out, offsets
        self.geometry = (x.shape, xpad.shape, stride, pads, out_size)
        return out

    def backward(self, g: Array) -> tuple[Array]:
        x_shape, pad_shape, stride, pads, out_size = self.geometry
        nd = len(out_size)
        dpad = xp.zeros(pad_shape, dtype=g.dtype)
        unclaimed = xp.ones(self.out.shape, dtype=bool)
        lead = (slice(None),) * (2 + nd)
        for off in self.offsets:
            hit = (self.win[lead + off] == self.out) & unclaimed
            unclaimed &= ~hit
            where = (slice(None), slice(None), *window_slices(off, stride, _ONES, out_size))
            dpad[where] += g * hit
        return (_unpad(dpad, x_shape, pads),)


class AvgPoolNd(Function):
    """Mean over each window. ``divisor`` is a number or an array broadcastable to the output."""

    def forward(self, x: Array, kernel: tuple[int, ...], stride: tuple[int, ...], pads: Pads,
                out_size: tuple[int, ...], divisor: Any) -> Array:
        xpad = _padded(x, pads, 0.0)
        win = windows(xpad, kernel, stride, _ONES[:len(kernel)], out_size, 2)
        nd = len(kernel)
        lead = (slice(None),) * (2 + nd)
        offsets = list(itertools.product(*map(range, kernel)))
        out = xp.copy(win[lead + offsets[0]], order="K")
        for off in offsets[1:]:
            out += win[lead + off]
        out /= xp.asarray(divisor, dtype=x.dtype)
        self.geometry = (x.shape, xpad.shape, stride, pads, out_size, offsets, divisor)
        return out

    def backward(self, g: Array) -> tuple[Array]:
        x_shape, pad_shape, stride, pads, out_size, offsets, divisor = self.geometry
        share = g / xp.asarray(divisor, dtype=g.dtype)
        dpad = xp.zeros(pad_shape, dtype=g.dtype)
        for off in offsets:
            dpad[(slice(None), slice(None), *window_slices(off, stride, _ONES, out_size))] += share
        return (_unpad(dpad, x_shape, pads),)


def _unpad(dpad: Array, x_shape: tuple[int, ...], pads: Pads) -> Array:
    return dpad[(slice(None), slice(None),
                 *(slice(lo, lo + n) for (lo, _), n in zip(pads, x_shape[2:])))]


def adaptive_matrix(size: int, out: int, dtype: Any) -> Array:
    """(out, size) averaging matrix: row i averages input bins floor(i*S/O) .. ceil((i+1)*S/O)."""
    a = xp.zeros((out, size), dtype=dtype)
    for i in range(out):
        lo, hi = (i * size) // out, math.ceil((i + 1) * size / out)
        a[i, lo:hi] = 1.0 / (hi - lo)
    return a


class AdaptiveAvgPoolNd(Function):
    """Average pooling to a fixed output size; separable, so one small matrix per spatial axis."""

    def forward(self, x: Array, out_size: tuple[int, ...]) -> Array:
        self.mats = [adaptive_matrix(n, o, x.dtype) for n, o in zip(x.shape[2:], out_size)]
        for axis, a in enumerate(self.mats, start=2):
            x = xp.moveaxis(xp.tensordot(x, a, axes=([axis], [1])), -1, axis)
        return x

    def backward(self, g: Array) -> tuple[Array]:
        for axis, a in enumerate(self.mats, start=2):
            g = xp.moveaxis(xp.tensordot(g, a, axes=([axis], [0])), -1, axis)
        return (g,)
