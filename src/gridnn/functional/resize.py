"""``interpolate``: resize the spatial axes by nearest or (bi)linear interpolation.

Each spatial axis is resized on its own by a fixed (out, in) matrix whose row i holds the
weights output i gives to the inputs: one 1 (nearest) or two weights summing to 1 (linear).
A 2-D resize is then A_h @ x @ A_w.T, two matrix products, so the gradient is the transposed
matrices and needs no op of its own. Where output i samples the input, as PyTorch and ONNX
Resize define it (ratio = in / out, or 1 / scale_factor when a scale is given):
    nearest:                     floor(i * ratio)
    linear, align_corners=False: (i + 0.5) * ratio - 0.5, clamped at 0   (half pixel)
    linear, align_corners=True:  i * (in - 1) / (out - 1)                (corners meet)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .._backend import xp
from ..errors import ArgumentError
from ..tensor import Tensor
from .checks import as_float_tensor

MODES = {"nearest": None, "linear": 1, "bilinear": 2}


def resize_matrix(n_in: int, n_out: int, mode: str, align_corners: bool,
                  scale: float | None = None) -> xp.ndarray:
    """(n_out, n_in) float64 interpolation weights of one axis (see the module docstring)."""
    ratio = 1 / scale if scale else n_in / n_out
    out = xp.arange(n_out, dtype=xp.float64)
    m = xp.zeros((n_out, n_in))
    if mode == "nearest":
        m[xp.arange(n_out), xp.minimum(xp.floor(out * ratio).astype(int), n_in - 1)] = 1
        return m
    if align_corners:
        src = out * ((n_in - 1) / (n_out - 1)) if n_out > 1 else xp.zeros(n_out)
    else:
        src = xp.maximum((out + 0.5) * ratio - 0.5, 0)
    low = xp.minimum(xp.floor(src).astype(int), n_in - 1)
    high = xp.minimum(low + 1, n_in - 1)
    frac = src - low
    rows = xp.arange(n_out)
    xp.add.at(m, (rows, low), 1 - frac)
    xp.add.at(m, (rows, high), frac)
    return m


def interpolate(x: Tensor, size: int | Sequence[int] | None = None,
                scale_factor: float | Sequence[float] | None = None, mode: str = "nearest",
                align_corners: bool | None = None) -> Tensor:
    """Resize x (N, C, *S) (1 or 2 spatial dims) to ``size``, or to floor(S * scale_factor):
    mode 'nearest', 'linear' (3-D input) or 'bilinear' (4-D). ``align_corners`` (linear modes
    only, default False) maps the corner pixels' centres onto each other. -> (N, C, *size)."""
    op = "interpolate"
    x = as_float_tensor(x, "input", op)
    nd = x.ndim - 2
    if mode not in MODES or nd not in (1, 2) or MODES[mode] not in (None, nd):
        raise ArgumentError(f"{op}: mode {mode!r} on a {x.ndim}-D input; expected 'nearest' "
                            f"(3-D or 4-D), 'linear' (3-D) or 'bilinear' (4-D)")
    if align_corners is not None and mode == "nearest":
        raise ArgumentError(f"{op}: align_corners applies to the linear modes, not {mode!r}")
    if (size is None) == (scale_factor is None):
        raise ArgumentError(f"{op}: give exactly one of `size` and `scale_factor`, received "
                            f"size={size!r}, scale_factor={scale_factor!r}")
    spatial = x.shape[2:]
    if size is not None:
        sizes = (size,) * nd if isinstance(size, int) else tuple(int(s) for s in size)
        scales: tuple[float | None, ...] = (None,) * nd
    else:
        scales = (float(scale_factor),) * nd if isinstance(scale_factor, (int, float)) else \
            tuple(float(s) for s in scale_factor)
        if len(scales) != nd or min(scales) <= 0:
            raise ArgumentError(f"{op}: `scale_factor` must be {nd} positive numbers, received "
                                f"{scale_factor!r}")
        sizes = tuple(math.floor(n * s) for n, s in zip(spatial, scales))
    if len(sizes) != nd or min(sizes) < 1:
        raise ArgumentError(f"{op}: the output size must be {nd} positive ints, received "
                            f"{sizes} (input spatial size {spatial})")
    out = x
    for axis, (n_in, n_out, scale) in enumerate(zip(spatial, sizes, scales)):
        if n_in == n_out and scale in (None, 1.0):
            continue
        m = resize_matrix(n_in, n_out, mode, bool(align_corners), scale).astype(x.dtype)
        if axis == nd - 1:
            out = out @ m.T  # (..., W) @ (W, Wout)
        else:
            out = out.__rmatmul__(m)  # (Hout, H) @ (..., H, W)
    return out
