"""N-d locally connected layer: a convolution's windows, but a separate kernel at every output
position (sparse connections without parameter sharing).

Shapes, for d spatial dims (d = 1: L; d = 2: H, W):
    x (N, C, *S), weight (*O, K, C, *k), bias (*O, K) per position or (K,) per channel
    -> out (N, K, *O),  O_i = (S_i + lo_i + hi_i - dilation_i * (k_i - 1) - 1) // stride_i + 1

``weight[o]`` is the (K, C, *k) convolution kernel used at output position ``o``. The windows
are the convolution's own (``ops.windows.windows``); instead of one GEMM with shared weights
there is one small matrix product per output position, batched over positions.
"""

from __future__ import annotations

import math
from typing import Any

from .._backend import xp
from ..autograd import Function
from .shape import pad_array_backward
from .windows import ConvGeometry, add_windows, padded_channels_last, windows

Array = Any


class LocallyConnectedNd(Function):
    """Forward and backward of the locally connected op; arguments are validated by the caller."""

    def forward(self, x: Array, w: Array, *bias: Array, geometry: ConvGeometry) -> Array:
        geo = self.geo = geometry
        nd = (w.ndim - 2) // 2
        n, c = x.shape[:2]
        out_size, k_out, kernel = w.shape[:nd], w.shape[nd], w.shape[nd + 2:]
        p, kk = math.prod(out_size), math.prod(kernel)
        xpad, _ = padded_channels_last(x, geo.pads, geo.mode)  # (N, *Sp, C), borrowed
        win = windows(xpad, kernel, geo.stride, geo.dilation, out_size, 1)  # (N, *O, *k, C)
        cols = xp.empty((p, n, kk * c), dtype=x.dtype)  # (P, N, kk*C): the one copy
        xp.copyto(cols.reshape(*out_size, n, *kernel, c), xp.moveaxis(win, 0, nd))
        # (*O, K, C, *k) -> (P, kk*C, K), rows ordered (kernel offset, channel) like cols
        wmat = w.reshape(p, k_out, c, kk).transpose(0, 3, 2, 1).reshape(p, kk * c, k_out)
        out = xp.matmul(cols, wmat)  # (P, N, K): one product per output position
        if bias:
            out += bias[0].reshape(p, 1, k_out) if bias[0].ndim > 1 else bias[0]
        self.x_shape, self.pad_shape, self.w_shape = x.shape, xpad.shape, w.shape
        self.bias_shape = bias[0].shape if bias else None
        if self.needs_grad[1]:
            self.cols = cols
        if self.needs_grad[0]:
            self.wmat = wmat
        return out.transpose(1, 2, 0).reshape(n, k_out, *out_size)

    def backward(self, grad: Array) -> tuple[Array | None, ...]:
        geo, x_shape, w_shape = self.geo, self.x_shape, self.w_shape
        nd = len(geo.stride)
        n, c = x_shape[:2]
        out_size, k_out, kernel = w_shape[:nd], w_shape[nd], w_shape[nd + 2:]
        p = math.prod(out_size)
        g = grad.reshape(n, k_out, p).transpose(2, 0, 1)  # (P, N, K)
        gx = gw = None
        if self.needs_grad[1]:
            gw_pos = xp.matmul(self.cols.transpose(0, 2, 1), g)  # (P, kk*C, K)
            gw = gw_pos.reshape(p, -1, c, k_out).transpose(0, 3, 2, 1).reshape(w_shape)
        if self.needs_grad[0]:
            # col2im: each window entry's gradient goes back to the input element it read.
            dcols = xp.matmul(g, self.wmat.transpose(0, 2, 1))  # (P, N, kk*C)
            dcols = xp.moveaxis(dcols.reshape(*out_size, n, *kernel, c), nd, 0)  # (N,*O,*k,C)
            dpad = xp.zeros(self.pad_shape, dtype=dcols.dtype)  # (N, *Sp, C)
            add_windows(dpad, dcols, 1 + nd, geo.stride, geo.dilation, out_size, 1)
            dx_cl = pad_array_backward(dpad, ((0, 0), *geo.pads, (0, 0)), geo.mode)
            gx = xp.moveaxis(dx_cl, -1, 1)  # (N, C, *S)
        if len(self.needs_grad) == 2:
            return gx, gw
        gb = None
        if self.needs_grad[2]:
            b_shape = self.bias_shape  # (*O, K) per position or (K,) per channel
            gb = g.sum(axis=1).reshape(b_shape) if len(b_shape) > 1 else g.sum(axis=(0, 1))
        return gx, gw, gb
