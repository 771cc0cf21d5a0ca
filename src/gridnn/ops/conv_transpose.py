"""The transposed convolution: the convolution run backwards.

A convolution maps y (N, C_out, *So) to x (N, C_in, *Si) with a weight (C_in, C_out/G, *k);
its input gradient maps x-shaped arrays back to y-shaped ones. ConvTranspose *is* that input
gradient, used as a layer: every input value spreads, through the kernel, onto the window of
the output it would have been computed from (``conv_plain.col2im``). Its own backward is then
the convolution's forward (for the input) and weight gradient (for the weight), the same three
products of ``ops/conv_plain.py`` read the other way round:

    forward:   columns = x . w          (COLUMN_GRAD)   y = col2im(columns) + bias
    backward:  cols = im2col(dy)        dx = cols . w   (OUTPUT)    dw = cols . x (WEIGHT_GRAD)

Shapes (d spatial dims, G groups): x (N, C_in, *Si), weight (C_in, C_out/G, *k), bias (C_out,)
-> y (N, C_out, *So), So_i = (Si_i - 1) stride_i - 2 padding_i + dilation_i (k_i - 1)
+ output_padding_i + 1. ``geometry`` is the convolution's from y back to x: its pads are the
transposed convolution's padding, plus output_padding on the high side (rows no window
reaches, which get the bias only), and its out_size is Si.
"""

from __future__ import annotations

import math
from typing import Any

from .._backend import xp
from ..autograd import Function
from .conv_plain import COLUMN_GRAD, OUTPUT, WEIGHT_GRAD, col2im, im2col
from .windows import ConvGeometry

Array = Any


class ConvTransposePlain(Function):
    def forward(self, x: Array, w: Array, *bias: Array, geometry: ConvGeometry,
                out_size: tuple[int, ...]) -> Array:
        geo = self.geo = geometry
        n, c_in, kernel, g = x.shape[0], x.shape[1], w.shape[2:], geometry.groups
        c_out = w.shape[1] * g
        self.x = x.reshape(n, g, c_in // g, math.prod(geo.out_size))  # (N, G, Cin/G, P)
        self.w = w.reshape(g, c_in // g, c_out // g, -1)  # (G, Cin/G, Cout/G, J)
        self.kernel = kernel
        pad_shape = (n, c_out, *(o + lo + hi for o, (lo, hi) in zip(out_size, geo.pads)))
        columns = xp.einsum(COLUMN_GRAD, self.x, self.w)  # (N, G, Cout/G, P, J)
        out = col2im(columns, kernel, geo, pad_shape)  # (N, Cout, *So)
        return out + bias[0].reshape(c_out, *(1,) * len(kernel)) if bias else out

    def backward(self, grad: Array) -> tuple[Array | None, ...]:
        geo, kernel, w = self.geo, self.kernel, self.w
        cols, _ = im2col(grad, kernel, geo)  # (N, G, Cout/G, P, J)
        gx = xp.einsum(OUTPUT, cols, w).reshape(grad.shape[0], -1, *geo.out_size)
        gw = xp.einsum(WEIGHT_GRAD, cols, self.x)  # (G, Cin/G, Cout/G, J)
        gw = gw.reshape(-1, w.shape[2], *kernel)
        if len(self.needs_grad) == 2:
            return gx, gw
        return gx, gw, grad.sum(axis=(0, *range(2, 2 + len(kernel))))
