"""Dropout: zero elements at random while training (inverted scaling keeps the mean)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..tensor import Tensor
from ._checks import generator, number_in
from .module import Module


class Dropout(Module):
    """While training, zero each element with probability ``p`` and scale the rest by 1/(1-p);
    in eval mode, the identity. ``rng`` (a numpy Generator) draws the masks. Shape: any -> same.
    """

    def __init__(self, p: float = 0.5, *, rng: Any = None) -> None:
        super().__init__()
        self.p = number_in(p, "p", "Dropout", 0.0, 1.0)
        self.rng = generator(rng, "Dropout")

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"
