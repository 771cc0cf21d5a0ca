"""``GraphModule``: a loaded ONNX graph that is not a plain chain of layers.

Its children are the graph's layers (real ``gridnn.nn`` layers where ONNX has them), so
``gn.summary``, receptive fields and feature maps see them; ``forward`` walks the nodes in
order. Element-wise joins of two computed tensors (a residual ``Add``, a ``Concat``) run inline
as Tensor operations, as a hand-written ``forward`` would do them, so the explain tools follow
the autograd graph through them.

Under ``no_grad`` a convolution whose output only feeds an element-wise activation hands that
activation to the convolution (``nn.fusion``).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..functional import concat
from ..nn import Module, Sequential
from ..nn.fusion import fusable, fusing, pairs, then_for
from ..tensor import Tensor
from .layers import binary


@dataclass
class Node:
    """One step of the walk: ``layer`` (a child's name) or ``op`` (an inline join such as
    'Add' or 'Concat', with ``axis`` for Concat) applied to the named values."""

    output: str
    inputs: tuple[str, ...]
    layer: str | None = None
    op: str | None = None
    axis: int = 0
    then: str | None = None  # an activation layer fused into this convolution (no_grad walk)


def inline(op: str, args: list[Any], axis: int = 0) -> Any:
    """Apply an inline join to Tensors or arrays: Add, Sub, Mul, Div, MatMul or Concat."""
    if op == "Concat":
        return concat(args, axis)
    if op == "MatMul":
        return args[0] @ args[1]
    return binary(op, args[0], args[1])


class GraphModule(Module):
    """A model loaded from an ONNX graph with branches or joins.

    Shape: input (N, *input_shape) -> output as the graph declares (e.g. (N, classes)).
    """

    def __init__(self, layers: dict[str, Module], nodes: list[Node], input_name: str,
                 output_name: str) -> None:
        super().__init__()
        for name, layer in layers.items():
            setattr(self, name, layer)
        self._nodes = list(nodes)
        self._input_name, self._output_name = input_name, output_name
        last_use: dict[str, int] = {}
        for i, node in enumerate(self._nodes):
            for name in node.inputs:
                last_use[name] = i
        # values no later node reads are dropped as the walk goes, as a hand-written forward
        # would let them go out of scope
        self._drop = [[n for n in dict.fromkeys(node.inputs)
                       if last_use[n] == i and n != output_name]
                      for i, node in enumerate(self._nodes)]
        self._fused = self._fuse_activations(last_use)

    def _fuse_activations(self, last_use: dict[str, int]) -> list[tuple[Node, list[str]]]:
        """The walk with each convolution that feeds only an element-wise activation (the
        next node) given that activation as ``then``."""
        nodes = self._nodes

        def fuses(i: int) -> bool:
            node, nxt = nodes[i], nodes[i + 1]
            return (node.layer is not None and nxt.layer is not None
                    and fusable(getattr(self, node.layer), getattr(self, nxt.layer))
                    and nxt.inputs == (node.output,) and last_use[node.output] == i + 1
                    and node.output != self._output_name)

        return [(dataclasses.replace(nodes[i], output=nodes[i + 1].output,
                                     then=nodes[i + 1].layer) if fused else nodes[i],
                 self._drop[i]) for i, fused in pairs(len(nodes), fuses)]

    def forward(self, x: Tensor) -> Tensor:
        values: dict[str, Any] = {self._input_name: x}
        for node, drop in self._fused if fusing() else zip(self._nodes, self._drop):
            args = [values[n] for n in node.inputs]
            if node.then is not None:
                values[node.output] = getattr(self, node.layer)(
                    *args, then=then_for(getattr(self, node.then)))
            elif node.layer is not None:
                values[node.output] = getattr(self, node.layer)(*args)
            else:
                values[node.output] = inline(node.op, args, node.axis)
            for name in drop:
                del values[name]
        return values[self._output_name]

    @property
    def nodes(self) -> list[Node]:
        """The walk, in order (read-only use: exporting, drawing)."""
        return list(self._nodes)

    @property
    def input_name(self) -> str:
        return self._input_name

    @property
    def output_name(self) -> str:
        return self._output_name

    def extra_repr(self) -> str:
        joins = sum(node.layer is None for node in self._nodes)
        return f"{len(self._nodes)} nodes, {joins} inline joins"


def build_module(layers: dict[str, Module], nodes: list[Node], input_name: str,
                 output_name: str) -> Module:
    """An ``nn.Sequential`` when the nodes form a chain of layers (each reads the one before
    it, the first reads the input, the last gives the output), else a ``GraphModule``."""
    chain = bool(nodes) and nodes[-1].output == output_name
    previous = input_name
    for node in nodes:
        chain = chain and node.layer is not None and node.inputs == (previous,)
        previous = node.output
    if chain:
        return Sequential(OrderedDict((node.layer, layers[node.layer]) for node in nodes))
    return GraphModule(layers, nodes, input_name, output_name)
