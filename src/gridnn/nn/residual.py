"""The basic residual block of ResNet (He et al. 2016), used by ``models.resnet_small``."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from ._checks import generator, positive_int
from .activation import ReLU
from .conv import Conv2d
from .module import Module
from .norm import BatchNorm2d
from .sequential import Sequential


class ResidualBlock(Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), with 3x3 convolutions.

    The shortcut is the identity when the shape is kept, else ``downsample``: a 1x1 convolution
    with ``stride`` and a BatchNorm (the projection shortcut). Attribute names follow
    torchvision's BasicBlock, so its state-dict keys match.

    Shape: (N, in_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride)).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, *,
                 rng: Any = None, dtype: Any = None) -> None:
        super().__init__()
        name = "ResidualBlock"
        self.in_channels = positive_int(in_channels, "in_channels", name)
        self.out_channels = positive_int(out_channels, "out_channels", name)
        self.stride = positive_int(stride, "stride", name)
        rng = generator(rng, name)
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride, 1, bias=False, rng=rng,
                            dtype=dtype)
        self.bn1 = BatchNorm2d(out_channels, dtype=dtype)
        self.relu = ReLU()
        self.conv2 = Conv2d(out_channels, out_channels, 3, 1, 1, bias=False, rng=rng,
                            dtype=dtype)
        self.bn2 = BatchNorm2d(out_channels, dtype=dtype)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = Sequential(
                Conv2d(in_channels, out_channels, 1, stride, bias=False, rng=rng, dtype=dtype),
                BatchNorm2d(out_channels, dtype=dtype),
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)
