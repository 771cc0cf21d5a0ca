"""The direct convolution for layers with few filters (ops/direct.py) against the definitions.

Forward against ``tests/reference.py``'s loop (float64: to rounding; float32: to about 1e-6
of the output's scale), and with both gradients (the weight's by its own loop) against the
im2col path, on shapes that take
the path (asserted, so that no test passes on the im2col path by accident): 1-D and 2-D,
strides, dilations, odd sizes, a pass of fewer than four pixels, a last pass of 8 filters,
uneven and non-zero padding, groups of 8 and 16 filters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gridnn as gn
import gridnn.functional as F
from gridnn import nn
from gridnn.functional.conv import conv_nd
from gridnn.ops import direct
from gridnn.ops.compiled import kernels
from gridnn.ops.options import using
from gridnn.ops.windows import ConvGeometry
from reference import conv_ref

pytestmark = pytest.mark.skipif(kernels() is None, reason="the path needs the compiled loops")

# (batch, channels, filters, spatial size, kernel, stride, dilation, padding, padding mode,
# groups)
SHAPES = [
    (2, 3, 16, (17, 19), (3, 3), (2, 2), (1, 1), 1, "zeros", 1),  # a stem
    (3, 16, 32, (9, 10), (3, 3), (1, 1), (1, 1), 1, "zeros", 1),
    (1, 5, 16, (7, 11), (5, 3), (1, 2), (2, 1), ((2, 1), (0, 3)), "zeros", 1),
    (2, 32, 16, (8, 8), (1, 1), (2, 2), (1, 1), 0, "zeros", 1),  # 1 x 1 stride 2
    (2, 2, 32, (7, 6), (3, 3), (1, 1), (1, 1), 1, "reflect", 1),
    (2, 3, 24, (9, 9), (3, 3), (2, 2), (1, 1), 1, "zeros", 1),  # a last pass of 8 filters
    (1, 4, 8, (6, 7), (3, 3), (1, 1), (1, 1), 1, "zeros", 1),  # only a pass of 8
    (2, 4, 16, (3,), (3,), (1,), (1,), 1, "zeros", 1),  # 1-D, one pass of three pixels
    (1, 6, 32, (40,), (7,), (3,), (2,), 3, "circular", 1),
    # groups of 8 filters (RegNet): two groups a pass of 16, then a last pass of one group
    (2, 24, 24, (11, 10), (3, 3), (2, 2), (1, 1), 1, "zeros", 3),
    (1, 16, 32, (7, 9), (3, 3), (1, 1), (1, 1), 1, "zeros", 2),  # 8 -> 16 a group
    (2, 32, 32, (6, 6), (3, 3), (1, 1), (1, 1), 1, "zeros", 2),  # 16 a group
]


def _pads(padding: Any, nd: int) -> tuple[tuple[int, int], ...]:
    return ((padding, padding),) * nd if isinstance(padding, int) else padding


def _inputs(shape: tuple[Any, ...], dtype: Any, seed: int = 0) -> tuple[np.ndarray, ...]:
    n, c, k_out, size, kernel = shape[:5]
    groups = shape[9] if len(shape) > 9 else 1
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, c, *size)).astype(dtype),
            (rng.standard_normal((k_out, c // groups, *kernel)) / 8).astype(dtype),
            rng.standard_normal(k_out).astype(dtype))


def _conv(x: Any, w: Any, b: Any, shape: tuple[Any, ...]) -> Any:
    stride, dilation, padding, mode, groups = shape[5:]
    conv = F.conv1d if len(shape[3]) == 1 else F.conv2d
    return conv(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups,
                padding_mode=mode)


def _geometry(shape: tuple[Any, ...]) -> ConvGeometry:
    size, kernel, stride, dilation, padding, mode, groups = shape[3:]
    pads = _pads(padding, len(size))
    out = tuple((s + lo + hi - d * (k - 1) - 1) // st + 1
                for s, (lo, hi), k, st, d in zip(size, pads, kernel, stride, dilation))
    return ConvGeometry(stride, dilation, pads, mode, groups, out)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_equals_the_loop_reference(shape: tuple[Any, ...], dtype: Any) -> None:
    assert direct.takes(shape[1], shape[2], shape[4], _geometry(shape))
    x, w, b = _inputs(shape, dtype)
    with gn.no_grad():
        got = _conv(gn.Tensor(x), gn.Tensor(w), gn.Tensor(b), shape).data
    stride, dilation, padding, mode, groups = shape[5:]
    ref = conv_ref(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), stride,
                   _pads(padding, len(stride)), dilation, groups, mode)
    assert got.dtype == dtype and got.shape == ref.shape
    scale = np.abs(ref).max()
    assert np.abs(got - ref).max() <= (1e-13 if dtype == np.float64 else 2e-6) * scale


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_direct_and_im2col_agree_forward_and_gradients(shape: tuple[Any, ...],
                                                       monkeypatch) -> None:
    """float64, so that only rounding separates the two paths. The forward runs
    ``direct.forward`` and, with one group of a multiple of 16 filters, the weight gradient
    ``direct.weight_grad`` (asserted); at stride 1 with zero padding so does the input
    gradient when its own shape qualifies (C filters back from K channels). Grouped layers
    keep ``ops/grouped.py``'s backward, checked against im2col's here."""
    x, w, b = _inputs(shape, np.float64, seed=2)
    calls: list[int] = []
    forward, weight_grad = direct.forward, direct.weight_grad
    monkeypatch.setattr(direct, "forward", lambda xpad, *a, **k: calls.append(xpad.shape[-1])
                        or forward(xpad, *a, **k))
    monkeypatch.setattr(direct, "weight_grad", lambda *a: calls.append(-1) or weight_grad(*a))
    results = []
    for on in (True, False):
        tx, tw, tb = (gn.Tensor(a, requires_grad=True) for a in (x, w, b))
        with using(direct=on, compiled=on):  # off: the grouped layers' stacked GEMMs
            y = _conv(tx, tw, tb, shape)
            g = np.random.default_rng(3).standard_normal(y.shape)
            (y * gn.Tensor(g)).sum().backward()
        results.append((y.data, tx.grad, tw.grad, tb.grad))
    assert calls[0] == shape[1]
    assert calls.count(-1) == direct.takes_weight_grad(shape[1], shape[2], shape[4],
                                                       _geometry(shape))
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())


def test_the_input_gradient_takes_the_path_when_it_qualifies(monkeypatch) -> None:
    """A 16 -> 16 stride-1 layer: its input gradient is a 16 -> 16 convolution as well."""
    calls: list[int] = []
    forward = direct.forward
    monkeypatch.setattr(direct, "forward", lambda xpad, *a, **k: calls.append(xpad.shape[-1])
                        or forward(xpad, *a, **k))
    x, w, b = _inputs((2, 16, 16, (9, 9), (3, 3)), np.float32)
    tx = gn.Tensor(x, requires_grad=True)
    F.conv2d(tx, gn.Tensor(w), gn.Tensor(b), padding=1).sum().backward()
    assert calls == [16, 16]


@pytest.mark.parametrize("c, k_out, kernel, stride, groups", [
    (1, 16, (3, 3), (1, 1), 1),  # one channel: im2col copies its columns as whole rows
    (33, 16, (3, 3), (1, 1), 1),  # deep enough for the GEMM
    (16, 48, (3, 3), (1, 1), 1),  # wide enough for the GEMM
    (16, 20, (3, 3), (1, 1), 1),  # not a multiple of 8 filters
    (16, 16, (1, 1), (1, 1), 1),  # a plain GEMM of the input
    (16, 16, (3, 3), (1, 1), 4),  # groups of 4 filters
    (64, 64, (3, 3), (1, 1), 2),  # groups too wide
    (16, 16, (3, 3), (1, 1), 16),  # depthwise
])
def test_other_convolutions_keep_their_path(c: int, k_out: int, kernel: tuple[int, ...],
                                            stride: tuple[int, ...], groups: int) -> None:
    geo = ConvGeometry(stride, (1, 1), ((1, 1), (1, 1)), "zeros", groups, (8, 8))
    assert not direct.takes(c, k_out, kernel, geo)


def test_the_option_and_the_compiled_loops_turn_it_off() -> None:
    geo = ConvGeometry((1, 1), (1, 1), ((1, 1), (1, 1)), "zeros", 1, (8, 8))
    assert direct.takes(16, 32, (3, 3), geo)
    with using(direct=False):
        assert not direct.takes(16, 32, (3, 3), geo)
    with using(compiled=False):
        assert not direct.takes(16, 32, (3, 3), geo)


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_and_a_fused_activation_give_the_layers_apart_bit_for_bit(threads: int
                                                                          ) -> None:
    """Output rows split over threads, in cache-sized blocks when a ReLU6 rides along: every
    row is computed as alone, and the fused ReLU6 gives exactly the two layers run apart."""
    x, w, b = _inputs((4, 8, 32, (30, 30), (3, 3)), np.float32, seed=5)
    conv = nn.Conv2d(8, 32, 3, padding=1)
    conv.weight.data[...], conv.bias.data[...] = w, b
    tx = gn.Tensor(x)
    with gn.no_grad(), using(threads=threads, chunk_bytes=4096):
        fused = conv_nd(2, tx, conv.weight, conv.bias, padding=1,
                        then=lambda src, dst: np.clip(src, 0, 6, out=dst)).data
        apart = np.clip(conv(tx).data, 0, 6)
    with gn.no_grad(), using(threads=1):
        alone = [np.clip(conv(gn.Tensor(x[i:i + 1])).data, 0, 6) for i in range(4)]
    np.testing.assert_array_equal(fused, apart)
    np.testing.assert_array_equal(fused, np.concatenate(alone))
