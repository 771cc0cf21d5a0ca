"""What an ONNX node becomes (``Step``), what converters may ask of the loader
(``Context``), and the attribute helpers the converters share."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .. import nn
from ..errors import DataError


@dataclass
class Step:
    """What a node becomes: a ``layer`` on ``inputs``, an inline ``op`` join, or (neither) an
    alias of ``inputs[0]``. ``fuse`` names an earlier step this one absorbs (a Pad before a
    Conv, a MatMul before its bias Add): its layer goes and its input becomes this one's."""

    inputs: tuple[str, ...]
    layer: nn.Module | None = None
    op: str | None = None
    axis: int = 0
    fuse: str | None = None
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
    def producer(self, name: str) -> Step | None: ...
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
