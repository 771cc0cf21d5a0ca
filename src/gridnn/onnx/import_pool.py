"""Converters for the pooling operators: MaxPool, AveragePool, GlobalAveragePool and the
ReduceMean that exporters write for a mean over the spatial axes."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from . import layers as L
from .steps import Context, Step, auto_pads, ints, reduce_axes


def pool(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    """MaxPool / AveragePool as gridnn's layer with the same windows.

    gridnn pads symmetrically (at most half the kernel) and lets ceil_mode add high-side
    cells that no window counts; ONNX writes begin and end pads. Cells outside the input do
    not count for a max or for an average without count_include_pad, so such a node is the
    gridnn layer with the begin pads whose output size (with or without ceil_mode) is the
    node's. Otherwise, with ceil_mode off, an explicit Pad layer goes first.
    """
    if any(node.output[1:]):
        raise ctx.fail(node, "returns indices; gridnn's pooling returns values only")
    kernel = ints(attrs, "kernel_shape", [])
    nd = len(kernel)
    if nd not in (1, 2):
        raise ctx.fail(node, f"has kernel_shape {list(kernel)}; gridnn pools 1-D and 2-D")
    stride = ints(attrs, "strides", [1] * nd)
    if ints(attrs, "dilations", [1] * nd) != (1,) * nd:
        raise ctx.fail(node, "has dilations; gridnn's pooling has none")
    pads = auto_pads(ctx, node, attrs, kernel, stride, (1,) * nd)
    ceil = bool(attrs.get("ceil_mode", 0))
    is_max = node.op_type == "MaxPool"
    include = not is_max and bool(attrs.get("count_include_pad", 0))
    max_cls, avg_cls = (nn.MaxPool1d, nn.AvgPool1d) if nd == 1 else (nn.MaxPool2d, nn.AvgPool2d)
    begins = tuple(lo for lo, _ in pads)

    def make(padding: Any, ceil_mode: bool, count_pad: bool) -> nn.Module:
        return max_cls(kernel, stride, padding, ceil_mode) if is_max else \
            avg_cls(kernel, stride, padding, ceil_mode, count_pad)

    small = all(lo <= k // 2 for lo, k in zip(begins, kernel))
    if include and ceil:
        if small and all(lo == hi for lo, hi in pads):  # ONNX Runtime's rule is PyTorch's
            return Step((node.input[0],), make(begins, True, True))
    elif small and not include:
        spatial = ctx.shape(node.input[0])[2:]
        want = []
        for n, (lo, hi), k, s in zip(spatial, pads, kernel, stride):
            span = n + lo + hi - k
            o = (-(-span // s) if ceil else span // s) + 1
            want.append(o - 1 if ceil and (o - 1) * s >= n + lo else o)  # ONNX Runtime's rule
        for ceil_mode in (False, True):
            layer = make(begins, ceil_mode, False)
            if list(layer(np.zeros((1, 1, *spatial), np.float32)).shape[2:]) == want:
                return Step((node.input[0],), layer)
    elif small and all(lo == hi for lo, hi in pads):
        return Step((node.input[0],), make(begins, False, True))
    if ceil:
        raise ctx.fail(node, f"has pads {pads} that gridnn's pooling cannot express with "
                             f"ceil_mode=1")
    shape = ctx.shape(node.input[0])
    ctx.check_size(node, (*shape[1:2], *(n + lo + hi for n, (lo, hi) in zip(shape[2:], pads))),
                   "padded input")
    flat = [p for lo_hi in reversed(pads) for p in lo_hi]
    pre = L.Pad(flat, "constant", -np.inf if is_max else 0.0)
    return Step((node.input[0],), nn.Sequential(pre, make(0, False, True)))


def global_pool(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    nd = len(ctx.shape(node.input[0])) - 2
    if nd not in (1, 2):
        raise ctx.fail(node, f"pools a {nd + 2}-D input; gridnn pools 1-D and 2-D")
    return Step((node.input[0],), (nn.AdaptiveAvgPool1d if nd == 1 else nn.AdaptiveAvgPool2d)(1))


def reduce_mean(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    rank = len(ctx.shape(node.input[0]))
    axes = reduce_axes(node, attrs, ctx)
    if axes is None:
        return Step((node.input[0],))
    keep = bool(attrs.get("keepdims", 1))
    if axes == list(range(2, rank)) and rank in (3, 4):  # global average pooling
        layer = (nn.AdaptiveAvgPool1d if rank == 3 else nn.AdaptiveAvgPool2d)(1)
        return Step((node.input[0],), layer if keep else nn.Sequential(layer, nn.Flatten()))
    return Step((node.input[0],), L.Mean(axes, keep))
