"""Losses: cross-entropy (with label smoothing), mean squared error, binary cross-entropy."""

from __future__ import annotations

from typing import Any

from .._backend import xp
from ..errors import ArgumentError, ArgumentTypeError
from ..ops import loss as lossops
from ..tensor import Tensor
from .checks import as_float_tensor

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ArgumentError(
            f"{op}: `reduction` must be one of {_REDUCTIONS}, received {reduction!r}"
        )


def cross_entropy(logits: Tensor, target: Any, label_smoothing: float = 0.0,
                  reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy: logits (N, C) or (N, C, *d), integer classes (N,) or (N, *d).

    With label smoothing eps the target distribution is (1 - eps) * onehot + eps / C.
    Returns a scalar (mean or sum) or, with reduction='none', the per-sample losses (N, *d).
    """
    op = "cross_entropy"
    logits = as_float_tensor(logits, "input", op)
    _check_reduction(reduction, op)
    t = xp.asarray(target.data if isinstance(target, Tensor) else target)
    if t.dtype.kind not in "iu":
        raise ArgumentTypeError(
            f"{op}: `target` must hold integer class indices, received dtype {t.dtype}"
        )
    if logits.ndim < 2 or t.shape != (logits.shape[0], *logits.shape[2:]):
        raise ArgumentError(
            f"{op}: target shape {t.shape} does not match input shape {logits.shape} "
            f"(expected input (N, C, *d) and target (N, *d))"
        )
    c = logits.shape[1]
    if t.size and (t.min() < 0 or t.max() >= c):
        bad = t.min() if t.min() < 0 else t.max()
        raise ArgumentError(f"{op}: target class {bad} is outside [0, {c - 1}] for {c} classes")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ArgumentError(
            f"{op}: `label_smoothing` must be in [0, 1], received {label_smoothing!r}"
        )
    flat = logits
    if logits.ndim > 2:  # (N, C, *d) -> (N * prod(d), C)
        flat = logits.permute(0, *range(2, logits.ndim), 1).reshape(-1, c)
    out = lossops.CrossEntropy.apply(flat, Tensor._wrap(t.reshape(-1), False),
                                     label_smoothing=float(label_smoothing), reduction=reduction)
    return out.reshape(t.shape) if reduction == "none" else out


def _pair(input: Any, target: Any, op: str) -> tuple[Tensor, Tensor]:
    input = as_float_tensor(input, "input", op)
    target = input._lift(target) if not isinstance(target, Tensor) else target
    target = as_float_tensor(target, "target", op)
    if input.shape != target.shape:
        raise ArgumentError(
            f"{op}: input shape {input.shape} and target shape {target.shape} must be equal"
        )
    return input, target


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error between equal-shaped tensors."""
    _check_reduction(reduction, "mse_loss")
    input, target = _pair(input, target, "mse_loss")
    sq = (input - target) ** 2
    return sq.mean() if reduction == "mean" else sq.sum() if reduction == "sum" else sq


def binary_cross_entropy_with_logits(input: Tensor, target: Any,
                                     reduction: str = "mean") -> Tensor:
    """Sigmoid + binary cross-entropy in one stable step; target values in [0, 1]."""
    op = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, op)
    input, target = _pair(input, target, op)
    return lossops.BCEWithLogits.apply(input, target, reduction=reduction)
