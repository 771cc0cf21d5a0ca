"""Argument checks shared by the functional API, the layers and ``explain``: dtypes, ranks,
int tuples, the padding argument and the geometry of sliding windows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .._backend import xp
from ..autograd import is_grad_enabled
from ..errors import ArgumentError, ArgumentTypeError
from ..ops.shape import check_pad
from ..tensor import Tensor

Size = int | Sequence[int]
Padding = int | str | Sequence[int] | Sequence[Sequence[int]]
Pads = tuple[tuple[int, int], ...]
_SPATIAL = {1: "(N, C, L)", 2: "(N, C, H, W)"}
_WEIGHT = {1: "(K, C/groups, kL)", 2: "(K, C/groups, kH, kW)"}


def as_float_tensor(x: Any, name: str, op: str) -> Tensor:
    """``x`` as a Tensor with a float dtype, or a TypeError naming the argument."""
    if not isinstance(x, Tensor):
        if not isinstance(x, (xp.ndarray, list, tuple, float, int)):
            raise ArgumentTypeError(
                f"{op}: `{name}` must be a Tensor or array, received {type(x).__name__}"
            )
        x = Tensor(x) if xp.asarray(x).dtype.kind in "biuf" else Tensor._wrap(xp.asarray(x), False)
    if x.dtype.kind != "f":
        raise ArgumentTypeError(
            f"{op}: `{name}` must have a float dtype (float32 or float64), received {x.dtype}"
        )
    return x


def finish(fresh: Tensor, value: Tensor, op: str) -> Tensor:
    """``fresh * value`` (op 'mul') or ``fresh + value`` ('add'), ``value`` broadcast over
    ``fresh``, an op's new result that only the caller holds (a Linear's product, a
    LayerNorm's normalised rows). With no gradient to record the result goes into ``fresh``'s
    own array: inference then makes no new array for a bias or a scale (at batch 8 ConvNeXt's
    are 38 MB, above malloc's mmap threshold, so every new one was page-faulted in: an add took
    2.4x as long)."""
    ufunc = xp.multiply if op == "mul" else xp.add
    if (is_grad_enabled() and (fresh.requires_grad or value.requires_grad)) or \
            value.dtype != fresh.dtype or xp.broadcast_shapes(fresh.shape, value.shape) != \
            fresh.shape:
        return fresh * value if op == "mul" else fresh + value
    ufunc(fresh.data, value.data, out=fresh.data)
    return fresh


def check_rank(x: Tensor, nd: int, name: str, op: str) -> None:
    if x.ndim != nd + 2:
        layout = (_WEIGHT if name == "weight" else _SPATIAL).get(nd, f"({nd} spatial dims)")
        raise ArgumentError(
            f"{op}: `{name}` must be {nd + 2}-D {layout}, received shape {x.shape}"
        )


def ntuple(value: Size, nd: int, name: str, op: str, minimum: int = 1) -> tuple[int, ...]:
    """An int or a length-``nd`` sequence of ints, each >= ``minimum``, as a tuple."""
    items = ((value,) * nd if isinstance(value, (int, xp.integer))
             else tuple(value) if isinstance(value, (Sequence, xp.ndarray)) else (value,))
    if len(items) != nd or not all(isinstance(v, (int, xp.integer)) and not isinstance(v, bool)
                                   for v in items):
        raise ArgumentTypeError(
            f"{op}: `{name}` must be an int or a tuple of {nd} ints, received {value!r}"
        )
    if any(v < minimum for v in items):
        kind = "positive" if minimum == 1 else "non-negative"
        raise ArgumentError(f"{op}: `{name}` must be {kind}, received {name}={value!r}")
    return tuple(int(v) for v in items)


def check_padding(padding: Padding, nd: int, op: str) -> str | tuple[Any, ...]:
    """The ``padding`` argument in its canonical form, without resolving it against a size:
    'valid' or 'same', a tuple of ``nd`` ints, or a tuple of ``nd`` (low, high) pairs."""
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ArgumentError(
                f"{op}: `padding` string must be 'valid' or 'same', received {padding!r}"
            )
        return padding
    if isinstance(padding, (Sequence, xp.ndarray)) and len(padding) == nd and all(
        not isinstance(p, (int, xp.integer)) for p in padding
    ):
        return tuple(ntuple(p, 2, "padding", op, minimum=0) for p in padding)
    return ntuple(padding, nd, "padding", op, minimum=0)


def resolve_padding(padding: Padding, in_size: Sequence[int], kernel: Sequence[int],
                    stride: Sequence[int], dilation: Sequence[int], op: str) -> Pads:
    """(low, high) pads per spatial dim from an int, a tuple, (low, high) pairs, or a string.

    'valid' is no padding. 'same' gives ceil(in / stride) outputs for any stride: the total pad
    is max((out - 1) * stride + dilation * (k - 1) + 1 - in, 0), the odd one on the high side.
    """
    nd = len(in_size)
    padding = check_padding(padding, nd, op)
    if padding == "valid":
        return ((0, 0),) * nd
    if padding == "same":
        pads = []
        for n, k, s, d in zip(in_size, kernel, stride, dilation):
            total = max((math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    return tuple(p if isinstance(p, tuple) else (p, p) for p in padding)


def conv_output_size(in_size: int, kernel: int, stride: int, pads: tuple[int, int],
                     dilation: int = 1) -> int:
    """floor((in + low + high - dilation * (kernel - 1) - 1) / stride) + 1."""
    return (in_size + pads[0] + pads[1] - dilation * (kernel - 1) - 1) // stride + 1


def window_geometry(shape: Sequence[int], kernel: Sequence[int], stride: Size, padding: Padding,
                    dilation: Size, padding_mode: str, op: str
                    ) -> tuple[tuple[int, ...], tuple[int, ...], Pads, tuple[int, ...]]:
    """Checked geometry of kernel windows sliding over the last ``len(kernel)`` axes of
    ``shape``: (stride, dilation, (low, high) padding, output size), one entry per spatial
    dim. Raises if an argument is invalid or a dilated kernel is larger than the padded input.
    """
    nd = len(kernel)
    stride_t = ntuple(stride, nd, "stride", op)
    dilation_t = ntuple(dilation, nd, "dilation", op)
    spatial = tuple(shape[len(shape) - nd:])
    pads = resolve_padding(padding, spatial, kernel, stride_t, dilation_t, op)
    check_pad(tuple(shape), pads, padding_mode, op)
    for i, (size, kk, d, (lo, hi)) in enumerate(zip(spatial, kernel, dilation_t, pads)):
        if d * (kk - 1) + 1 > size + lo + hi:
            raise ArgumentError(
                f"{op}: kernel size {kk} (dilation {d}, spans {d * (kk - 1) + 1}) is larger than "
                f"the padded input size {size + lo + hi} in spatial dim {i} "
                f"(input shape {tuple(shape)}, padding {(lo, hi)})"
            )
    out = tuple(conv_output_size(*args) for args in zip(spatial, kernel, stride_t, pads,
                                                          dilation_t))
    return stride_t, dilation_t, pads, out
