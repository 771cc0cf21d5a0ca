"""Finite-difference gradient checking in float64 (central differences)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._backend import xp
from .errors import ArgumentError, ArgumentTypeError
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with its finite-difference estimate."""


def gradcheck(fn: Callable[..., Tensor], *inputs: Any, eps: float = 1e-6, atol: float = 1e-7,
              rtol: float = 1e-5, seed: int = 0) -> bool:
    """Check ``fn``'s backward against central differences; True, or GradcheckError naming the
    worst element.

    Every Tensor input with ``requires_grad`` must be float64. The output is projected on a
    fixed random direction v (scalar s = sum(v * fn(*inputs))), so one backward gives ds/dx for
    every input element x, which is compared with (s(x + eps) - s(x - eps)) / (2 eps). An element
    fails when |analytic - numeric| > atol + rtol * |numeric|.
    """
    checked = [(i, t) for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ArgumentError("gradcheck: no input is a Tensor with requires_grad=True")
    for i, t in checked:
        if t.dtype != xp.float64:
            raise ArgumentTypeError(
                f"gradcheck: input {i} must be float64 for finite differences, received {t.dtype}"
            )
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise ArgumentTypeError(
            f"gradcheck: fn must return a Tensor, received {type(out).__name__}"
        )
    direction = xp.random.default_rng(seed).standard_normal(out.shape)

    def projected() -> float:
        return float((fn(*inputs).data * direction).sum())

    for _, t in checked:
        t.grad = None
    out.backward(direction)
    worst: tuple[float, int, tuple[int, ...], float, float] | None = None
    for i, t in checked:
        analytic = t.grad if t.grad is not None else xp.zeros_like(t.data)
        for idx in xp.ndindex(t.shape):
            original = t.data[idx]
            t.data[idx] = original + eps
            plus = projected()
            t.data[idx] = original - eps
            minus = projected()
            t.data[idx] = original
            numeric = (plus - minus) / (2 * eps)
            excess = abs(analytic[idx] - numeric) - (atol + rtol * abs(numeric))
            if excess > 0 and (worst is None or excess > worst[0]):
                worst = (excess, i, idx, float(analytic[idx]), numeric)
    if worst is not None:
        _, i, idx, a, n = worst
        raise GradcheckError(
            f"gradcheck: gradient of input {i} at index {idx} is {a:.10g} by backward but "
            f"{n:.10g} by finite differences (abs error {abs(a - n):.3g}, "
            f"atol={atol}, rtol={rtol})"
        )
    return True
