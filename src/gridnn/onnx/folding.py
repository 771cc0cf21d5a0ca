"""Constant folding: the NumPy meaning of the operators that exporters use for shape
arithmetic (``Shape -> Gather -> Unsqueeze -> Concat -> Reshape`` is how torch writes
``x.view(x.size(0), -1)``).

The loader evaluates these at load time on constants, and on the two sample batches it pushes
through the graph (see ``load``), so the shape ops that only move data (Reshape, Flatten,
Squeeze, Unsqueeze) become one ``nn.Flatten`` or a per-sample reshape.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .reader import DTYPES, LIMITS


class FoldError(ValueError):
    """A folding op cannot handle its inputs (the loader adds the node's name)."""


def _axes(attrs: dict[str, Any], args: list[Any], rank: int) -> list[int] | None:
    """Axes from the attribute (opset < 13) or the optional second input (opset >= 13)."""
    axes = args[1] if len(args) > 1 and args[1] is not None else attrs.get("axes")
    return None if axes is None else [int(a) % rank for a in np.asarray(axes).reshape(-1)]


def reshape(attrs: dict[str, Any], args: list[Any]) -> np.ndarray:
    x, target = args[0], [int(v) for v in np.asarray(args[1]).reshape(-1)]
    if not attrs.get("allowzero", 0):  # 0 copies the input's size on that axis
        target = [x.shape[i] if v == 0 and i < x.ndim else v for i, v in enumerate(target)]
    try:
        return x.reshape(target)
    except ValueError:
        raise FoldError(f"cannot reshape {x.shape} to {target}") from None


def flatten(attrs: dict[str, Any], args: list[Any]) -> np.ndarray:
    x = args[0]
    axis = int(attrs.get("axis", 1)) % (x.ndim + 1)
    return x.reshape(math.prod(x.shape[:axis]), -1) if x.size else \
        x.reshape(math.prod(x.shape[:axis]), math.prod(x.shape[axis:]))


def squeeze(attrs: dict[str, Any], args: list[Any]) -> np.ndarray:
    axes = _axes(attrs, args, args[0].ndim)
    return np.squeeze(args[0], axis=None if axes is None else tuple(axes))


def unsqueeze(attrs: dict[str, Any], args: list[Any]) -> np.ndarray:
    x = args[0]
    axes = _axes(attrs, args, x.ndim + len(np.asarray(
        args[1] if len(args) > 1 and args[1] is not None else attrs.get("axes", [])).reshape(-1)))
    if axes is None:
        raise FoldError("Unsqueeze needs axes")
    return np.expand_dims(x, tuple(axes))


def slice_index(shape: tuple[int, ...], args: list[Any]) -> tuple[slice, ...]:
    """The NumPy index of an ONNX Slice (starts, ends, axes, steps) on ``shape``."""
    starts, ends = (np.asarray(a).reshape(-1) for a in args[1:3])
    axes = np.asarray(args[3]).reshape(-1) if len(args) > 3 and args[3] is not None \
        else np.arange(len(starts))
    steps = np.asarray(args[4]).reshape(-1) if len(args) > 4 and args[4] is not None \
        else np.ones(len(starts), np.int64)
    if not len(starts) == len(ends) == len(axes) == len(steps) or 0 in steps:
        raise FoldError("Slice needs starts, ends, axes and non-zero steps of one length")
    index = [slice(None)] * len(shape)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        n = shape[int(axis) % len(shape)]
        # INT64 max/min mean "to the end": clip so Python's slice sees a plain bound
        index[int(axis) % len(shape)] = slice(int(np.clip(start, -n - 1, n)),
                                              int(np.clip(end, -n - 1, n)), int(step))
    return tuple(index)


def gather(attrs: dict[str, Any], args: list[Any]) -> np.ndarray:
    data, indices = args[0], np.asarray(args[1]).astype(np.int64)
    axis = int(attrs.get("axis", 0)) % max(data.ndim, 1)
    if indices.size * max(data.size // max(data.shape[axis], 1), 1) * 8 > LIMITS.tensor_bytes:
        raise FoldError(f"Gather of {indices.size} rows is over the size limit")
    n = data.shape[axis]
    if indices.size and (indices.min() < -n or indices.max() >= n):
        raise FoldError(f"Gather index out of range for size {n}")
    return np.take(data, indices, axis=axis)


def cast(attrs: dict[str, Any], args: list[Any]) -> np.ndarray:
    to = int(attrs.get("to", 1))
    if to not in DTYPES:
        raise FoldError(f"Cast to data type {to}, which gridnn does not read")
    return args[0].astype(DTYPES[to][0])


def arithmetic(op: str) -> Callable[[dict[str, Any], list[Any]], np.ndarray]:
    def fold(attrs: dict[str, Any], args: list[Any]) -> np.ndarray:
        a, b = args[0], args[1]
        shape = np.broadcast_shapes(a.shape, b.shape)
        if math.prod(shape) * 8 > LIMITS.tensor_bytes:
            raise FoldError(f"{op} result {shape} is over the size limit")
        if op == "Div" and a.dtype.kind in "iu" and b.dtype.kind in "iu":
            if np.any(b == 0):
                raise FoldError("integer division by zero")
            return (np.trunc(a / b)).astype(np.result_type(a, b))
        return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[op](a, b)
    return fold


def constant_of_shape(attrs: dict[str, Any], args: list[Any]) -> np.ndarray:
    shape = [int(v) for v in np.asarray(args[0]).reshape(-1)]
    value = np.asarray(attrs.get("value", np.zeros(1, np.float32))).reshape(-1)
    if min(shape, default=0) < 0 or math.prod(shape) * value.itemsize > LIMITS.tensor_bytes:
        raise FoldError(f"ConstantOfShape {shape} is negative or over the size limit")
    return np.full(shape, value[0], value.dtype)


def concat(attrs: dict[str, Any], args: list[Any]) -> np.ndarray:
    return np.concatenate(args, axis=int(attrs.get("axis", 0)))


def transpose(attrs: dict[str, Any], args: list[Any]) -> np.ndarray:
    perm = attrs.get("perm")
    return np.transpose(args[0], None if perm is None else [int(p) for p in perm])


FOLDERS: dict[str, Callable[[dict[str, Any], list[Any]], np.ndarray]] = {
    "Reshape": reshape, "Flatten": flatten, "Squeeze": squeeze, "Unsqueeze": unsqueeze,
    "Slice": lambda attrs, args: args[0][slice_index(args[0].shape, args)],
    "Gather": gather, "Cast": cast, "ConstantOfShape": constant_of_shape, "Concat": concat,
    "Transpose": transpose,
    "Identity": lambda attrs, args: args[0], "Dropout": lambda attrs, args: args[0],
    **{op: arithmetic(op) for op in ("Add", "Sub", "Mul", "Div")},
}
# Ops that only move data: on a computed tensor they become a reshape or a Slice layer.
SHAPE_ONLY = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")


def shape_of(attrs: dict[str, Any], shape: tuple[int, ...]) -> np.ndarray:
    """ONNX Shape (with its opset-15 start and end) of a tensor of ``shape``."""
    start, end = int(attrs.get("start", 0)), attrs.get("end")
    return np.array(shape[start:None if end is None else int(end)], np.int64)
