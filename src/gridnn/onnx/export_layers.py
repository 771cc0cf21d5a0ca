"""ONNX writers of the layers beyond the classic CNN set: modern activations, LayerNorm,
GroupNorm, transposed convolutions, Upsample, and the small layers of ``layers`` that an
imported graph is made of, so that a model loaded from ONNX exports again.

Each writer takes (graph, layer, input value name, input shape, where, output shape) and
returns the name of its output value (``export._Graph`` writes the nodes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import nn
from ..errors import ArgumentError
from . import layers as L

Writer = Callable[..., str]


def _p(where: str) -> str:
    return f"{where}." if where else ""


def _clip(g: Any, x: str, where: str, low: float | None, high: float | None) -> str:
    bounds = [g.const(f"{_p(where)}{name}", np.float32(v)) if v is not None else ""
              for name, v in (("min", low), ("max", high))]
    return g.node("Clip", [x, *bounds], where)


def _hardtanh(g, layer, x, shape, where, out_shape):
    return _clip(g, x, where, layer.min_val, layer.max_val)


def _silu(g, layer, x, shape, where, out_shape):
    return g.node("Mul", [x, g.node("Sigmoid", [x], where)], where)


def _gelu(g, layer, x, shape, where, out_shape):
    if g.opset >= 20:
        return g.node("Gelu", [x], where, approximate=layer.approximate)
    if layer.approximate == "tanh":  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = g.node("Mul", [x, g.node("Mul", [x, x], where)], where)
        inner = g.node("Add", [x, g.node("Mul", [cube, g.const("gelu_c", np.float32(0.044715))],
                                          where)], where)
        t = g.node("Tanh", [g.node("Mul", [inner, g.const("gelu_k", np.float32(
            math.sqrt(2 / math.pi)))], where)], where)
    else:  # 0.5 x (1 + erf(x / sqrt 2))
        t = g.node("Erf", [g.node("Div", [x, g.const("gelu_sqrt2", np.float32(math.sqrt(2)))],
                                  where)], where)
    half = g.node("Mul", [x, g.const("gelu_half", np.float32(0.5))], where)
    return g.node("Mul", [half, g.node("Add", [t, g.const("gelu_one", np.float32(1))], where)],
                  where)


def _prelu(g, layer, x, shape, where, out_shape):
    slope = layer.weight.data.reshape(-1, *(1,) * (len(shape) - 2)) if \
        layer.weight.size > 1 else layer.weight.data
    return g.node("PRelu", [x, g.const(_p(where) + "weight", slope)], where)


def _layer_norm(g, layer, x, shape, where, out_shape):
    nd = len(shape)
    if layer.channels_first:
        x = g.node("Transpose", [x], where, perm=[0, *range(2, nd), 1])
    shape_n = layer.normalized_shape
    inputs = [x, g.const(_p(where) + "weight", layer.weight.data if layer.weight is not None
                         else np.ones(shape_n, np.float32))]
    if layer.bias is not None:
        inputs.append(g.const(_p(where) + "bias", layer.bias.data))
    out = g.node("LayerNormalization", inputs, where, axis=-len(shape_n), epsilon=layer.eps)
    return g.node("Transpose", [out], where, perm=[0, nd - 1, *range(1, nd - 1)]) \
        if layer.channels_first else out


def _group_norm(g, layer, x, shape, where, out_shape):
    """Reshape to (N, G, -1), InstanceNormalization, reshape back, scale and shift."""
    p, groups = _p(where), layer.num_groups
    grouped = g.node("Reshape", [x, g.const(p + "grouped", [0, groups, -1])], where)
    normed = g.node("InstanceNormalization", [grouped, g.const(p + "ones", np.ones(groups)),
                                              g.const(p + "zeros", np.zeros(groups))],
                    where, epsilon=layer.eps)
    out = g.node("Reshape", [normed, g.const(p + "shape", [0, *shape[1:]])], where)
    if layer.weight is None:
        return out
    per_channel = (-1, *(1,) * (len(shape) - 2))
    out = g.node("Mul", [out, g.const(p + "weight", layer.weight.data.reshape(per_channel))],
                 where)
    return g.node("Add", [out, g.const(p + "bias", layer.bias.data.reshape(per_channel))], where)


def _conv_transpose(g, layer, x, shape, where, out_shape):
    nd = layer.nd
    pairs = layer.padding if isinstance(layer.padding[0], (tuple, list)) else \
        tuple((q, q) for q in layer.padding)
    inputs = [x, g.const(_p(where) + "weight", layer.weight.data)]
    if layer.bias is not None:
        inputs.append(g.const(_p(where) + "bias", layer.bias.data))
    return g.node("ConvTranspose", inputs, where, kernel_shape=list(layer.kernel_size),
                  strides=list(layer.stride), dilations=list(layer.dilation),
                  group=layer.groups, output_padding=list(layer.output_padding),
                  pads=[lo for lo, _ in pairs[:nd]] + [hi for _, hi in pairs[:nd]])


def _upsample(g, layer, x, shape, where, out_shape):
    linear = layer.mode != "nearest"
    attrs = {"mode": "linear" if linear else "nearest",
             "coordinate_transformation_mode": "align_corners" if layer.align_corners else
             ("half_pixel" if linear else "asymmetric")}
    if not linear:
        attrs["nearest_mode"] = "floor"
    if layer.size is not None:  # (N, C) of the input, then the fixed spatial size
        head = g.node("Slice", [g.node("Shape", [x], where), g.const("zero", [0]),
                                g.const("two", [2])], where)
        sizes = g.node("Concat", [head, g.const(_p(where) + "size", list(out_shape[2:]))],
                       where, axis=0)
        return g.node("Resize", [x, "", "", sizes], where, **attrs)
    factor = layer.scale_factor if isinstance(layer.scale_factor, tuple) else \
        (layer.scale_factor,) * (len(shape) - 2)
    scales = g.const(_p(where) + "scales", np.array([1, 1, *factor], np.float32))
    return g.node("Resize", [x, "", scales], where, **attrs)


def _constant_op(g, layer, x, shape, where, out_shape):
    c = g.const(_p(where) + "constant", layer.constant)
    return g.node(layer.op, [c, x] if layer.constant_first else [x, c], where)


def _slice(g, layer, x, shape, where, out_shape):
    p, axes, starts, ends, steps = _p(where), [], [], [], []
    for axis, s in enumerate(layer.index):
        start, stop, step = s.indices(shape[axis])
        if (start, stop, step) != (0, shape[axis], 1):
            axes.append(axis)
            starts.append(start)
            ends.append(stop if stop >= 0 else -(2**63))
            steps.append(step)
    return g.node("Slice", [x, g.const(p + "starts", starts), g.const(p + "ends", ends),
                            g.const(p + "axes", axes), g.const(p + "steps", steps)], where)


def _reduce(g, layer, x, shape, where, out_shape):
    op = {"max": "ReduceMax", "min": "ReduceMin", "sum": "ReduceSum"}[layer.kind]
    if op == "ReduceSum" or g.opset >= 18:
        return g.node(op, [x, g.const(_p(where) + "axes", list(layer.axes))], where,
                      keepdims=int(layer.keepdims))
    return g.node(op, [x], where, axes=list(layer.axes), keepdims=int(layer.keepdims))


def _mean(g, layer, x, shape, where, out_shape):
    if g.opset >= 18:
        return g.node("ReduceMean", [x, g.const(_p(where) + "axes", list(layer.axes))], where,
                      keepdims=int(layer.keepdims))
    return g.node("ReduceMean", [x], where, axes=list(layer.axes), keepdims=int(layer.keepdims))


def _pow(g, layer, x, shape, where, out_shape):
    return g.node("Pow", [x, g.const(_p(where) + "exponent", np.float32(layer.exponent))], where)


def _hard_sigmoid(g, layer, x, shape, where, out_shape):
    return g.node("HardSigmoid", [x], where, alpha=layer.alpha, beta=layer.beta)


WRITERS: dict[type, Writer] = {
    nn.Hardtanh: _hardtanh, nn.ReLU6: _hardtanh, nn.SiLU: _silu, nn.GELU: _gelu,
    nn.PReLU: _prelu, nn.LayerNorm: _layer_norm, nn.GroupNorm: _group_norm,
    nn.ConvTranspose1d: _conv_transpose, nn.ConvTranspose2d: _conv_transpose,
    nn.Upsample: _upsample, L.ConstantOp: _constant_op, L.Slice: _slice, L.Reduce: _reduce,
    L.Mean: _mean, L.PowConstant: _pow, L.HardSigmoid: _hard_sigmoid,
    L.Clip: lambda g, layer, x, s, where, o: _clip(g, x, where, layer.low, layer.high),
    nn.Softplus: lambda g, layer, x, s, where, o: g.node("Softplus", [x], where),
    L.Transpose: lambda g, layer, x, s, where, o: g.node("Transpose", [x], where,
                                                        perm=list(layer.perm)),
    L.Reshape: lambda g, layer, x, s, where, o: g.node(
        "Reshape", [x, g.const(_p(where) + "shape", [0, *layer.shape])], where),
    L.Pad: lambda g, layer, x, s, where, o: g.node(
        "Pad", [x, g.const(_p(where) + "pads", _pads(layer, len(s))),
                g.const(_p(where) + "value", np.float32(layer.value))], where,
        mode={"constant": "constant", "reflect": "reflect", "replicate": "edge",
              "circular": "wrap"}[layer.mode]),
    L.MatMulConstant: lambda g, layer, x, s, where, o: g.node(
        "MatMul", [g.const(_p(where) + "constant", layer.constant), x], where),
    L.Unary: lambda g, layer, x, s, where, o: g.node(layer.op, [x], where),
    L.DepthToSpace: lambda g, layer, x, s, where, o: g.node(
        "DepthToSpace", [x], where, blocksize=layer.blocksize, mode=layer.mode),
    nn.ELU: lambda g, layer, x, s, where, o: g.node("Elu", [x], where, alpha=layer.alpha),
    nn.Hardswish: lambda g, layer, x, s, where, o: g.node("HardSwish", [x], where),
    nn.Hardsigmoid: lambda g, layer, x, s, where, o: g.node("HardSigmoid", [x], where,
                                                            alpha=1 / 6, beta=0.5),
}


def _pads(layer: Any, rank: int) -> list[int]:
    """PyTorch-style pads (last axis first, (low, high) each) as ONNX's begins then ends."""
    pairs = [(0, 0)] * rank
    for i in range(len(layer.pads) // 2):
        pairs[rank - 1 - i] = (layer.pads[2 * i], layer.pads[2 * i + 1])
    return [lo for lo, _ in pairs] + [hi for _, hi in pairs]


def write(g: Any, layer: Any, x: str, shape: tuple[int, ...], where: str,
          out_shape: tuple[int, ...]) -> str | None:
    """The output value of ``layer`` written by its writer, or None when it has none."""
    writer = WRITERS.get(type(layer))
    if writer is None:
        return None
    if isinstance(layer, nn.Softplus) and (layer.beta, layer.threshold) != (1, math.inf):
        raise ArgumentError(f"export: layer {where!r} (Softplus) has beta {layer.beta} and "
                            f"threshold {layer.threshold}; ONNX's Softplus is beta 1, no "
                            f"threshold")
    return writer(g, layer, x, shape, where, out_shape)
