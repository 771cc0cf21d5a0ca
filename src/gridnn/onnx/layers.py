"""Layers for ONNX operators that have no ``gridnn.nn`` layer of their own.

Each is a small Module over the public Tensor API, so a loaded graph trains with autograd like
any gridnn model. Operators that do map onto a gridnn layer (Conv, Gemm, BatchNormalization,
pooling, activations, Flatten) are loaded as that layer instead (see ``importer``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import functional as F
from ..nn import Module
from ..tensor import Tensor


class Clip(Module):
    """min(max(x, low), high) as one op (``F.clip``); Clip(0, 6) loads as ``nn.ReLU6``.
    Shape: any -> same."""

    def __init__(self, low: float | None, high: float | None) -> None:
        super().__init__()
        self.low, self.high = low, high

    def forward(self, x: Tensor) -> Tensor:
        return F.clip(x, self.low, self.high)

    def extra_repr(self) -> str:
        return f"min={self.low}, max={self.high}"


class ConstantOp(Module):
    """An element-wise Add, Sub, Mul or Div of the input with a constant (a buffer, broadcast
    as ONNX does); ``constant_first`` puts the constant on the left. Shape: broadcast."""

    def __init__(self, op: str, constant: np.ndarray, constant_first: bool = False) -> None:
        super().__init__()
        self.op, self.constant_first = op, constant_first
        self.register_buffer("constant", np.asarray(constant, np.float32))

    def forward(self, x: Tensor) -> Tensor:
        return binary(self.op, self.constant, x) if self.constant_first else \
            binary(self.op, x, self.constant)

    def extra_repr(self) -> str:
        side = "constant, x" if self.constant_first else "x, constant"
        return f"{self.op}({side}), constant shape {self.constant.shape}"


def binary(op: str, a: Any, b: Any) -> Tensor:
    """a + b, a - b, a * b or a / b (either may be an array; at least one is a Tensor)."""
    if op == "Add":
        return a + b
    if op == "Sub":
        return a - b
    if op == "Mul":
        return a * b
    return a / b


class MatMulConstant(Module):
    """constant @ x (a constant left operand; x @ constant loads as ``nn.Linear``).
    Shape: (M, K) @ (*, K, N) -> (*, M, N)."""

    def __init__(self, constant: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("constant", np.asarray(constant, np.float32))

    def forward(self, x: Tensor) -> Tensor:
        return x.__rmatmul__(self.constant)


class Transpose(Module):
    """Permute the axes: output axis i is input axis perm[i]."""

    def __init__(self, perm: Sequence[int]) -> None:
        super().__init__()
        self.perm = tuple(perm)

    def forward(self, x: Tensor) -> Tensor:
        return x.transpose(self.perm)

    def extra_repr(self) -> str:
        return f"perm={self.perm}"


class Reshape(Module):
    """Reshape keeping the batch axis: ``shape`` is the per-sample target, e.g. (C, H*W)
    (one entry may be -1). Shape: (N, *S) -> (N, *shape)."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape=(N, {', '.join(map(str, self.shape))})"


class Slice(Module):
    """x[index] for a fixed tuple of slices (ONNX Slice with constant starts, ends, steps)."""

    def __init__(self, index: tuple[slice, ...]) -> None:
        super().__init__()
        self.index = index

    def forward(self, x: Tensor) -> Tensor:
        return x[self.index]

    def extra_repr(self) -> str:
        return ", ".join(f"{s.start}:{s.stop}:{s.step}" for s in self.index)


class Pad(Module):
    """Pad the spatial axes: ``pads`` is PyTorch-style (last axis first: left, right, top,
    bottom); mode constant (with ``value``), reflect, replicate or circular."""

    def __init__(self, pads: Sequence[int], mode: str = "constant", value: float = 0.0) -> None:
        super().__init__()
        self.pads, self.mode, self.value = tuple(pads), mode, float(value)

    def forward(self, x: Tensor) -> Tensor:
        return F.pad(x, self.pads, self.mode, self.value)

    def extra_repr(self) -> str:
        return f"pads={self.pads}, mode={self.mode!r}" + (
            f", value={self.value}" if self.value else "")


