"""Build the PyTorch module that has the same layers as a gridnn module (the benchmark's
PyTorch side and the tests' oracle). PyTorch is imported on first use, not with this module.

``torch_twin(module)`` walks a gridnn module tree and builds the ``torch.nn`` module of the same
classes, arguments and attribute names, so both have identical state-dict keys. Its weights are
PyTorch's own initialisation: tests load them into gridnn with ``load_state_dict`` (the
direction a user takes with a PyTorch checkpoint), or copy gridnn's with ``copy_to_torch``.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import nn


def _torch() -> Any:
    import torch

    return torch


@functools.cache
def _residual_block_class() -> type:
    """Defined on first use: subclassing torch.nn.Module needs torch imported."""
    torch = _torch()

    class TorchResidualBlock(torch.nn.Module):
        """The torch counterpart of ``gridnn.nn.ResidualBlock`` (torchvision BasicBlock
        layout)."""

        def __init__(self, block: nn.ResidualBlock) -> None:
            super().__init__()
            self.conv1 = torch_twin(block.conv1)
            self.bn1 = torch_twin(block.bn1)
            self.relu = torch.nn.ReLU()
            self.conv2 = torch_twin(block.conv2)
            self.bn2 = torch_twin(block.bn2)
            self.downsample = None if block.downsample is None else torch_twin(block.downsample)

        def forward(self, x: Any) -> Any:
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    return TorchResidualBlock


@functools.cache
def _builders() -> dict[type, Callable[[Any], Any]]:
    """gridnn layer class -> the function building its torch.nn counterpart."""
    tnn = _torch().nn

    def conv(cls: Any) -> Callable[[Any], Any]:
        return lambda m: cls(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                             m.dilation, m.groups, m.bias is not None, m.padding_mode)

    def batch_norm(cls: Any) -> Callable[[Any], Any]:
        return lambda m: cls(m.num_features, m.eps, m.momentum, m.affine,
                             m.track_running_stats, bias=m.bias is not None)

    return {
        nn.ReLU: lambda m: tnn.ReLU(),
        nn.Sigmoid: lambda m: tnn.Sigmoid(),
        nn.Tanh: lambda m: tnn.Tanh(),
        nn.Identity: lambda m: tnn.Identity(),
        nn.LeakyReLU: lambda m: tnn.LeakyReLU(m.negative_slope),
        nn.Softmax: lambda m: tnn.Softmax(m.dim),
        nn.Flatten: lambda m: tnn.Flatten(m.start_dim, m.end_dim),
        nn.Dropout: lambda m: tnn.Dropout(m.p),
        nn.Linear: lambda m: tnn.Linear(m.in_features, m.out_features, m.bias is not None),
        nn.Conv1d: conv(tnn.Conv1d),
        nn.Conv2d: conv(tnn.Conv2d),
        nn.MaxPool1d: lambda m: tnn.MaxPool1d(m.kernel_size, m.stride, m.padding,
                                              ceil_mode=m.ceil_mode),
        nn.MaxPool2d: lambda m: tnn.MaxPool2d(m.kernel_size, m.stride, m.padding,
                                              ceil_mode=m.ceil_mode),
        nn.AvgPool1d: lambda m: tnn.AvgPool1d(m.kernel_size, m.stride, m.padding, m.ceil_mode,
                                              m.count_include_pad),
        nn.AvgPool2d: lambda m: tnn.AvgPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode,
                                              m.count_include_pad),
        nn.AdaptiveAvgPool1d: lambda m: tnn.AdaptiveAvgPool1d(m.output_size),
        nn.AdaptiveAvgPool2d: lambda m: tnn.AdaptiveAvgPool2d(m.output_size),
        nn.BatchNorm1d: batch_norm(tnn.BatchNorm1d),
        nn.BatchNorm2d: batch_norm(tnn.BatchNorm2d),
        nn.ResidualBlock: lambda m: _residual_block_class()(m),
    }


def torch_twin(module: nn.Module) -> Any:
    """The torch.nn module with the same structure (PyTorch's own random weights), float32."""
    if isinstance(module, nn.Sequential):
        return _torch().nn.Sequential(OrderedDict(
            (name, torch_twin(child)) for name, child in module.named_children()))
    return _builders()[type(module)](module)


def torch_state_as_numpy(model: Any) -> dict[str, np.ndarray]:
    """A torch model's state_dict with every tensor converted by ``.numpy()``."""
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def copy_to_torch(module: nn.Module, model: Any) -> None:
    """Load gridnn's weights and buffers into the torch twin."""
    torch = _torch()
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in
                           module.state_dict().items()})
