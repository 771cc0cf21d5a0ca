"""Element-wise ops. Binary ops broadcast; backward sums the gradient back to each input shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._backend import xp
from ..autograd import Function
from .compiled import kernels
from .workspace import parallel_slices

Array = Any


def pointwise(a: Array, fn: Callable[..., Any], *more: Array, into: Array | None = None
              ) -> Array | None:
    """``fn(x, *m, out)`` on consecutive 1-D pieces of ``a``'s memory, of each array of
    ``more`` (a backward's gradient, of ``a``'s shape and dtype; copied into ``a``'s layout
    first where it has another) and of a new array laid out as ``a`` (a channels-last map
    stays channels-last), in threads (``parallel_slices``) when its first axis holds at least
    as many samples as there are threads; the new array. None when ``a`` is not one dense
    block of memory in some order of its axes (a strided view) or ``more`` differs in shape or
    dtype: the caller runs its whole-array NumPy code. ``into``: write there instead, in this
    thread; ``a`` and ``into`` C-contiguous, of one shape, not overlapping (a block of a
    convolution's output, already split over threads: ``ConvNd``'s ``then``). In place the
    compiled loops ran 6x slower: LLVM's vector code checks that input and output do not
    overlap."""
    if any(m.shape != a.shape or m.dtype != a.dtype for m in more):
        return None
    if into is not None or a.flags.c_contiguous:  # the common cases first: a few
        # microseconds count at batch 1
        out = xp.empty(a.shape, a.dtype) if into is None else into
        srcs = [xp.ascontiguousarray(m).reshape(-1) for m in (a, *more)]
        dst = out.reshape(-1)
    else:
        order = sorted(range(a.ndim), key=lambda d: -a.strides[d])
        dense = a.transpose(order)
        if not dense.flags.c_contiguous:
            return None
        buf = xp.empty(dense.shape, a.dtype)
        srcs = [xp.ascontiguousarray(m.transpose(order)).reshape(-1) for m in (a, *more)]
        dst = buf.reshape(-1)
        inverse = [0] * a.ndim
        for i, d in enumerate(order):
            inverse[d] = i
        out = buf.transpose(inverse)
    parallel_slices(dst.size, (2 + len(more)) * dst.size,
                    lambda lo, hi: fn(*(m[lo:hi] for m in srcs), dst[lo:hi]),
                    a.shape[0] if a.ndim and into is None else 1)
    return out


def float32_kernels(a: Array) -> Any:
    """The compiled kernels for a float32 array (``ops.kernels``' element-wise activations
    take float32 only), else None: the NumPy passes."""
    return kernels() if a.dtype == xp.float32 else None


def unbroadcast(grad: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach its shape."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


class Add(Function):
    def forward(self, a: Array, b: Array) -> Array:
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, g: Array) -> tuple[Array | None, ...]:
        sa, sb = self.shapes
        return unbroadcast(g, sa), unbroadcast(g, sb)


class Sub(Function):
    def forward(self, a: Array, b: Array) -> Array:
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, g: Array) -> tuple[Array | None, ...]:
        sa, sb = self.shapes
        return unbroadcast(g, sa), unbroadcast(-g, sb) if self.needs_grad[1] else None


class Mul(Function):
    def forward(self, a: Array, b: Array) -> Array:
        # each input's gradient needs only the other input
        self.a, self.b = a if self.needs_grad[1] else None, b if self.needs_grad[0] else None
        self.shapes = a.shape, b.shape
        return a * b

    def backward(self, g: Array) -> tuple[Array | None, ...]:
        sa, sb = self.shapes
        ga = unbroadcast(g * self.b, sa) if self.needs_grad[0] else None
        gb = unbroadcast(g * self.a, sb) if self.needs_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a: Array, b: Array) -> Array:
        self.a, self.b = (a, b) if any(self.needs_grad) else (None, None)
        self.shapes = a.shape, b.shape
        return a / b

    def backward(self, g: Array) -> tuple[Array | None, ...]:
        sa, sb = self.shapes
        ga = unbroadcast(g / self.b, sa) if self.needs_grad[0] else None
        gb = None
        if self.needs_grad[1]:
            gb = unbroadcast(-g * self.a / (self.b * self.b), sb)
        return ga, gb


class PowScalar(Function):
    """x ** p for a constant exponent p."""

    def forward(self, a: Array, exponent: float) -> Array:
        self.a, self.p = a, exponent
        return a ** a.dtype.type(exponent)

    def backward(self, g: Array) -> tuple[Array | None, ...]:
        p = self.a.dtype.type(self.p)
        return (g * p * self.a ** (p - 1),)


class Pow(Function):
    """a ** b for tensors; d/db uses log(a), so a must be positive where b needs a gradient."""

    def forward(self, a: Array, b: Array) -> Array:
        self.a, self.b = a, b
        self.out = a**b
        return self.out

    def backward(self, g: Array) -> tuple[Array | None, ...]:
        ga = gb = None
        if self.needs_grad[0]:
            ga = unbroadcast(g * self.b * self.a ** (self.b - 1), self.a.shape)
        if self.needs_grad[1]:
            gb = unbroadcast(g * self.out * xp.log(self.a), self.b.shape)
        return ga, gb


class Neg(Function):
    def forward(self, a: Array) -> Array:
        return -a

    def backward(self, g: Array) -> tuple[Array]:
        return (-g,)


class Cast(Function):
    def forward(self, a: Array, dtype: Any) -> Array:
        self.src = a.dtype
        return a.astype(dtype)

    def backward(self, g: Array) -> tuple[Array]:
        return (g.astype(self.src),)


class Exp(Function):
    def forward(self, a: Array) -> Array:
        self.out = xp.exp(a)
        return self.out

    def backward(self, g: Array) -> tuple[Array]:
        return (g * self.out,)


class Log(Function):
    def forward(self, a: Array) -> Array:
        self.a = a
        return xp.log(a)

    def backward(self, g: Array) -> tuple[Array]:
        return (g / self.a,)


class Sqrt(Function):
    def forward(self, a: Array) -> Array:
        self.out = xp.sqrt(a)
        return self.out

    def backward(self, g: Array) -> tuple[Array]:
        return (g / (2 * self.out),)


class Abs(Function):
    def forward(self, a: Array) -> Array:
        self.a = a
        return xp.abs(a)

    def backward(self, g: Array) -> tuple[Array]:
        return (g * xp.sign(self.a),)


class ReLU(Function):
    """max(x, 0), split over threads (``pointwise``; over the leading axis for a strided
    view); outputs keep the input's memory layout. With Numba, float32 runs the compiled
    ``kernels.clip`` (NumPy's maximum took 1 ns an element here, the loop a fifth of that).
    Backward passes the gradient where the output is positive: with Numba one loop
    (``kernels.relu_grad``) reads the output itself; NumPy multiplies by the mask
    ``output > 0``. Only the output is kept, and only when a gradient is wanted."""

    def forward(self, a: Array) -> Array:
        self.kernels = kernels() if a.ndim else None
        out = relu(a)
        self.out = out if self.needs_grad[0] else None
        return out

    def backward(self, g: Array) -> tuple[Array]:
        out, y = xp.empty_like(g), self.out
        k, n = self.kernels, g.shape[0] if g.ndim else 1
        if k is not None and g.strides == y.strides == out.strides and (
                y.strides[0] == max(y.strides)):
            # One dense layout (``out`` is new), the batch axis outermost: every slice of the
            # three arrays is one block of memory, and the blocks line up element for element.
            # (On strided views a compiled loop was 20x slower than NumPy's multiply below.)
            parallel_slices(n, g.size, lambda lo, hi: k.relu_grad(
                g[lo:hi].ravel("K"), y[lo:hi].ravel("K"), out[lo:hi].ravel("K")))
            return (out,)
        parallel_slices(n, g.size, lambda lo, hi: xp.multiply(
            _rows(g, lo, hi), _rows(y, lo, hi) > 0, out=_rows(out, lo, hi)))
        return (out,)


def relu(a: Array, into: Array | None = None) -> Array:
    """max(a, 0) element-wise into a new array (or ``into``, see ``pointwise``)."""
    k = float32_kernels(a)
    out = pointwise(a, (lambda x, o: k.clip(x, 0.0, xp.inf, o)) if k is not None else
                    (lambda x, o: xp.maximum(x, 0, out=o)), into=into)
    if out is None:
        out = xp.empty_like(a)
        parallel_slices(a.shape[0], a.size, lambda lo, hi: xp.maximum(
            _rows(a, lo, hi), 0, out=_rows(out, lo, hi)))
    return out


def _rows(a: Array, lo: int, hi: int) -> Array:
    """Rows lo:hi of ``a`` along its first axis (a 0-d array is its own single row)."""
    return a[lo:hi] if a.ndim else a


class LeakyReLU(Function):
    def forward(self, a: Array, negative_slope: float) -> Array:
        self.slope = xp.where(a > 0, a.dtype.type(1), a.dtype.type(negative_slope))
        return a * self.slope

    def backward(self, g: Array) -> tuple[Array]:
        return (g * self.slope,)


class Sigmoid(Function):
    """Backward from the output y: g y (1 - y), one compiled loop for float32
    (``pointwise``)."""

    def forward(self, a: Array) -> Array:
        out = sigmoid(a)
        self.out = out if self.needs_grad[0] else None
        return out

    def backward(self, g: Array) -> tuple[Array]:
        k, y = float32_kernels(self.out), self.out
        grad = None if k is None else pointwise(y, k.sigmoid_grad, g)
        return (g * y * (1 - y) if grad is None else grad,)


def sigmoid(a: Array, into: Array | None = None) -> Array:
    """1 / (1 + e**-a) element-wise: the compiled loop in threads for float32, else NumPy's
    0.5 (1 + tanh(a/2)), the same value, which never overflows. ``into``: see ``pointwise``."""
    k = float32_kernels(a)
    out = None if k is None else pointwise(a, k.sigmoid, into=into)
    if out is None:
        half = a.dtype.type(0.5)
        out = xp.multiply(half, 1 + xp.tanh(half * a), out=into)
    return out


class Tanh(Function):
    def forward(self, a: Array) -> Array:
        self.out = xp.tanh(a)
        return self.out

    def backward(self, g: Array) -> tuple[Array]:
        return (g * (1 - self.out * self.out),)


class Where(Function):
    """where(cond, a, b): a where cond is true, else b. cond is a constant boolean array."""

    def forward(self, a: Array, b: Array, cond: Array) -> Array:
        self.cond, self.shapes = cond, (a.shape, b.shape)
        return xp.where(cond, a, b)

    def backward(self, g: Array) -> tuple[Array | None, ...]:
        sa, sb = self.shapes
        zero = g.dtype.type(0)
        ga = unbroadcast(xp.where(self.cond, g, zero), sa) if self.needs_grad[0] else None
        gb = unbroadcast(xp.where(self.cond, zero, g), sb) if self.needs_grad[1] else None
        return ga, gb
