"""N-d max and average pooling over windows, and adaptive average pooling.

Shapes: x (N, C, *S) -> out (N, C, *O), with per spatial dim
    O = floor_or_ceil((S + 2 * padding - kernel) / stride) + 1
(ceil_mode rounds up, but a window must start inside the input or its left padding).
Windows are strided views of the input; the max or sum runs over kernel offsets with
element-wise NumPy calls: each is one pass over contiguous memory, where a reduction over
small strided axes is not. With Numba, 1-D and 2-D max pooling of channels-last memory (a
convolution's output) instead run one compiled loop each way (``kernels.max_pool_2d``), which
also records each window's winning offset.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from .._backend import xp
from ..autograd import Function
from .compiled import kernels
from .windows import add_windows, window_slices, windows
from .workspace import chunks, parallel_slices

Array = Any
Pads = tuple[tuple[int, int], ...]
_ONES = (1, 1, 1)
_COMPILED_DTYPES = (xp.dtype(xp.float32), xp.dtype(xp.float64))


def _padded(x: Array, pads: Pads, value: float) -> Array:
    if not any(lo or hi for lo, hi in pads):
        return x
    return xp.pad(x, ((0, 0), (0, 0), *pads), mode="constant", constant_values=value)


class MaxPoolNd(Function):
    """Max over each window; the gradient goes to the first maximum in the window (as PyTorch).

    Backward finds each window's first maximum offset by offset (``win == out`` and not yet
    claimed by an earlier offset). When windows do not overlap (stride >= kernel, the usual
    2x2 stride 2) each offset's share is assigned straight into its strided view of the input
    gradient, with no zero fill where the windows tile the input; overlapping windows add.
    The input gradient keeps the input's memory layout (channels-last after a convolution).
    With Numba, channels-last input takes the compiled path instead: forward records each
    window's winning offset (``self.arg``) and backward sends the gradient straight to it.
    """

    def forward(self, x: Array, kernel: tuple[int, ...], stride: tuple[int, ...], pads: Pads,
                out_size: tuple[int, ...]) -> Array:
        channels_last = _is_channels_last(x)
        out = _new_like((*x.shape[:2], *out_size), x.dtype, channels_last, zero=False)
        pad_shape = (*x.shape[:2], *(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads)))
        self.geometry = (x.shape, pad_shape, kernel, stride, pads, out_size, channels_last)
        # Compiled for channels-last memory (as a convolution leaves it), where the loop runs
        # along the contiguous channels; NumPy's whole-array passes are faster on other layouts.
        compiled = channels_last and len(kernel) <= 2 and x.dtype in _COMPILED_DTYPES
        self.kernels = kernels() if compiled else None
        if self.kernels is not None:
            return self._compiled_forward(x, out, kernel, stride, pads)
        xpad = _padded(x, pads, -xp.inf)
        win = windows(xpad, kernel, stride, _ONES[:len(kernel)], out_size, 2)  # (N, C, *O, *k)
        views = _offset_views(win, kernel)

        def work(lo: int, hi: int) -> None:
            for a, b in chunks(lo, hi, x.nbytes // max(x.shape[0], 1)):
                part = out[a:b]
                if len(views) == 1:
                    xp.copyto(part, views[0][a:b])
                else:
                    xp.maximum(views[0][a:b], views[1][a:b], out=part)
                for view in views[2:]:
                    xp.maximum(part, view[a:b], out=part)

        parallel_slices(x.shape[0], x.size, work)
        self.views, self.out = views, out
        return out

    def _compiled_forward(self, x: Array, out: Array, kernel: tuple[int, ...],
                          stride: tuple[int, ...], pads: Pads) -> Array:
        """``kernels.max_pool_2d`` on (N, H, W, C) views of channels-last memory (1-D as
        H = 1), batch slices in threads; keeps each window's winning offset for backward."""
        kh, kw, sh, sw, ph, pw = _as_2d(kernel, stride, pads)
        xv, ov = _nhwc(x), _nhwc(out)
        self.arg = xp.empty(ov.shape, xp.uint8 if kh * kw < 256 else xp.int32)
        parallel_slices(x.shape[0], x.size, lambda lo, hi: self.kernels.max_pool_2d(
            xv[lo:hi], kh, kw, sh, sw, ph, pw, ov[lo:hi], self.arg[lo:hi]))
        return out

    def backward(self, g: Array) -> tuple[Array]:
        x_shape, pad_shape, kernel, stride, pads, out_size, channels_last = self.geometry
        if _is_channels_last(g) != channels_last:  # e.g. from a Flatten: one copy, not 4 gathers
            g_like = _new_like(g.shape, g.dtype, channels_last, zero=False)
            xp.copyto(g_like, g)
            g = g_like
        if self.kernels is not None:
            return (self._compiled_backward(g),)
        disjoint = all(s >= k for s, k in zip(stride, kernel))
        tiled = _tiles(x_shape, kernel, stride, pads, out_size)
        dpad = _new_like(pad_shape, g.dtype, channels_last, zero=not tiled)
        offsets = list(itertools.product(*map(range, kernel)))

        def work(lo: int, hi: int) -> None:
            for a, b in chunks(lo, hi, dpad.nbytes // max(x_shape[0], 1)):
                one_chunk(self.out[a:b], g[a:b], dpad[a:b], [v[a:b] for v in self.views])

        def one_chunk(out: Array, g_part: Array, d_part: Array, views: list[Array]) -> None:
            unclaimed = None
            for i, (off, view) in enumerate(zip(offsets, views)):
                hit = view == out
                if i == 0:
                    unclaimed = ~hit
                else:
                    hit &= unclaimed
                    unclaimed ^= hit  # hit is a subset of unclaimed
                target = d_part[(slice(None), slice(None),
                                 *window_slices(off, stride, _ONES, out_size))]
                if disjoint:
                    xp.multiply(g_part, hit, out=target)
                else:
                    target += g_part * hit

        parallel_slices(x_shape[0], math.prod(pad_shape), work)
        return (_unpad(dpad, x_shape, pads),)

    def _compiled_backward(self, g: Array) -> Array:
        x_shape, _, kernel, stride, pads, out_size, channels_last = self.geometry
        kh, kw, sh, sw, ph, pw = _as_2d(kernel, stride, pads)
        dx = _new_like(x_shape, g.dtype, channels_last, zero=False)
        gv, dv, arg = _nhwc(g), _nhwc(dx), self.arg
        tiled = _tiles(x_shape, kernel, stride, pads, out_size)
        parallel_slices(x_shape[0], dx.size, lambda lo, hi: self.kernels.max_pool_2d_grad(
            gv[lo:hi], arg[lo:hi], kh, kw, sh, sw, ph, pw, tiled, dv[lo:hi]))
        return dx


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
        self.geometry = (x.shape, xpad.shape, kernel, stride, pads, out_size, divisor)
        return out

    def backward(self, g: Array) -> tuple[Array]:
        x_shape, pad_shape, kernel, stride, pads, out_size, divisor = self.geometry
        share = g / xp.asarray(divisor, dtype=g.dtype)  # (N, C, *O), the same at every offset
        cols = xp.broadcast_to(share[(..., *(None,) * len(kernel))], share.shape + kernel)
        dpad = xp.zeros(pad_shape, dtype=g.dtype)
        add_windows(dpad, cols, share.ndim, stride, _ONES[:len(kernel)], out_size, 2)
        return (_unpad(dpad, x_shape, pads),)


def _tiles(x_shape: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
           pads: Pads, out_size: tuple[int, ...]) -> bool:
    """True when the windows cover the input exactly once: stride = kernel, no padding, no
    values left over (the usual 2x2 stride 2 on an even size)."""
    return not any(lo or hi for lo, hi in pads) and all(
        s == k and o * s == n for s, k, o, n in zip(stride, kernel, out_size, x_shape[2:]))


def _as_2d(kernel: tuple[int, ...], stride: tuple[int, ...], pads: Pads
           ) -> tuple[int, int, int, int, int, int]:
    """(kh, kw, sh, sw, ph, pw) of a 2-D pooling, or of a 1-D one seen as height 1."""
    if len(kernel) == 1:
        return 1, kernel[0], 1, stride[0], 0, pads[0][0]
    return kernel[0], kernel[1], stride[0], stride[1], pads[0][0], pads[1][0]


def _nhwc(a: Array) -> Array:
    """(N, C, H, W) -> an (N, H, W, C) view; (N, C, L) -> (N, 1, L, C)."""
    v = xp.moveaxis(a, 1, -1)
    return v[:, None] if a.ndim == 3 else v


def _offset_views(win: Array, kernel: tuple[int, ...]) -> list[Array]:
    """(N, C, *O) views of the window view (N, C, *O, *k), one per kernel offset."""
    lead = (slice(None),) * (win.ndim - len(kernel))
    return [win[lead + off] for off in itertools.product(*map(range, kernel))]


def _is_channels_last(x: Array) -> bool:
    """True when the channel axis of (N, C, *S) is the innermost in memory."""
    return x.ndim > 2 and x.shape[1] > 1 and x.strides[1] < min(x.strides[2:])


def _new_like(shape: tuple[int, ...], dtype: Any, channels_last: bool, zero: bool) -> Array:
    """A new (N, C, *S) array, laid out channels-last in memory if asked; zeroed if asked."""
    make = xp.zeros if zero else xp.empty
    if not channels_last:
        return make(shape, dtype=dtype)
    return xp.moveaxis(make((shape[0], *shape[2:], shape[1]), dtype=dtype), -1, 1)


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
    """Average pooling to a fixed output size; separable, so one small matrix per spatial axis.
    The products run in batch slices (``parallel_slices``) with a one-thread BLAS: a BLAS call
    on its own threads leaves them spinning for a while after it returns, on the cores the
    next ops' threads need (a whole training step's backward stopped gaining from a second
    thread)."""

    def forward(self, x: Array, out_size: tuple[int, ...]) -> Array:
        self.global_mean = all(o == 1 for o in out_size)
        if self.global_mean:
            self.x_shape, self.channels_last = x.shape, _is_channels_last(x)
            return _global_mean(x)
        self.mats = [adaptive_matrix(n, o, x.dtype) for n, o in zip(x.shape[2:], out_size)]
        return _separable(x, self.mats, 1)

    def backward(self, g: Array) -> tuple[Array]:
        if not self.global_mean:
            return (_separable(g, self.mats, 0),)
        # every input value gets g / (its map's size), laid out as x was: a channels-last
        # gradient lets the ops below (ReLU's backward, BatchNorm's) read it without a copy
        n, c = self.x_shape[:2]
        dx = _new_like(self.x_shape, g.dtype, self.channels_last, zero=False)
        share = g.reshape(n, c) * g.dtype.type(1 / math.prod(self.x_shape[2:]))
        parallel_slices(n, dx.size, lambda lo, hi: xp.copyto(
            dx[lo:hi], share[lo:hi].reshape(hi - lo, c, *(1,) * (dx.ndim - 2))))
        return (dx,)


def _global_mean(x: Array) -> Array:
    """Mean over all spatial axes, (N, C, *S) -> (N, C, 1, ...), reading x in its own memory
    order: a convolution's channels-last output is summed row by row (``tensordot`` would copy
    it to channels-first first)."""
    n, c, p = x.shape[0], x.shape[1], math.prod(x.shape[2:])
    x_cl = xp.moveaxis(x, 1, -1)
    rows = x_cl.reshape(n, p, c) if x_cl.flags.c_contiguous else None
    out = xp.empty((n, c), dtype=x.dtype)

    def work(lo: int, hi: int) -> None:
        if rows is not None:
            xp.add.reduce(rows[lo:hi], axis=1, out=out[lo:hi])
        else:
            xp.add.reduce(x[lo:hi].reshape(hi - lo, c, p), axis=2, out=out[lo:hi])
        out[lo:hi] *= x.dtype.type(1 / p) if p else 0

    parallel_slices(n, x.size, work)
    return out.reshape(n, c, *(1,) * (x.ndim - 2))


def _separable(x: Array, mats: list[Array], side: int) -> Array:
    """x (N, C, *S) with spatial axis i contracted with axis ``side`` of ``mats[i]``: the
    pooling (side 1, each (O_i, S_i)) or its transpose (side 0)."""
    sizes = tuple(a.shape[1 - side] for a in mats)
    out = xp.empty((*x.shape[:2], *sizes), dtype=xp.result_type(x, *mats))

    def work(lo: int, hi: int) -> None:
        y = x[lo:hi]
        for axis, a in enumerate(mats, start=2):
            y = xp.moveaxis(xp.tensordot(y, a, axes=([axis], [side])), -1, axis)
        out[lo:hi] = y

    parallel_slices(x.shape[0], x.size, work)
    return out
