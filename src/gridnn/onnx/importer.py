"""The ops table of the ONNX importer: one function per operator that turns a node into a
gridnn layer (``nn.Conv2d``, ``nn.Linear``, ``nn.BatchNorm2d``, ...), an inline join, or an
alias of its input.

Each converter gets the node, its attributes and a ``Context`` that gives its inputs as
constants (initializers and folded shape arithmetic) or as computed values. Weights become
``Parameter``s of the new layer, so a loaded model trains further.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import functional as F
from .. import nn
from ..errors import DataError
from . import layers as L
from .import_pool import global_pool, pool, reduce_mean
from .importer_ops import MODERN
from .reader import LIMITS, node_label
from .steps import Context, Step, auto_pads, ints


def _float_weight(ctx: Context, node: Any, index: int, what: str) -> np.ndarray:
    value = ctx.const(node, index, what)
    if value is None:
        raise ctx.fail(node, f"needs its {what} as a constant (an initializer)")
    return np.ascontiguousarray(value, np.float32)


def _float(value: Any) -> float:
    """A float attribute (stored as float32) as the shortest decimal that rounds to it, so
    1e-5 reads 1e-05 in summaries and not 9.999999747378752e-06."""
    return float(np.format_float_positional(np.float32(value), unique=True, trim="-"))


def _set(param: Any, value: np.ndarray) -> None:
    """Give a new layer its weight from the file: the array itself where it fits (weights are
    read once, into their own arrays), else a copy into the layer's."""
    value = np.asarray(value)
    if value.dtype == param.data.dtype and value.shape == param.data.shape and \
            value.flags.c_contiguous and value.flags.writeable:
        param.data = value
    else:
        param.data[...] = value


def _padding_arg(pads: list[tuple[int, int]]) -> Any:
    """gridnn's padding argument: ints when every dim is symmetric, else (low, high) pairs."""
    if all(lo == hi for lo, hi in pads):
        return tuple(lo for lo, _ in pads)
    return tuple(pads)


def _fusable_pad(ctx: Context, node: Any) -> tuple[Step, L.Pad] | None:
    """The Pad layer feeding input 0, if only this node reads it and it pads spatial axes."""
    step = ctx.producer(node.input[0])
    if step is None or not isinstance(step.layer, L.Pad):
        return None
    pad = step.layer
    if len(pad.pads) > 2 * (len(ctx.shape(node.input[0])) - 2):
        return None
    return step, pad


