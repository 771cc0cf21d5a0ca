"""Converters of the operators modern CNNs add (MobileNetV3, EfficientNet, ConvNeXt, ShuffleNet,
segmentation heads): activations, LayerNorm / InstanceNorm / GroupNorm, ConvTranspose, Resize,
Split, reductions and the element-wise maths of decomposed functions (Erf, Pow, Abs, ...).

Each turns a node into a ``gridnn.nn`` layer where there is one (``nn.Hardswish``,
``nn.LayerNorm``, ``nn.ConvTranspose2d``, ``nn.Upsample``, ...), else into a small layer of
``layers``. See ``importer`` for the Step / Context protocol.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import nn
from . import layers as L
from .steps import Context, Step, auto_pads, ints, reduce_axes


def _float_const(ctx: Context, node: Any, index: int, what: str) -> np.ndarray:
    value = ctx.const(node, index, what)
    if value is None:
        raise ctx.fail(node, f"needs its {what} as a constant (an initializer)")
    return np.ascontiguousarray(value, np.float32)


def _attr_float(attrs: dict[str, Any], key: str, default: float) -> float:
    return float(np.format_float_positional(np.float32(attrs.get(key, default)), unique=True,
                                            trim="-"))


def _text(attrs: dict[str, Any], key: str, default: str) -> str:
    value = attrs.get(key, default)
    return value.decode() if isinstance(value, bytes) else value


def unary(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    op = node.op_type
    if op == "HardSwish":
        return Step((node.input[0],), nn.Hardswish())
    if op == "HardSigmoid":
        alpha, beta = _attr_float(attrs, "alpha", 0.2), _attr_float(attrs, "beta", 0.5)
        if math.isclose(alpha, 1 / 6, rel_tol=1e-6) and beta == 0.5:
            return Step((node.input[0],), nn.Hardsigmoid())
        return Step((node.input[0],), L.HardSigmoid(alpha, beta))
    if op == "Gelu":
        return Step((node.input[0],), nn.GELU(_text(attrs, "approximate", "none")))
    if op == "Elu":
        return Step((node.input[0],), nn.ELU(_attr_float(attrs, "alpha", 1.0)))
    if op == "Softplus":
        return Step((node.input[0],), nn.Softplus(1.0, math.inf))
    return Step((node.input[0],), L.Unary(op))


def prelu(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    slope = _float_const(ctx, node, 1, "slope")
    shape = ctx.shape(node.input[0])
    channels = shape[1] if len(shape) > 1 else 1
    dims = (1,) * (len(shape) - slope.ndim) + slope.shape  # as broadcast on (N, C, *S)
    if slope.size > 1 and (len(dims) != len(shape) or dims[1] != channels
                           or math.prod(dims) != channels):
        raise ctx.fail(node, f"has a slope of shape {slope.shape}; gridnn's PReLU takes one "
                             f"slope or one per channel ({channels})")
    layer = nn.PReLU(slope.size)
    layer.weight.data = slope.reshape(-1).copy()
    return Step((node.input[0],), layer)


def pow_op(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    exponent = ctx.const(node, 1, "exponent")
    if exponent is None or exponent.size != 1 or ctx.const(node, 0, "base") is not None:
        raise ctx.fail(node, "raises a computed tensor to a constant scalar power only")
    return Step((node.input[0],), L.PowConstant(float(exponent.reshape(-1)[0])))


def layer_norm(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    shape = ctx.shape(node.input[0])
    axis = int(attrs.get("axis", -1)) % len(shape)
    if axis == 0 or any(node.output[1:]):
        raise ctx.fail(node, "normalises over the batch axis or returns its statistics; gridnn "
                             "loads the per-sample form")
    normalized = tuple(shape[axis:])
    scale = _float_const(ctx, node, 1, "scale")
    bias = _float_const(ctx, node, 2, "bias") if len(node.input) > 2 and node.input[2] else None
    layer = nn.LayerNorm(normalized, eps=_attr_float(attrs, "epsilon", 1e-5),
                         bias=bias is not None)
    layer.weight.data = np.broadcast_to(scale, normalized).copy()
    if bias is not None:
        layer.bias.data = np.broadcast_to(bias, normalized).copy()
    return Step((node.input[0],), layer)


def group_norm(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    """InstanceNormalization (groups = channels) and GroupNormalization (opset 18: scale and
    bias per group, 21: per channel)."""
    shape = ctx.shape(node.input[0])
    if len(shape) < 3:
        raise ctx.fail(node, f"normalises a {len(shape)}-D input; expected (N, C, *S)")
    c = shape[1]
    groups = c if node.op_type == "InstanceNormalization" else int(attrs["num_groups"])
    if groups < 1 or c % groups:
        raise ctx.fail(node, f"has num_groups {groups}, which does not divide {c} channels")
    scale, bias = _float_const(ctx, node, 1, "scale"), _float_const(ctx, node, 2, "bias")
    if scale.size == groups != c:  # opset 18's GroupNormalization: one per group
        scale, bias = np.repeat(scale, c // groups), np.repeat(bias, c // groups)
    if scale.size != c or bias.size != c:
        raise ctx.fail(node, f"has scale {scale.shape} and bias {bias.shape}; expected ({c},)")
    layer = nn.GroupNorm(groups, c, eps=_attr_float(attrs, "epsilon", 1e-5))
    layer.weight.data, layer.bias.data = scale.reshape(-1).copy(), bias.reshape(-1).copy()
    return Step((node.input[0],), layer)


def conv_transpose(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    w = _float_const(ctx, node, 1, "weight")
    nd = w.ndim - 2
    if nd not in (1, 2) or "output_shape" in attrs:
        raise ctx.fail(node, f"has a {w.ndim}-D weight or an output_shape; gridnn has 1-D and "
                             f"2-D transposed convolutions given by pads")
    kernel = w.shape[2:]
    if ints(attrs, "kernel_shape", kernel) != kernel:
        raise ctx.fail(node, f"kernel_shape {attrs['kernel_shape']} does not match its weight "
                             f"{w.shape}")
    if _text(attrs, "auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise ctx.fail(node, "has auto_pad SAME; gridnn loads explicit pads")
    stride = ints(attrs, "strides", [1] * nd)
    dilation = ints(attrs, "dilations", [1] * nd)
    pads = auto_pads(ctx, node, {k: v for k, v in attrs.items() if k != "auto_pad"}, kernel,
                     stride, dilation)
    groups = int(attrs.get("group", 1))
    extra = ints(attrs, "output_padding", [0] * nd)
    bias = len(node.input) > 2 and bool(node.input[2])
    cls = nn.ConvTranspose1d if nd == 1 else nn.ConvTranspose2d
    padding = tuple(lo for lo, _ in pads) if all(lo == hi for lo, hi in pads) else tuple(pads)
    try:
        layer = cls(w.shape[0], w.shape[1] * groups, kernel, stride, padding, extra, groups,
                    bias, dilation)
    except ValueError as e:
        raise ctx.fail(node, f"cannot be a gridnn transposed convolution: {e}") from None
    layer.weight.data = w
    if bias:
        layer.bias.data = _float_const(ctx, node, 2, "bias").reshape(-1).copy()
    out = [(n - 1) * s - lo - hi + d * (k - 1) + e + 1 for n, s, (lo, hi), d, k, e in
           zip(ctx.shape(node.input[0])[2:], stride, pads, dilation, kernel, extra)]
    ctx.check_size(node, (w.shape[1] * groups, *out), "output")
    return Step((node.input[0],), layer)


def resize(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    shape = ctx.shape(node.input[0])
    nd = len(shape) - 2
    mode = _text(attrs, "mode", "nearest")
    transform = _text(attrs, "coordinate_transformation_mode", "half_pixel")
    if nd not in (1, 2) or "axes" in attrs or int(attrs.get("antialias", 0)):
        raise ctx.fail(node, "resizes other than the 1 or 2 spatial axes of (N, C, *S), or "
                             "with antialias; gridnn's Upsample resizes the spatial axes")
    if mode == "linear" and transform in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        how = ("linear" if nd == 1 else "bilinear", transform == "align_corners")
    elif mode == "nearest" and transform == "asymmetric" and \
            _text(attrs, "nearest_mode", "round_prefer_floor") == "floor":
        how = ("nearest", None)
    else:
        raise ctx.fail(node, f"has mode {mode!r} with coordinate_transformation_mode "
                             f"{transform!r}; gridnn loads linear (half_pixel, align_corners) "
                             f"and nearest (asymmetric, floor) as PyTorch writes them")
    sizes = ctx.runs(node.input[3]) if len(node.input) > 3 and node.input[3] else None
    scales = ctx.const(node, 2, "scales") if len(node.input) > 2 and node.input[2] else None
    if sizes is not None:
        for run, batch in zip(sizes, ctx.batches):
            if run.reshape(-1)[0] not in (batch, ctx.static_batch) or run.reshape(-1)[1] != \
                    shape[1]:
                raise ctx.fail(node, "resizes the batch or channel axis")
        size = tuple(int(s) for s in sizes[0].reshape(-1)[2:])
        return Step((node.input[0],), nn.Upsample(size, None, *how))
    if scales is None or scales.size != nd + 2 or list(scales[:2]) != [1, 1]:
        raise ctx.fail(node, "needs constant scales (1, 1, ...) or sizes")
    factor = tuple(float(s) for s in scales[2:])
    return Step((node.input[0],), nn.Upsample(None, factor, *how))


def reduce(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    axes = reduce_axes(node, attrs, ctx)
    if axes is None:
        return Step((node.input[0],))
    if 0 in axes:
        raise ctx.fail(node, "reduces over the batch axis; gridnn keeps every sample")
    return Step((node.input[0],), L.Reduce(node.op_type[6:].lower(), axes,
                                           bool(attrs.get("keepdims", 1))))


def depth_to_space(node: Any, attrs: dict[str, Any], ctx: Context) -> Step:
    if len(ctx.shape(node.input[0])) != 4:
        raise ctx.fail(node, "needs a 4-D input (N, C, H, W)")
    return Step((node.input[0],), L.DepthToSpace(int(attrs["blocksize"]),
                                                 _text(attrs, "mode", "DCR")))


def split_parts(node: Any, attrs: dict[str, Any], ctx: Context) -> list[tuple[str, Step]]:
    """Split as one Slice step per output: [(output name, step), ...]."""
    shape = ctx.shape(node.input[0])
    axis = int(attrs.get("axis", 0)) % len(shape)
    if axis == 0:
        raise ctx.fail(node, "splits the batch axis; gridnn keeps every sample")
    sizes = ctx.const(node, 1, "split") if len(node.input) > 1 and node.input[1] else \
        attrs.get("split")
    n = len(node.output)
    if sizes is None:
        each = -(-shape[axis] // n)
        sizes = [min(each, shape[axis] - i * each) for i in range(n)]
    sizes = [int(s) for s in np.asarray(sizes).reshape(-1)]
    if len(sizes) != n or sum(sizes) != shape[axis] or min(sizes) < 0:
        raise ctx.fail(node, f"splits size {shape[axis]} into {sizes} for {n} outputs")
    parts, start = [], 0
    for name, size in zip(node.output, sizes):
        index = [slice(None)] * len(shape)
        index[axis] = slice(start, start + size, 1)
        parts.append((name, Step((node.input[0],), L.Slice(tuple(index)))))
        start += size
    return parts


MODERN = {
    "HardSwish": unary, "HardSigmoid": unary, "Gelu": unary, "Elu": unary, "Softplus": unary,
    "Erf": unary, "Abs": unary, "Neg": unary, "Exp": unary, "Log": unary, "Sqrt": unary,
    "Reciprocal": unary, "PRelu": prelu, "Pow": pow_op, "LayerNormalization": layer_norm,
    "InstanceNormalization": group_norm, "GroupNormalization": group_norm,
    "ConvTranspose": conv_transpose, "Resize": resize, "ReduceMax": reduce,
    "ReduceMin": reduce, "ReduceSum": reduce, "DepthToSpace": depth_to_space,
}
