"""Padding and joining of tensors (the array ops are in ``ops/shape.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ArgumentError, ArgumentTypeError
from ..ops.reduce import check_axis
from ..ops.shape import Concat, Pad, check_pad
from ..tensor import Tensor


def pad(t: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """Pad the last axes, PyTorch-style: ``pad=(left, right)`` pads the last axis,
    ``(left, right, top, bottom)`` the last two, and so on. Modes: constant (zeros), reflect,
    replicate, circular. (..., *S) -> (..., *Sp)."""
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


def concat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors of equal shape except along ``axis``."""
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
    tensors = _check_tensors(tensors, "stack")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ArgumentError(f"stack: all tensors must have one shape, received {sorted(shapes)}")
    ax = check_axis(axis, tensors[0].ndim + 1, "stack")
    return concat([t.reshape(*t.shape[:ax], 1, *t.shape[ax:]) for t in tensors], axis=ax)


def _check_tensors(tensors: Sequence[Any], op: str) -> list[Tensor]:
    tensors = list(tensors)
    if not tensors:
        raise ArgumentError(f"{op}: expected at least one tensor, received none")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(f"{op}: item {i} must be a Tensor, received {type(t).__name__}")
    return tensors
