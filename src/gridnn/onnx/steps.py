"""What an ONNX node becomes (``Step``), what converters may ask of the loader
(``Context``), and the attribute helpers the converters share."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .. import nn
from ..errors import DataError


@dataclass
class Step:
    """What a node becomes: a ``layer`` on ``inputs``, an inline ``op`` join, or (neither) an
    alias of ``inputs[0]``. ``fuse`` names earlier steps this one absorbs (a Pad before a
    Conv, a MatMul before its bias Add): its layer goes and its input becomes this one's."""

    inputs: tuple[str, ...]
    layer: nn.Module | None = None
    op: str | None = None
    axis: int = 0
    fuse: str | tuple[str, ...] | None = None
    keep_name: bool = False  # the layer keeps the name of the step it absorbs


class Context(Protocol):
    """What converters need from the loader (see ``load.Loader``)."""

    opset: int
    batches: tuple[int, int]  # the two batch sizes every value is computed at
    static_batch: int | None  # the batch size the file fixes, if it fixes one
    fold_batchnorm: bool  # fold a BatchNormalization into the Conv before it

    def check_size(self, node: Any, shape: tuple[int, ...], what: str) -> None: ...
    def const(self, node: Any, index: int, what: str) -> np.ndarray | None: ...
    def is_runtime(self, name: str) -> bool: ...
    def shape(self, name: str) -> tuple[int, ...]: ...
    def value_shape(self, name: str) -> tuple[int, ...]: ...
    def runs(self, name: str) -> tuple[np.ndarray, np.ndarray] | None: ...
    def producer(self, name: str, joins: bool = False) -> Step | None: ...
    def fail(self, node: Any, problem: str) -> DataError: ...


def ints(attrs: dict[str, Any], key: str, default: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in attrs.get(key, default))


def auto_pads(ctx: Context, node: Any, attrs: dict[str, Any], kernel: tuple[int, ...],
               stride: tuple[int, ...], dilation: tuple[int, ...]) -> list[tuple[int, int]]:
    """(begin, end) pads per spatial dim from ``pads`` or ``auto_pad``."""
    nd = len(kernel)
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("NOTSET", ""):
        pads = ints(attrs, "pads", [0] * 2 * nd)
        if len(pads) != 2 * nd or min(pads) < 0:
            raise ctx.fail(node, f"has pads {list(pads)}; expected {2 * nd} non-negative ints")
        return list(zip(pads[:nd], pads[nd:]))
    if auto == "VALID":
        return [(0, 0)] * nd
    if auto not in ("SAME_UPPER", "SAME_LOWER"):
        raise ctx.fail(node, f"has auto_pad {auto!r}; expected NOTSET, VALID, SAME_UPPER or "
                             f"SAME_LOWER")
    out = []
    for n, k, s, d in zip(ctx.shape(node.input[0])[2:], kernel, stride, dilation):
        total = max((math.ceil(n / s) - 1) * s + d * (k - 1) + 1 - n, 0)
        small, big = total // 2, total - total // 2
        out.append((small, big) if auto == "SAME_UPPER" else (big, small))
    return out


def layer_stem(node: Any, weight: str | None) -> str:
    """A readable child name for a node's layer (before making it unique): the weight's prefix
    ('layer1.0.conv1.weight' -> 'layer1_0_conv1'), else the node's scope
    ('/layer1/layer1.0/relu/Relu' -> 'layer1_0_relu'), else the op type."""
    if weight is not None:
        base = weight.rsplit(".", 1)[0]
    else:
        parts = [p for p in node.name.split("/") if p]
        if parts and re.fullmatch(re.escape(node.op_type) + r"(_\d+)?", parts[-1]):
            parts.pop()
        scope: list[str] = []
        for part in parts:  # torch repeats the parent's name: /layer1/layer1.0/relu
            if scope and part.startswith(scope[-1] + "."):
                scope[-1] = part
            else:
                scope.append(part)
        base = ".".join(scope)
    return re.sub(r"[^0-9A-Za-z]+", "_", base).strip("_") or node.op_type.lower()


def reduce_axes(node: Any, attrs: dict[str, Any], ctx: Context) -> list[int] | None:
    """The sorted axes (modulo the rank) a Reduce* node reduces over, from its ``axes`` input
    (opset 18 on) or attribute: every axis when none are given, or None when none are given and
    ``noop_with_empty_axes`` says to pass the input through."""
    rank = len(ctx.shape(node.input[0]))
    axes = attrs.get("axes")
    if len(node.input) > 1 and node.input[1]:
        axes = ctx.const(node, 1, "axes")
        if axes is None:
            raise ctx.fail(node, "needs its axes as a constant")
    if axes is None or not len(axes):
        return None if int(attrs.get("noop_with_empty_axes", 0)) else list(range(rank))
    return sorted(int(a) % rank for a in np.asarray(axes).reshape(-1))
