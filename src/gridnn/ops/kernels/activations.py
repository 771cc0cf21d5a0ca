"""The compiled float32 activations and LayerNorm's rows (see the package's docstring)."""

from __future__ import annotations

import numpy as np
from numba import njit

from .loops import _JIT

# element-wise activations
# float32 only, on 1-D slices of dense memory. Numba calls the C library's exp per element (no
# vector maths library here), which LLVM cannot vectorise; so exp is written out (``_exp``),
# one loop per op, each vectorised by LLVM (16 floats a step with AVX-512).

_F = np.float32
# a division by zero gives inf, as in NumPy, instead of a check that stops vectorisation
_JIT_VEC = {**_JIT, "error_model": "numpy", "fastmath": {"contract"}}
# 1.5 * 2**23 + 127: v + _SHIFT rounds v to an integer k and holds k + 127 in its low bits
_SHIFT = _F(12582912.0 + 127)
_LOG2E, _LN2_HI, _LN2_LO = _F(1.4426950408889634), _F(0.693359375), _F(-2.12194440e-4)
# e**r = 1 + r + r**2 P(r) on |r| <= ln(2) / 2: P of degree 4 fitted (Lawson's iteration,
# float64) to the least largest relative error of e**r, 3e-9, well under float32's rounding
_P4, _P3, _P2, _P1, _P0 = (_F(0.0013814601), _F(0.008368707), _F(0.04166839),
                           _F(0.16666521), _F(0.49999994))
_SQRT_HALF, _GELU_K, _GELU_C = _F(0.7071067811865476), _F(0.7978845608028654), _F(0.044715)


@njit(**_JIT_VEC)
def _clip(v, low, high):  # type: ignore[no-untyped-def]
    """v clipped to [low, high]; NaN stays NaN (Numba's max(NaN, low) is low). One bound
    after the other: LLVM makes each a vmaxps / vminps (nested, three instructions more)."""
    v = low if v < low else v
    return high if v > high else v


@njit(**_JIT_VEC)
def _exp(v):  # type: ignore[no-untyped-def]
    """e**v = 2**k e**r, k = round(v / ln 2), r = v - k ln 2 (ln 2 in two parts, the first
    exact times any k here), within 1.01 ulp (every 13th float32 of [-87.3, 88.3] tried).
    2**k is made from its bits, k + 127 shifted into the exponent field: no libm call, so
    the loops around it vectorise. v is clipped to [-87.3, 88.8]: below, e**v is FLT_MIN's
    size (not subnormal or 0); from 88.4 on, k = 128 and the bits are inf's (e**v is inf
    from 88.72), so 1 / (1 + e**v) is exactly 0. NaN stays NaN (through r)."""
    v = _clip(v, _F(-87.3), _F(88.8))
    shifted = v * _LOG2E + _SHIFT
    k = shifted - _SHIFT
    r = v - k * _LN2_HI - k * _LN2_LO
    p = (((_P4 * r + _P3) * r + _P2) * r + _P1) * r + _P0
    two_k = np.int32(np.float32(shifted).view(np.int32) << 23).view(np.float32)
    return (p * r * r + r + _F(1)) * two_k


@njit(**_JIT_VEC)
def _sigmoid(v):  # type: ignore[no-untyped-def]
    return _F(1) / (_F(1) + _exp(-v))


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
def sigmoid(x, out):  # type: ignore[no-untyped-def]
    """out = 1 / (1 + e**-x)."""
    for i in range(x.shape[0]):
        out[i] = _sigmoid(x[i])


@njit(**_JIT_VEC)
def silu(x, out):  # type: ignore[no-untyped-def]
    """out = x / (1 + e**-x)."""
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = v / (_F(1) + _exp(-v))


@njit(**_JIT_VEC)
def gelu_tanh(x, out):  # type: ignore[no-untyped-def]
    """out = x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3))) / 2."""
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = v / (_F(1) + _exp(_gelu_tanh_arg(v)))


@njit(**_JIT_VEC)
def gelu_erf(x, out):  # type: ignore[no-untyped-def]
    """out = x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2: the exact GELU."""
    for i in range(x.shape[0]):
        v = x[i]
        t = _erfc_t(v)
        tail = _F(0.5) * t * _exp(_erfc_arg(v, t))  # Phi(-|v|)
        out[i] = v * (tail if v <= 0 else _F(1) - tail)


@njit(**_JIT_VEC)
def sigmoid_grad(y, g, out):  # type: ignore[no-untyped-def]
    """out = g y (1 - y), y = sigmoid(x): sigmoid's backward from its output."""
    for i in range(y.shape[0]):
        out[i] = g[i] * y[i] * (_F(1) - y[i])


@njit(**_JIT_VEC)
def silu_grad(x, g, out):  # type: ignore[no-untyped-def]
    """out = g s (1 + x (1 - s)), s = sigmoid(x): SiLU's backward."""
    for i in range(x.shape[0]):
        v = x[i]
        s = _sigmoid(v)
        out[i] = g[i] * s * (_F(1) + v * (_F(1) - s))


@njit(**_JIT_VEC)
def gelu_tanh_grad(x, g, out):  # type: ignore[no-untyped-def]
    """out = g (s + 2 x s (1 - s) sqrt(2/pi) (1 + 3 0.044715 x**2)), s = (1 + tanh(y)) / 2 =
    sigmoid(2y), y as in ``gelu_tanh``: its backward, 1 - tanh(y)**2 written as 4 s (1 - s)."""
    for i in range(x.shape[0]):
        v = x[i]
        s = _F(1) / (_F(1) + _exp(_gelu_tanh_arg(v)))
        inner = _GELU_K * (_F(1) + _F(3) * _GELU_C * v * v)
        out[i] = g[i] * (s + _F(2) * v * s * (_F(1) - s) * inner)


@njit(**_JIT_VEC)
def gelu_erf_grad(x, g, out):  # type: ignore[no-untyped-def]
    """out = g (Phi(x) + x phi(x)), phi(x) = e**(-x**2 / 2) / sqrt(2 pi): the exact GELU's
    backward."""
    for i in range(x.shape[0]):
        v = x[i]
        t = _erfc_t(v)
        tail = _F(0.5) * t * _exp(_erfc_arg(v, t))
        pdf = _F(0.3989422804014327) * _exp(_F(-0.5) * v * v)
        out[i] = g[i] * ((tail if v <= 0 else _F(1) - tail) + v * pdf)


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


@njit(**_JIT_VEC)
def hardswish_grad(x, g, out):  # type: ignore[no-untyped-def]
    """out = g times hardswish's slope: 0 to x = -3, x / 3 + 1/2 inside, 1 from x = 3."""
    for i in range(x.shape[0]):
        v = x[i]
        slope = _F(0) if v <= -3 else _F(1) if v >= 3 else v * _F(1 / 3) + _F(0.5)
        out[i] = g[i] * slope


@njit(**_JIT_VEC)
def hardsigmoid_grad(x, g, out):  # type: ignore[no-untyped-def]
    """out = g / 6 strictly inside (-3, 3), else g * 0."""
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = g[i] * (_F(1 / 6) if v > -3 and v < 3 else _F(0))


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
