"""``load(path)``: an ONNX file as a gridnn Module whose weights are Parameters.

The graph is walked once in order. Every value is known twice, for a batch of ``B`` samples and
for ``B + 1`` (zeros of the declared input shape go in): constants and shape arithmetic fold to
NumPy arrays, and a value that differs between the two runs depends on the batch size, which is
how ``Reshape(x, [Shape(x)[0], -1])`` becomes ``nn.Flatten`` and not a fixed-size reshape. A
value computed from the input is read only for its shape, so a layer (which works per sample)
runs at ``B`` alone and its ``B + 1`` value is a stand-in of the right shape. Each
computing node becomes a gridnn layer (see ``importer``), and the layers form an
``nn.Sequential`` when they are a chain, else a ``GraphModule``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..errors import DataError
from ..tensor import Tensor
from . import folding
from .graph import GraphModule, Node, build_module, inline
from .importer import CONVERTERS, unsupported
from .importer_ops import split_parts
from .layers import Reshape, Slice
from .reader import (
    LIMITS,
    Model,
    metadata_floats,
    node_label,
    onnx_module,
    read_model,
    tensor_array,
    topological_nodes,
)
from .steps import Step, layer_stem

SUPPORTED = sorted({*CONVERTERS, *folding.FOLDERS, "Constant", "Shape", "Split"})


@dataclass
class OnnxInfo:
    """Where a loaded model came from, and its input and output sizes per sample."""

    path: str
    producer: str
    opset: int
    input_name: str
    input_shape: tuple[int, ...]  # one sample, without the batch axis
    output_shape: tuple[int, ...]
    mean: tuple[float, ...] | None = None  # per-channel input normalisation from the file's
    std: tuple[float, ...] | None = None  # metadata ('mean', 'std'), where it gives them

    @property
    def num_classes(self) -> int:
        """The output's size per sample when it is a vector of class scores, else 0."""
        return self.output_shape[0] if len(self.output_shape) == 1 else 0


@dataclass
class Value:
    """A value at the two batch sizes; ``runtime`` when it is computed from the input."""

    runs: tuple[np.ndarray, np.ndarray]
    runtime: bool


