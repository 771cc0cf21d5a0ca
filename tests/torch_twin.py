"""The PyTorch twin of a gridnn module, for the tests: built by ``gridnn.bench.twin`` (the speed
benchmark's PyTorch side uses it too). Each entry point first asks ``needs_torch`` for torch, so
a test using it is skipped, not failed, where PyTorch is not installed."""

from __future__ import annotations

from typing import Any

import numpy as np

import gridnn.nn as nn
from gridnn.bench import twin
from needs_torch import require_torch


def torch_twin(module: nn.Module) -> Any:
    """The torch.nn module with the same structure (PyTorch's own random weights)."""
    require_torch()
    return twin.torch_twin(module)


def torch_state_as_numpy(model: Any) -> dict[str, np.ndarray]:
    """A torch model's state_dict with every tensor converted by ``.numpy()``."""
    return twin.torch_state_as_numpy(model)


def copy_to_torch(module: nn.Module, model: Any) -> None:
    """Load gridnn's weights and buffers into the torch twin."""
    require_torch()
    twin.copy_to_torch(module, model)
