"""The convolution as the lecture states it: every window times the kernel, summed, plus a bias.

Shapes, for d spatial dims (d = 1: L; d = 2: H, W), G groups, P = prod(O), J = prod(k):
    x (N, C, *S), weight (K, C/G, *k), bias (K,)  ->  out (N, K, *O)
    O_i = (S_i + lo_i + hi_i - dilation_i * (k_i - 1) - 1) // stride_i + 1

Forward: pad the input, view every window (no copy: ``ops.windows.windows``), multiply each
window element-wise by each of its group's kernels and sum: one ``einsum``. Backward, the same
product read three ways: the weight gradient pairs each window with the output gradient at its
position, the bias gradient sums the output gradient, and the input gradient spreads the output
gradient back through the kernel onto the windows, then adds each window entry onto the input
element it was read from (col2im: ``ops.windows.add_windows``).

It runs when ``gridnn.plain_ops()`` is on. ``ops/conv.py`` computes the same, made fast.
"""

from __future__ import annotations

import math
from typing import Any

from .._backend import xp
from ..autograd import Function
from .shape import pad_array, pad_array_backward
from .windows import ConvGeometry, add_windows, windows

Array = Any


def im2col(x: Array, kernel: tuple[int, ...], geo: ConvGeometry) -> tuple[Array, tuple]:
    """(columns (N, G, C/G, P, J), padded shape): every window of the padded x (N, C, *S),
    a view where the padding allows."""
    n, c, g = x.shape[0], x.shape[1], geo.groups
    xpad = pad_array(x, ((0, 0), (0, 0), *geo.pads), geo.mode)  # (N, C, *Sp)
    win = windows(xpad, kernel, geo.stride, geo.dilation, geo.out_size, 2)  # (N,C,*O,*k)
    return win.reshape(n, g, c // g, math.prod(geo.out_size), math.prod(kernel)), xpad.shape


def col2im(dcols: Array, kernel: tuple[int, ...], geo: ConvGeometry,
           pad_shape: tuple[int, ...]) -> Array:
    """The adjoint of ``im2col``: each window entry of dcols (N, G, C/G, P, J) added onto the
    input element it was read from; (N, C, *S) out."""
    n, nd = pad_shape[0], len(kernel)
    dcols = dcols.reshape(n, pad_shape[1], *geo.out_size, *kernel)  # (N, C, *O, *k)
    dpad = xp.zeros(pad_shape, dtype=dcols.dtype)  # (N, C, *Sp)
    add_windows(dpad, dcols, 2 + nd, geo.stride, geo.dilation, geo.out_size, 2)
    return pad_array_backward(dpad, ((0, 0), (0, 0), *geo.pads), geo.mode)


# The three products of a convolution, on columns (N, G, C/G, P, J), grouped weights
# (G, K/G, C/G, J) and outputs (N, G, K/G, P): out, weight gradient, column gradient.
OUTPUT, WEIGHT_GRAD, COLUMN_GRAD = "ngcpj,gkcj->ngkp", "ngcpj,ngkp->gkcj", "ngkp,gkcj->ngcpj"


class ConvPlain(Function):
    """Forward and backward of the N-d convolution, read straight off the definition."""

    def forward(self, x: Array, w: Array, *bias: Array, geometry: ConvGeometry) -> Array:
        geo = self.geo = geometry
        n, c, k_out, kernel = x.shape[0], x.shape[1], w.shape[0], w.shape[2:]
        g = geo.groups
        self.cols, self.pad_shape = im2col(x, kernel, geo)  # (N, G, C/G, P, J)
        self.w = w.reshape(g, k_out // g, c // g, -1)  # (G, K/G, C/G, J)
        self.kernel = kernel
        out = xp.einsum(OUTPUT, self.cols, self.w)  # (N, G, K/G, P)
        out = out.reshape(n, k_out, *geo.out_size)  # (N, K, *O)
        return out + bias[0].reshape(k_out, *(1,) * len(kernel)) if bias else out

    def backward(self, grad: Array) -> tuple[Array | None, ...]:
        geo, kernel, (n, c) = self.geo, self.kernel, self.pad_shape[:2]
        g, k_out, nd, p = geo.groups, grad.shape[1], len(kernel), self.cols.shape[3]
        grad_g = grad.reshape(n, g, k_out // g, p)  # (N, G, K/G, P)
        gw = xp.einsum(WEIGHT_GRAD, self.cols, grad_g)  # (G, K/G, C/G, J)
        gb = grad.sum(axis=(0, *range(2, 2 + nd)))  # (K,)
        dcols = xp.einsum(COLUMN_GRAD, grad_g, self.w)  # (N, G, C/G, P, J)
        gx = col2im(dcols, kernel, geo, self.pad_shape)  # (N, C, *S)
        gw = gw.reshape(k_out, c // g, *kernel)  # (K, C/G, *k)
        return (gx, gw) if len(self.needs_grad) == 2 else (gx, gw, gb)
