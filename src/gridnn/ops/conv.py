"""N-d convolution (cross-correlation) as strided windows (im2col) plus one GEMM per group.

Shapes, for d spatial dims (d = 1: L; d = 2: H, W):
    x (N, C, *S), weight (K, C/G, *k), bias (K,)  ->  out (N, K, *O)
    O_i = (S_i + lo_i + hi_i - dilation_i * (k_i - 1) - 1) // stride_i + 1

The work happens channels-last: the padded input is laid out (N, *Sp, C) so each window row
of the column matrix is a few long contiguous runs. The result is returned as a (N, K, *O) view
of channels-last memory; the next conv's move to channels-last is then free.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from numpy.lib.stride_tricks import as_strided

from .._backend import xp
from ..autograd import Function
from .shape import pad_array, pad_array_backward

Array = Any
Pads = tuple[tuple[int, int], ...]


def channels_last_padded(x: Array, pads: Pads, mode: str) -> Array:
    """(N, C, *S) -> C-contiguous (N, *Sp, C), padded by ``pads`` in ``mode``."""
    x_cl = xp.moveaxis(x, 1, -1)
    if not any(lo or hi for lo, hi in pads):
        return xp.ascontiguousarray(x_cl)
    return pad_array(x_cl, ((0, 0), *pads, (0, 0)), mode)


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
        xpad = channels_last_padded(x, pads, mode)  # (N, *Sp, C)
        out_size = tuple((xpad.shape[1 + i] - dilation[i] * (k - 1) - 1) // stride[i] + 1
                         for i, k in enumerate(kernel))
        m, kk = n * math.prod(out_size), math.prod(kernel)
        win = windows(xpad, kernel, stride, dilation, out_size, 1)  # (N, *O, *k, C)
        win = win.reshape(*win.shape[:-1], g, cg)  # (N, *O, *k, G, C/G)
        cols = xp.moveaxis(win, -2, 0).reshape(g, m, kk * cg)  # the one im2col copy
        # (K, C/G, *k) -> (G, kk * C/G, K/G), rows ordered (kernel offset, channel) like cols
        wmat = w.reshape(g, kg, cg, kk).transpose(0, 3, 2, 1).reshape(g, kk * cg, kg)
        out = xp.matmul(cols, wmat)  # (G, M, K/G)
        out = out[0] if g == 1 else out.transpose(1, 0, 2).reshape(m, k_out)  # (M, K)
        if bias:
            out += bias[0]
        self.geometry = (x.shape, xpad.shape, kernel, out_size, stride, dilation, pads, mode, g)
        if self.needs_grad[1]:
            self.cols = cols
        if self.needs_grad[0]:
            self.wmat = wmat
        return xp.moveaxis(out.reshape(n, *out_size, k_out), -1, 1)  # (N, K, *O) view

    def backward(self, grad: Array) -> tuple[Array | None, ...]:
        x_shape, pad_shape, kernel, out_size, stride, dilation, pads, mode, g = self.geometry
        n, c = x_shape[:2]
        k_out = grad.shape[1]
        cg, kg = c // g, k_out // g
        m = n * math.prod(out_size)
        g_rows = xp.moveaxis(grad, 1, -1).reshape(m, g, kg)  # (M, G, K/G)
        g_grp = g_rows.transpose(1, 0, 2)  # (G, M, K/G)
        gx = gw = None
        if self.needs_grad[1]:
            gw_grp = xp.matmul(self.cols.transpose(0, 2, 1), g_grp)  # (G, kk*C/G, K/G)
            gw = gw_grp.reshape(g, -1, cg, kg).transpose(0, 3, 2, 1).reshape(k_out, cg, *kernel)
        if self.needs_grad[0]:
            # col2im: each column entry's gradient goes back to the input element it read.
            dcols = xp.matmul(g_grp, self.wmat.transpose(0, 2, 1))  # (G, M, kk*C/G)
            dcols = dcols.reshape(g, n, *out_size, *kernel, cg)
            dpad = xp.zeros((*pad_shape[:-1], g, cg), dtype=dcols.dtype)  # (N, *Sp, G, C/G)
            nd = len(kernel)
            for offset in itertools.product(*map(range, kernel)):
                part = dcols[(slice(None),) * (2 + nd) + offset]  # (G, N, *O, C/G)
                where = (slice(None), *window_slices(offset, stride, dilation, out_size))
                dpad[where] += xp.moveaxis(part, 0, -2)
            dx_cl = pad_array_backward(dpad.reshape(pad_shape), ((0, 0), *pads, (0, 0)), mode)
            gx = xp.moveaxis(dx_cl, -1, 1)  # (N, C, *S)
        if len(self.needs_grad) == 2:
            return gx, gw
        return gx, gw, g_rows.reshape(m, k_out).sum(axis=0) if self.needs_grad[2] else None
