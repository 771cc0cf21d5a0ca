"""Compiled loops (Numba) for the ops whose NumPy versions pass over memory several times.

Max pooling's backward in NumPy compares every window offset with the output and masks
(four passes per offset); BatchNorm's backward makes three passes and two BLAS sums; ReLU's
backward multiplies by a stored mask; col2im adds one strided view per kernel offset, each a
NumPy call over short runs of channels. Here each is one loop that reads its inputs once, as
the formulas in ``ops/pool.py`` and ``ops/norm.py`` say. The ops call a kernel on a slice of the
batch (or of the rows) per thread (``workspace.parallel_slices``); ``nogil`` lets the threads
run at once. Sums accumulate in float64 whatever the data's dtype.

Imported only through ``ops.compiled.kernels()``: this module needs Numba. Compiled code is
cached on disk (Numba's ``cache=True``), so only the first run on a machine compiles.
"""

from __future__ import annotations

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
def depthwise_2d(xpad, w, bias, sh, sw, dh, dw, r0, r1, out):  # type: ignore[no-untyped-def]
    """Depthwise convolution, channels innermost, output rows r0..r1 of the (N * OH) rows:
    out[n, i, j, c] = bias[c] + sum over (a, b) of xpad[n, i*sh + a*dh, j*sw + b*dw, c]
    * w[a, b, c]; xpad (N, Hp, Wp, C) padded, w (KH, KW, C), bias (C,), out (N, OH, OW, C)."""
    oh_, ow_, c_ = out.shape[1], out.shape[2], out.shape[3]
    kh, kw = w.shape[0], w.shape[1]
    for r in range(r0, r1):
        n, i = r // oh_, r % oh_
        for j in range(ow_):
            for c in range(c_):
                out[n, i, j, c] = bias[c]
        for a in range(kh):  # one kernel offset over the whole output row: runs of W * C
            h = i * sh + a * dh
            for b in range(kw):
                for j in range(ow_):
                    q = j * sw + b * dw
                    for c in range(c_):
                        out[n, i, j, c] += xpad[n, h, q, c] * w[a, b, c]


@njit(**_JIT)
def depthwise_2d_weight_grad(xpad, g, sh, sw, dh, dw, out):  # type: ignore[no-untyped-def]
    """out (KH, KW, C) float64 += sum over (n, i, j) of g[n, i, j, c] * xpad[n, i*sh + a*dh,
    j*sw + b*dw, c]; g (N, OH, OW, C)."""
    n_, oh_, ow_, c_ = g.shape
    kh, kw = out.shape[0], out.shape[1]
    for n in range(n_):
        for i in range(oh_):
            for j in range(ow_):
                gv = g[n, i, j]
                for a in range(kh):
                    for b in range(kw):
                        src, o = xpad[n, i * sh + a * dh, j * sw + b * dw], out[a, b]
                        for c in range(c_):
                            o[c] += np.float64(gv[c]) * src[c]