class Loader:
    """The state of one load: values, steps taken, and the converters' Context."""

    def __init__(self, model: Model, input_shape: tuple[int, ...] | None,
                 fold_batchnorm: bool = True) -> None:
        self.model, self.opset, self.path = model, model.opset, model.path
        self.fold_batchnorm = fold_batchnorm
        graph = model.graph
        self.values: dict[str, Value] = {}
        total = 0
        for init, span in zip(graph.initializer, model.spans):
            array = tensor_array(init, model, "initializer", span)
            total += array.nbytes
            if total > LIMITS.total_bytes:
                raise DataError(f"{self.path}: the initializers hold more than the "
                                f"{LIMITS.total_bytes}-byte limit")
            self.values[init.name] = Value((array, array), False)
        inputs = [i for i in graph.input if i.name not in self.values]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise DataError(f"{self.path}: the graph has {len(inputs)} inputs and "
                            f"{len(graph.output)} outputs; gridnn loads one of each")
        self.input_name, self.output_name = inputs[0].name, graph.output[0].name
        self.input_shape, batch = self._declared_input(inputs[0], input_shape)
        self.batches = (batch, batch + 1)
        runs = tuple(np.zeros((b, *self.input_shape), np.float32) for b in self.batches)
        self.values[self.input_name] = Value(runs, True)
        self.nodes = topological_nodes(model, set(self.values))
        self.readers: dict[str, int] = {}
        self.reader: dict[str, Any] = {}  # value -> the (last) node that reads it
        for node in self.nodes:
            for name in dict.fromkeys(n for n in node.input if n):
                self.readers[name] = self.readers.get(name, 0) + 1
                self.reader[name] = node
        self.reader_count = dict(self.readers)  # readers counts down as the walk goes
        self.identity_views: set[str] = set()  # Reshape(x, [-1]) that a Gather undoes
        self.steps: dict[str, Step] = {}  # output name -> step, in order
        self.names: dict[str, str] = {}  # output name -> layer name
        self.taken: set[str] = set()  # the layer names in use
        self.suffix: dict[str, int] = {}  # name stem -> next number to try

    def _declared_input(self, value: Any, override: tuple[int, ...] | None
                        ) -> tuple[tuple[int, ...], int]:
        """(per-sample shape, batch size to try) from the graph input's type."""
        tensor = value.type.tensor_type
        if value.type.WhichOneof("value") != "tensor_type" or tensor.elem_type not in (1, 11):
            raise DataError(f"{self.path}: input {value.name!r} is not a float tensor")
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        if override is not None:
            shape = tuple(int(d) for d in override)
        elif len(dims) < 2 or None in dims[1:] or min(dims[1:]) < 1:
            raise DataError(f"{self.path}: input {value.name!r} has shape "
                            f"{['?' if d is None else d for d in dims]}; gridnn needs fixed "
                            f"sizes after the batch axis (pass input_shape=)")
        else:
            shape = tuple(dims[1:])
        if math.prod(shape) * 4 * 2 > LIMITS.tensor_bytes:  # a batch of two samples
            raise DataError(f"{self.path}: input {value.name!r} of shape {shape} per sample is "
                            f"over the size limit")
        # a fixed batch size in the file (an export without a dynamic axis) may appear as a
        # constant in reshapes: remember it, and run with batches 1 and 2 all the same
        self.static_batch = dims[0] if dims and dims[0] and override is None else None
        return shape, 1

    # ---- the converters' Context -------------------------------------------------------------
    def fail(self, node: Any, problem: str) -> DataError:
        return DataError(f"{self.path}: node {node_label(node)} {problem}")

    def check_size(self, node: Any, shape: tuple[int, ...], what: str) -> None:
        """DataError unless a float value of per-sample ``shape`` for two samples fits."""
        if min(shape, default=1) < 0 or math.prod(shape) * 4 * 2 > LIMITS.tensor_bytes:
            raise self.fail(node, f"would make a {what} of shape (N, "
                                  f"{', '.join(map(str, shape))}), over the size limit")

    def const(self, node: Any, index: int, what: str) -> np.ndarray | None:
        if len(node.input) <= index or not node.input[index]:
            return None
        value = self.values[node.input[index]]
        if value.runtime:
            return None
        a, b = value.runs
        if a.shape != b.shape or not np.array_equal(a, b):
            raise self.fail(node, f"has a {what} that depends on the batch size")
        return a

    def is_runtime(self, name: str) -> bool:
        return self.values[name].runtime

    def shape(self, name: str) -> tuple[int, ...]:
        return self.values[name].runs[0].shape

    def runs(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """A constant that may depend on the batch size, at both batch sizes (``batches``);
        None for a computed value."""
        value = self.values[name]
        return None if value.runtime else value.runs

    def value_shape(self, name: str) -> tuple[int, ...]:
        """The shape of a value as seen at batch size 2 (a constant's own shape)."""
        return self.values[name].runs[1].shape

    def producer(self, name: str, joins: bool = False) -> Step | None:
        """The step that computed ``name`` when exactly one node reads it (so it may fuse): a
        layer, or with ``joins`` also an inline join."""
        if self.reader_count.get(name) != 1 or name == self.output_name:
            return None
        step = self.steps.get(name)
        return step if step is not None and (step.layer is not None or
                                             joins and step.op is not None) else None

    # ---- the walk ----------------------------------------------------------------------------
    def run(self) -> tuple[nn.Module, OnnxInfo]:
        onnx = onnx_module()
        error = unsupported(self.nodes, self.path, SUPPORTED)
        if error is not None:
            raise error
        for node in self.nodes:
            if not node.output or not node.output[0]:
                raise self.fail(node, "has no output")
            try:
                attrs = {a.name: self._attribute(onnx, node, a) for a in node.attribute}
                self._one(node, attrs)
            except DataError:
                raise
            except (ValueError, TypeError, IndexError, KeyError, OverflowError,
                    ZeroDivisionError) as e:  # a malformed attribute or input of this node
                raise self.fail(node, f"is malformed ({type(e).__name__}: {e})") from None
            self._release(node)
        return self._finish()

    def _release(self, node: Any) -> None:
        """Replace the values no later node reads by empty stand-ins of their shape (only
        their shapes are looked at again), so a load holds a few sample values at a time, and
        a weight only while a layer holds it (a BatchNorm folded into its Conv frees the
        Conv's weight as read from the file)."""
        for name in dict.fromkeys(n for n in node.input if n):
            self.readers[name] -= 1
            value = self.values[name]
            if not self.readers[name] and name != self.output_name:
                self.values[name] = Value(tuple(_stand_in(r.shape, r.dtype) for r in value.runs),
                                          value.runtime)

    def _attribute(self, onnx: Any, node: Any, attribute: Any) -> Any:
        if attribute.type == onnx.AttributeProto.TENSOR:
            return tensor_array(attribute.t, self.model, f"attribute {attribute.name!r} of")
        if attribute.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
            raise self.fail(node, "has a subgraph; gridnn loads plain graphs")
        return onnx.helper.get_attribute_value(attribute)

    def _one(self, node: Any, attrs: dict[str, Any]) -> None:
        op = node.op_type
        ins = [self.values[n] if n else None for n in node.input]
        if op == "Constant":
            if "value" not in attrs:
                raise self.fail(node, "holds no tensor 'value'; gridnn folds tensor constants")
            self._fold(node, lambda i: attrs["value"])
        elif op == "Shape":
            self._fold(node, lambda i: folding.shape_of(attrs, ins[0].runs[i].shape))
        elif op == "Reshape" and ins[0].runtime and self._undone_flatten(node):
            self.identity_views.add(node.output[0])
            self._take(node, Step((node.input[0],)))
        elif op == "Gather" and node.input[0] in self.identity_views:
            self._take(node, Step((node.input[0],)))
        elif op in folding.FOLDERS and not any(v is not None and v.runtime for v in ins):
            self._fold(node, lambda i: folding.FOLDERS[op](
                attrs, [None if v is None else v.runs[i] for v in ins]))
        elif op in folding.SHAPE_ONLY or op == "Slice":
            self._shape_op(node, attrs, ins)
        elif op == "Split":
            for out, step in split_parts(node, attrs, self):
                self._take(node, step, out)
        else:
            self._take(node, CONVERTERS[op](node, attrs, self))

    def _undone_flatten(self, node: Any) -> bool:
        """Whether Reshape(x, [-1]) is read only by a Gather that puts every element back
        where it was (indices = arange, of x's shape): how the dynamo exporter writes
        ``as_strided`` on a graph of fixed batch size 1. The pair is then the identity."""
        out, target = node.output[0], self.runs(node.input[1])
        reader = self.reader.get(out)
        if target is None or [t.tolist() for t in target] != [[-1]] * 2 or \
                self.readers.get(out) != 1 or reader.op_type != "Gather" or \
                self.static_batch != self.batches[0]:
            return False
        indices = self.const(reader, 1, "indices")
        shape = self.shape(node.input[0])
        return (indices is not None and indices.shape == shape and
                any(a.name == "axis" and a.i != 0 for a in reader.attribute) is False and
                np.array_equal(indices.reshape(-1), np.arange(math.prod(shape))))

    def _fold(self, node: Any, compute: Any) -> None:
        try:
            runs = (np.asarray(compute(0)), np.asarray(compute(1)))
        except (folding.FoldError, ValueError, IndexError, TypeError) as e:
            raise self.fail(node, f"cannot be folded: {e}") from None
        self.values[node.output[0]] = Value(runs, False)

    def _shape_op(self, node: Any, attrs: dict[str, Any], ins: list[Value | None]) -> None:
        """A data-moving op on a computed tensor: the two runs show what it does per sample."""
        args = [[None if v is None else v.runs[i] for v in ins] for i in (0, 1)]
        for k, v in enumerate(ins[1:], 1):
            if v is not None and v.runtime:
                raise self.fail(node, f"needs input {k} as a constant")
        if node.op_type == "Slice":
            index = [folding.slice_index(args[i][0].shape, args[i]) for i in (0, 1)]
            if any(ix[0].indices(b) != (0, b, 1) for ix, b in zip(index, self.batches)):
                raise self.fail(node, "slices the batch axis; gridnn keeps every sample")
            self._take(node, Step((node.input[0],), Slice((slice(None), *index[1][1:]))))
            return
        if node.op_type == "Reshape":
            for i in (0, 1):  # a leading size equal to the batch size is the batch axis
                target = np.array(args[i][1], np.int64).reshape(-1)
                if target.size and target[0] and target[0] in (self.batches[i],
                                                               self.static_batch):
                    target[0] = self.batches[i]
                args[i][1] = target
        try:
            outs = [folding.FOLDERS[node.op_type](attrs, args[i]) for i in (0, 1)]
        except (folding.FoldError, ValueError) as e:
            raise self.fail(node, f"cannot be applied: {e}") from None
        x = args[0][0]
        if any(o.shape[0] != b for o, b in zip(outs, self.batches)) or \
                outs[0].shape[1:] != outs[1].shape[1:]:
            raise self.fail(node, f"mixes the batch axis with others ({x.shape} -> "
                                  f"{outs[0].shape}); gridnn keeps the batch axis first")
        per_sample = outs[0].shape[1:]
        if per_sample == x.shape[1:]:
            step = Step((node.input[0],))
        elif len(per_sample) == 1 and x.ndim > 2:
            step = Step((node.input[0],), nn.Flatten())
        else:
            step = Step((node.input[0],), Reshape(per_sample))
        self._take(node, step)

    def _take(self, node: Any, step: Step, out: str | None = None) -> None:
        """Record a step for output ``out`` (the node's first by default) and compute it for
        both batch sizes."""
        out = out or node.output[0]
        kept = None
        for fused in (step.fuse,) if isinstance(step.fuse, str) else step.fuse or ():
            del self.steps[fused]
            kept = self.names.pop(fused, "")
            if not step.keep_name:
                self.taken.discard(kept)
        runs: list[np.ndarray] = []
        for i in (0, 1):
            args = [self.values[n].runs[i] for n in step.inputs]
            if step.layer is None and step.op is None:
                runs.append(args[0])
                continue
            if i == 1 and step.layer is not None and runs[0].shape[:1] == self.batches[:1] and \
                    all(self.values[n].runs[0].shape[:1] == self.batches[:1]
                        for n in step.inputs):
                # a layer keeps the batch axis and works per sample: at the second batch size
                # only its output's shape is ever read, so it is not computed again
                runs.append(_stand_in((self.batches[1], *runs[0].shape[1:]), runs[0].dtype))
                continue
            for a in args:
                if a.nbytes > LIMITS.tensor_bytes:
                    raise self.fail(node, "reads a value over the size limit")
            try:
                with no_grad():
                    tensors = [Tensor(a) for a in args]
                    if step.layer is not None:
                        result = step.layer.eval()(*tensors)
                    else:
                        result = inline(step.op, tensors, step.axis)
            except ValueError as e:
                raise self.fail(node, f"does not fit its input shapes: {e}") from None
            runs.append(result.data if i == 0 else _stand_in(result.shape, result.dtype))
        self.values[out] = Value((runs[0], runs[1]), True)
        if step.layer is None and step.op is None:
            self.values[out] = self.values[step.inputs[0]]
            self.steps[out] = step
            return
        self.steps[out] = step
        if step.layer is not None:
            self.names[out] = kept if step.keep_name else self._layer_name(node, step)
            self.taken.add(self.names[out])

    def _layer_name(self, node: Any, step: Step) -> str:
        """A readable, unique child name: the weight's prefix ('layer1.0.conv1.weight' ->
        'layer1_0_conv1'), else the node's scope ('/layer1/layer1.0/relu/Relu' ->
        'layer1_0_relu'), else the op type."""
        weights = [n for n in node.input[1:] if n in self.values and not self.values[n].runtime
                   and "." in n]
        base = layer_stem(node, weights[0] if weights else None)
        k = self.suffix.get(base, 0)  # the next suffix to try: linear in the node count
        name = f"{base}_{k}" if k else base
        while name in self.taken or hasattr(GraphModule, name):
            k += 1
            name = f"{base}_{k}"
        self.suffix[base] = k + 1
        return name

    def _finish(self) -> tuple[nn.Module, OnnxInfo]:
        out = self.output_name
        if out not in self.values or not self.values[out].runtime:
            raise DataError(f"{self.path}: the graph output {out!r} is not computed from "
                            f"its input")
        aliases: dict[str, str] = {}
        layers, nodes = {}, []
        for name, step in self.steps.items():
            inputs = tuple(aliases.get(n, n) for n in step.inputs)
            if step.layer is None and step.op is None:
                aliases[name] = inputs[0]
                continue
            layer_name = self.names[name] if step.layer is not None else None
            if step.layer is not None:
                layers[layer_name] = step.layer
            nodes.append(Node(name, inputs, layer_name, step.op, step.axis))
        module = build_module(layers, nodes, self.input_name, aliases.get(out, out))
        module.eval()
        proto = self.model.proto
        info = OnnxInfo(str(self.path), f"{proto.producer_name} {proto.producer_version}".strip(),
                        self.opset, self.input_name, self.input_shape,
                        tuple(self.values[out].runs[0].shape[1:]),
                        *(metadata_floats(self.model, key) for key in ("mean", "std")))
        module.onnx_info = info
        return module, info


def _stand_in(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Zeros of ``shape`` that take no memory (one element, broadcast): a value whose shape
    is read but not its contents."""
    return np.broadcast_to(np.zeros((), dtype), shape)


def load(path: str | os.PathLike, input_shape: tuple[int, ...] | None = None,
         fold_batchnorm: bool = True) -> nn.Module:
    """The model in an .onnx file as a gridnn Module (in eval mode; ``train()`` to train on).

    ``fold_batchnorm``: a BatchNormalization right after a Conv (and read by nothing else) is
    folded into the Conv's weight and bias, which computes the same in eval mode with one
    layer less; ``False`` keeps it as ``nn.BatchNorm2d`` (to train the loaded model on).

    ``input_shape`` (one sample, e.g. (3, 32, 32)) replaces the graph's declared input shape,
    for graphs whose sizes after the batch axis are not fixed. The Module is an
    ``nn.Sequential`` when the graph is a chain of layers, else a ``GraphModule``; its
    ``onnx_info`` (an ``OnnxInfo``) says where it came from. Raises DataError for a file that
    is corrupt, too large, or uses an operator gridnn does not have.
    """
    return load_model_file(path, input_shape, fold_batchnorm)[0]


def load_model_file(path: str | os.PathLike, input_shape: tuple[int, ...] | None = None,
                    fold_batchnorm: bool = True) -> tuple[nn.Module, OnnxInfo]:
    """(model, info) of an .onnx file: what read-only commands take in place of a run folder
    (``info.input_shape`` is the per-sample input shape, ``info.num_classes`` the classes)."""
    with nn.init.skipped():  # every weight comes from the file
        return Loader(read_model(path), input_shape, fold_batchnorm).run()
