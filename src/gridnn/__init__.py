"""gridnn: a convolutional neural network library written from scratch on NumPy.

    import gridnn as gn
    F = gn.functional
    x = gn.tensor(images, requires_grad=True)      # (N, C, H, W)
    y = F.conv2d(x, w, b, stride=2, padding="same")
    y.sum().backward()                             # x.grad, w.grad, b.grad

Subpackages (``gn.nn``, ``gn.optim``, ``gn.data``, ``gn.models``, ``gn.train``,
``gn.explain``) load on first use, so ``import gridnn`` needs NumPy alone.
"""

import importlib
from typing import Any

from . import functional
from .autograd import enable_grad, is_grad_enabled, no_grad
from .errors import ArgumentError, ArgumentTypeError, DataError, GridnnError
from .gradcheck import GradcheckError, gradcheck
from .ops.shape import concat, stack
from .summary import summary
from .tensor import Tensor, tensor

where = functional.where

_SUBMODULES = ("nn", "optim", "data", "models", "train", "explain", "checkpoint", "onnx")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'gridnn' has no attribute {name!r}")


__all__ = [
    "ArgumentError", "ArgumentTypeError", "DataError", "GradcheckError", "GridnnError", "Tensor",
    "concat", "enable_grad", "functional", "gradcheck", "is_grad_enabled", "no_grad", "stack",
    "summary", "tensor", "where",
]
__version__ = "0.1.0"
