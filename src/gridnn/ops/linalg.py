"""Matrix product with NumPy's ``matmul`` semantics (batched, broadcasting leading axes)."""

from __future__ import annotations

from typing import Any

from .._backend import xp
from ..autograd import Function
from .elementwise import unbroadcast
from .workspace import matmul

Array = Any


class MatMul(Function):
    """(..., n, k) @ (..., k, m) -> (..., n, m); 1-D operands act as a row or a column.
    ``samples``: how many samples of a batch a 2-D ``a``'s rows hold (``workspace.dot``;
    ``F.linear`` passes it for the rows it flattened from (N, ..., in))."""

    def forward(self, a: Array, b: Array, samples: int | None = None) -> Array:
        self.a, self.b, self.samples = a, b, samples
        return matmul(a, b, samples)

    def backward(self, g: Array) -> tuple[Array | None, ...]:
        a, b = self.a, self.b
        # Promote 1-D operands to matrices so one rule covers every case.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if b.ndim == 1:  # first, so a 0-d gradient (vector @ vector) becomes (1,) then (1, 1)
            g2 = xp.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = xp.expand_dims(g2, -2)
        ga = gb = None
        if self.needs_grad[0]:
            ga = matmul(g2, xp.swapaxes(b2, -1, -2), self.samples)
            ga = unbroadcast(ga, a2.shape).reshape(a.shape)
        if self.needs_grad[1]:
            gb = matmul(xp.swapaxes(a2, -1, -2), g2)
            gb = unbroadcast(gb, b2.shape).reshape(b.shape)
        return ga, gb
