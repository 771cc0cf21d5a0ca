"""N-d convolution (cross-correlation) as strided windows (im2col) plus one GEMM per group.

Shapes, for d spatial dims (d = 1: L; d = 2: H, W):
    x (N, C, *S), weight (K, C/G, *k), bias (K,)  ->  out (N, K, *O)
    O_i = (S_i + lo_i + hi_i - dilation_i * (k_i - 1) - 1) // stride_i + 1

The work happens channels-last: the padded input is laid out (N, *Sp, C) so each window row
of the column matrix is a few long contiguous runs. The result is returned as a (N, K, *O) view
of channels-last memory; the next conv's move to channels-last is then free.

Where the time goes, and why the code looks the way it does (measured on 2 cores, OpenBLAS):
- The three GEMMs (forward, weight gradient, input gradient) run near the machine's peak; the
  rest is memory traffic, so the code avoids passes over big arrays and fresh pages.
- A fresh multi-megabyte array costs a page fault per 4 KiB on first touch, which doubles the
  im2col copy. Column matrices therefore come from a small bounded pool (``ScratchPool``).
- The bias rides in the forward GEMM as a column of ones in the column matrix (a separate
  ``out += bias`` pass cost as much as the GEMM itself for small layers); the bias gradient is
  a matrix-vector product with ones (6x faster than ``sum(axis=0)``).
- col2im (scatter-add of the column gradients back onto the input) goes chunk by chunk over the
  batch so each chunk stays in cache; with few channels per group it runs channels-first,
  where every add moves rows of a whole output row instead of runs of C floats.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import OrderedDict
from typing import Any

from numpy.lib.stride_tricks import as_strided

from .._backend import xp
from ..autograd import Function
from .shape import pad_array, pad_array_backward

Array = Any
Pads = tuple[tuple[int, int], ...]

# With fewer input channels per group than this, col2im runs channels-first (see module doc).
CHANNELS_FIRST_COL2IM_BELOW = 8
# Bytes of column gradients per col2im chunk: small enough to stay in the 1-2 MiB L2 cache.
COL2IM_CHUNK_BYTES = 1 << 21


class ScratchPool:
    """Arrays reused between calls: free buffers keyed by (shape, dtype), zero-bordered padded
    buffers and vectors of ones. Bounded: at most ``max_bytes`` are kept, least recently used
    dropped first, so memory never grows with the number of distinct shapes."""

    def __init__(self, max_bytes: int = 256 << 20) -> None:
        self.max_bytes = max_bytes
        self.free: OrderedDict[tuple[Any, ...], list[Array]] = OrderedDict()
        self.kept = 0

    def take(self, shape: tuple[int, ...], dtype: Any) -> Array:
        """An uninitialised array of ``shape``: a free one if there is one, else a new one."""
        key = ("free", tuple(shape), xp.dtype(dtype).str)
        stack = self.free.get(key)
        if not stack:
            return xp.empty(shape, dtype)
        a = stack.pop()
        if not stack:
            del self.free[key]
        self.kept -= a.nbytes
        return a

    def give(self, a: Array) -> None:
        """Return an array from ``take`` that nothing else references any more."""
        self._keep(("free", a.shape, a.dtype.str), a)

    def _keep(self, key: tuple[Any, ...], a: Array) -> None:
        if a.nbytes > self.max_bytes // 4:
            return
        self.free.setdefault(key, []).append(a)
        self.free.move_to_end(key)
        self.kept += a.nbytes
        while self.kept > self.max_bytes:
            old_key, stack = next(iter(self.free.items()))
            self.kept -= stack.pop(0).nbytes
            if not stack:
                del self.free[old_key]

    def _cached(self, key: tuple[Any, ...], make: Any) -> Array:
        """A shared array made once by ``make()``; callers must not keep it past their call."""
        stack = self.free.get(key)
        if stack:
            self.free.move_to_end(key)
            return stack[0]
        a = make()
        self._keep(key, a)
        return a

    def bordered(self, shape: tuple[int, ...], pads: Pads, dtype: Any) -> Array:
        """A shared (N, *Sp, C) buffer whose borders ``pads`` are zero; callers write only the
        interior, so the borders stay zero and are never filled again."""
        return self._cached(("bordered", shape, pads, xp.dtype(dtype).str),
                            lambda: xp.zeros(shape, dtype))

    def ones(self, n: int, dtype: Any) -> Array:
        """A shared read-only vector of ``n`` ones."""
        def make() -> Array:
            v = xp.ones(n, dtype)
            v.flags.writeable = False
            return v
        return self._cached(("ones", n, xp.dtype(dtype).str), make)


_local = threading.local()


def scratch() -> ScratchPool:
    """This thread's scratch pool (threads never share a buffer)."""
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = ScratchPool()
    return pool


