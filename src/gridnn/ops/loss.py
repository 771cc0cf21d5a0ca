"""Fused, numerically stable losses: their gradients are simple closed forms."""

from __future__ import annotations

import math
from typing import Any

from .._backend import xp
from ..autograd import Function

Array = Any


def _reduce(loss: Array, reduction: str) -> Array:
    if reduction == "mean":
        return xp.asarray(loss.mean(dtype=loss.dtype))
    if reduction == "sum":
        return xp.asarray(loss.sum(dtype=loss.dtype))
    return loss


def _reduce_grad(g: Array, shape: tuple[int, ...], reduction: str) -> Array:
    if reduction == "mean":
        return xp.broadcast_to(g / g.dtype.type(math.prod(shape)), shape)
    if reduction == "sum":
        return xp.broadcast_to(g, shape)
    return g




class CrossEntropy(Function):
    """Cross-entropy of logits (M, C) against integer classes (M,), with label smoothing.

    loss_i = -(1 - eps) * log p_i[y_i] - (eps / C) * sum_c log p_i[c]
    d loss_i / d logits_i = softmax(logits_i) - q_i,  q_i = (1 - eps) * onehot(y_i) + eps / C
    """

    def forward(self, logits: Array, target: Array, label_smoothing: float,
                reduction: str) -> Array:
        m, c = logits.shape
        shifted = logits - logits.max(axis=1, keepdims=True)
        logp = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))  # (M, C)
        eps = logits.dtype.type(label_smoothing)
        picked = logp[xp.arange(m), target]
        loss = -(1 - eps) * picked
        if label_smoothing:
            loss = loss - (eps / c) * logp.sum(axis=1)
        self.logp, self.target, self.eps, self.reduction = logp, target, eps, reduction
        return _reduce(loss, reduction)

    def backward(self, g: Array) -> tuple[Array | None, ...]:
        m, c = self.logp.shape
        grad = xp.exp(self.logp)
        grad[xp.arange(m), self.target] -= 1 - self.eps
        if self.eps:
            grad -= self.eps / c
        return grad * _reduce_grad(g, (m,), self.reduction)[:, None], None


class BCEWithLogits(Function):
    """Binary cross-entropy on logits x with targets y in [0, 1]:
    loss = max(x, 0) - x * y + log(1 + exp(-|x|)),  d/dx = sigmoid(x) - y,  d/dy = -x."""

    def forward(self, x: Array, y: Array, reduction: str) -> Array:
        self.x, self.y, self.reduction = x, y, reduction
        loss = xp.maximum(x, 0) - x * y + xp.log1p(xp.exp(-xp.abs(x)))
        return _reduce(loss, reduction)

    def backward(self, g: Array) -> tuple[Array | None, ...]:
        gl = _reduce_grad(g, self.x.shape, self.reduction)
        half = self.x.dtype.type(0.5)
        sig = half * (1 + xp.tanh(half * self.x))
        gx = gl * (sig - self.y) if self.needs_grad[0] else None
        gy = gl * -self.x if self.needs_grad[1] else None
        return gx, gy