# ---- layers with weights ---------------------------------------------------------------------
def conv(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    w = _float_weight(ctx, node, 1, "weight")
    nd = w.ndim - 2
    if nd not in (1, 2):
        raise ctx.fail(node, f"has a {w.ndim}-D weight {w.shape}; gridnn has 1-D and 2-D "
                             f"convolutions")
    bias = _float_weight(ctx, node, 2, "bias") if len(node.input) > 2 and node.input[2] else None
    kernel = w.shape[2:]
    if ints(attrs, "kernel_shape", kernel) != kernel:
        raise ctx.fail(node, f"kernel_shape {attrs['kernel_shape']} does not match its weight "
                             f"{w.shape}")
    stride = ints(attrs, "strides", [1] * nd)
    dilation = ints(attrs, "dilations", [1] * nd)
    groups = int(attrs.get("group", 1))
    pads = auto_pads(ctx, node, attrs, kernel, stride, dilation)
    mode, source, fuse = "zeros", node.input[0], None
    found = _fusable_pad(ctx, node)
    if found is not None:
        step, pad = found
        extra = [(pad.pads[2 * i], pad.pads[2 * i + 1]) for i in range(len(pad.pads) // 2)][::-1]
        extra = [(0, 0)] * (nd - len(extra)) + extra
        modes = {"constant": "zeros", "reflect": "reflect", "replicate": "replicate",
                 "circular": "circular"}
        zero_conv = not any(lo or hi for lo, hi in pads)
        if pad.mode == "constant" and pad.value == 0 or zero_conv and pad.mode != "constant":
            mode = modes[pad.mode]
            pads = [(a + c, b + d) for (a, b), (c, d) in zip(pads, extra)]
            source, fuse = step.inputs[0], node.input[0]
    spatial = ctx.shape(source)[2:]
    padded = [n + lo + hi for n, (lo, hi) in zip(spatial, pads)]
    out = [F.conv_output_size(n, k, s, p, d) for n, k, s, p, d in zip(spatial, kernel, stride,
                                                                       pads, dilation)]
    ctx.check_size(node, (w.shape[1] * groups, *padded), "padded input")
    ctx.check_size(node, (w.shape[0], *out), "output")
    if math.prod(out) * w.size > LIMITS.layer_work:
        raise ctx.fail(node, f"needs {math.prod(out) * w.size} multiply-adds per sample, over "
                             f"the limit of {LIMITS.layer_work}")
    cls = nn.Conv1d if nd == 1 else nn.Conv2d
    try:
        layer = cls(w.shape[1] * groups, w.shape[0], kernel, stride, _padding_arg(pads),
                    dilation, groups, bias is not None, mode)
    except ValueError as e:
        raise ctx.fail(node, f"cannot be a gridnn convolution: {e}") from None
    _set(layer.weight, w)
    if bias is not None:
        _set(layer.bias, bias)
    return Step((source,), layer, fuse=fuse)


def batch_norm(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    if int(attrs.get("training_mode", 0)) or any(node.output[1:]):
        raise ctx.fail(node, "is in training mode; gridnn loads the inference form")
    scale, shift, mean, var = (_float_weight(ctx, node, i, what) for i, what in
                               enumerate(("scale", "bias", "mean", "var"), 1))
    eps = _float(attrs.get("epsilon", 1e-5))
    folded = _fold_into_conv(ctx, node, scale, shift, mean, var, eps)
    if folded is not None:
        return folded
    rank = len(ctx.shape(node.input[0]))
    if rank not in (2, 3, 4) or scale.ndim != 1:
        raise ctx.fail(node, f"normalises a {rank}-D input; gridnn has BatchNorm1d for 2-D "
                             f"and 3-D inputs and BatchNorm2d for 4-D")
    momentum = min(max(1.0 - _float(attrs.get("momentum", 0.9)), 0.0), 1.0)
    cls = nn.BatchNorm2d if rank == 4 else nn.BatchNorm1d
    layer = cls(len(scale), eps=eps, momentum=_float(momentum))
    _set(layer.weight, scale)
    _set(layer.bias, shift)
    layer.running_mean[...] = mean
    layer.running_var[...] = var
    return Step((node.input[0],), layer)


def _fold_into_conv(ctx: Context, node: Any, scale: np.ndarray, shift: np.ndarray,
                    mean: np.ndarray, var: np.ndarray, eps: float) -> Step | None:
    """BatchNorm (eval) after a Conv that only it reads, as one Conv: w' = w * f per filter,
    b' = (b - mean) * f + shift, f = scale / sqrt(var + eps) (in float64, then float32)."""
    step = ctx.producer(node.input[0]) if ctx.fold_batchnorm else None
    conv = step.layer if step is not None else None
    if not isinstance(conv, (nn.Conv1d, nn.Conv2d)) or scale.shape != (conv.out_channels,):
        return None
    f = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + eps)
    w = conv.weight.data * f.reshape(-1, *(1,) * (conv.weight.ndim - 1))
    b = conv.bias.data if conv.bias is not None else np.zeros(conv.out_channels)
    folded = copy.copy(conv)  # the same geometry; new weight and bias Parameters
    folded.weight = nn.Parameter(w.astype(np.float32))
    folded.bias = nn.Parameter(((b - mean) * f + shift).astype(np.float32))
    return Step(step.inputs, folded, fuse=node.input[0], keep_name=True)


def gemm(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    if int(attrs.get("transA", 0)) or ctx.const(node, 0, "A") is not None:
        raise ctx.fail(node, "transposes or fixes its input A; gridnn loads x @ W.T + b as "
                             "Linear")
    w = _float_weight(ctx, node, 1, "weight B")
    if w.ndim != 2:
        raise ctx.fail(node, f"has a {w.ndim}-D weight; expected 2-D")
    w = w if int(attrs.get("transB", 0)) else w.T
    if attrs.get("alpha", 1.0) != 1:
        w = w * np.float32(attrs["alpha"])
    layer = nn.Linear(w.shape[1], w.shape[0], bias=len(node.input) > 2 and bool(node.input[2]))
    _set(layer.weight, w)
    if layer.bias is not None:
        c = _float_weight(ctx, node, 2, "bias C") * np.float32(attrs.get("beta", 1.0))
        if c.size not in (1, w.shape[0]):
            raise ctx.fail(node, f"has bias C of shape {c.shape}; expected ({w.shape[0]},)")
        _set(layer.bias, np.broadcast_to(c.reshape(-1), (w.shape[0],)))
    return Step((node.input[0],), layer)


def _result_shape(ctx: Context, node: Any, matmul: bool = False) -> None:
    """Check the size of a broadcast (or matrix-product) result before it is computed."""
    a, b = (ctx.value_shape(n) for n in node.input[:2])
    if matmul:
        if len(a) < 2 or len(b) < 2:
            raise ctx.fail(node, f"multiplies shapes {a} and {b}; gridnn needs 2-D or more")
        shape = (*np.broadcast_shapes(a[:-2], b[:-2]), a[-2], b[-1])
    else:
        shape = np.broadcast_shapes(a, b)
    ctx.check_size(node, tuple(shape)[1:], "result")


def matmul(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    _result_shape(ctx, node, matmul=True)
    a, b = ctx.const(node, 0, "A"), ctx.const(node, 1, "B")
    if b is not None and b.ndim == 2:  # x @ B: a Linear layer without bias (yet)
        layer = nn.Linear(b.shape[0], b.shape[1], bias=False)
        _set(layer.weight, np.asarray(b, np.float32).T)
        return Step((node.input[0],), layer)
    if a is not None:
        return Step((node.input[1],), L.MatMulConstant(a))
    if b is not None:
        raise ctx.fail(node, f"multiplies by a {b.ndim}-D constant; expected 2-D")
    return Step(tuple(node.input[:2]), op="MatMul")


def _constant_op(ctx: Context, name: str, op: str, value: float) -> Step | None:
    """The step computing ``name`` if it is ``op`` with the scalar constant ``value``."""
    step = ctx.producer(name)
    layer = step.layer if step is not None else None
    if isinstance(layer, L.ConstantOp) and layer.op == op and layer.constant.size == 1 and \
            math.isclose(float(layer.constant.reshape(-1)[0]), value, rel_tol=1e-6):
        return step
    return None


def _erf_cdf(ctx: Context, name: str) -> tuple[str, tuple[str, ...]] | None:
    """(x, the names of the steps) when ``name`` is 1 + erf(x / sqrt 2): the exact GELU's
    exporters write x * 0.5 * that (in either order) instead of one node before opset 20."""
    add = _constant_op(ctx, name, "Add", 1.0)
    erf = ctx.producer(add.inputs[0]) if add is not None else None
    if erf is None or not isinstance(erf.layer, L.Unary) or erf.layer.op != "Erf":
        return None
    scale = _constant_op(ctx, erf.inputs[0], "Div", math.sqrt(2)) or \
        _constant_op(ctx, erf.inputs[0], "Mul", 1 / math.sqrt(2))
    return (scale.inputs[0], (name, add.inputs[0], erf.inputs[0])) if scale else None


def _gelu(ctx: Context, node: Any) -> Step | None:
    """x * (0.5 * cdf) or (x * cdf) * 0.5, cdf = 1 + erf(x / sqrt 2), as one nn.GELU."""
    a, b = node.input[:2]
    for x, other in ((a, b), (b, a)):
        half = _constant_op(ctx, other, "Mul", 0.5)  # x * (0.5 * cdf)
        found = _erf_cdf(ctx, half.inputs[0]) if half is not None else None
        if found is not None and found[0] == x:
            return Step((x,), nn.GELU(), fuse=(other, *found[1]))
    join = ctx.producer(a, joins=True) if ctx.const(node, 1, "B") is not None else None
    if join is not None and join.op == "Mul" and \
            np.allclose(ctx.const(node, 1, "B"), 0.5):  # (x * cdf) * 0.5
        for x, cdf in (join.inputs, join.inputs[::-1]):
            found = _erf_cdf(ctx, cdf)
            if found is not None and found[0] == x:
                return Step((x,), nn.GELU(), fuse=(a, *found[1]))
    return None


def _gated(ctx: Context, node: Any) -> Step | None:
    """x * sigmoid(x) as one nn.SiLU and x * hardsigmoid(x) as one nn.Hardswish (exporters
    write SiLU as Sigmoid and Mul): one pass over the tensor instead of two."""
    for x, gate in (node.input[:2], node.input[1::-1]):
        step = ctx.producer(gate)
        if step is not None and step.inputs == (x,):
            for alone, joined in ((nn.Sigmoid, nn.SiLU), (nn.Hardsigmoid, nn.Hardswish)):
                if type(step.layer) is alone:
                    return Step((x,), joined(), fuse=gate)
    return None


def arithmetic(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    _result_shape(ctx, node)
    a, b = ctx.const(node, 0, "A"), ctx.const(node, 1, "B")
    if node.op_type == "Mul":
        fused = _gelu(ctx, node) or _gated(ctx, node)
        if fused is not None:
            return fused
    if a is None and b is None:
        return Step(tuple(node.input[:2]), op=node.op_type)
    if node.op_type == "Add" and (a is None) != (b is None):
        # MatMul + Add (either order) is torch's Linear on 3-D or 4-D input
        product, bias = (node.input[0], b) if b is not None else (node.input[1], a)
        step = ctx.producer(product)
        layer = step.layer if step is not None else None
        if (isinstance(layer, nn.Linear) and layer.bias is None
                and bias.size == layer.out_features and bias.ndim <= 1):
            fused = nn.Linear(layer.in_features, layer.out_features)
            _set(fused.weight, layer.weight.data)
            _set(fused.bias, np.asarray(bias, np.float32).reshape(-1))
            return Step(step.inputs, fused, fuse=product)
    if a is not None:
        return Step((node.input[1],), L.ConstantOp(node.op_type, a, constant_first=True))
    return Step((node.input[0],), L.ConstantOp(node.op_type, b))


# ---- element-wise ----------------------------------------------------------------------------
def activation(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    op = node.op_type
    if op == "LeakyRelu":
        return Step((node.input[0],), nn.LeakyReLU(_float(attrs.get("alpha", 0.01))))
    if op == "Softmax":
        rank = len(ctx.shape(node.input[0]))
        axis = int(attrs.get("axis", -1 if ctx.opset >= 13 else 1)) % rank
        if ctx.opset < 13 and axis != rank - 1:
            raise ctx.fail(node, f"flattens from axis {axis} (opset {ctx.opset} semantics); "
                                 f"gridnn's Softmax is over one axis")
        return Step((node.input[0],), nn.Softmax(axis))
    return Step((node.input[0],), {"Relu": nn.ReLU, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh}[op]())


def clip(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    bounds = []
    for i, what in ((1, "min"), (2, "max")):
        value = ctx.const(node, i, what) if len(node.input) > i and node.input[i] else None
        if value is None and len(node.input) > i and node.input[i]:
            raise ctx.fail(node, f"needs its {what} as a constant")
        value = attrs.get(what) if value is None else value  # opset < 11 had attributes
        bounds.append(None if value is None else float(value))
    low, high = bounds
    if low == 0 and (high is None or high == math.inf):
        return Step((node.input[0],), nn.ReLU())
    if low == 0 and high == 6:
        return Step((node.input[0],), nn.ReLU6())
    return Step((node.input[0],), L.Clip(low, high))


def pad(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    pads = ctx.const(node, 1, "pads")
    rank = len(ctx.shape(node.input[0]))
    if pads is None or pads.size != 2 * rank or (len(node.input) > 3 and node.input[3]):
        raise ctx.fail(node, "needs constant pads for every axis")
    value = ctx.const(node, 2, "constant_value") if len(node.input) > 2 and node.input[2] else 0
    begins, ends = [int(p) for p in pads[:rank]], [int(p) for p in pads[rank:]]
    if min(begins + ends) < 0 or begins[0] or ends[0]:
        raise ctx.fail(node, f"has pads {pads.tolist()}; gridnn pads by non-negative amounts "
                             f"and never the batch axis")
    ctx.check_size(node, tuple(n + b + e for n, b, e in zip(ctx.shape(node.input[0]), begins,
                                                            ends))[1:], "padded output")
    mode = attrs.get("mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    modes = {"constant": "constant", "reflect": "reflect", "edge": "replicate",
             "wrap": "circular"}
    if mode not in modes:
        raise ctx.fail(node, f"has mode {mode!r}; expected one of {sorted(modes)}")
    first = next((i for i in range(1, rank) if begins[i] or ends[i]), rank - 1)
    flat = [p for i in reversed(range(first, rank)) for p in (begins[i], ends[i])]
    return Step((node.input[0],), L.Pad(flat, modes[mode], float(np.asarray(value).reshape(-1)[0])
                                        if np.size(value) else 0.0))


def transpose(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    rank = len(ctx.shape(node.input[0]))
    perm = ints(attrs, "perm", range(rank - 1, -1, -1))
    return Step((node.input[0],), L.Transpose(perm))


def concat_op(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    if not all(ctx.is_runtime(n) for n in node.input):
        raise ctx.fail(node, "joins a constant to a computed tensor; gridnn joins computed "
                             "tensors only")
    shapes = [ctx.value_shape(n) for n in node.input]
    axis = int(attrs.get("axis", 0)) % len(shapes[0])
    out = list(shapes[0])
    out[axis] = sum(shape[axis] for shape in shapes)
    ctx.check_size(node, tuple(out[1:]), "result")
    return Step(tuple(node.input), op="Concat", axis=axis)


def alias(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    if node.op_type == "Dropout" and any(node.output[1:]):
        raise ctx.fail(node, "returns its mask; gridnn loads Dropout as the inference identity")
    return Step((node.input[0],))


Converter = Callable[[Any, dict[str, Any], Context], Step]
CONVERTERS: dict[str, Converter] = {
    "Conv": conv, "BatchNormalization": batch_norm, "Gemm": gemm, "MatMul": matmul,
    "Add": arithmetic, "Sub": arithmetic, "Mul": arithmetic, "Div": arithmetic,
    "MaxPool": pool, "AveragePool": pool, "GlobalAveragePool": global_pool,
    "ReduceMean": reduce_mean, "Relu": activation, "LeakyRelu": activation,
    "Sigmoid": activation, "Tanh": activation, "Softmax": activation, "Clip": clip,
    "Pad": pad, "Transpose": transpose, "Concat": concat_op, "Identity": alias,
    "Dropout": alias, **MODERN,
}


def unsupported(nodes: list[Any], path: Any, supported: list[str]) -> DataError | None:
    """One error naming every operator of ``nodes`` gridnn cannot load (how many nodes use
    it, and the first), or None when there is none."""
    missing: dict[str, list[Any]] = {}
    for node in nodes:
        if node.op_type not in supported:
            missing.setdefault(node.op_type, []).append(node)
    if not missing:
        return None
    listed = "; ".join(f"{op} ({len(found)} node{'s' if len(found) > 1 else ''}, first "
                       f"{node_label(found[0])})" for op, found in sorted(missing.items()))
    return DataError(f"{path}: {len(missing)} operator{'s' if len(missing) > 1 else ''} "
                     f"gridnn cannot load: {listed}; supported: {', '.join(sorted(supported))}")
