"""Reductions over axes (sum, mean, max) and the softmax family."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._backend import xp
from ..autograd import Function
from ..errors import ArgumentError, ArgumentTypeError

Array = Any


def check_axis(axis: int, ndim: int, op: str) -> int:
    """A valid axis in [0, ndim), accepting negative axes."""
    if not isinstance(axis, (int, xp.integer)) or isinstance(axis, bool):
        raise ArgumentTypeError(f"{op}: axis must be an int, received {axis!r}")
    if not -max(ndim, 1) <= axis < max(ndim, 1):
        raise ArgumentError(f"{op}: axis {axis} is out of range for a {ndim}-D tensor")
    return int(axis) % max(ndim, 1)


def normalize_axes(axis: int | Sequence[int] | None, ndim: int, op: str) -> tuple[int, ...]:
    """Sorted, non-negative, distinct axes; None means all axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, xp.integer)) else tuple(axis)
    out = tuple(sorted(check_axis(a, ndim, op) for a in axes))
    if len(set(out)) != len(out):
        raise ArgumentError(f"{op}: repeated axis in {axis!r}")
    return out


def _expand(g: Array, shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> Array:
    """Broadcastable view of a reduced gradient against the input shape."""
    if not keepdims:
        g = g.reshape([1 if i in axes else n for i, n in enumerate(shape)])
    return g


class Sum(Function):
    def forward(self, a: Array, axis: tuple[int, ...], keepdims: bool) -> Array:
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        return xp.asarray(a.sum(axis=axis, keepdims=keepdims))

    def backward(self, g: Array) -> tuple[Array]:
        return (xp.broadcast_to(_expand(g, self.shape, self.axis, self.keepdims), self.shape),)


class Mean(Function):
    def forward(self, a: Array, axis: tuple[int, ...], keepdims: bool) -> Array:
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        self.count = int(xp.prod([a.shape[i] for i in axis])) if axis else 1
        return xp.asarray(a.mean(axis=axis, keepdims=keepdims))

    def backward(self, g: Array) -> tuple[Array]:
        g = _expand(g, self.shape, self.axis, self.keepdims) / g.dtype.type(self.count)
        return (xp.broadcast_to(g, self.shape),)


class Max(Function):
    """Maximum over axes; ties share the gradient equally (as PyTorch's ``amax``)."""

    def forward(self, a: Array, axis: tuple[int, ...], keepdims: bool) -> Array:
        if a.size == 0:
            raise ArgumentError(f"max: cannot reduce an empty tensor of shape {a.shape}")
        out = a.max(axis=axis, keepdims=True)
        self.axis, self.keepdims, self.shape = axis, keepdims, a.shape
        self.mask = a == out
        return xp.asarray(out if keepdims else out.squeeze(axis))

    def backward(self, g: Array) -> tuple[Array]:
        g = _expand(g, self.shape, self.axis, self.keepdims)
        count = self.mask.sum(axis=self.axis, keepdims=True)
        return (self.mask * (g / count.astype(g.dtype)),)


class Softmax(Function):
    def forward(self, a: Array, axis: int) -> Array:
        e = xp.exp(a - a.max(axis=axis, keepdims=True))
        self.out, self.axis = e / e.sum(axis=axis, keepdims=True), axis
        return self.out

    def backward(self, g: Array) -> tuple[Array]:
        y = self.out
        return (y * (g - (g * y).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Function):
    def forward(self, a: Array, axis: int) -> Array:
        shifted = a - a.max(axis=axis, keepdims=True)
        self.out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        self.axis = axis
        return self.out

    def backward(self, g: Array) -> tuple[Array]:
        return (g - xp.exp(self.out) * g.sum(axis=self.axis, keepdims=True),)
