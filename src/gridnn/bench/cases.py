"""What ``gridnn bench`` times in its layer cases (L1-L5, C1, P1): each as callables in gridnn
and in PyTorch on the same arrays."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# Targets of issue 12: forward+backward time ratio (gridnn / torch) at most this; the cases
# in STRICT_TARGETS must stay below it.
CONV_TARGETS = {"L1": 1.0, "L2": 1.0, "L3": 1.0, "L4": 1.25, "L5": 1.0, "C1": 1.0, "P1": 1.0}
STRICT_TARGETS = {"L1", "C1", "P1"}


@dataclass(frozen=True)
class ConvCase:
    """A convolution: input (N, C, *size), weight (K, C, k, ...), 'same'-style padding."""

    name: str
    batch: int
    channels: int
    size: tuple[int, ...]
    filters: int
    kernel: int
    stride: int
    padding: int

    @property
    def out_size(self) -> tuple[int, ...]:
        return tuple((s + 2 * self.padding - self.kernel) // self.stride + 1 for s in self.size)

    @property
    def flops(self) -> float:
        """Forward multiply-adds x 2; forward+backward is three such GEMMs."""
        return (2.0 * self.batch * self.filters * math.prod(self.out_size) * self.channels
                * self.kernel ** len(self.size))

    def describe(self) -> str:
        dims = "x".join(map(str, self.size))
        kern = "x".join([str(self.kernel)] * len(self.size))
        return (f"conv{len(self.size)}d N={self.batch} C={self.channels} {dims} "
                f"K={self.filters} {kern} s{self.stride} p{self.padding}")


@dataclass(frozen=True)
class PoolCase:
    """Max pooling of (N, C, *size) with a square kernel and stride."""

    name: str
    batch: int
    channels: int
    size: tuple[int, int]
    kernel: int
    stride: int

    @property
    def flops(self) -> float:
        """One comparison per window element."""
        out = math.prod((s - self.kernel) // self.stride + 1 for s in self.size)
        return float(self.batch * self.channels * out * self.kernel ** 2)

    def describe(self) -> str:
        return (f"max_pool2d {self.kernel}x{self.kernel} s{self.stride} N={self.batch} "
                f"C={self.channels} {'x'.join(map(str, self.size))}")


FULL_CASES: list[ConvCase | PoolCase] = [
    ConvCase("L1", 64, 1, (28, 28), 32, 3, 1, 1),
    ConvCase("L2", 64, 32, (28, 28), 64, 3, 1, 1),
    ConvCase("L3", 64, 64, (14, 14), 128, 3, 1, 1),
    ConvCase("L4", 64, 3, (32, 32), 12, 5, 1, 2),
    ConvCase("L5", 32, 128, (16, 16), 128, 3, 2, 1),
    ConvCase("C1", 256, 1, (40,), 32, 5, 2, 2),
    PoolCase("P1", 64, 32, (28, 28), 2, 2),
]
QUICK_CASES: list[ConvCase | PoolCase] = [
    ConvCase("L1", 2, 1, (8, 8), 4, 3, 1, 1),
    ConvCase("L5", 2, 8, (8, 8), 8, 3, 2, 1),
    ConvCase("C1", 4, 1, (12,), 4, 5, 2, 2),
    PoolCase("P1", 2, 4, (8, 8), 2, 2),
]


# ---- the layer cases -------------------------------------------------------------------------
def case_callables(case: ConvCase | PoolCase, torch: Any | None, seed: int = 0
                   ) -> dict[str, Callable[[], Any]]:
    """{'fwd': f, 'fwd+bwd': f} of ``case`` in gridnn (``torch`` None) or in PyTorch (the
    module): both libraries get the same arrays from ``seed``, in their own processes."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case.batch, case.channels, *case.size), dtype=np.float32)
    if isinstance(case, ConvCase):
        nd = len(case.size)
        w = rng.standard_normal((case.filters, case.channels, *(case.kernel,) * nd),
                                dtype=np.float32) / np.float32(case.kernel)
        b = rng.standard_normal(case.filters, dtype=np.float32)
        arrays = [x, w, b]
        out_shape = (case.batch, case.filters, *case.out_size)
        opts = {"stride": case.stride, "padding": case.padding}
        name = "conv1d" if nd == 1 else "conv2d"
    else:
        arrays = [x]
        out_shape = (case.batch, case.channels,
                     *((s - case.kernel) // case.stride + 1 for s in case.size))
        opts = {"kernel_size": case.kernel, "stride": case.stride}
        name = "max_pool2d"
    upstream = rng.standard_normal(out_shape, dtype=np.float32)
    if torch is None:
        import gridnn as lib
        import gridnn.functional as functional
        inputs = [lib.tensor(a, requires_grad=True) for a in arrays]
        up: Any = upstream
    else:
        lib, functional = torch, torch.nn.functional
        inputs = [torch.from_numpy(a).requires_grad_() for a in arrays]
        up = torch.from_numpy(upstream)
    op = getattr(functional, name)

    def fwd() -> Any:
        with lib.no_grad():
            return op(*inputs, **opts)

    def fwd_bwd() -> None:
        for t in inputs:
            t.grad = None
        op(*inputs, **opts).backward(up)

    return {"fwd": fwd, "fwd+bwd": fwd_bwd}