def channels_last_padded(x: Array, pads: Pads, mode: str) -> Array:
    """(N, C, *S) -> C-contiguous (N, *Sp, C), padded by ``pads`` in ``mode`` (a new array)."""
    x_cl = xp.moveaxis(x, 1, -1)
    if not any(lo or hi for lo, hi in pads):
        return xp.ascontiguousarray(x_cl)
    return pad_array(x_cl, ((0, 0), *pads, (0, 0)), mode)


def _padded_for_im2col(x: Array, pads: Pads, mode: str) -> Array:
    """Like ``channels_last_padded``, but the result may be the caller's memory or a shared
    scratch buffer: it is only read, and only until the next convolution."""
    x_cl = xp.moveaxis(x, 1, -1)
    if not any(lo or hi for lo, hi in pads):
        return x_cl if x_cl.flags.c_contiguous else xp.ascontiguousarray(x_cl)
    if mode != "zeros":
        return pad_array(x_cl, ((0, 0), *pads, (0, 0)), mode)
    shape = (x_cl.shape[0], *(n + lo + hi for n, (lo, hi) in zip(x_cl.shape[1:-1], pads)),
             x_cl.shape[-1])
    buf = scratch().bordered(shape, pads, x.dtype)
    buf[(slice(None), *(slice(lo, lo + n) for n, (lo, _) in zip(x_cl.shape[1:-1], pads)))] = x_cl
    return buf


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


class ConvNd(Function):
    """Forward and backward of the N-d convolution; arguments are validated by the caller."""

    def forward(self, x: Array, w: Array, *bias: Array, stride: tuple[int, ...],
                dilation: tuple[int, ...], pads: Pads, mode: str, groups: int) -> Array:
        n, c = x.shape[:2]
        k_out, kernel = w.shape[0], w.shape[2:]
        g, cg, kg = groups, c // groups, k_out // groups
        f = math.prod(kernel) * cg  # column-matrix width per group
        xpad = _padded_for_im2col(x, pads, mode)  # (N, *Sp, C)
        out_size = tuple((xpad.shape[1 + i] - dilation[i] * (k - 1) - 1) // stride[i] + 1
                         for i, k in enumerate(kernel))
        m = n * math.prod(out_size)
        win = windows(xpad, kernel, stride, dilation, out_size, 1)  # (N, *O, *k, C)
        win = win.reshape(*win.shape[:-1], g, cg)  # (N, *O, *k, G, C/G)
        # The one im2col copy, into rows (kernel offset, channel) plus a ones column for the bias.
        cols = scratch().take((g, m, f + bool(bias)), x.dtype)  # (G, M, f [+ 1])
        xp.copyto(cols[..., :f].reshape(g, n, *out_size, *kernel, cg), xp.moveaxis(win, -2, 0))
        # (K, C/G, *k) -> (G, f, K/G), rows ordered like the columns; the bias is the last row.
        wmat = w.reshape(g, kg, cg, -1).transpose(0, 3, 2, 1).reshape(g, f, kg)
        if bias:
            cols[..., f] = 1
            wmat = xp.concatenate([wmat, bias[0].astype(x.dtype).reshape(g, 1, kg)], axis=1)
        out = xp.empty((m, k_out), dtype=x.dtype)  # (M, K): channels-last output
        xp.matmul(cols, wmat, out=out.reshape(m, g, kg).transpose(1, 0, 2))
        self.geometry = (x.shape, xpad.shape, kernel, out_size, stride, dilation, pads, mode, g)
        if self.needs_grad[1]:
            self.cols = cols
        else:
            scratch().give(cols)
        if self.needs_grad[0]:
            self.wmat = wmat[:, :f]
        return xp.moveaxis(out.reshape(n, *out_size, k_out), -1, 1)  # (N, K, *O) view

    def backward(self, grad: Array) -> tuple[Array | None, ...]:
        x_shape, pad_shape, kernel, out_size, stride, dilation, pads, mode, g = self.geometry
        n, c = x_shape[:2]
        k_out = grad.shape[1]
        cg, kg = c // g, k_out // g
        m = n * math.prod(out_size)
        g_cl = xp.moveaxis(grad, 1, -1)  # (N, *O, K): free when grad is channels-last memory
        copied = not g_cl.flags.c_contiguous
        if copied:
            g_rows = scratch().take((m, k_out), grad.dtype)
            xp.copyto(g_rows.reshape(g_cl.shape), g_cl)
        else:
            g_rows = g_cl.reshape(m, k_out)
        g_grp = g_rows.reshape(m, g, kg).transpose(1, 0, 2)  # (G, M, K/G)
        gx = gw = gb = None
        if self.needs_grad[1]:
            f = math.prod(kernel) * cg
            gw_grp = xp.matmul(self.cols[..., :f].transpose(0, 2, 1), g_grp)  # (G, f, K/G)
            gw = gw_grp.reshape(g, -1, cg, kg).transpose(0, 3, 2, 1).reshape(k_out, cg, *kernel)
        if len(self.needs_grad) == 3 and self.needs_grad[2]:
            gb = scratch().ones(m, grad.dtype) @ g_rows  # (K,)
        if self.needs_grad[0]:
            geometry = (n, cg, kernel, out_size, stride, dilation)
            if cg < CHANNELS_FIRST_COL2IM_BELOW:
                dpad = col2im_channels_first(g_grp, self.wmat, pad_shape, geometry)  # (C, N, *Sp)
                gx = xp.moveaxis(_unpad(dpad, ((0, 0), (0, 0), *pads), mode), 0, 1)
            else:
                dpad = col2im_channels_last(g_grp, self.wmat, pad_shape, geometry)  # (N, *Sp, C)
                gx = xp.moveaxis(_unpad(dpad, ((0, 0), *pads, (0, 0)), mode), -1, 1)
        if copied:
            scratch().give(g_rows)
        return (gx, gw) if len(self.needs_grad) == 2 else (gx, gw, gb)

    def release(self) -> None:
        if getattr(self, "cols", None) is not None:
            scratch().give(self.cols)
        super().release()


