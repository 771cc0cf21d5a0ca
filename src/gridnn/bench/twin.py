"""Build the PyTorch module that has the same layers as a gridnn module (the benchmark's
PyTorch side and the tests' oracle; it needs torch).

``torch_twin(module)`` walks a gridnn module tree and builds the ``torch.nn`` module of the same
classes, arguments and attribute names, so both have identical state-dict keys. Its weights are
PyTorch's own initialisation: tests load them into gridnn with ``load_state_dict`` (the
direction a user takes with a PyTorch checkpoint), or copy gridnn's with ``copy_to_torch``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from .. import nn


class TorchResidualBlock(torch.nn.Module):
    """The torch counterpart of ``gridnn.nn.ResidualBlock`` (torchvision BasicBlock layout)."""

    def __init__(self, block: nn.ResidualBlock) -> None:
        super().__init__()
        self.conv1 = torch_twin(block.conv1)
        self.bn1 = torch_twin(block.bn1)
        self.relu = torch.nn.ReLU()
        self.conv2 = torch_twin(block.conv2)
        self.bn2 = torch_twin(block.bn2)
        self.downsample = None if block.downsample is None else torch_twin(block.downsample)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def _conv(m: Any, cls: Any) -> torch.nn.Module:
    return cls(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
               m.groups, m.bias is not None, m.padding_mode)


_SIMPLE = {
    nn.ReLU: lambda m: torch.nn.ReLU(),
    nn.Sigmoid: lambda m: torch.nn.Sigmoid(),
    nn.Tanh: lambda m: torch.nn.Tanh(),
    nn.Identity: lambda m: torch.nn.Identity(),
    nn.LeakyReLU: lambda m: torch.nn.LeakyReLU(m.negative_slope),
    nn.Softmax: lambda m: torch.nn.Softmax(m.dim),
    nn.Flatten: lambda m: torch.nn.Flatten(m.start_dim, m.end_dim),
    nn.Dropout: lambda m: torch.nn.Dropout(m.p),
    nn.Linear: lambda m: torch.nn.Linear(m.in_features, m.out_features, m.bias is not None),
    nn.Conv1d: lambda m: _conv(m, torch.nn.Conv1d),
    nn.Conv2d: lambda m: _conv(m, torch.nn.Conv2d),
    nn.MaxPool1d: lambda m: torch.nn.MaxPool1d(m.kernel_size, m.stride, m.padding,
                                               ceil_mode=m.ceil_mode),
    nn.MaxPool2d: lambda m: torch.nn.MaxPool2d(m.kernel_size, m.stride, m.padding,
                                               ceil_mode=m.ceil_mode),
    nn.AvgPool1d: lambda m: torch.nn.AvgPool1d(m.kernel_size, m.stride, m.padding, m.ceil_mode,
                                               m.count_include_pad),
    nn.AvgPool2d: lambda m: torch.nn.AvgPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode,
                                               m.count_include_pad),
    nn.AdaptiveAvgPool1d: lambda m: torch.nn.AdaptiveAvgPool1d(m.output_size),
    nn.AdaptiveAvgPool2d: lambda m: torch.nn.AdaptiveAvgPool2d(m.output_size),
    nn.BatchNorm1d: lambda m: torch.nn.BatchNorm1d(m.num_features, m.eps, m.momentum, m.affine,
                                                   m.track_running_stats,
                                                   bias=m.bias is not None),
    nn.BatchNorm2d: lambda m: torch.nn.BatchNorm2d(m.num_features, m.eps, m.momentum, m.affine,
                                                   m.track_running_stats,
                                                   bias=m.bias is not None),
    nn.ResidualBlock: TorchResidualBlock,
}


def torch_twin(module: nn.Module) -> torch.nn.Module:
    """The torch.nn module with the same structure (PyTorch's own random weights), float32."""
    if isinstance(module, nn.Sequential):
        return torch.nn.Sequential(OrderedDict(
            (name, torch_twin(child)) for name, child in module.named_children()))
    return _SIMPLE[type(module)](module)


def torch_state_as_numpy(model: torch.nn.Module) -> dict[str, np.ndarray]:
    """A torch model's state_dict with every tensor converted by ``.numpy()``."""
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def copy_to_torch(module: nn.Module, model: torch.nn.Module) -> None:
    """Load gridnn's weights and buffers into the torch twin."""
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in
                           module.state_dict().items()})
