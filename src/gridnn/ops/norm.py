"""Batch normalisation as one op: normalise per channel, then scale and shift.

x (N, C, *S); statistics per channel over the M = N * prod(S) values of axes (0, 2, 3, ...):
    xhat = (x - mean) / sqrt(var + eps),   y = weight * xhat + bias
With batch statistics (training) mean and var depend on x, and the gradient is
    dx = invstd / M * (M * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)),   dxhat = dy * weight
With running statistics they are constants: dx = dy * weight * invstd.
"""

from __future__ import annotations

from typing import Any

from .._backend import xp
from ..autograd import Function

Array = Any


def channel_view(v: Array, ndim: int) -> Array:
    """(C,) -> (1, C, 1, ...) to broadcast against (N, C, *S)."""
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def batch_stats(x: Array) -> tuple[Array, Array]:
    """Per-channel mean and biased variance of x (N, C, *S): two (C,) arrays."""
    axes = (0, *range(2, x.ndim))
    return x.mean(axis=axes), x.var(axis=axes)


class BatchNorm(Function):
    """Inputs: x (N, C, *S), weight (C,), bias (C,) (ones and zeros without ``affine``).
    ``mean``/``var`` (C,): the statistics to normalise with; ``from_batch`` says they were
    computed from x (so the gradient flows through them) rather than being running averages."""

    def forward(self, x: Array, weight: Array, bias: Array, mean: Array, var: Array, eps: float,
                from_batch: bool) -> Array:
        nd = x.ndim
        self.invstd = (1.0 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
        self.xhat = (x - channel_view(mean.astype(x.dtype, copy=False), nd)) * channel_view(
            self.invstd, nd)
        self.from_batch, self.axes, self.weight = from_batch, (0, *range(2, nd)), weight
        return self.xhat * channel_view(weight, nd) + channel_view(bias, nd)

    def backward(self, g: Array) -> tuple[Array | None, ...]:
        nd, axes, xhat = g.ndim, self.axes, self.xhat
        dxhat = g * channel_view(self.weight, nd)
        dx = None
        if self.needs_grad[0]:
            scale = channel_view(self.invstd, nd)
            if self.from_batch:
                m = g.dtype.type(g.size // g.shape[1])
                sum_d = channel_view(dxhat.sum(axis=axes), nd)
                sum_dx = channel_view((dxhat * xhat).sum(axis=axes), nd)
                dx = (scale / m) * (m * dxhat - sum_d - xhat * sum_dx)
            else:
                dx = dxhat * scale
        dw = (g * xhat).sum(axis=axes) if self.needs_grad[1] else None
        db = g.sum(axis=axes) if self.needs_grad[2] else None
        return dx, dw, db
