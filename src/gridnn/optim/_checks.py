"""Hyper-parameter checks shared by the optimisers and the schedules: each returns the value as
a float, or raises an ArgumentError naming the owner, the argument and what it received."""

from __future__ import annotations

import math
import numbers
from typing import Any

from ..errors import ArgumentError


def finite(value: Any, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ArgumentError(f"{owner}: `{name}` must be a finite number, received {name}={value!r}")
    return float(value)


def positive(value: Any, name: str, owner: str) -> float:
    if finite(value, name, owner) <= 0:
        raise ArgumentError(f"{owner}: `{name}` must be > 0, received {name}={value!r}")
    return float(value)


def non_negative(value: Any, name: str, owner: str) -> float:
    if finite(value, name, owner) < 0:
        raise ArgumentError(f"{owner}: `{name}` must be >= 0, received {name}={value!r}")
    return float(value)


def betas_pair(betas: Any, owner: str) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ArgumentError(
            f"{owner}: `betas` must be a pair (beta1, beta2), received betas={betas!r}"
        )
    for i, b in enumerate(betas):
        if not 0.0 <= finite(b, f"betas[{i}]", owner) < 1.0:
            raise ArgumentError(
                f"{owner}: `betas[{i}]` must be in [0, 1), received betas={tuple(betas)!r}"
            )
    return float(betas[0]), float(betas[1])
