"""Layers and models as ``Module`` trees (``gridnn.nn``), PyTorch's names and weight shapes.

    import gridnn.nn as nn
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(8 * 14 * 14, 10))
    logits = model(images)                  # (N, 1, 28, 28) -> (N, 10)
    model.state_dict()["0.weight"].shape    # (8, 1, 3, 3)

Every layer with weights takes ``rng=`` (a numpy Generator) for its initialisation.
"""

from . import init
from .activation import (
    ELU,
    GELU,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    PReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from .conv import Conv1d, Conv2d
from .conv_transpose import ConvTranspose1d, ConvTranspose2d
from .dropout import Dropout
from .layer_norm import GroupNorm, LayerNorm
from .linear import Flatten, Identity, Linear
from .local import LocallyConnected1d, LocallyConnected2d
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .module import LoadResult, Module, Parameter
from .norm import BatchNorm1d, BatchNorm2d
from .pool import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)
from .residual import ResidualBlock
from .sequential import Sequential
from .upsample import Upsample

__all__ = [
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AvgPool1d", "AvgPool2d", "BCEWithLogitsLoss",
    "BatchNorm1d", "BatchNorm2d", "Conv1d", "Conv2d", "CrossEntropyLoss", "Dropout", "Flatten",
    "Identity", "LeakyReLU", "Linear", "LoadResult", "MSELoss", "MaxPool1d", "MaxPool2d",
    "LocallyConnected1d", "LocallyConnected2d",
    "Module", "Parameter", "ReLU", "ResidualBlock", "Sequential", "Sigmoid", "Softmax", "Tanh",
    "init", "ConvTranspose1d", "ConvTranspose2d", "ELU", "GELU", "GroupNorm", "Hardsigmoid",
    "Hardswish", "Hardtanh", "LayerNorm", "PReLU", "ReLU6", "SiLU", "Softplus", "Upsample",
]
