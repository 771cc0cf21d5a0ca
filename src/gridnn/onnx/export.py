"""``export(model, path, input_shape)``: a gridnn model as an ONNX file ONNX Runtime runs.

The model is walked layer by layer while a sample batch runs through it, so every node is
written with the sizes gridnn computed (its 'same' pads, its pooling windows). The batch axis
is dynamic ('N'). Choices where ONNX and gridnn differ:

* padding_mode reflect / replicate go through a Pad node (modes 'reflect', 'edge'); circular
  uses Pad mode 'wrap' from opset 19 on, and at older opsets (17 has no 'wrap') is built from
  Slice + Concat, the same wrap-around by hand.
* Adaptive average pooling to size 1 is GlobalAveragePool; to a size that divides the input
  an AveragePool; otherwise two MatMuls by the bin-averaging matrices (pooling is linear).
* Dropout and Identity write no node (inference form); BatchNorm writes its inference form.
* Locally connected layers have no ONNX counterpart: export raises an error naming the layer
  (an equivalent graph would need one Einsum per layer that no importer maps back).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import functional as F
from .. import nn
from ..autograd import no_grad
from ..errors import ArgumentError
from ..fileio import atomic_write
from ..tensor import Tensor
from . import export_layers
from .graph import GraphModule, inline
from .reader import onnx_module

MIN_EXPORT_OPSET = 13  # Softmax over one axis, Unsqueeze/Split with axes as inputs
INT64_MAX = np.iinfo(np.int64).max
_SIMPLE = {nn.ReLU: "Relu", nn.Sigmoid: "Sigmoid", nn.Tanh: "Tanh"}
_SKIPPED = (nn.Dropout, nn.Identity)
_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class _Graph:
    """Nodes and initializers being written, with the sample batch flowing alongside."""

    def __init__(self, onnx: Any, opset: int) -> None:
        self.onnx, self.opset = onnx, opset
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.names: set[str] = set()
        self.count = 0

    def const(self, name: str, array: Any) -> str:
        """An initializer named ``name`` (written once: a repeated name is the same value)."""
        if name in self.names:
            return name
        self.names.add(name)
        array = np.asarray(array)
        array = array.astype(np.float32) if array.dtype.kind == "f" else array.astype(np.int64)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], where: str, **attrs: Any) -> str:
        self.count += 1
        out = f"/{where}/{op}_output_{self.count}"
        name = f"/{where}/{op}"
        name = name if name not in self.names else f"{name}_{self.count}"
        self.names.add(name)
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [out], name=name, **attrs))
        return out


def _prefix(name: str) -> str:
    return f"{name}." if name else ""


def _pads_attr(pairs: tuple[tuple[int, int], ...]) -> list[int]:
    """ONNX pads: all begins, then all ends."""
    return [lo for lo, _ in pairs] + [hi for _, hi in pairs]


def _pad(g: _Graph, x: str, pairs: Any, mode: str, where: str) -> str:
    """Pad the spatial axes of x (N, C, *S) by (low, high) pairs in a gridnn padding mode."""
    p = _prefix(where)
    if mode == "circular" and g.opset < 19:
        for axis, (lo, hi) in enumerate(pairs, 2):
            axes = g.const(f"{p}wrap{axis}_axes", [axis])
            parts = [x]
            if lo:  # the last lo entries go in front
                starts, ends = g.const(f"{p}wrap{axis}_lo", [-lo]), g.const(f"{p}wrap_end",
                                                                            [INT64_MAX])
                parts.insert(0, g.node("Slice", [x, starts, ends, axes], where))
            if hi:  # the first hi entries go behind
                starts, ends = g.const(f"{p}wrap_start", [0]), g.const(f"{p}wrap{axis}_hi", [hi])
                parts.append(g.node("Slice", [x, starts, ends, axes], where))
            if len(parts) > 1:
                x = g.node("Concat", parts, where, axis=axis)
        return x
    full = ((0, 0), (0, 0), *pairs)
    pads = g.const(f"{p}pads", _pads_attr(full))
    return g.node("Pad", [x, pads], where, mode=_PAD_MODES.get(mode, "constant"))


def _conv(g: _Graph, layer: Any, x: str, shape: tuple[int, ...], where: str) -> str:
    nd = layer.nd
    pairs = F.resolve_padding(layer.padding, shape[2:], layer.kernel_size, layer.stride,
                              layer.dilation, type(layer).__name__)
    if layer.padding_mode != "zeros" and any(lo or hi for lo, hi in pairs):
        x = _pad(g, x, pairs, layer.padding_mode, where)
        pairs = ((0, 0),) * nd
    inputs = [x, g.const(_prefix(where) + "weight", layer.weight.data)]
    if layer.bias is not None:
        inputs.append(g.const(_prefix(where) + "bias", layer.bias.data))
    return g.node("Conv", inputs, where, kernel_shape=list(layer.kernel_size),
                  strides=list(layer.stride), dilations=list(layer.dilation),
                  group=layer.groups, pads=_pads_attr(pairs))


def _linear(g: _Graph, layer: Any, x: str, shape: tuple[int, ...], where: str) -> str:
    w = g.const(_prefix(where) + "weight", layer.weight.data if len(shape) == 2
                else layer.weight.data.T)
    if len(shape) == 2:
        inputs = [x, w] + ([g.const(_prefix(where) + "bias", layer.bias.data)]
                           if layer.bias is not None else [])
        return g.node("Gemm", inputs, where, transB=1)
    out = g.node("MatMul", [x, w], where)  # Gemm takes 2-D inputs only
    if layer.bias is not None:
        out = g.node("Add", [out, g.const(_prefix(where) + "bias", layer.bias.data)], where)
    return out


def _batch_norm(g: _Graph, layer: Any, x: str, shape: tuple[int, ...], where: str) -> str:
    if not layer.track_running_stats:
        raise ArgumentError(f"export: {where or 'the model'} ({type(layer).__name__}) has no "
                            f"running statistics, so it has no inference form in ONNX")
    c = layer.num_features
    p = _prefix(where)
    scale = layer.weight.data if layer.weight is not None else np.ones(c, np.float32)
    shift = layer.bias.data if layer.bias is not None else np.zeros(c, np.float32)
    inputs = [x, g.const(p + "weight", scale), g.const(p + "bias", shift),
              g.const(p + "running_mean", layer.running_mean),
              g.const(p + "running_var", layer.running_var)]
    momentum = 0.9 if layer.momentum is None else 1.0 - layer.momentum
    return g.node("BatchNormalization", inputs, where, epsilon=float(layer.eps),
                  momentum=float(momentum))


def _pool(g: _Graph, layer: Any, x: str, shape: tuple[int, ...], where: str,
          out_shape: tuple[int, ...]) -> str:
    """Pooling with explicit pads and ceil_mode=0: ONNX's shape rule for ceil_mode differs
    from PyTorch's (and gridnn's) when the last window would start in the padding, so the
    extra high-side pads that ceil_mode adds are written out."""
    nd = layer.nd
    name = type(layer).__name__
    kernel = F.ntuple(layer.kernel_size, nd, "kernel_size", name)
    stride = F.ntuple(layer.stride, nd, "stride", name)
    pad = F.ntuple(layer.padding, nd, "padding", name, minimum=0)
    highs = [max((o - 1) * s + k - n - p, p)
             for o, s, k, n, p in zip(out_shape[2:], stride, kernel, shape[2:], pad)]
    attrs: dict[str, Any] = {"kernel_shape": list(kernel), "strides": list(stride)}
    if isinstance(layer, (nn.MaxPool1d, nn.MaxPool2d)):
        return g.node("MaxPool", [x], where, pads=[*pad, *highs], **attrs)
    if list(pad) == highs or not layer.count_include_pad:
        return g.node("AveragePool", [x], where, pads=[*pad, *highs],
                      count_include_pad=int(layer.count_include_pad), **attrs)
    # gridnn counts the zero padding but not the cells ceil_mode adds past it: pad with zeros
    # first, then average over what lies inside that
    x = _pad(g, x, tuple((p, p) for p in pad), "zeros", where)
    return g.node("AveragePool", [x], where, pads=[0] * nd + [h - p for h, p in zip(highs, pad)],
                  count_include_pad=0, **attrs)


def _bin_matrix(n: int, out: int) -> np.ndarray:
    """(out, n): row i averages bin floor(i*n/out) .. ceil((i+1)*n/out) (adaptive pooling)."""
    m = np.zeros((out, n), np.float64)
    for i in range(out):
        lo, hi = (i * n) // out, -((-(i + 1) * n) // out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


def _adaptive(g: _Graph, layer: Any, x: str, shape: tuple[int, ...], where: str) -> str:
    nd = layer.nd
    size = F.ntuple(layer.output_size, nd, "output_size", type(layer).__name__)
    spatial = shape[2:]
    if size == (1,) * nd:
        return g.node("GlobalAveragePool", [x], where)
    if all(n % o == 0 for n, o in zip(spatial, size)):
        k = [n // o for n, o in zip(spatial, size)]
        return g.node("AveragePool", [x], where, kernel_shape=k, strides=k, pads=[0] * 2 * nd)
    p = _prefix(where)
    if nd == 2:  # rows: (oH, H) @ (N, C, H, W)
        x = g.node("MatMul", [g.const(p + "rows", _bin_matrix(spatial[0], size[0])), x], where)
    return g.node("MatMul", [x, g.const(p + "cols", _bin_matrix(spatial[-1], size[-1]).T)],
                  where)


def _flatten(g: _Graph, layer: Any, x: str, shape: tuple[int, ...], where: str,
             out_shape: tuple[int, ...]) -> str:
    if layer.start_dim % len(shape) == 0:
        raise ArgumentError(f"export: layer {where!r} (Flatten) merges the batch axis, which "
                            f"the exported graph keeps dynamic")
    if len(out_shape) == 2 and layer.start_dim % len(shape) == 1:
        return g.node("Flatten", [x], where, axis=1)
    target = g.const(_prefix(where) + "shape", [0, *out_shape[1:]])
    return g.node("Reshape", [x, target], where)


def _residual(g: _Graph, block: Any, x: str, shape: tuple[int, ...], where: str,
              sample: Tensor) -> tuple[str, Tensor]:
    p = _prefix(where)
    out, s = x, sample
    for name in ("conv1", "bn1", "relu", "conv2", "bn2"):
        out, s = _layer(g, getattr(block, name), out, s, p + name)
    short, _ = (x, sample) if block.downsample is None else \
        _layer(g, block.downsample, x, sample, p + "downsample")
    out = g.node("Add", [out, short], where)
    out = g.node("Relu", [out], where)
    return out, block(sample)


def _graph_module(g: _Graph, module: GraphModule, x: str, sample: Tensor, where: str
                  ) -> tuple[str, Tensor]:
    """A loaded graph written again: its children as layers, its joins as nodes."""
    values = {module.input_name: (x, sample)}
    for node in module.nodes:
        args = [values[n] for n in node.inputs]
        if node.layer is not None:
            values[node.output] = _layer(g, getattr(module, node.layer), args[0][0],
                                         args[0][1], _prefix(where) + node.layer)
        else:
            attrs = {"axis": node.axis} if node.op == "Concat" else {}
            values[node.output] = (g.node(node.op, [a[0] for a in args], where or "graph",
                                          **attrs), inline(node.op, [a[1] for a in args],
                                                           node.axis))
    return values[module.output_name]


def _layer(g: _Graph, layer: Any, x: str, sample: Tensor, where: str) -> tuple[str, Tensor]:
    """Write ``layer`` applied to value ``x``; returns (output value name, output sample)."""
    shape = sample.shape
    if isinstance(layer, nn.Sequential):
        for name, child in layer.named_children():
            x, sample = _layer(g, child, x, sample, _prefix(where) + name)
        return x, sample
    if isinstance(layer, nn.ResidualBlock):
        return _residual(g, layer, x, shape, where, sample)
    if isinstance(layer, GraphModule):
        return _graph_module(g, layer, x, sample, where)
    if isinstance(layer, (nn.LocallyConnected1d, nn.LocallyConnected2d)):
        raise ArgumentError(f"export: layer {where!r} ({type(layer).__name__}) has no ONNX "
                            f"counterpart: locally connected layers cannot be exported")
    out_sample = layer(sample)
    if isinstance(layer, _SKIPPED):
        return x, out_sample
    if type(layer) in _SIMPLE:
        return g.node(_SIMPLE[type(layer)], [x], where), out_sample
    if isinstance(layer, nn.LeakyReLU):
        return g.node("LeakyRelu", [x], where, alpha=layer.negative_slope), out_sample
    if isinstance(layer, nn.Softmax):
        return g.node("Softmax", [x], where, axis=layer.dim), out_sample
    if isinstance(layer, nn.Flatten):
        return _flatten(g, layer, x, shape, where, out_sample.shape), out_sample
    if isinstance(layer, (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)):
        return _pool(g, layer, x, shape, where, out_sample.shape), out_sample
    written = export_layers.write(g, layer, x, shape, where, out_sample.shape)
    if written is not None:
        return written, out_sample
    writers = {nn.Conv1d: _conv, nn.Conv2d: _conv, nn.Linear: _linear,
               nn.BatchNorm1d: _batch_norm, nn.BatchNorm2d: _batch_norm,
               nn.AdaptiveAvgPool1d: _adaptive,
               nn.AdaptiveAvgPool2d: _adaptive}
    if type(layer) not in writers:
        known = sorted({c.__name__ for c in (*writers, *_SIMPLE, *_SKIPPED)} |
                       {"LeakyReLU", "Softmax", "Flatten", "Sequential", "ResidualBlock",
                        "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d"})
        raise ArgumentError(f"export: layer {where!r} ({type(layer).__name__}) has no ONNX "
                            f"writer; exportable layers: {', '.join(known)}")
    return writers[type(layer)](g, layer, x, shape, where), out_sample


def to_proto(model: nn.Module, input_shape: tuple[int, ...], opset: int = 17,
             mean: Any = None, std: Any = None) -> Any:
    """The ModelProto of ``model`` for inputs (N, *input_shape), N dynamic; ``mean`` and
    ``std`` (per channel) go into the metadata, where ``gridnn predict`` finds them."""
    onnx = onnx_module()
    newest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not MIN_EXPORT_OPSET <= opset <= newest:
        raise ArgumentError(f"export: `opset` must be an int from {MIN_EXPORT_OPSET} to "
                            f"{newest}, received opset={opset!r}")
    if not isinstance(model, nn.Module):
        raise ArgumentError(f"export: `model` must be a gridnn.nn.Module, received "
                            f"{type(model).__name__}")
    shape = tuple(int(s) for s in input_shape)
    if not shape or min(shape) < 1:
        raise ArgumentError(f"export: `input_shape` must be positive sizes of one sample such "
                            f"as (1, 28, 28), received {input_shape!r}")
    params = list(model.parameters())
    dtype = params[0].dtype if params else np.float32
    g = _Graph(onnx, opset)
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            out, sample = _layer(g, model, "input", Tensor(np.zeros((1, *shape), dtype)), "")
    finally:
        for module, training in flags:
            module.training = training
    out = g.node("Identity", [out], "output") if out == "input" else out
    float_type = onnx.TensorProto.FLOAT
    graph = onnx.helper.make_graph(
        g.nodes, "gridnn", [onnx.helper.make_tensor_value_info("input", float_type,
                                                                ["N", *shape])],
        [onnx.helper.make_tensor_value_info(out, float_type, ["N", *sample.shape[1:]])],
        g.initializers)
    opsets = [onnx.helper.make_opsetid("", opset)]
    proto = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="gridnn",
                                   producer_version=_version())
    proto.ir_version = onnx.helper.find_min_ir_version_for(opsets)
    stats = {"mean": mean, "std": std}
    if (mean is None) != (std is None):
        raise ArgumentError("export: give both `mean` and `std` or neither")
    if mean is not None:
        onnx.helper.set_model_props(proto, {k: ",".join(repr(float(v)) for v in np.ravel(a))
                                            for k, a in stats.items()})
    onnx.checker.check_model(proto)
    return proto


def _version() -> str:
    from .. import __version__
    return __version__


def export(model: nn.Module, path: str | os.PathLike, input_shape: tuple[int, ...],
           opset: int = 17, mean: Any = None, std: Any = None) -> None:
    """Write ``model`` to ``path`` as ONNX for inputs (N, *input_shape), N dynamic; the file
    is replaced atomically. ``mean``/``std``: the per-channel input normalisation, written to
    the metadata. Raises ArgumentError naming a layer ONNX has no counterpart for."""
    proto = to_proto(model, input_shape, opset, mean, std)
    atomic_write(path, proto.SerializeToString())
