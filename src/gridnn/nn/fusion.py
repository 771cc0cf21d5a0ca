"""Inference fusion: the element-wise activation after a convolution, run by the convolution.

Under ``no_grad`` (``fusing()``), ``Sequential`` and ``gridnn.onnx``'s graphs hand such an
activation to the convolution before it (``F.conv_nd``'s ``then``), which applies it to each
chunk of its output while the chunk is in cache, instead of a second pass over the whole
output. The values are those of the two layers one after the other, bit for bit
(tests/test_conv_then.py). With gradients, or inside ``using(fused_activations=False)`` (as
``nn.trace`` runs, to see every layer's output), each layer runs on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..autograd import is_grad_enabled
from ..ops.activation import clip, hardsigmoid, hardswish, silu
from ..ops.elementwise import relu, sigmoid
from ..ops.options import options
from ..tensor import Tensor
from . import activation as act
from .conv import Conv1d, Conv2d
from .module import Module

# one value in, one value out, each element on its own: safe to run on any block of values
ELEMENTWISE = (act.ReLU, act.LeakyReLU, act.Sigmoid, act.Tanh, act.Hardtanh, act.Hardsigmoid,
               act.Hardswish, act.SiLU, act.GELU, act.ELU, act.Softplus)


def fusing() -> bool:
    """Whether a forward pass now fuses (no gradient recorded, fused_activations on, and the
    fast convolution, not ``gridnn.plain_ops()``)."""
    opts = options()
    return not is_grad_enabled() and opts.fused_activations and not opts.plain_conv


def fusable(first: Module, second: Module) -> bool:
    """Whether ``second`` can run inside ``first`` (when ``second`` alone reads its output)."""
    return isinstance(first, (Conv1d, Conv2d)) and isinstance(second, ELEMENTWISE)


def pairs(n: int, fuses: Callable[[int], bool]) -> Iterator[tuple[int, bool]]:
    """Walk steps 0..n-1 of a model in order as (i, fused): ``fused`` when ``fuses(i)`` says
    step i + 1 (an activation) runs inside step i, which is then skipped."""
    i = 0
    while i < n:
        fused = i + 1 < n and fuses(i)
        yield i, fused
        i += 2 if fused else 1


def then_for(layer: Module) -> Any:
    """``then(src, dst)`` for a convolution: ``layer`` on a (rows, K) block of its output. The
    common activations write straight into ``dst`` (their value functions' ``into``); any
    other element-wise layer is called on the block as one sample (1, rows, K), so in the
    calling thread, and its result copied."""
    if isinstance(layer, act.ReLU):
        return lambda src, dst: relu(src, into=dst)
    if isinstance(layer, act.Hardtanh):  # and ReLU6
        return lambda src, dst: clip(src, layer.min_val, layer.max_val, into=dst)
    if isinstance(layer, act.Hardswish):
        return lambda src, dst: hardswish(src, into=dst)
    if isinstance(layer, act.Hardsigmoid):
        return lambda src, dst: hardsigmoid(src, into=dst)
    if isinstance(layer, act.SiLU):
        return lambda src, dst: silu(src, into=dst)
    if isinstance(layer, act.Sigmoid):
        return lambda src, dst: sigmoid(src, into=dst)

    def then(src: Any, dst: Any) -> None:
        dst[...] = layer(Tensor(src[None])).data[0]

    return then
