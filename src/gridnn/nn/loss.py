"""Loss layers: module forms of the functional losses, for code that wants ``loss(logits, y)``."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..tensor import Tensor
from ._checks import number_in
from .module import Module


class CrossEntropyLoss(Module):
    """Softmax cross-entropy: logits (N, C) and integer classes (N,) -> scalar (see
    ``F.cross_entropy``)."""

    def __init__(self, label_smoothing: float = 0.0, reduction: str = "mean") -> None:
        super().__init__()
        self.label_smoothing = number_in(label_smoothing, "label_smoothing",
                                         "CrossEntropyLoss", 0.0, 1.0)
        self.reduction = reduction

    def forward(self, logits: Tensor, target: Any) -> Tensor:
        return F.cross_entropy(logits, target, self.label_smoothing, self.reduction)


class MSELoss(Module):
    """Mean squared error between equal-shaped tensors."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.mse_loss(input, target, self.reduction)


class BCEWithLogitsLoss(Module):
    """Sigmoid plus binary cross-entropy on logits, targets in [0, 1]."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, input: Tensor, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.reduction)
