"""``Upsample``: resize the spatial axes with ``F.interpolate`` (nearest or (bi)linear)."""

from __future__ import annotations

from collections.abc import Sequence

from .. import functional as F
from ..errors import ArgumentError
from ..functional.resize import MODES
from ..tensor import Tensor
from .module import Module


class Upsample(Module):
    """Resize to ``size`` or by ``scale_factor``; mode 'nearest', 'linear' or 'bilinear'.

    Shape: (N, C, *S) -> (N, C, *size) or (N, C, *floor(S * scale_factor)).
    """

    def __init__(self, size: int | Sequence[int] | None = None,
                 scale_factor: float | Sequence[float] | None = None, mode: str = "nearest",
                 align_corners: bool | None = None) -> None:
        super().__init__()
        if (size is None) == (scale_factor is None):
            raise ArgumentError("Upsample: give exactly one of `size` and `scale_factor`")
        if mode not in MODES:
            raise ArgumentError(f"Upsample: `mode` must be one of {sorted(MODES)}, "
                                f"received mode={mode!r}")
        self.size = size if size is None or isinstance(size, int) else tuple(size)
        self.scale_factor = scale_factor if scale_factor is None or isinstance(
            scale_factor, (int, float)) else tuple(scale_factor)
        self.mode, self.align_corners = mode, align_corners

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners)

    def extra_repr(self) -> str:
        what = f"size={self.size}" if self.size is not None else \
            f"scale_factor={self.scale_factor}"
        return f"{what}, mode={self.mode!r}" + (
            f", align_corners={self.align_corners}" if self.align_corners is not None else "")
