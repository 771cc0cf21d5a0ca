"""Shape ops: reshape, permute, indexing, padding, concatenation: data moves, values stay."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._backend import xp
from ..autograd import Function
from ..errors import ArgumentError, ArgumentTypeError

if TYPE_CHECKING:
    from ..tensor import Tensor

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


def normalize_index(index: Any) -> Any:
    """Replace Tensors inside an index by their arrays (indices carry no gradient)."""
    from ..tensor import Tensor

    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index.data if isinstance(index, Tensor) else index


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
        self.inverse = tuple(int(i) for i in xp.argsort(axes))
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


def flatten(t: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge axes start_dim..end_dim into one, e.g. (N, C, H, W) -> (N, C*H*W) with start_dim=1."""
    from .reduce import check_axis

    shape = t.shape
    if not shape:
        return t.reshape(1)
    s, e = check_axis(start_dim, t.ndim, "flatten"), check_axis(end_dim, t.ndim, "flatten")
    if s > e:
        raise ArgumentError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return t.reshape(*shape[:s], -1 if 0 not in shape else 0, *shape[e + 1:])


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


def pad(t: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """Pad the last axes, PyTorch-style: ``pad=(left, right)`` pads the last axis,
    ``(left, right, top, bottom)`` the last two, and so on. Modes: constant (zeros), reflect,
    replicate, circular."""
    if len(pad) % 2 or len(pad) // 2 > t.ndim:
        raise ArgumentError(
            f"pad: expected an even number of pad sizes, at most 2 per axis of the "
            f"{t.ndim}-D input, received {tuple(pad)}"
        )
    if mode != "constant" and value != 0:
        raise ArgumentError(f"pad: value={value} is only allowed with mode='constant'")
    pairs = [(int(pad[i]), int(pad[i + 1])) for i in range(0, len(pad), 2)][::-1]
    check_pad(t.shape, pairs, mode, "pad")
    full = ((0, 0),) * (t.ndim - len(pairs)) + tuple(pairs)
    return Pad.apply(t, pads=full, mode=mode, value=value)


# ---- joining ---------------------------------------------------------------------------------
class Concat(Function):
    def forward(self, *arrays: Array, axis: int) -> Array:
        self.axis = axis
        self.bounds = xp.cumsum([a.shape[axis] for a in arrays])[:-1]
        return xp.concatenate(arrays, axis=axis)

    def backward(self, g: Array) -> tuple[Array, ...]:
        return tuple(xp.split(g, self.bounds, axis=self.axis))


def concat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors of equal shape except along ``axis``."""
    from .reduce import check_axis

    tensors = _check_tensors(tensors, "concat")
    ax = check_axis(axis, tensors[0].ndim, "concat")
    ref = tensors[0].shape
    for i, t in enumerate(tensors):
        mismatch = any(a != b for j, (a, b) in enumerate(zip(t.shape, ref)) if j != ax)
        if t.ndim != len(ref) or mismatch:
            raise ArgumentError(
                f"concat: tensor {i} has shape {t.shape}, which does not match {ref} "
                f"outside axis {ax}"
            )
    return Concat.apply(*tensors, axis=ax)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join equal-shaped tensors along a new axis."""
    from .reduce import check_axis

    tensors = _check_tensors(tensors, "stack")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ArgumentError(f"stack: all tensors must have one shape, received {sorted(shapes)}")
    ax = check_axis(axis, tensors[0].ndim + 1, "stack")
    return concat([t.reshape(*t.shape[:ax], 1, *t.shape[ax:]) for t in tensors], axis=ax)


def _check_tensors(tensors: Sequence[Any], op: str) -> list[Tensor]:
    from ..tensor import Tensor

    tensors = list(tensors)
    if not tensors:
        raise ArgumentError(f"{op}: expected at least one tensor, received none")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(f"{op}: item {i} must be a Tensor, received {type(t).__name__}")
    return tensors
