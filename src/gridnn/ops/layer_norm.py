"""Normalisation over the last axis of a matrix: what LayerNorm and GroupNorm share.

x (M, K): every row is normalised on its own (no running statistics, the same in training
and inference):
    xhat = (x - mean) / sqrt(var + eps)          (mean, biased var over the row's K values)
    dx = invstd * (dy - mean(dy) - xhat * mean(dy * xhat))      (means over the row)
LayerNorm's rows are the normalised trailing dims of each position; GroupNorm's are the
(C/G, *S) values of one group of one sample. Their per-channel scale and shift are ordinary
broadcast Mul and Add on top (``gridnn.functional.norm``).
"""

from __future__ import annotations

from typing import Any

from .._backend import xp
from ..autograd import Function

Array = Any


class NormalizeRows(Function):
    def forward(self, x: Array, eps: float) -> Array:
        mean = x.mean(axis=1, keepdims=True)
        centred = x - mean
        var = xp.einsum("ij,ij->i", centred, centred)[:, None] / x.shape[1]
        self.invstd = 1 / xp.sqrt(var + x.dtype.type(eps))  # (M, 1)
        self.xhat = centred * self.invstd
        return self.xhat

    def backward(self, g: Array) -> tuple[Array]:
        xhat, k = self.xhat, g.shape[1]
        proj = xp.einsum("ij,ij->i", g, xhat)[:, None] / k
        return (self.invstd * (g - g.mean(axis=1, keepdims=True) - xhat * proj),)
