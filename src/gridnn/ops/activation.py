"""Smooth and piecewise activations of modern CNNs (MobileNetV3, EfficientNet, ConvNeXt) and
``Clip``: element-wise, any shape, each forward beside its backward.

    hardsigmoid(x) = clip(x / 6 + 1/2, 0, 1)        hardswish(x) = x * hardsigmoid(x)
    silu(x) = x * sigmoid(x)                         elu(x) = x if x > 0 else alpha (e**x - 1)
    softplus(x) = log(1 + e**(beta x)) / beta        prelu(x) = x if x > 0 else a_c x
    gelu(x) = x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2  (exact)
            ~ x * (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3))) / 2  (approximate='tanh')

``erf`` is the C library's ``erf``: with Numba (the ``fast`` extra) a compiled loop
(``kernels.erf``), else Python's ``math.erf`` per element (same numbers, slower).

With Numba, float32 clip, hardsigmoid, hardswish, SiLU and both GELUs run one compiled loop
each (``ops/kernels/``), in threads over the array's memory (``elementwise.pointwise``), in the
input's memory layout; their values agree with the NumPy passes to float32 rounding. So do
the backwards of hardsigmoid, hardswish, SiLU and both GELUs (the gradient copied into the
input's layout where it has another: one pass, where the NumPy formulas take three to ten).
Every forward keeps only its input for backward, and nothing when no gradient is wanted
(inference).
"""

from __future__ import annotations

import math
from typing import Any

from .._backend import xp
from ..autograd import Function
from .compiled import kernels
from .elementwise import float32_kernels, pointwise, sigmoid, unbroadcast

Array = Any


def erf(a: Array) -> Array:
    """The error function element-wise, in ``a``'s dtype."""
    k = kernels()
    if k is None or a.dtype not in (xp.float32, xp.float64):
        return xp.frompyfunc(math.erf, 1, 1)(a).astype(a.dtype, copy=False)
    x = xp.ascontiguousarray(a).reshape(-1)
    out = xp.empty_like(x)
    k.erf(x, out)
    return out.reshape(a.shape)


class Erf(Function):
    def forward(self, a: Array) -> Array:
        self.a = a
        return erf(a)

    def backward(self, g: Array) -> tuple[Array]:
        return (g * (2 / math.sqrt(math.pi)) * xp.exp(-self.a * self.a),)


def _compiled(a: Array, name: str, *more: Array, into: Array | None = None) -> Array | None:
    """The compiled loop ``kernels.<name>`` over ``a`` and ``more`` (a backward's gradient;
    see the module's docstring), or None: no Numba, not float32, or ``a`` a strided view.
    ``into``: see ``elementwise.pointwise``."""
    k = float32_kernels(a)
    return None if k is None else pointwise(a, getattr(k, name), *more, into=into)


def clip(a: Array, low: float | None, high: float | None, into: Array | None = None) -> Array:
    """min(max(a, low), high) element-wise (a bound of None is no bound) into a new array
    (or ``into``, see ``elementwise.pointwise``)."""
    k = float32_kernels(a)
    out = pointwise(a, (lambda x, o: k.clip(
        x, -math.inf if low is None else low, math.inf if high is None else high, o))
        if k is not None else (lambda x, o: xp.clip(x, low, high, out=o)), into=into)
    return xp.clip(a, low, high, out=into) if out is None else out


def hardswish(a: Array, into: Array | None = None) -> Array:
    """a * hardsigmoid(a) element-wise into a new array (or ``into``, see
    ``elementwise.pointwise``)."""
    out = _compiled(a, "hardswish", into=into)
    return xp.multiply(a, _hardsigmoid(a), out=into) if out is None else out


def hardsigmoid(a: Array, into: Array | None = None) -> Array:
    """clip(a + 3, 0, 6) / 6 element-wise into a new array (or ``into``, see
    ``elementwise.pointwise``)."""
    out = _compiled(a, "hardsigmoid", into=into)
    if out is None:
        out = _hardsigmoid(a)
        if into is not None:
            into[...] = out
            out = into
    return out


def silu(a: Array, into: Array | None = None) -> Array:
    """a * sigmoid(a) element-wise into a new array (or ``into``, see
    ``elementwise.pointwise``)."""
    out = _compiled(a, "silu", into=into)
    return xp.multiply(a, sigmoid(a), out=into) if out is None else out


class Clip(Function):
    """min(max(x, low), high) (either bound may be None), in threads (float32 through the
    compiled ``kernels.clip``); the gradient passes where x lies strictly inside the bounds,
    a mask made only when a gradient is wanted. ReLU6 is Clip(0, 6)."""

    def forward(self, a: Array, low: float | None, high: float | None) -> Array:
        if self.needs_grad[0]:
            self.inside = xp.ones(a.shape, bool) if low is None else a > low
            if high is not None:
                self.inside &= a < high
        return clip(a, low, high)

    def backward(self, g: Array) -> tuple[Array]:
        return (g * self.inside,)