@njit(**_JIT)
def depthwise_2d_input_grad(g, w, sh, sw, dh, dw, r0, r1, dxpad):  # type: ignore[no-untyped-def]
    """The gradient on the padded input, rows r0..r1 of its (N * Hp) rows, gathered (every
    element written once, so row slices never collide): dxpad[n, p, q, c] = sum of g[n, i, j,
    c] * w[a, b, c] over the (i, j, a, b) with i*sh + a*dh = p and j*sw + b*dw = q."""
    oh_, ow_, c_ = g.shape[1], g.shape[2], g.shape[3]
    hp_, wp_ = dxpad.shape[1], dxpad.shape[2]
    kh, kw = w.shape[0], w.shape[1]
    for r in range(r0, r1):
        n, p = r // hp_, r % hp_
        for q in range(wp_):
            o = dxpad[n, p, q]
            for c in range(c_):
                o[c] = 0
            for a in range(kh):
                t = p - a * dh
                if t < 0 or t % sh != 0 or t // sh >= oh_:
                    continue
                i = t // sh
                for b in range(kw):
                    u = q - b * dw
                    if u < 0 or u % sw != 0 or u // sw >= ow_:
                        continue
                    gv, wk = g[n, i, u // sw], w[a, b]
                    for c in range(c_):
                        o[c] += gv[c] * wk[c]



# element-wise activations
# float32 only, on 1-D slices of dense memory. Numba calls the C library's exp per element (no
# vector maths library here), 10x slower than NumPy's SIMD exp; so exp is written out: e**v =
# 2**k e**r with k = round(v / ln 2), r = v - k ln 2 (ln 2 in two parts, as Cephes' expf) and
# a polynomial for e**r. A first loop writes 2**k's bits into ``out`` through ``bits`` (the
# caller's int32 view of it: Numba's own view is strided, which LLVM gathers and scatters), a
# second finishes the op, a block at a time so both stay in L1; LLVM vectorises each.

_F = np.float32
# a division by zero gives inf, as in NumPy, instead of a check that stops vectorisation
_JIT_VEC = {**_JIT, "error_model": "numpy", "fastmath": {"contract"}}
_BLOCK = 2048
_SHIFT = _F(12582912.0)  # 1.5 * 2**23: (v + _SHIFT) - _SHIFT rounds v to an integer
_LOG2E, _LN2_HI, _LN2_LO = _F(1.4426950408889634), _F(0.693359375), _F(-2.12194440e-4)
_SQRT_HALF, _GELU_K, _GELU_C = _F(0.7071067811865476), _F(0.7978845608028654), _F(0.044715)


@njit(**_JIT_VEC)
def _clip(v, low, high):  # type: ignore[no-untyped-def]
    """v clipped to [low, high]; NaN stays NaN (Numba's max(NaN, low) is low)."""
    return low if v < low else high if v > high else v


@njit(**_JIT_VEC)
def _two_k(v):  # type: ignore[no-untyped-def]
    """The int32 bits of 2**k, k = round(v / ln 2), v clipped to float32 exp's range."""
    v = _clip(v, _F(-87.0), _F(88.0))
    return (np.int32((v * _LOG2E + _SHIFT) - _SHIFT) + 127) << 23


@njit(**_JIT_VEC)
def _exp(v, two_k):  # type: ignore[no-untyped-def]
    """e**v given 2**k from ``_two_k(v)``: 2**k e**r, e**r by Cephes' expf polynomial."""
    v = _clip(v, _F(-87.0), _F(88.0))
    k = (v * _LOG2E + _SHIFT) - _SHIFT
    r = v - k * _LN2_HI - k * _LN2_LO
    p = ((((_F(1.9875691500e-4) * r + _F(1.3981999507e-3)) * r + _F(8.3334519073e-3)) * r
          + _F(4.1665795894e-2)) * r + _F(1.6666665459e-1)) * r + _F(5.0000001201e-1)
    return (p * r * r + r + _F(1)) * two_k


@njit(**_JIT_VEC)
def _gelu_tanh_arg(v):  # type: ignore[no-untyped-def]
    """-2y, y = sqrt(2/pi) (v + 0.044715 v**3): v (1 + tanh(y)) / 2 = v / (1 + e**(-2y))."""
    return _F(-2) * _GELU_K * (v + _GELU_C * v * v * v)


@njit(**_JIT_VEC)
def _erfc_t(v):  # type: ignore[no-untyped-def]
    return _F(1) / (_F(1) + _F(0.5) * _SQRT_HALF * abs(v))


@njit(**_JIT_VEC)
def _erfc_arg(v, t):  # type: ignore[no-untyped-def]
    """-z**2 + P(t), z = |v| / sqrt 2, t = 1 / (1 + z/2): erfc(z) = t e**(that), the Chebyshev
    fit of Numerical Recipes (2nd ed., 6.2), relative error below 1.2e-7 for every z >= 0."""
    p = ((((((((_F(0.17087277) * t + _F(-0.82215223)) * t + _F(1.48851587)) * t
              + _F(-1.13520398)) * t + _F(0.27886807)) * t + _F(-0.18628806)) * t
           + _F(0.09678418)) * t + _F(0.37409196)) * t + _F(1.00002368)) * t + _F(-1.26551223)
    return p - _F(0.5) * v * v


@njit(**_JIT_VEC)
def sigmoid(x, out, bits):  # type: ignore[no-untyped-def]
    """out = 1 / (1 + e**-x)."""
    for s in range(0, x.shape[0], _BLOCK):  # loops from 0: no negative-index wraparound
        xb, ob, bb = x[s:s + _BLOCK], out[s:s + _BLOCK], bits[s:s + _BLOCK]
        for i in range(xb.shape[0]):
            bb[i] = _two_k(-xb[i])
        for i in range(xb.shape[0]):
            ob[i] = _F(1) / (_F(1) + _exp(-xb[i], ob[i]))


@njit(**_JIT_VEC)
def silu(x, out, bits):  # type: ignore[no-untyped-def]
    """out = x / (1 + e**-x)."""
    for s in range(0, x.shape[0], _BLOCK):  # loops from 0: no negative-index wraparound
        xb, ob, bb = x[s:s + _BLOCK], out[s:s + _BLOCK], bits[s:s + _BLOCK]
        for i in range(xb.shape[0]):
            bb[i] = _two_k(-xb[i])
        for i in range(xb.shape[0]):
            ob[i] = xb[i] / (_F(1) + _exp(-xb[i], ob[i]))


@njit(**_JIT_VEC)
def gelu_tanh(x, out, bits):  # type: ignore[no-untyped-def]
    """out = x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3))) / 2."""
    for s in range(0, x.shape[0], _BLOCK):  # loops from 0: no negative-index wraparound
        xb, ob, bb = x[s:s + _BLOCK], out[s:s + _BLOCK], bits[s:s + _BLOCK]
        for i in range(xb.shape[0]):
            bb[i] = _two_k(_gelu_tanh_arg(xb[i]))
        for i in range(xb.shape[0]):
            ob[i] = xb[i] / (_F(1) + _exp(_gelu_tanh_arg(xb[i]), ob[i]))


@njit(**_JIT_VEC)
def gelu_erf(x, out, bits):  # type: ignore[no-untyped-def]
    """out = x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2: the exact GELU."""
    keep = np.empty((2, _BLOCK), np.float32)  # t and the exponent, made once per element
    for s in range(0, x.shape[0], _BLOCK):
        xb, ob, bb = x[s:s + _BLOCK], out[s:s + _BLOCK], bits[s:s + _BLOCK]
        tb, ab = keep[0], keep[1]
        for i in range(xb.shape[0]):
            tb[i] = _erfc_t(xb[i])
            ab[i] = _erfc_arg(xb[i], tb[i])
            bb[i] = _two_k(ab[i])
        for i in range(xb.shape[0]):
            v = xb[i]
            tail = _F(0.5) * tb[i] * _exp(ab[i], ob[i])  # Phi(-|v|)
            ob[i] = v * (tail if v <= 0 else _F(1) - tail)


@njit(**_JIT_VEC)
def hardswish(x, out):  # type: ignore[no-untyped-def]
    """out = x clip(x + 3, 0, 6) / 6."""
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = v * _clip(v + _F(3), _F(0), _F(6)) * _F(1 / 6)


@njit(**_JIT_VEC)
def hardsigmoid(x, out):  # type: ignore[no-untyped-def]
    """out = clip(x + 3, 0, 6) / 6."""
    for i in range(x.shape[0]):
        out[i] = _clip(x[i] + _F(3), _F(0), _F(6)) * _F(1 / 6)


@njit(**{**_JIT_VEC, "fastmath": {"contract", "reassoc"}})  # sums in any order: vectorised
def normalize_rows(x, eps, out, invstd):  # type: ignore[no-untyped-def]
    """LayerNorm's rows: out[r] = (x[r] - mean) / sqrt(var + eps) over each row of x (M, K),
    mean and (biased) var summed in float64; invstd (M,) gets 1 / sqrt(var + eps)."""
    m_, k_ = x.shape
    for r in range(m_):
        row, total = x[r], 0.0
        for c in range(k_):
            total += row[c]
        mean = total / k_
        squares = 0.0
        for c in range(k_):
            d = row[c] - mean
            squares += d * d
        inv = 1.0 / np.sqrt(squares / k_ + eps)
        invstd[r] = inv
        o, m, s = out[r], x.dtype.type(mean), x.dtype.type(inv)
        for c in range(k_):
            o[c] = (row[c] - m) * s


@njit(**_JIT_VEC)
def clip(x, low, high, out):  # type: ignore[no-untyped-def]
    """out = x clipped to [low, high] (ReLU: [0, inf], ReLU6: [0, 6]); NaN stays NaN. NumPy's
    maximum and clip here take 1 ns an element, this loop a fifth of that."""
    lo, hi = x.dtype.type(low), x.dtype.type(high)
    for i in range(x.shape[0]):
        out[i] = _clip(x[i], lo, hi)
