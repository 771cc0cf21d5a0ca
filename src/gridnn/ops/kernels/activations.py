"""The compiled float32 activations and LayerNorm's rows (see the package's docstring)."""

from __future__ import annotations

import numpy as np
from numba import njit

from .loops import _JIT

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
    """out = x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2: the exact GELU. The second loop
    recomputes t and the exponent rather than keeping them in an array: an allocation here
    would need Numba's runtime (and Numba) in every process that runs the kernel."""
    for s in range(0, x.shape[0], _BLOCK):
        xb, ob, bb = x[s:s + _BLOCK], out[s:s + _BLOCK], bits[s:s + _BLOCK]
        for i in range(xb.shape[0]):
            bb[i] = _two_k(_erfc_arg(xb[i], _erfc_t(xb[i])))
        for i in range(xb.shape[0]):
            v = xb[i]
            t = _erfc_t(v)
            tail = _F(0.5) * t * _exp(_erfc_arg(v, t), ob[i])  # Phi(-|v|); ob[i] is 2**k
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
