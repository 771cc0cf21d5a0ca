"""``trace``: run a model once and record every leaf layer call with its input and output.

The one record of "which layer ran, on what, giving what" that the summary table, the receptive
fields and the feature-map pictures all read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..autograd import enable_grad, no_grad
from ..errors import ArgumentError, ArgumentTypeError
from ..ops.options import using
from ..tensor import Tensor
from .module import Module


@dataclass
class LayerCall:
    """One call of a leaf module during a traced forward pass (shapes include the batch dim)."""

    name: str
    module: Any
    input: Tensor
    output: Tensor

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.input.shape)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(self.output.shape)


def _check_input_shape(input_shape: Any) -> tuple[int, ...]:
    try:
        shape = tuple(int(n) for n in input_shape)
    except (TypeError, ValueError):
        raise ArgumentTypeError(
            f"summary: `input_shape` must be a tuple of ints for one sample such as (1, 28, 28), "
            f"received {input_shape!r}"
        ) from None
    if not shape or min(shape) < 1:
        raise ArgumentError(
            f"summary: `input_shape` must be positive sizes for one sample such as (1, 28, 28), "
            f"received {input_shape!r}"
        )
    return shape


def trace(model: Any, input_shape: tuple[int, ...], *, record_graph: bool = False,
          sample: Any = None) -> tuple[Tensor, list[LayerCall]]:
    """Run ``model`` once on one sample (zeros of ``input_shape``, or ``sample`` of that shape)
    as a batch of one, and record every call of a leaf module (a module without children) in
    call order, with its input and output. Returns (the input tensor, the calls).

    Each leaf's ``forward`` is wrapped by an instance attribute for the one pass and restored
    after, and the model runs in eval mode (its train/eval flags are restored), so tracing
    changes no state. With ``record_graph`` the pass records autograd links, so a caller can
    follow which call's output feeds which (through adds and reshapes in ``forward``).
    """
    if not isinstance(model, Module):
        raise ArgumentTypeError(
            f"summary: `model` must be a gridnn.nn.Module, received {type(model).__name__}"
        )
    shape = _check_input_shape(input_shape)
    params = list(model.parameters())
    dtype = params[0].dtype if params else np.float32
    data = np.zeros(shape, dtype=dtype) if sample is None else np.asarray(sample, dtype=dtype)
    if data.shape != shape:
        raise ArgumentError(
            f"summary: `sample` must have the input shape {shape}, received {data.shape}"
        )
    x = Tensor(data[None], requires_grad=record_graph)
    calls: list[LayerCall] = []
    leaves = [(n, m) for n, m in model.named_modules() if next(m.children(), None) is None]
    flags = [(m, m.training) for m in model.modules()]

    def recorder(name: str, module: Any, forward: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            out = forward(*args, **kwargs)
            if args and isinstance(args[0], Tensor) and isinstance(out, Tensor):
                calls.append(LayerCall(name or type(module).__name__, module, args[0], out))
            return out
        return run

    try:
        for name, module in leaves:
            module.forward = recorder(name, module, module.forward)
        model.eval()
        # every layer called on its own, none fused into the one before (fused_activations)
        with enable_grad() if record_graph else no_grad(), using(fused_activations=False):
            model(x)
    finally:
        for _, module in leaves:
            vars(module).pop("forward", None)
        for module, training in flags:
            module.training = training
    return x, calls
