"""Normalisation without running statistics: ``layer_norm`` and ``group_norm``.

Both normalise rows of values (``ops.layer_norm.NormalizeRows``), then scale and shift:
LayerNorm per position over its trailing ``normalized_shape`` dims, GroupNorm per sample over
each group of C/G channels and all positions. (BatchNorm, with its running statistics, is a
layer: ``nn.BatchNorm2d``.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..errors import ArgumentError
from ..ops.layer_norm import NormalizeRows
from ..tensor import Tensor
from .checks import as_float_tensor, finish


def _affine(out: Tensor, weight: Tensor | None, bias: Tensor | None, shape: tuple[int, ...],
            op: str) -> Tensor:
    for value, name in ((weight, "weight"), (bias, "bias")):
        if value is not None:
            value = as_float_tensor(value, name, op)
            if value.size != math.prod(shape):
                raise ArgumentError(f"{op}: `{name}` must have {math.prod(shape)} values "
                                    f"(shape {shape}), received shape {value.shape}")
            value = value.reshape(*shape)
            out = finish(out, value, "mul" if name == "weight" else "add")
    return out


def layer_norm(x: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last dims ``normalized_shape`` of x (*, *normalized_shape), then
    weight * xhat + bias (each of shape ``normalized_shape``); same shape out. For NCHW
    channels (ConvNeXt), move C last first: ``x.permute(0, 2, 3, 1)``."""
    x = as_float_tensor(x, "input", "layer_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else \
        tuple(int(s) for s in normalized_shape)
    if not shape or x.shape[x.ndim - len(shape):] != shape or len(shape) > x.ndim:
        raise ArgumentError(f"layer_norm: the input's last dims {x.shape} must be "
                            f"normalized_shape {shape}")
    if eps <= 0:
        raise ArgumentError(f"layer_norm: `eps` must be positive, received eps={eps!r}")
    rows = x.reshape(-1, math.prod(shape)) if x.size else x.reshape(0, math.prod(shape))
    samples = x.shape[0] if x.ndim > len(shape) else 1
    out = NormalizeRows.apply(rows, eps=float(eps), samples=samples).reshape(*x.shape)
    return _affine(out, weight, bias, shape, "layer_norm")


def group_norm(x: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise each sample's groups of C / num_groups channels over those channels and all
    positions, then weight * xhat + bias per channel (weight, bias (C,)). x (N, C, *S) -> same
    shape. num_groups = C is instance normalisation, 1 normalises each sample whole."""
    x = as_float_tensor(x, "input", "group_norm")
    if x.ndim < 2:
        raise ArgumentError(f"group_norm: expected input (N, C, *S), received shape {x.shape}")
    c = x.shape[1]
    if isinstance(num_groups, bool) or not isinstance(num_groups, int) or num_groups < 1 \
            or c % num_groups:
        raise ArgumentError(f"group_norm: `num_groups` must be a positive int dividing the "
                            f"{c} channels, received num_groups={num_groups!r}")
    if eps <= 0:
        raise ArgumentError(f"group_norm: `eps` must be positive, received eps={eps!r}")
    rows = x.reshape(x.shape[0] * num_groups, -1)
    out = NormalizeRows.apply(rows, eps=float(eps), samples=x.shape[0]).reshape(*x.shape)
    return _affine(out, weight, bias, (c, *(1,) * (x.ndim - 2)), "group_norm")
