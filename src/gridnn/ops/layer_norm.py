"""Normalisation over the last axis of a matrix: what LayerNorm and GroupNorm share.

x (M, K): every row is normalised on its own (no running statistics, the same in training
and inference):
    xhat = (x - mean) / sqrt(var + eps)          (mean, biased var over the row's K values)
    dx = invstd * (dy - mean(dy) - xhat * mean(dy * xhat))      (means over the row)
LayerNorm's rows are the normalised trailing dims of each position; GroupNorm's are the
(C/G, *S) values of one group of one sample. Their per-channel scale and shift are ordinary
broadcast Mul and Add on top (``gridnn.functional.norm``).

With Numba, one compiled loop per row (``kernels.normalize_rows``, sums in float64) in
threads over the rows replaces NumPy's four passes; without a gradient nothing is kept.
"""

from __future__ import annotations

from typing import Any

from .._backend import xp
from ..autograd import Function
from .compiled import kernels
from .workspace import parallel_slices

Array = Any


class NormalizeRows(Function):
    def forward(self, x: Array, eps: float, samples: int) -> Array:
        """x (M, K): the rows of ``samples`` samples -> (M, K)."""
        k = kernels()
        if k is not None and x.flags.c_contiguous:
            out, invstd = xp.empty_like(x), xp.empty(x.shape[0], x.dtype)
            parallel_slices(x.shape[0], 2 * x.size, lambda lo, hi: k.normalize_rows(
                x[lo:hi], float(eps), out[lo:hi], invstd[lo:hi]), samples)
            invstd = invstd[:, None]
        else:
            mean = x.mean(axis=1, keepdims=True)
            centred = x - mean
            var = xp.einsum("ij,ij->i", centred, centred)[:, None] / x.shape[1]
            invstd = 1 / xp.sqrt(var + x.dtype.type(eps))  # (M, 1)
            out = centred * invstd
        if self.needs_grad[0]:
            self.invstd, self.xhat = invstd, out
        return out

    def backward(self, g: Array) -> tuple[Array]:
        xhat, k = self.xhat, g.shape[1]
        proj = xp.einsum("ij,ij->i", g, xhat)[:, None] / k
        return (self.invstd * (g - g.mean(axis=1, keepdims=True) - xhat * proj),)
