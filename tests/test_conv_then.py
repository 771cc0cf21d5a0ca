"""A convolution's ``then``: the activation after it, fused into it at inference.

Under ``no_grad`` an ONNX ``GraphModule`` hands each activation that alone reads a
convolution's output to that convolution (``F.conv_nd(..., then=...)``), which applies it to
each chunk of output rows while they are in cache. The values must be those of the two layers
run one after the other, bit for bit, on every path of the convolution (1x1 product, chunked
im2col, channel-major columns, depthwise, grouped, 1-D) and with NumPy passes instead of the
compiled loops.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gridnn as gn
import gridnn.functional as F
from gridnn import nn
from gridnn.errors import ArgumentError
from gridnn.onnx.graph import GraphModule, Node
from gridnn.ops.options import using

ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "hardtanh": lambda: nn.Hardtanh(-0.5, 0.5),
               "hardswish": nn.Hardswish, "hardsigmoid": nn.Hardsigmoid, "silu": nn.SiLU,
               "sigmoid": nn.Sigmoid,
               "gelu": nn.GELU, "leaky_relu": lambda: nn.LeakyReLU(0.1)}

# (name, in channels, filters, kernel, stride, padding, groups, input size): one case for each
# path of ops/conv.py
CONVS = [("pointwise", 6, 10, 1, 1, 0, 1, (9, 7)),
         ("im2col", 5, 7, 3, 1, 1, 1, (10, 11)),
         ("strided", 3, 8, 3, 2, 1, 1, (13, 12)),
         ("channel_major", 4, 64, 3, 1, 1, 1, (2, 3)),
         ("depthwise", 6, 6, 3, 1, 1, 6, (9, 9)),
         ("grouped", 8, 8, 3, 1, 1, 2, (7, 8)),
         ("conv1d", 4, 6, 3, 1, 1, 1, (17,)),
         ("winograd", 64, 16, 3, 1, 1, 1, (26, 26))]


def _graph(conv: nn.Module, act: nn.Module, residual: bool = False) -> GraphModule:
    """x -> conv -> act (-> + conv's output, when ``residual``: then nothing may be fused)."""
    nodes = [Node("c", ("x",), layer="conv"), Node("a", ("c",), layer="act")]
    if residual:
        nodes.append(Node("y", ("a", "c"), op="Add"))
    return GraphModule({"conv": conv, "act": act}, nodes, "x", "y" if residual else "a")


def _conv(case: tuple[Any, ...]) -> nn.Module:
    _, c, k, size, stride, pad, groups, shape = case
    layer = (nn.Conv1d if len(shape) == 1 else nn.Conv2d)(
        c, k, size, stride=stride, padding=pad, groups=groups, rng=np.random.default_rng(1))
    layer.bias.data[...] = np.random.default_rng(2).standard_normal(k).astype(np.float32)
    return layer


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("case", CONVS, ids=lambda c: c[0])
@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_fused_activation_equals_the_two_layers(case: tuple[Any, ...], act: str, batch: int,
                                                op_path: str) -> None:
    model = _graph(_conv(case), ACTIVATIONS[act]()).eval()
    assert [node.then for node, _ in model._fused] == ["act"]
    x = gn.Tensor(np.random.default_rng(3).standard_normal(
        (batch, case[1], *case[-1])).astype(np.float32) * 4)
    with gn.no_grad():
        fused = model(x).data
        two = model.act(model.conv(x)).data
    np.testing.assert_array_equal(fused, two)
    assert fused.shape == two.shape


@pytest.mark.parametrize("case", CONVS, ids=lambda c: c[0])
def test_fused_activation_when_one_image_is_split(case: tuple[Any, ...], monkeypatch) -> None:
    """Batch 1 with every product split over threads (output rows, filters or, for 1 x 1,
    ``dot``'s slices): the activation reaches every piece."""
    from gridnn.ops import workspace

    monkeypatch.setattr(workspace, "ONE_SAMPLE_MACS_PER_ELEMENT", 0)
    model = _graph(_conv(case), nn.SiLU()).eval()
    x = gn.Tensor(np.random.default_rng(9).standard_normal((1, case[1], *case[-1]))
                  .astype(np.float32))
    with gn.no_grad(), using(threads=2, parallel_min_size=0):
        fused = model(x).data
        two = model.act(model.conv(x)).data
    np.testing.assert_array_equal(fused, two)


def test_fused_activation_on_many_chunks_and_threads() -> None:
    """Small chunks and a split over threads: every chunk of every image gets its activation."""
    model = _graph(_conv(CONVS[1]), nn.SiLU()).eval()
    x = gn.Tensor(np.random.default_rng(4).standard_normal((4, 5, 10, 11)).astype(np.float32))
    with gn.no_grad(), using(chunk_bytes=512, threads=2, parallel_min_size=0):
        two = model.act(model.conv(x)).data
        fused = model(x).data
    np.testing.assert_array_equal(fused, two)


def test_nothing_is_fused_where_the_convolution_output_is_read_again() -> None:
    model = _graph(_conv(CONVS[0]), nn.ReLU(), residual=True).eval()
    assert all(node.then is None for node, _ in model._fused)
    x = gn.Tensor(np.random.default_rng(5).standard_normal((2, 6, 9, 7)).astype(np.float32))
    with gn.no_grad():
        c = model.conv(x)
        np.testing.assert_array_equal(model(x).data, (model.act(c) + c).data)


def test_with_gradients_the_two_layers_run_apart() -> None:
    """Outside no_grad the walk is unfused, so the activation's backward is recorded."""
    model = _graph(_conv(CONVS[1]), nn.ReLU6())
    x = gn.Tensor(np.random.default_rng(6).standard_normal((2, 5, 10, 11)).astype(np.float32),
                  requires_grad=True)
    model(x).sum().backward()
    reference = x.grad.copy()
    x.grad = None
    model.act(model.conv(x)).sum().backward()
    np.testing.assert_array_equal(x.grad, reference)


def test_then_refuses_gradients_and_the_plain_convolution() -> None:
    w = gn.Tensor(np.ones((2, 1, 3, 3), np.float32), requires_grad=True)
    x = gn.Tensor(np.ones((1, 1, 5, 5), np.float32))

    def then(src: Any, dst: Any) -> None:
        dst[...] = src

    with pytest.raises(ValueError, match="inference"):
        F.conv_nd(2, x, w, then=then)
    with gn.no_grad(), gn.plain_ops(), pytest.raises(ArgumentError, match="plain_ops"):
        F.conv_nd(2, x, w, then=then)


def test_tracing_sees_every_layer_of_a_fused_pair() -> None:
    """``nn.trace`` (summary, feature maps) runs under no_grad but calls each layer itself."""
    from gridnn.nn.trace import trace

    model = _graph(_conv(CONVS[1]), nn.ReLU())
    _, calls = trace(model, (5, 10, 11))
    assert [type(call.module).__name__ for call in calls] == ["Conv2d", "ReLU"]
    np.testing.assert_array_equal(calls[1].output.data, np.maximum(calls[0].output.data, 0))


def test_sequential_fuses_a_convolution_and_its_activation() -> None:
    """The chain form (VGG, gridnn's own models): same values, the activation run inside."""
    second = nn.Conv2d(7, 3, 3, padding=1, rng=np.random.default_rng(8))
    model = nn.Sequential(_conv(CONVS[1]), nn.ReLU6(), nn.MaxPool2d(2), second, nn.SiLU()).eval()
    x = gn.Tensor(np.random.default_rng(7).standard_normal((2, 5, 10, 11)).astype(np.float32))
    given: list[Any] = []
    conv_forward = second.forward
    second.forward = lambda x, then=None: given.append(then) or conv_forward(x, then=then)
    with gn.no_grad():
        fused = model(x).data
        with using(fused_activations=False):
            apart = model(x).data
    np.testing.assert_array_equal(fused, apart)
    assert given[0] is not None and given[1] is None
