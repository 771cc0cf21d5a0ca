"""gridnn models with the layer shapes of two torchvision classifiers, for profiling inference
without an ONNX file: ``mobilenet_v2`` (depthwise 3x3, 1x1 expansions and projections) and
``resnet18`` (3x3 and 1x1 convolutions, max pooling). Random weights, BatchNorm in eval mode,
ReLU where torchvision has ReLU6: the convolutions, which take the time, are the same shapes.

Shape: (N, 3, 224, 224) -> (N, 1000) logits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from ..tensor import Tensor

# MobileNetV2's inverted residual stages: (expansion t, output channels c, blocks n, stride s)
_MOBILENET_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                 (6, 160, 3, 2), (6, 320, 1, 1)]


def _conv_bn(c_in: int, c_out: int, k: int, stride: int, groups: int, relu: bool,
             rng: Any) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups,
                                         bias=False, rng=rng), nn.BatchNorm2d(c_out)]
    return layers + [nn.ReLU()] if relu else layers


class _Residual(nn.Module):
    """x + body(x)."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def mobilenet_v2(seed: int = 0) -> nn.Module:
    """MobileNetV2 (width 1.0), eval mode."""
    rng = np.random.default_rng(seed)
    layers = _conv_bn(3, 32, 3, 2, 1, True, rng)
    c_in = 32
    for t, c, n, s in _MOBILENET_V2:
        for i in range(n):
            stride, hidden = s if i == 0 else 1, c_in * t
            body = _conv_bn(c_in, hidden, 1, 1, 1, True, rng) if t != 1 else []
            body += _conv_bn(hidden, hidden, 3, stride, hidden, True, rng)
            body += _conv_bn(hidden, c, 1, 1, 1, False, rng)
            block = nn.Sequential(*body)
            layers.append(_Residual(block) if stride == 1 and c_in == c else block)
            c_in = c
    layers += _conv_bn(c_in, 1280, 1, 1, 1, True, rng)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, 1000, rng=rng)]
    return nn.Sequential(*layers).eval()


def resnet18(seed: int = 0) -> nn.Module:
    """ResNet-18, eval mode."""
    rng = np.random.default_rng(seed)
    layers = [*_conv_bn(3, 64, 7, 2, 1, True, rng), nn.MaxPool2d(3, 2, 1)]
    c_in = 64
    for c, s in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        layers += [nn.ResidualBlock(c_in, c, s, rng=rng), nn.ResidualBlock(c, c, 1, rng=rng)]
        c_in = c
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000, rng=rng)]
    return nn.Sequential(*layers).eval()


MODELS = {"mobilenet_v2": mobilenet_v2, "resnet18": resnet18}