class Hardsigmoid(Function):
    def forward(self, a: Array) -> Array:
        self.a = a if self.needs_grad[0] else None
        return hardsigmoid(a)

    def backward(self, g: Array) -> tuple[Array]:
        grad = _compiled(self.a, "hardsigmoid_grad", g)
        if grad is None:
            inside = (self.a > -3) & (self.a < 3)
            grad = g * inside * self.a.dtype.type(1 / 6)
        return (grad,)


def _hardsigmoid(a: Array) -> Array:
    """clip(a + 3, 0, 6) / 6: exact at -3 (a / 6 + 1/2 rounds there), as PyTorch computes."""
    return xp.clip(a + a.dtype.type(3), 0, 6) * a.dtype.type(1 / 6)


class Hardswish(Function):
    def forward(self, a: Array) -> Array:
        self.a = a if self.needs_grad[0] else None
        return hardswish(a)

    def backward(self, g: Array) -> tuple[Array]:
        a, t = self.a, self.a.dtype.type
        grad = _compiled(a, "hardswish_grad", g)
        if grad is None:
            grad = g * xp.where(a <= -3, t(0), xp.where(a >= 3, t(1), a * t(1 / 3) + t(0.5)))
        return (grad,)


class SiLU(Function):
    def forward(self, a: Array) -> Array:
        self.a = a if self.needs_grad[0] else None
        return silu(a)

    def backward(self, g: Array) -> tuple[Array]:
        grad = _compiled(self.a, "silu_grad", g)
        if grad is None:
            s = sigmoid(self.a)
            grad = g * s * (1 + self.a * (1 - s))
        return (grad,)


class GELU(Function):
    def forward(self, a: Array, approximate: str) -> Array:
        self.a = a if self.needs_grad[0] else None
        self.tanh = approximate == "tanh"
        out = _compiled(a, "gelu_tanh" if self.tanh else "gelu_erf")
        if out is not None:
            return out
        if self.tanh:
            return a.dtype.type(0.5) * a * (1 + _gelu_tanh(a))
        return a * _normal_cdf(a)

    def backward(self, g: Array) -> tuple[Array]:
        a, t = self.a, self.a.dtype.type
        grad = _compiled(a, "gelu_tanh_grad" if self.tanh else "gelu_erf_grad", g)
        if grad is not None:
            return (grad,)
        if self.tanh:
            k, th = t(math.sqrt(2 / math.pi)), _gelu_tanh(a)
            inner = k * (1 + t(3 * 0.044715) * a * a)
            return (g * t(0.5) * (1 + th + a * (1 - th * th) * inner),)
        pdf = t(1 / math.sqrt(2 * math.pi)) * xp.exp(t(-0.5) * a * a)
        return (g * (_normal_cdf(a) + a * pdf),)


def _gelu_tanh(a: Array) -> Array:
    """tanh(sqrt(2/pi) (a + 0.044715 a**3)): (1 + that) / 2 approximates Phi(a)."""
    t = a.dtype.type
    return xp.tanh(t(math.sqrt(2 / math.pi)) * (a + t(0.044715) * a * a * a))


def _normal_cdf(a: Array) -> Array:
    """Phi(a) = (1 + erf(a / sqrt 2)) / 2."""
    t = a.dtype.type
    return t(0.5) * (1 + erf(a * t(1 / math.sqrt(2))))


class ELU(Function):
    def forward(self, a: Array, alpha: float) -> Array:
        t = a.dtype.type
        self.pos = a > 0
        self.neg = t(alpha) * xp.exp(xp.minimum(a, 0))  # alpha e**x where x <= 0
        return xp.where(self.pos, a, self.neg - t(alpha))

    def backward(self, g: Array) -> tuple[Array]:
        return (g * xp.where(self.pos, g.dtype.type(1), self.neg),)


class Softplus(Function):
    """log(1 + e**(beta x)) / beta, and x itself where beta x > threshold (as PyTorch)."""

    def forward(self, a: Array, beta: float, threshold: float) -> Array:
        t = a.dtype.type
        z = a * t(beta)
        self.linear, self.z = z > threshold, z
        soft = (xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))) / t(beta)
        return xp.where(self.linear, a, soft)

    def backward(self, g: Array) -> tuple[Array]:
        half = g.dtype.type(0.5)
        sig = half * (1 + xp.tanh(half * self.z))
        return (g * xp.where(self.linear, g.dtype.type(1), sig),)


class PReLU(Function):
    """x where x > 0, else weight * x; ``weight`` (C,) per channel of axis 1, or (1,)."""

    def forward(self, a: Array, w: Array) -> Array:
        shape = (-1,) + (1,) * (a.ndim - 2) if a.ndim > 1 and w.size > 1 else (-1,)
        self.a, self.w = a, w.reshape(shape) if w.size > 1 else w.reshape(())
        self.w_shape = w.shape
        return xp.where(a > 0, a, self.w * a)

    def backward(self, g: Array) -> tuple[Array | None, ...]:
        pos = self.a > 0
        gx = xp.where(pos, g, self.w * g) if self.needs_grad[0] else None
        gw = None
        if self.needs_grad[1]:
            gw = unbroadcast(xp.where(pos, 0, g * self.a), xp.shape(self.w))
            gw = gw.reshape(self.w_shape)
        return gx, gw
