"""The compiled loops of pooling, BatchNorm, ReLU's backward, col2im and erf (see the package's
docstring)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_JIT = {"nogil": True, "cache": True, "fastmath": False, "boundscheck": False}


@njit(**_JIT)
def max_pool_2d(x, kh, kw, sh, sw, ph, pw, out, arg):  # type: ignore[no-untyped-def]
    """Max over windows with their first maximum's offset, channels innermost.

    x (N, H, W, C); out, arg (N, OH, OW, C): out[n, i, j, c] is the max of x[n, i*sh - ph + a,
    j*sw - pw + b, c] over the window offsets (a, b) inside the input, arg the first such
    offset a*kw + b (row-major order, as the NumPy path and PyTorch pick). A NaN wins (the first
    one), as in PyTorch.
    """
    n_, h_, w_, c_ = x.shape
    oh_, ow_ = out.shape[1], out.shape[2]
    for n in range(n_):
        for i in range(oh_):
            for j in range(ow_):
                o, best_at = out[n, i, j], arg[n, i, j]
                first = True
                for a in range(kh):
                    h = i * sh - ph + a
                    if h < 0 or h >= h_:
                        continue
                    for b in range(kw):
                        w = j * sw - pw + b
                        if w < 0 or w >= w_:
                            continue
                        k, v = a * kw + b, x[n, h, w]
                        if first:
                            for c in range(c_):
                                o[c] = v[c]
                                best_at[c] = k
                            first = False
                            continue
                        # selects, not branches: no mispredictions on random data, and the
                        # loop vectorises
                        for c in range(c_):
                            take = v[c] > o[c] or (v[c] != v[c] and o[c] == o[c])
                            o[c] = v[c] if take else o[c]
                            best_at[c] = k if take else best_at[c]


@njit(**_JIT)
def max_pool_2d_grad(g, arg, kh, kw, sh, sw, ph, pw, tiled, dx):  # type: ignore[no-untyped-def]
    """dx (N, H, W, C) from g, arg (N, OH, OW, C): each window's gradient goes to the input
    value its ``arg`` names. ``tiled``: the windows cover the input exactly once (stride =
    kernel, no padding, no rows left over), so every value of dx is written, never added;
    else dx is zeroed first and overlapping windows add up."""
    n_, oh_, ow_, c_ = g.shape
    h_, w_ = dx.shape[1], dx.shape[2]
    if not tiled:
        dx[...] = 0
    for n in range(n_):
        for i in range(oh_):
            for j in range(ow_):
                for a in range(kh):
                    h = i * sh - ph + a
                    if h < 0 or h >= h_:
                        continue
                    for b in range(kw):
                        w = j * sw - pw + b
                        if w < 0 or w >= w_:
                            continue
                        k = a * kw + b
                        if tiled:
                            for c in range(c_):
                                dx[n, h, w, c] = g[n, i, j, c] if arg[n, i, j, c] == k else 0
                        else:
                            for c in range(c_):
                                if arg[n, i, j, c] == k:
                                    dx[n, h, w, c] += g[n, i, j, c]


@njit(**_JIT)
def col2im_2d(cols, sh, sw, dh, dw, dst):  # type: ignore[no-untyped-def]
    """col2im, channels innermost: dst (N, Hp, Wp, C) += every window entry of cols
    (N, OH, OW, KH, KW, C) at the input element it was read from, dst[n, i*sh + a*dh,
    j*sw + b*dw, c] += cols[n, i, j, a, b, c]."""
    n_, oh_, ow_, kh, kw, c_ = cols.shape
    for n in range(n_):
        for i in range(oh_):
            for j in range(ow_):
                for a in range(kh):
                    for b in range(kw):
                        src, out = cols[n, i, j, a, b], dst[n, i * sh + a * dh, j * sw + b * dw]
                        for c in range(c_):
                            out[c] += src[c]


@njit(**_JIT)
def channel_sums(rows, out):  # type: ignore[no-untyped-def]
    """out (C,) float64 += the column sums of rows (M, C)."""
    m_, c_ = rows.shape
    for r in range(m_):
        for c in range(c_):
            out[c] += rows[r, c]


@njit(**_JIT)
def channel_squared_deviations(rows, mean, out):  # type: ignore[no-untyped-def]
    """out (C,) float64 += sum over rows of (rows - mean)^2, rows (M, C), mean (C,)."""
    m_, c_ = rows.shape
    for r in range(m_):
        for c in range(c_):
            d = np.float64(rows[r, c]) - mean[c]
            out[c] += d * d


@njit(**_JIT)
def channel_grad_sums(rows, grad, mean, out):  # type: ignore[no-untyped-def]
    """out (2, C) float64 += [sum(grad), sum(grad * (rows - mean))] per column; rows and
    grad (M, C), mean (C,)."""
    m_, c_ = rows.shape
    for r in range(m_):
        for c in range(c_):
            gv = np.float64(grad[r, c])
            out[0, c] += gv
            out[1, c] += gv * (np.float64(rows[r, c]) - mean[c])


@njit(**_JIT)
def scale_shift(rows, scale, shift, out):  # type: ignore[no-untyped-def]
    """out = rows * scale + shift per column; rows, out (M, C), scale and shift (C,)."""
    m_, c_ = rows.shape
    for r in range(m_):
        for c in range(c_):
            out[r, c] = rows[r, c] * scale[c] + shift[c]


@njit(**_JIT)
def batch_norm_input_grad(grad, rows, scale, slope, shift, out):  # type: ignore[no-untyped-def]
    """out = grad * scale - rows * slope + shift per column (BatchNorm's dx with batch
    statistics, see ``ops/norm.py``); all (M, C) but the (C,) coefficients."""
    m_, c_ = rows.shape
    for r in range(m_):
        for c in range(c_):
            out[r, c] = grad[r, c] * scale[c] - rows[r, c] * slope[c] + shift[c]


@njit(**_JIT)
def relu_grad(g, y, out):  # type: ignore[no-untyped-def]
    """out = g where y > 0, else 0; all 1-D of one length (ReLU's output y)."""
    for i in range(g.shape[0]):
        out[i] = g[i] if y[i] > 0 else 0


@njit(**_JIT)
def erf(x, out):  # type: ignore[no-untyped-def]
    """out = erf(x) element-wise (the C library's erf); both 1-D of one length."""
    for i in range(x.shape[0]):
        out[i] = math.erf(x[i])
