"""What ``gridnn bench`` times in its model cases: a training step or an inference call of a
zoo model in gridnn and of its PyTorch twin (``twin.torch_twin``, gridnn's weights copied over)
on the same random batch, and the multiply-adds such a step does."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ModelCase:
    """A model, one input sample's shape, the batch, and what one timed call does."""

    name: str
    model: str  # "mnist_cnn" (the CNN below) or a name of gridnn.models
    sample: tuple[int, ...]
    batch: int
    train: bool  # a training step (forward, backward, optimiser step) or inference
    optimizer: str = "sgd"  # "sgd": momentum 0.9; "adamw": weight decay 0.01
    target: float = 1.0  # gridnn images/s over PyTorch's must be at least this

    def describe(self) -> str:
        what = ("train step, " + ("SGD momentum" if self.optimizer == "sgd" else "AdamW")
                if self.train else "inference")
        return f"{self.model} {'x'.join(map(str, self.sample))} {what}"


FULL_MODELS = [
    ModelCase("T1", "mnist_cnn", (1, 28, 28), 128, True, target=1.3),
    ModelCase("I1", "mnist_cnn", (1, 28, 28), 256, False, target=1.5),
    ModelCase("T2", "resnet_small", (3, 32, 32), 128, True),
    ModelCase("T3", "mnist1d_cnn", (1, 40), 64, True, "adamw"),
]
QUICK_MODELS = [ModelCase(c.name, c.model, c.sample, 4, c.train, c.optimizer, c.target)
                for c in FULL_MODELS]
# M1: peak resident memory of a fresh process doing T1 steps, gridnn's over PyTorch's.
MEMORY_TARGET = 0.5


def mnist_cnn(seed: int = 0) -> Any:
    """Conv(1->32,3x3,p1)-ReLU-MaxPool2-Conv(32->64,3x3,p1)-ReLU-MaxPool2-Flatten-
    Linear(3136->128)-ReLU-Linear(128->10): (N, 1, 28, 28) -> (N, 10) logits."""
    from gridnn import nn

    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128, rng=rng), nn.ReLU(), nn.Linear(128, 10, rng=rng))


def gridnn_model(case: ModelCase, seed: int = 0) -> Any:
    """The case's gridnn model, its weights from ``seed``."""
    from gridnn import models

    if case.model == "mnist_cnn":
        return mnist_cnn(seed)
    return models.MODELS[case.model](seed=seed)


def random_batch(case: ModelCase, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(inputs (batch, *sample) float32, labels (batch,) int64 in 0..9)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((case.batch, *case.sample), dtype=np.float32),
            rng.integers(0, 10, case.batch).astype(np.int64))


def step_flops(case: ModelCase) -> float:
    """Floating-point operations (2 per multiply-add) of the convolutions and linear layers in
    one call: the forward pass, and for training also the weight gradients and the input
    gradients of every such layer but the first (its input needs none)."""
    from gridnn import nn
    from gridnn.nn.trace import trace

    _, calls = trace(gridnn_model(case), case.sample)
    forward = [math.prod(c.output_shape[2:]) * c.module.weight.data.size for c in calls
               if isinstance(c.module, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    macs = sum(forward) * (3 if case.train else 1) - (forward[0] if case.train else 0)
    return 2.0 * macs * case.batch


def gridnn_call(case: ModelCase) -> Callable[[], Any]:
    """One timed call of the case in gridnn."""
    import gridnn as gn
    import gridnn.functional as F
    from gridnn import optim

    model = gridnn_model(case)
    x, y = random_batch(case)
    xt = gn.tensor(x)
    if not case.train:
        model.eval()

        def infer() -> Any:
            with gn.no_grad():
                return model(xt)
        return infer
    opt = (optim.SGD(model.parameters(), lr=0.01, momentum=0.9) if case.optimizer == "sgd"
           else optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01))

    def step() -> None:
        opt.zero_grad()
        F.cross_entropy(model(xt), y).backward()
        opt.step()
    return step


def torch_call(case: ModelCase, torch: Any) -> Callable[[], Any]:
    """One timed call of the case in PyTorch, on the twin of the gridnn model (same weights)."""
    from .twin import copy_to_torch, torch_twin

    ours = gridnn_model(case)
    model = torch_twin(ours)
    copy_to_torch(ours, model)
    x, y = random_batch(case)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    if not case.train:
        model.eval()

        def infer() -> Any:
            with torch.no_grad():
                return model(xt)
        return infer
    opt = (torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9) if case.optimizer == "sgd"
           else torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01))

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    return step
