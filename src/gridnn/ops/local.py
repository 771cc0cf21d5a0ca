"""N-d locally connected layer: a convolution's windows, but a separate kernel at every output
position (sparse connections without parameter sharing).

Shapes, for d spatial dims (d = 1: L; d = 2: H, W):
    x (N, C, *S), weight (*O, K, C, *k), bias (*O, K) per position or (K,) per channel
    -> out (N, K, *O),  O_i = (S_i + lo_i + hi_i - dilation_i * (k_i - 1) - 1) // stride_i + 1

``weight[o]`` is the (K, C, *k) convolution kernel used at output position ``o``. The windows
are the convolution's own (``ops.conv.windows``); instead of one GEMM with shared weights
there is one small matrix product per output position, batched over positions.
"""

from __future__ import annotations

import math
from typing import Any

from .._backend import xp
from ..autograd import Function
from ..errors import ArgumentError, ArgumentTypeError
from .conv import add_windows, channels_last_padded, windows
from .shape import pad_array_backward

Array = Any
Pads = tuple[tuple[int, int], ...]


class LocallyConnectedNd(Function):
    """Forward and backward of the locally connected op; arguments are validated by the caller."""

    def forward(self, x: Array, w: Array, *bias: Array, stride: tuple[int, ...],
                dilation: tuple[int, ...], pads: Pads, mode: str) -> Array:
        nd = (w.ndim - 2) // 2
        n, c = x.shape[:2]
        out_size, k_out, kernel = w.shape[:nd], w.shape[nd], w.shape[nd + 2:]
        p, kk = math.prod(out_size), math.prod(kernel)
        xpad = channels_last_padded(x, pads, mode)  # (N, *Sp, C)
        win = windows(xpad, kernel, stride, dilation, out_size, 1)  # (N, *O, *k, C)
        cols = xp.moveaxis(win, 0, nd).reshape(p, n, kk * c)  # (P, N, kk*C): the one copy
        # (*O, K, C, *k) -> (P, kk*C, K), rows ordered (kernel offset, channel) like cols
        wmat = w.reshape(p, k_out, c, kk).transpose(0, 3, 2, 1).reshape(p, kk * c, k_out)
        out = xp.matmul(cols, wmat)  # (P, N, K): one product per output position
        if bias:
            out += bias[0].reshape(p, 1, k_out) if bias[0].ndim > 1 else bias[0]
        self.geometry = (x.shape, xpad.shape, w.shape, stride, dilation, pads, mode)
        self.bias_shape = bias[0].shape if bias else None
        if self.needs_grad[1]:
            self.cols = cols
        if self.needs_grad[0]:
            self.wmat = wmat
        return out.transpose(1, 2, 0).reshape(n, k_out, *out_size)

    def backward(self, grad: Array) -> tuple[Array | None, ...]:
        x_shape, pad_shape, w_shape, stride, dilation, pads, mode = self.geometry
        nd = len(stride)
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
            dpad = xp.zeros(pad_shape, dtype=dcols.dtype)  # (N, *Sp, C)
            add_windows(dpad, dcols, 1 + nd, stride, dilation, out_size, 1)
            dx_cl = pad_array_backward(dpad, ((0, 0), *pads, (0, 0)), mode)
            gx = xp.moveaxis(dx_cl, -1, 1)  # (N, C, *S)
        if len(self.needs_grad) == 2:
            return gx, gw
        gb = None
        if self.needs_grad[2]:
            b_shape = self.bias_shape  # (*O, K) per position or (K,) per channel
            gb = g.sum(axis=1).reshape(b_shape) if len(b_shape) > 1 else g.sum(axis=(0, 1))
        return gx, gw, gb


def locally_connected(x: Any, weight: Any, bias: Any = None, stride: Any = 1,
                      padding: Any = 0, dilation: Any = 1, padding_mode: str = "zeros") -> Any:
    """Locally connected layer as a function: x (N, C, *S), weight (*O, K, C, *k), bias (*O, K)
    or (K,) or None -> (N, K, *O).

    ``stride``, ``padding`` ('valid', 'same', ints or (lo, hi) pairs), ``dilation`` and
    ``padding_mode`` mean what they mean for ``F.conv2d``; the output size they give must equal
    the weight's leading dims ``O``.
    """
    from ..functional import as_float_tensor, check_rank, window_geometry

    op = "locally_connected"
    x, weight = as_float_tensor(x, "input", op), as_float_tensor(weight, "weight", op)
    if weight.ndim not in (4, 6):
        raise ArgumentError(
            f"{op}: `weight` must be (*O, K, C, *k) with 1 or 2 spatial dims (4-D or 6-D), "
            f"received shape {weight.shape}"
        )
    nd = (weight.ndim - 2) // 2
    check_rank(x, nd, "input", op)
    if x.dtype != weight.dtype:
        raise ArgumentTypeError(
            f"{op}: input dtype {x.dtype} and weight dtype {weight.dtype} differ; cast one"
        )
    out_size, k_out, c, kernel = weight.shape[:nd], weight.shape[nd], weight.shape[nd + 1], \
        weight.shape[nd + 2:]
    if x.shape[1] != c:
        raise ArgumentError(
            f"{op}: input has {x.shape[1]} channels but the weight expects {c} "
            f"(input shape {x.shape}, weight shape {weight.shape})"
        )
    stride_t, dilation_t, pads, expected = window_geometry(x.shape, kernel, stride, padding,
                                                           dilation, padding_mode, op)
    if expected != tuple(out_size):
        raise ArgumentError(
            f"{op}: input spatial size {x.shape[2:]} gives output size {expected}, but the "
            f"weight holds kernels for output size {tuple(out_size)} (weight shape "
            f"{weight.shape}); a locally connected layer fixes its input size"
        )
    inputs = [x, weight]
    if bias is not None:
        bias = as_float_tensor(bias, "bias", op)
        if bias.shape not in ((k_out,), (*out_size, k_out)):
            raise ArgumentError(
                f"{op}: bias must have shape {(*out_size, k_out)} (per position) or ({k_out},) "
                f"(per channel), received {bias.shape}"
            )
        inputs.append(bias)
    return LocallyConnectedNd.apply(*inputs, stride=stride_t, dilation=dilation_t, pads=pads,
                                    mode=padding_mode)
