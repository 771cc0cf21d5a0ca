"""Shape ops on arrays: reshape, permute, indexing, padding, concatenation: data moves, values
stay. The Tensor-level helpers built on them are ``Tensor.flatten`` and ``F.pad``, ``F.concat``,
``F.stack``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._backend import xp
from ..autograd import Function
from ..errors import ArgumentError

Array = Any
PAD_MODES = ("zeros", "constant", "reflect", "replicate", "circular")
_NUMPY_MODE = {"zeros": "constant", "constant": "constant", "reflect": "reflect",
               "replicate": "edge", "circular": "wrap"}


def check_reshape(shape: tuple[int, ...], new: tuple[int, ...]) -> tuple[int, ...]:
    size = int(xp.prod(shape))
    known = int(xp.prod([n for n in new if n != -1]))
    if sum(n == -1 for n in new) > 1 or any(n < -1 for n in new) or (
        size != known if -1 not in new else known == 0 or size % known
    ):
        raise ArgumentError(f"reshape: cannot reshape shape {shape} ({size} elements) to {new}")
    return tuple(int(n) for n in new)


def check_perm(axes: Sequence[int], ndim: int) -> tuple[int, ...]:
    perm = tuple(int(a) % ndim if -ndim <= a < ndim else -1 for a in axes) if ndim else ()
    if sorted(perm) != list(range(ndim)):
        raise ArgumentError(
            f"permute: axes must be a permutation of 0..{ndim - 1}, received {tuple(axes)}"
        )
    return perm


def _is_basic(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)


class Reshape(Function):
    def forward(self, a: Array, shape: tuple[int, ...]) -> Array:
        self.shape = a.shape
        return a.reshape(shape)

    def backward(self, g: Array) -> tuple[Array]:
        return (g.reshape(self.shape),)


class Permute(Function):
    def forward(self, a: Array, axes: tuple[int, ...]) -> Array:
        self.inverse = tuple(sorted(range(len(axes)), key=lambda i: axes[i]))
        return a.transpose(axes)

    def backward(self, g: Array) -> tuple[Array]:
        return (g.transpose(self.inverse),)


class GetItem(Function):
    """a[index] for any NumPy index; repeated fancy indices accumulate their gradients."""

    def forward(self, a: Array, index: Any) -> Array:
        self.shape, self.dtype, self.index = a.shape, a.dtype, index
        return a[index]

    def backward(self, g: Array) -> tuple[Array]:
        out = xp.zeros(self.shape, dtype=self.dtype)
        if _is_basic(self.index):
            out[self.index] = g
        else:
            xp.add.at(out, self.index, g)
        return (out,)


# ---- padding ---------------------------------------------------------------------------------
def check_pad(shape: tuple[int, ...], pads: Sequence[tuple[int, int]], mode: str, op: str) -> None:
    """Validate (low, high) pads for the last len(pads) axes of ``shape`` in ``mode``."""
    if mode not in PAD_MODES:
        raise ArgumentError(f"{op}: padding_mode must be one of {PAD_MODES}, received {mode!r}")
    sizes = shape[len(shape) - len(pads):]
    for n, (lo, hi) in zip(sizes, pads, strict=True):
        if lo < 0 or hi < 0:
            raise ArgumentError(f"{op}: padding must be non-negative, received {(lo, hi)}")
        if mode == "reflect" and max(lo, hi) >= n:
            raise ArgumentError(
                f"{op}: reflect padding {(lo, hi)} must be smaller than the input size {n} "
                f"along that axis"
            )
        if mode == "circular" and max(lo, hi) > n:
            raise ArgumentError(
                f"{op}: circular padding {(lo, hi)} must not exceed the input size {n} "
                f"along that axis"
            )


def pad_array(a: Array, pads: Sequence[tuple[int, int]], mode: str, value: float = 0) -> Array:
    """Pad every axis of ``a`` by ``pads`` ((low, high) per axis); the result is C-contiguous."""
    np_mode = _NUMPY_MODE[mode]
    if np_mode == "constant":
        return xp.pad(a, pads, mode="constant", constant_values=value)
    return xp.pad(a, pads, mode=np_mode)


def pad_array_backward(g: Array, pads: Sequence[tuple[int, int]], mode: str) -> Array:
    """The adjoint of ``pad_array``: fold the padded borders' gradients back onto their sources."""
    for axis, (lo, hi) in enumerate(pads):
        if lo == 0 and hi == 0:
            continue
        n = g.shape[axis] - lo - hi

        def take(start: int, stop: int, step: int = 1, _axis: int = axis,
                 _ndim: int = g.ndim) -> Any:
            idx = [slice(None)] * _ndim
            idx[_axis] = slice(start, stop, step)
            return tuple(idx)

        inner = g[take(lo, lo + n)].copy()
        if mode == "circular":
            inner[take(n - lo, n)] += g[take(0, lo)]
            inner[take(0, hi)] += g[take(lo + n, lo + n + hi)]
        elif mode == "reflect":
            # out[lo - 1 - i] = x[i + 1] and out[lo + n + i] = x[n - 2 - i]
            inner[take(1, lo + 1)] += g[take(0, lo)][take(None, None, -1)]
            inner[take(n - 1 - hi, n - 1)] += g[take(lo + n, lo + n + hi)][take(None, None, -1)]
        elif mode == "replicate":
            inner[take(0, 1)] += g[take(0, lo)].sum(axis=axis, keepdims=True)
            inner[take(n - 1, n)] += g[take(lo + n, lo + n + hi)].sum(axis=axis, keepdims=True)
        g = inner
    return g


class Pad(Function):
    def forward(self, a: Array, pads: tuple[tuple[int, int], ...], mode: str,
                value: float) -> Array:
        self.pads, self.mode = pads, mode
        return pad_array(a, pads, mode, value)

    def backward(self, g: Array) -> tuple[Array]:
        return (pad_array_backward(g, self.pads, self.mode),)


# ---- joining ---------------------------------------------------------------------------------
class Concat(Function):
    def forward(self, *arrays: Array, axis: int) -> Array:
        self.axis = axis
        self.bounds = xp.cumsum([a.shape[axis] for a in arrays])[:-1]
        if axis == 1 and arrays[0].ndim > 2 and all(
                xp.moveaxis(a, 1, -1).flags.c_contiguous for a in arrays):
            # Channels of convolution outputs (channels-last memory): join them channels-last,
            # in place of a transposing copy of each and another in the next layer.
            last = xp.concatenate([xp.moveaxis(a, 1, -1) for a in arrays], axis=-1)
            return xp.moveaxis(last, -1, 1)
        return xp.concatenate(arrays, axis=axis)

    def backward(self, g: Array) -> tuple[Array, ...]:
        return tuple(xp.split(g, self.bounds, axis=self.axis))