class Mean(Module):
    """Mean over ``axes`` (ONNX ReduceMean), keeping them as size 1 if ``keepdims``."""

    def __init__(self, axes: Sequence[int], keepdims: bool) -> None:
        super().__init__()
        self.axes, self.keepdims = tuple(axes), bool(keepdims)

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(self.axes, keepdims=self.keepdims)

    def extra_repr(self) -> str:
        return f"axes={self.axes}, keepdims={self.keepdims}"


class HardSigmoid(Module):
    """clip(alpha * x + beta, 0, 1) for an ONNX HardSigmoid other than PyTorch's (alpha 1/6,
    beta 1/2, which loads as ``nn.Hardsigmoid``). Shape: any -> same."""

    def __init__(self, alpha: float, beta: float) -> None:
        super().__init__()
        self.alpha, self.beta = alpha, beta

    def forward(self, x: Tensor) -> Tensor:
        return F.clip(x * self.alpha + self.beta, 0.0, 1.0)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, beta={self.beta}"


_UNARY = {"Erf": F.erf, "Abs": Tensor.abs, "Neg": Tensor.__neg__, "Exp": Tensor.exp,
          "Log": Tensor.log, "Sqrt": Tensor.sqrt, "Reciprocal": lambda x: 1.0 / x}


class Unary(Module):
    """An element-wise ONNX function: Erf, Abs, Neg, Exp, Log, Sqrt or Reciprocal.
    Shape: any -> same."""

    def __init__(self, op: str) -> None:
        super().__init__()
        if op not in _UNARY:
            raise ValueError(f"Unary: unknown op {op!r}; expected one of {sorted(_UNARY)}")
        self.op = op

    def forward(self, x: Tensor) -> Tensor:
        return _UNARY[self.op](x)

    def extra_repr(self) -> str:
        return self.op


class PowConstant(Module):
    """x ** exponent for a constant exponent (ONNX Pow). Shape: any -> same."""

    def __init__(self, exponent: float) -> None:
        super().__init__()
        self.exponent = exponent

    def forward(self, x: Tensor) -> Tensor:
        return x * x if self.exponent == 2 else x ** self.exponent

    def extra_repr(self) -> str:
        return f"exponent={self.exponent}"


class Reduce(Module):
    """Max, min or sum over ``axes`` (ONNX ReduceMax / ReduceMin / ReduceSum), keeping them as
    size 1 if ``keepdims``."""

    def __init__(self, kind: str, axes: Sequence[int], keepdims: bool) -> None:
        super().__init__()
        self.kind, self.axes, self.keepdims = kind, tuple(axes), bool(keepdims)

    def forward(self, x: Tensor) -> Tensor:
        return getattr(x, self.kind)(self.axes, keepdims=self.keepdims)

    def extra_repr(self) -> str:
        return f"{self.kind}, axes={self.axes}, keepdims={self.keepdims}"


class DepthToSpace(Module):
    """Move blocks of channels into space: (N, C * b * b, H, W) -> (N, C, H * b, W * b); mode
    'DCR' (depth-column-row, ONNX's default) or 'CRD' (PyTorch's pixel_shuffle)."""

    def __init__(self, blocksize: int, mode: str = "DCR") -> None:
        super().__init__()
        if mode not in ("DCR", "CRD") or blocksize < 1:
            raise ValueError(f"DepthToSpace: mode {mode!r}, blocksize {blocksize}; expected "
                             f"'DCR' or 'CRD' and a positive blocksize")
        self.blocksize, self.mode = blocksize, mode

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        b = self.blocksize
        if self.mode == "DCR":
            y = x.reshape(n, b, b, c // (b * b), h, w).permute(0, 3, 4, 1, 5, 2)
        else:
            y = x.reshape(n, c // (b * b), b, b, h, w).permute(0, 1, 4, 2, 5, 3)
        return y.reshape(n, c // (b * b), h * b, w * b)

    def extra_repr(self) -> str:
        return f"blocksize={self.blocksize}, mode={self.mode!r}"
