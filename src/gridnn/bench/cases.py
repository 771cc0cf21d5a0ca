"""What ``gridnn bench`` times: the layer cases (L1-L5, C1, P1) and the small MNIST CNN of
T1/I1/M1, each as callables in gridnn and in PyTorch on the same arrays and weights."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# Targets of issue 5: forward+backward time ratio (gridnn / torch) per conv case.
CONV_TARGETS = {"L1": 2.5, "L2": 1.5, "L3": 1.5, "L4": 2.5, "L5": 1.5, "C1": 1.5}


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
def case_callables(case: ConvCase | PoolCase, torch: Any, rng: np.random.Generator
                    ) -> dict[str, dict[str, Callable[[], Any]]]:
    """{'fwd': {'gridnn': f, 'torch': f}, 'fwd+bwd': {...}} on the same arrays."""
    import gridnn as gn
    import gridnn.functional as F

    x = rng.standard_normal((case.batch, case.channels, *case.size), dtype=np.float32)
    if isinstance(case, ConvCase):
        nd = len(case.size)
        w = rng.standard_normal((case.filters, case.channels, *(case.kernel,) * nd),
                                dtype=np.float32) / np.float32(case.kernel)
        b = rng.standard_normal(case.filters, dtype=np.float32)
        arrays = [x, w, b]
        out_shape = (case.batch, case.filters, *case.out_size)
        opts = {"stride": case.stride, "padding": case.padding}
        ours = F.conv1d if nd == 1 else F.conv2d
        theirs_name = "conv1d" if nd == 1 else "conv2d"
    else:
        arrays = [x]
        out_shape = (case.batch, case.channels,
                     *((s - case.kernel) // case.stride + 1 for s in case.size))
        opts = {"kernel_size": case.kernel, "stride": case.stride}
        ours, theirs_name = F.max_pool2d, "max_pool2d"
    upstream = rng.standard_normal(out_shape, dtype=np.float32)

    inputs = [gn.tensor(a, requires_grad=True) for a in arrays]

    def g_fwd() -> Any:
        with gn.no_grad():
            return ours(*inputs, **opts)

    def g_fwd_bwd() -> None:
        for t in inputs:
            t.grad = None
        ours(*inputs, **opts).backward(upstream)

    calls = {"fwd": {"gridnn": g_fwd}, "fwd+bwd": {"gridnn": g_fwd_bwd}}
    if torch is not None:
        theirs = getattr(torch.nn.functional, theirs_name)
        t_inputs = [torch.from_numpy(a).requires_grad_() for a in arrays]
        t_up = torch.from_numpy(upstream)

        def t_fwd() -> Any:
            with torch.no_grad():
                return theirs(*t_inputs, **opts)

        def t_fwd_bwd() -> None:
            for t in t_inputs:
                t.grad = None
            theirs(*t_inputs, **opts).backward(t_up)

        calls["fwd"]["torch"], calls["fwd+bwd"]["torch"] = t_fwd, t_fwd_bwd
    return calls


# ---- the model cases -------------------------------------------------------------------------
def gridnn_model(seed: int = 0) -> Any:
    """Conv(1->32,3x3,p1)-ReLU-MaxPool2-Conv(32->64,3x3,p1)-ReLU-MaxPool2-Flatten-
    Linear(3136->128)-ReLU-Linear(128->10): (N, 1, 28, 28) -> (N, 10) logits."""
    from gridnn import nn

    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128, rng=rng), nn.ReLU(), nn.Linear(128, 10, rng=rng))


def torch_model(torch: Any, weights: dict[str, np.ndarray] | None = None) -> Any:
    """The same model in PyTorch, with ``weights`` (a gridnn state dict) if given."""
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    if weights is not None:
        model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
    return model


def random_batch(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 1, 28, 28), dtype=np.float32),
            rng.integers(0, 10, n).astype(np.int64))


def gridnn_steps(batch: int, train: bool) -> tuple[Callable[[], Any], dict[str, Any]]:
    """(a train step or an inference call, the state dict) of the gridnn model on a batch."""
    import gridnn as gn
    import gridnn.functional as F
    from gridnn import optim

    model = gridnn_model()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = random_batch(batch, 1)
    xt = gn.tensor(x)

    def step() -> None:
        opt.zero_grad()
        F.cross_entropy(model(xt), y).backward()
        opt.step()

    def infer() -> Any:
        with gn.no_grad():
            return model(xt)

    weights = model.state_dict()
    if not train:
        model.eval()
    return (step if train else infer), weights


def torch_steps(torch: Any, batch: int, train: bool,
                 weights: dict[str, Any] | None) -> Callable[[], Any]:
    """A train step or an inference call of the PyTorch model on a batch."""
    model = torch_model(torch, weights)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = random_batch(batch, 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()

    def infer() -> Any:
        with torch.no_grad():
            return model(xt)

    if not train:
        model.eval()
    return step if train else infer
