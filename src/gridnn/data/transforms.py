"""Batch transforms with an explicit random generator: ``t(batch, rng) -> batch``.

Every transform works on a whole batch ``(B, C, L)`` or ``(B, C, H, W)`` at once (one draw per
sample, then vectorised array operations), returns a new array and leaves its input untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ArgumentError, ArgumentTypeError
from ..functional import ntuple
from .dataset import Transform


def _check_batch(batch: np.ndarray, op: str) -> None:
    if not isinstance(batch, np.ndarray):
        raise ArgumentTypeError(f"{op}: `batch` must be a NumPy array, received "
                                f"{type(batch).__name__}")
    if batch.ndim < 3:
        raise ArgumentError(f"{op}: `batch` must be (B, C, L) or (B, C, H, W), received shape "
                            f"{batch.shape}")


def _check_sizes(value: int | Sequence[int], name: str, op: str, minimum: int) -> None:
    """Validate an int-or-tuple option at construction; its length is checked per batch."""
    if isinstance(value, (tuple, list)):
        ntuple(value, len(value), name, op, minimum)
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        ntuple(value, 1, name, op, minimum)
    else:
        raise ArgumentTypeError(f"{op}: `{name}` must be an int or a tuple of ints, received "
                                f"{value!r}")


def _check_rng(rng: np.random.Generator, op: str) -> None:
    if not isinstance(rng, np.random.Generator):
        raise ArgumentTypeError(f"{op}: `rng` must be a numpy.random.Generator, received "
                                f"{type(rng).__name__}")


class ToFloat:
    """Cast to float32; integer arrays are divided by ``scale`` (default: the dtype's maximum,
    255 for uint8), so 8-bit images land in [0, 1]."""

    def __init__(self, scale: float | None = None) -> None:
        if scale is not None and not (isinstance(scale, (int, float)) and scale > 0):
            raise ArgumentError(f"ToFloat: `scale` must be a positive number or None, received "
                                f"scale={scale!r}")
        self.scale = scale

    def __call__(self, batch: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        batch = np.asarray(batch)
        scale = self.scale
        if scale is None:
            scale = np.iinfo(batch.dtype).max if batch.dtype.kind in "iu" else 1.0
        out = batch.astype(np.float32)  # a new array, so dividing in place is safe
        if scale != 1:
            out /= np.float32(scale)
        return out

    def __repr__(self) -> str:
        return f"ToFloat(scale={self.scale})"


class Normalize:
    """``(x - mean[c]) / std[c]`` per channel; ``mean`` and ``std`` are scalars or length C."""

    def __init__(self, mean: float | Sequence[float] | np.ndarray,
                 std: float | Sequence[float] | np.ndarray) -> None:
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float32))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float32))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ArgumentError(f"Normalize: `mean` and `std` must be scalars or 1-D (C,), "
                                f"received shapes {self.mean.shape} and {self.std.shape}")
        if not (np.all(np.isfinite(self.std)) and np.all(self.std > 0)):
            raise ArgumentError(f"Normalize: `std` must be positive and finite, received "
                                f"std={self.std.tolist()}")

    def __call__(self, batch: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        _check_batch(batch, "Normalize")
        channels = batch.shape[1]
        if self.mean.size not in (1, channels) or self.std.size not in (1, channels):
            raise ArgumentError(f"Normalize: mean/std have {self.mean.size}/{self.std.size} "
                                f"values but the batch has {channels} channels "
                                f"(shape {batch.shape})")
        shape = (1, -1) + (1,) * (batch.ndim - 2)  # broadcast over (B, C, ...)
        return ((batch - self.mean.reshape(shape)) / self.std.reshape(shape)).astype(np.float32)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


def _random_windows(batch: np.ndarray, size: tuple[int, ...], padding: tuple[int, ...],
                    rng: np.random.Generator, op: str) -> np.ndarray:
    """Zero-pad every spatial dim of (B, C, *S) and cut one random ``size`` window per sample."""
    nd = batch.ndim - 2
    padded = np.pad(batch, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    spatial = padded.shape[2:]
    if any(s > p for s, p in zip(size, spatial)):
        raise ArgumentError(f"{op}: crop size {size} is larger than the padded input "
                            f"{spatial} (batch shape {batch.shape}, padding {padding})")
    axes = tuple(range(2, 2 + nd))
    windows = sliding_window_view(padded, size, axis=axes)  # (B, C, *positions, *size)
    offsets = [rng.integers(0, p - s + 1, size=len(batch)) for p, s in zip(spatial, size)]
    # Advanced indices split by the channel slice: the batch axis comes first -> (B, C, *size).
    return np.ascontiguousarray(windows[(np.arange(len(batch)), slice(None), *offsets)])


class RandomCrop:
    """Zero-pad each spatial dim by ``padding`` on both sides, then crop a random window of
    ``size`` per sample. ``size``/``padding``: an int or one value per spatial dim.

    Shape: (B, C, *S) -> (B, C, *size).
    """

    def __init__(self, size: int | Sequence[int], padding: int | Sequence[int] = 0) -> None:
        self.size, self.padding = size, padding
        _check_sizes(size, "size", "RandomCrop", 1)
        _check_sizes(padding, "padding", "RandomCrop", 0)

    def __call__(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_batch(batch, "RandomCrop")
        _check_rng(rng, "RandomCrop")
        nd = batch.ndim - 2
        size = ntuple(self.size, nd, "size", "RandomCrop")
        padding = ntuple(self.padding, nd, "padding", "RandomCrop", minimum=0)
        return _random_windows(batch, size, padding, rng, "RandomCrop")

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomShift:
    """Translate each sample by a random whole number of steps in [-max_shift, max_shift] along
    every spatial dim, filling with zeros (a RandomCrop to the input size with that padding).

    Shape: (B, C, *S) -> (B, C, *S).
    """

    def __init__(self, max_shift: int | Sequence[int]) -> None:
        self.max_shift = max_shift
        _check_sizes(max_shift, "max_shift", "RandomShift", 0)

    def __call__(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_batch(batch, "RandomShift")
        _check_rng(rng, "RandomShift")
        shift = ntuple(self.max_shift, batch.ndim - 2, "max_shift", "RandomShift", minimum=0)
        return _random_windows(batch, batch.shape[2:], shift, rng, "RandomShift")

    def __repr__(self) -> str:
        return f"RandomShift(max_shift={self.max_shift})"


class RandomHorizontalFlip:
    """Reverse the last axis (width, or length for 1-D signals) of each sample with
    probability ``p``. Shape: unchanged."""

    def __init__(self, p: float = 0.5) -> None:
        if not (isinstance(p, (int, float)) and 0.0 <= p <= 1.0):
            raise ArgumentError(f"RandomHorizontalFlip: `p` must be in [0, 1], received p={p!r}")
        self.p = float(p)

    def __call__(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_batch(batch, "RandomHorizontalFlip")
        _check_rng(rng, "RandomHorizontalFlip")
        flip = rng.random(len(batch)) < self.p
        return np.where(flip.reshape((-1,) + (1,) * (batch.ndim - 1)), batch[..., ::-1], batch)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Compose:
    """Apply ``transforms`` in order, all drawing from the same generator."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise ArgumentTypeError(f"Compose: every transform must be callable, received "
                                        f"{type(t).__name__}")

    def __call__(self, batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for t in self.transforms:
            batch = t(batch, rng)
        return batch

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"