def col2im_channels_last(g_grp: Array, wmat: Array, pad_shape: tuple[int, ...],
                         geometry: tuple[Any, ...]) -> Array:
    """Input gradient on the padded input, channels-last: (N, *Sp, C).

    g_grp (G, M, K/G) is the output gradient, wmat (G, f, K/G) the forward weight matrix. Per
    chunk of images the column gradients (G, rows, f) come from one GEMM into a cached buffer
    and are added back onto the input element each of them read, one kernel offset at a time.
    """
    n, cg, kernel, out_size, stride, dilation = geometry
    g, nd, p = g_grp.shape[0], len(kernel), math.prod(out_size)
    f = wmat.shape[1]
    dpad = xp.zeros((*pad_shape[:-1], g, cg), dtype=g_grp.dtype)  # (N, *Sp, G, C/G)
    per_chunk = max(1, min(n, COL2IM_CHUNK_BYTES // (g * p * f * g_grp.itemsize)))
    buf = scratch().take((g, per_chunk * p, f), g_grp.dtype)
    w_t = wmat.transpose(0, 2, 1)  # (G, K/G, f)
    lead = (slice(None),) * (2 + nd)
    targets = [(offset, (slice(None), *window_slices(offset, stride, dilation, out_size)))
               for offset in itertools.product(*map(range, kernel))]
    for start in range(0, n, per_chunk):
        stop = min(n, start + per_chunk)
        dcols = buf[:, :(stop - start) * p]
        xp.matmul(g_grp[:, start * p:stop * p], w_t, out=dcols)
        dcols = dcols.reshape(g, stop - start, *out_size, *kernel, cg)
        chunk = dpad[start:stop]
        for offset, where in targets:
            chunk[where] += xp.moveaxis(dcols[lead + offset], 0, -2)  # (n', *O, G, C/G)
    scratch().give(buf)
    return dpad.reshape(pad_shape)


def col2im_channels_first(g_grp: Array, wmat: Array, pad_shape: tuple[int, ...],
                          geometry: tuple[Any, ...]) -> Array:
    """Input gradient on the padded input, channels-first: (C, N, *Sp).

    The transposed column gradients (G, f, M) = wmat @ g_grp^T put each (kernel offset,
    channel) in one contiguous row over (N, *O), so every add moves whole output rows.
    """
    n, cg, kernel, out_size, stride, dilation = geometry
    g, m = g_grp.shape[:2]
    f = wmat.shape[1]
    dcols = scratch().take((g, f, m), g_grp.dtype)
    xp.matmul(wmat, g_grp.transpose(0, 2, 1), out=dcols)
    d = dcols.reshape(g, *kernel, cg, n, *out_size)
    dpad = xp.zeros((g, cg, n, *pad_shape[1:-1]), dtype=g_grp.dtype)  # (G, C/G, N, *Sp)
    for offset in itertools.product(*map(range, kernel)):
        where = (slice(None),) * 3 + window_slices(offset, stride, dilation, out_size)
        dpad[where] += d[(slice(None), *offset)]
    scratch().give(dcols)
    return dpad.reshape(g * cg, n, *pad_shape[1:-1])


def _unpad(dpad: Array, pads: Pads, mode: str) -> Array:
    """Gradient of the unpadded input from the padded one's: a view for zero padding."""
    if mode == "zeros":
        return dpad[tuple(slice(lo, dpad.shape[i] - hi) for i, (lo, hi) in enumerate(pads))]
    return pad_array_backward(dpad, pads, mode)
