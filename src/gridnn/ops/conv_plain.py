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


class ConvPlain(Function):
    """Forward and backward of the N-d convolution, read straight off the definition."""

    def forward(self, x: Array, w: Array, *bias: Array, geometry: ConvGeometry) -> Array:
        geo = self.geo = geometry
        n, c, k_out, kernel = x.shape[0], x.shape[1], w.shape[0], w.shape[2:]
        g, p, j = geo.groups, math.prod(geo.out_size), math.prod(kernel)
        xpad = pad_array(x, ((0, 0), (0, 0), *geo.pads), geo.mode)  # (N, C, *Sp)
        win = windows(xpad, kernel, geo.stride, geo.dilation, geo.out_size, 2)  # (N,C,*O,*k)
        self.cols = win.reshape(n, g, c // g, p, j)  # (N, G, C/G, P, J): the columns
        self.w = w.reshape(g, k_out // g, c // g, j)  # (G, K/G, C/G, J)
        self.x_shape, self.pad_shape, self.kernel = x.shape, xpad.shape, kernel
        out = xp.einsum("ngcpj,gkcj->ngkp", self.cols, self.w)  # (N, G, K/G, P)
        out = out.reshape(n, k_out, *geo.out_size)  # (N, K, *O)
        return out + bias[0].reshape(k_out, *(1,) * len(kernel)) if bias else out

    def backward(self, grad: Array) -> tuple[Array | None, ...]:
        geo, kernel, (n, c) = self.geo, self.kernel, self.x_shape[:2]
        g, k_out, nd, p = geo.groups, grad.shape[1], len(kernel), self.cols.shape[3]
        grad_g = grad.reshape(n, g, k_out // g, p)  # (N, G, K/G, P)
        gw = xp.einsum("ngcpj,ngkp->gkcj", self.cols, grad_g)  # (G, K/G, C/G, J)
        gb = grad.sum(axis=(0, *range(2, 2 + nd)))  # (K,)
        dcols = xp.einsum("ngkp,gkcj->ngcpj", grad_g, self.w)  # (N, G, C/G, P, J)
        dcols = dcols.reshape(n, c, *geo.out_size, *kernel)  # (N, C, *O, *k)
        dpad = xp.zeros(self.pad_shape, dtype=grad.dtype)  # (N, C, *Sp)
        add_windows(dpad, dcols, 2 + nd, geo.stride, geo.dilation, geo.out_size, 2)
        gx = pad_array_backward(dpad, ((0, 0), (0, 0), *geo.pads), geo.mode)  # (N, C, *S)
        gw = gw.reshape(k_out, c // g, *kernel)  # (K, C/G, *k)
        return (gx, gw) if len(self.needs_grad) == 2 else (gx, gw, gb)
