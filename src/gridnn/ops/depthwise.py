"""Depthwise convolution (groups = in channels = out channels), 1-D and 2-D: each channel
convolved with its own kernel, as a sum of shifted multiply-adds instead of im2col.

im2col of one channel at a time builds a column matrix of k*k columns per group and multiplies
it by a one-column weight: a GEMM that does no useful blocking, after a copy that is k*k times
the input. Here each kernel offset (a, b) adds the input window it reads, scaled per channel,
onto the output, channels innermost (the padded channels-last input of ``ops/conv.py``):

    out[n, i, j, c] = bias[c] + sum over (a, b) of xpad[n, i*s + a*d, j*s + b*d, c] * w[c, a, b]

With Numba this is one loop (``kernels.depthwise_2d``, which can read the zero padding
without a padded copy) over slices of the output rows (in threads from a batch of two up);
without it, k*k whole-array NumPy multiply-adds over batch slices.
Backward reads the same sum two ways: the weight gradient pairs each output gradient with the
input it multiplied; the input gradient gathers, for each padded input element, the output
gradients it contributed to (each element written once, so row slices never collide). At
stride 1 that gather is itself a depthwise convolution: of the output gradient, zero padded by
(k - 1) * d, with the kernel flipped, so the forward loop computes it.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

from .._backend import xp
from .compiled import kernels
from .shape import pad_array
from .windows import ConvGeometry, window_slices
from .workspace import parallel_slices

Array = Any


def is_depthwise(c: int, k_out: int, nd: int, geo: ConvGeometry) -> bool:
    """Whether a convolution of ``c`` input channels to ``k_out`` filters takes this path."""
    return 1 < geo.groups == c == k_out and nd <= 2


def as_2d(a: Array, nd: int) -> Array:
    """(N, L, C) -> (N, 1, L, C) view for the 2-D loops; 2-D arrays as they are."""
    return a[:, None] if nd == 1 else a


def steps_2d(geo: ConvGeometry) -> tuple[int, int, int, int]:
    """(stride_h, stride_w, dilation_h, dilation_w), 1-D as height 1."""
    s, d = geo.stride, geo.dilation
    return (1, s[0], 1, d[0]) if len(s) == 1 else (*s, *d)


def _kernel_last(w: Array) -> Array:
    """(C, 1, *k) -> (*k, C) contiguous, 1-D as (1, k, C)."""
    wk = w[:, 0].transpose(*range(1, w.ndim - 1), 0).copy()
    return wk[None] if wk.ndim == 2 else wk


def forward(x: Array, w: Array, bias: Array | None, geo: ConvGeometry,
            padded: bool = True) -> Array:
    """x (N, *S, C) channels-last, C-contiguous, w (C, 1, *k), bias (C,) or None -> (N, *O, C).

    ``padded``: x is already padded by ``geo.pads``; else x is the input itself and the padding
    zeros (``geo.mode`` 'zeros'), which the compiled loop reads as zeros without a padded copy.
    """
    n, c, nd = x.shape[0], x.shape[-1], len(geo.out_size)
    out = xp.empty((n, *geo.out_size, c), dtype=x.dtype)
    zero = xp.zeros(c, x.dtype)
    b = zero if bias is None else bias.astype(x.dtype, copy=False)
    k = kernels()
    if k is not None:
        wk, steps, out2, x2 = _kernel_last(w), steps_2d(geo), as_2d(out, nd), as_2d(x, nd)
        pads = (0, 0) if padded else (0, geo.pads[0][0]) if nd == 1 else (
            geo.pads[0][0], geo.pads[1][0])
        parallel_slices(n * out2.shape[1], out.size * wk.shape[0] * wk.shape[1], lambda lo, hi: (
            k.depthwise_2d(x2, wk, b, zero, *steps, *pads, lo, hi, out2)), n)
        return out
    xpad = x if padded else pad_array(x, ((0, 0), *geo.pads, (0, 0)), "zeros")
    wk = xp.moveaxis(w[:, 0], 0, -1)  # (*k, C)

    def work(lo: int, hi: int) -> None:
        o = out[lo:hi]
        o[...] = b
        for offset in itertools.product(*map(range, w.shape[2:])):
            part = xpad[(slice(lo, hi), *window_slices(offset, geo.stride, geo.dilation,
                                                       geo.out_size))]
            o += part * wk[offset]

    parallel_slices(n, out.size * math.prod(w.shape[2:]), work)
    return out


def weight_grad(xpad: Array, g: Array, geo: ConvGeometry, kernel: tuple[int, ...]) -> Array:
    """(C, 1, *k) from the padded input (N, *Sp, C) and the output gradient g (N, *O, C)."""
    n, c, nd = xpad.shape[0], xpad.shape[-1], len(kernel)
    k, axes = kernels(), "nij"[:nd + 1]

    def work(lo: int, hi: int) -> Array:
        if k is not None:
            acc = xp.zeros((1, *kernel, c) if nd == 1 else (*kernel, c), xp.float64)
            k.depthwise_2d_weight_grad(as_2d(xpad[lo:hi], nd), as_2d(g[lo:hi], nd),
                                       *steps_2d(geo), acc)
            return acc.reshape(*kernel, c)
        acc = xp.empty((*kernel, c), g.dtype)
        for offset in itertools.product(*map(range, kernel)):
            part = xpad[(slice(lo, hi), *window_slices(offset, geo.stride, geo.dilation,
                                                       geo.out_size))]
            acc[offset] = xp.einsum(f"{axes}c,{axes}c->c", g[lo:hi], part)
        return acc

    gw = sum(parallel_slices(n, g.size * math.prod(kernel), work))  # (*k, C)
    return xp.moveaxis(gw.astype(g.dtype, copy=False), -1, 0)[:, None]


def input_grad(g: Array, w: Array, geo: ConvGeometry, pad_shape: tuple[int, ...]) -> Array:
    """The gradient on the padded input (N, *Sp, C) from the output gradient g (N, *O, C)."""
    n, nd = pad_shape[0], len(geo.out_size)
    dpad = xp.empty(pad_shape, g.dtype)
    k = kernels()
    if k is not None:
        d2, g2, wk, steps = as_2d(dpad, nd), as_2d(g, nd), _kernel_last(w), steps_2d(geo)
        size = g.size * wk.shape[0] * wk.shape[1]
        if steps[:2] == (1, 1):  # the forward loop over g, the kernel flipped, g zero padded
            flipped, zeros = wk[::-1, ::-1].copy(), xp.zeros(wk.shape[-1], g.dtype)
            pads = ((wk.shape[0] - 1) * steps[2], (wk.shape[1] - 1) * steps[3])
            parallel_slices(n * d2.shape[1], size, lambda lo, hi: k.depthwise_2d(
                g2, flipped, zeros, zeros, *steps, *pads, lo, hi, d2), n)
        else:
            parallel_slices(n * d2.shape[1], size, lambda lo, hi: (
                k.depthwise_2d_input_grad(g2, wk, *steps, lo, hi, d2)), n)
        return dpad
    wk = xp.moveaxis(w[:, 0], 0, -1)  # (*k, C)

    def work(lo: int, hi: int) -> None:
        d = dpad[lo:hi]
        d[...] = 0
        for offset in itertools.product(*map(range, w.shape[2:])):
            d[(slice(None), *window_slices(offset, geo.stride, geo.dilation,
                                           geo.out_size))] += g[lo:hi] * wk[offset]

    parallel_slices(n, g.size * math.prod(w.shape[2:]), work)
    return dpad
