"""gridnn: a convolutional neural network library written from scratch on NumPy.

    import gridnn as gn
    F = gn.functional
    x = gn.tensor(images, requires_grad=True)      # (N, C, H, W)
    y = F.conv2d(x, w, b, stride=2, padding="same")
    y.sum().backward()                             # x.grad, w.grad, b.grad

Subpackages (``gn.nn``, ``gn.optim``, ``gn.data``, ``gn.models``, ``gn.train``,
``gn.explain``, ``gn.notebook``) load on first use, so ``import gridnn`` needs NumPy alone.
"""

import importlib
from contextlib import AbstractContextManager
from typing import Any

from . import functional
from .autograd import enable_grad, is_grad_enabled, no_grad
from .errors import ArgumentError, ArgumentTypeError, DataError, GridnnError
from .gradcheck import GradcheckError, gradcheck
from .ops.options import Options as _Options
from .ops.options import using as _using
from .tensor import Tensor, tensor

concat, stack, where = functional.concat, functional.stack, functional.where


def plain_ops() -> AbstractContextManager[_Options]:
    """Context manager: inside it, ``F.conv1d``/``F.conv2d`` (and so every conv layer) run the
    lecture's convolution of ``gridnn/ops/conv_plain.py`` instead of the fast one, forward and
    backward. The results are the same up to float rounding; use it to step through a
    convolution in a debugger, or train a model with it::

        with gn.plain_ops():
            loss = F.cross_entropy(model(x), y)
            loss.backward()

    The setting is process-wide and ends with the block (also on an exception)."""
    return _using(plain_conv=True)


_SUBMODULES = ("nn", "optim", "data", "models", "train", "explain", "checkpoint", "onnx",
               "distributed", "notebook")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "summary":  # lives in explain/ (it counts connections), loaded on first use
        return importlib.import_module(f"{__name__}.explain.summary").summary
    if name == "open_run":  # a run folder to inspect: explain.runs.load
        return importlib.import_module(f"{__name__}.explain.runs").load
    raise AttributeError(f"module 'gridnn' has no attribute {name!r}")


__all__ = [
    "ArgumentError", "ArgumentTypeError", "DataError", "GradcheckError", "GridnnError", "Tensor",
    "concat", "enable_grad", "functional", "gradcheck", "is_grad_enabled", "no_grad",
    "open_run", "plain_ops", "stack", "summary", "tensor", "where",
]
__version__ = "0.1.0"
