"""Winograd's F(2 x 2, 3 x 3) convolution (ops/winograd.py) against the definitions.

The transforms are checked against their matrix formulas on their own, then whole
convolutions against ``tests/reference.py``'s loop (float64: to rounding; float32: to about
1e-6 of the output's scale) and against the im2col path, forward and both gradients, on the
shapes that take the path (asserted, so a test cannot pass on the im2col path by accident).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gridnn as gn
import gridnn.functional as F
from gridnn import nn
from gridnn.ops import winograd
from gridnn.ops.compiled import kernels
from gridnn.ops.options import using
from gridnn.ops.windows import ConvGeometry
from reference import conv_ref

B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float64)
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float64)

pytestmark = pytest.mark.skipif(kernels() is None, reason="Winograd needs the compiled loops")


def _geometry(h: int, w: int, pad: int = 1, **changes: Any) -> ConvGeometry:
    geo = dict(stride=(1, 1), dilation=(1, 1), pads=((pad, pad), (pad, pad)), mode="zeros",
               groups=1, out_size=(h + 2 * pad - 2, w + 2 * pad - 2))
    geo.update(changes)
    return ConvGeometry(**geo)


def test_weight_transform_is_g_w_g_transposed() -> None:
    w = np.random.default_rng(0).standard_normal((70, 33, 3, 3))
    u = winograd.weight(w)
    expected = np.einsum("ia,kcab,jb->ijck", G, w, G).reshape(16, 33, 70)
    np.testing.assert_allclose(u, expected, rtol=0, atol=1e-14)


def test_input_and_output_transforms_follow_their_formulas() -> None:
    """Odd sizes: the last row and column of tiles reach past the padded input (read as
    zeros) and their second output row and column are dropped."""
    rng = np.random.default_rng(1)
    n, hp, wp, c, k_out = 2, 7, 9, 5, 3
    oh, ow = hp - 2, wp - 2
    th, tw = -(-oh // 2), -(-ow // 2)
    xpad = rng.standard_normal((n, hp, wp, c))
    v = np.empty((16, n * th * tw, c))
    kernels().winograd_input(xpad, np.zeros(c), 0, n * th, th, tw, np.empty((4, 4, c)), v)
    big = np.zeros((n, 2 * th + 2, 2 * tw + 2, c))
    big[:, :hp, :wp] = xpad
    m = rng.standard_normal((16, n * th * tw, k_out))
    bias = rng.standard_normal(k_out)
    out = np.full((n * oh, ow, k_out), np.nan)
    kernels().winograd_output(m, bias, 0, n * th, th, tw, oh, 0, np.empty((4, 2, k_out)), out)
    out = out.reshape(n, oh, ow, k_out)
    for t in range(n * th * tw):
        img, ti, tj = t // (th * tw), t // tw % th, t % tw
        d = big[img, 2 * ti:2 * ti + 4, 2 * tj:2 * tj + 4]  # (4, 4, C)
        np.testing.assert_allclose(v[:, t].reshape(4, 4, c),
                                   np.einsum("ia,abc,jb->ijc", B_T, d, B_T), atol=1e-14)
        y = np.einsum("ia,abk,jb->ijk", A_T, m[:, t].reshape(4, 4, k_out), A_T) + bias
        rows, cols = min(2, oh - 2 * ti), min(2, ow - 2 * tj)
        np.testing.assert_allclose(out[img, 2 * ti:2 * ti + rows, 2 * tj:2 * tj + cols],
                                   y[:rows, :cols], atol=1e-14)
    assert not np.isnan(out).any()


def test_output_gradient_transform_is_a_dy_a_transposed() -> None:
    """dm = A dy A^T per tile, dy read as zero where the forward dropped an output."""
    rng = np.random.default_rng(7)
    n, oh, ow, k_out = 2, 5, 7, 3
    th, tw = 3, 4
    g = rng.standard_normal((n * oh, ow, k_out))
    dm = np.empty((16, n * th * tw, k_out))
    kernels().winograd_output_grad(g, np.zeros(k_out), 0, n * th, th, tw, oh, 0,
                                   np.empty((2, 4, k_out)), dm)
    big = np.zeros((n, 2 * th, 2 * tw, k_out))
    big[:, :oh, :ow] = g.reshape(n, oh, ow, k_out)
    for t in range(n * th * tw):
        img, ti, tj = t // (th * tw), t // tw % th, t % tw
        dy = big[img, 2 * ti:2 * ti + 2, 2 * tj:2 * tj + 2]
        np.testing.assert_allclose(dm[:, t].reshape(4, 4, k_out),
                                   np.einsum("ai,ijk,bj->abk", A_T.T, dy, A_T.T), atol=1e-14)


# (batch, channels, filters, height, width, padding, padding mode): even and odd sizes, no
# padding, uneven padding, a non-zero padding mode; each has at least MIN_TILES tiles
SHAPES = [(1, 64, 16, 26, 26, 1, "zeros"), (3, 64, 24, 15, 17, 1, "zeros"),
          (2, 72, 16, 19, 21, 0, "zeros"), (1, 64, 20, 27, 25, ((2, 0), (1, 3)), "zeros"),
          (2, 64, 16, 18, 18, 1, "reflect")]


def _inputs(shape: tuple[Any, ...], dtype: Any, seed: int = 0) -> tuple[np.ndarray, ...]:
    n, c, k_out, h, w = shape[:5]
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, c, h, w)).astype(dtype),
            (rng.standard_normal((k_out, c, 3, 3)) / 24).astype(dtype),
            rng.standard_normal(k_out).astype(dtype))


def _pads(padding: Any) -> tuple[tuple[int, int], ...]:
    return ((padding, padding),) * 2 if isinstance(padding, int) else padding


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_equals_the_loop_reference(shape: tuple[Any, ...], dtype: Any) -> None:
    n, c, k_out, h, w, padding, mode = shape
    x, wt, b = _inputs(shape, dtype)
    pads = _pads(padding)
    geo = ConvGeometry((1, 1), (1, 1), pads, mode, 1,
                       (h + sum(pads[0]) - 2, w + sum(pads[1]) - 2))
    assert winograd.takes((n, h + sum(pads[0]), w + sum(pads[1]), c), wt.shape, geo)
    with gn.no_grad():
        got = F.conv2d(gn.Tensor(x), gn.Tensor(wt), gn.Tensor(b), padding=padding,
                       padding_mode=mode).data
    ref = conv_ref(x.astype(np.float64), wt.astype(np.float64), b.astype(np.float64), (1, 1),
                   pads, (1, 1), 1, mode)
    scale = np.abs(ref).max()
    assert got.dtype == dtype
    assert np.abs(got - ref).max() <= (1e-13 if dtype == np.float64 else 2e-6) * scale


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_winograd_and_im2col_agree_forward_and_gradients(shape: tuple[Any, ...],
                                                         monkeypatch) -> None:
    """float64, so that only rounding separates the two paths. The weight gradient runs the
    forward's products backwards (``winograd.weight_grad``: asserted to run); the input
    gradient is itself a stride-1 3 x 3 convolution, of the output gradient (here with too
    few channels for the path)."""
    x, wt, b = _inputs(shape, np.float64, seed=2)
    padding, mode = shape[5:]
    calls = []
    weight_grad = winograd.weight_grad
    monkeypatch.setattr(winograd, "weight_grad",
                        lambda *a: calls.append(1) or weight_grad(*a))
    results = []
    for on in (True, False):
        tx, tw_, tb = (gn.Tensor(a, requires_grad=True) for a in (x, wt, b))
        with using(winograd=on):
            y = F.conv2d(tx, tw_, tb, padding=padding, padding_mode=mode)
            g = np.random.default_rng(3).standard_normal(y.shape)
            (y * gn.Tensor(g)).sum().backward()
        results.append((y.data, tx.grad, tw_.grad, tb.grad))
    assert calls == [1]
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())


def test_transposed_convolution_of_the_gradient_takes_the_path(monkeypatch) -> None:
    """The input gradient's convolution (16 filters back to 64 channels) goes through
    ``winograd.forward`` when it qualifies: 64 filters give it 64 input channels."""
    calls: list[tuple[int, ...]] = []
    forward = winograd.forward
    monkeypatch.setattr(winograd, "forward",
                        lambda xpad, *a, **k: calls.append(xpad.shape) or forward(xpad, *a, **k))
    x, wt, b = _inputs((2, 16, 64, 20, 20), np.float32)
    tx = gn.Tensor(x, requires_grad=True)
    F.conv2d(tx, gn.Tensor(wt), gn.Tensor(b), padding=1).sum().backward()
    assert [shape[-1] for shape in calls] == [64]  # forward: 16 channels, too few


@pytest.mark.parametrize("change", [
    dict(stride=(2, 2)), dict(dilation=(2, 2)), dict(groups=2), dict(out_size=(10, 12)),
])
def test_other_convolutions_keep_im2col(change: dict[str, Any]) -> None:
    geo = _geometry(30, 30, **change)
    assert not winograd.takes((1, 32, 32, 64), (16, 64 // geo.groups, 3, 3), geo)


def test_small_and_narrow_layers_keep_im2col() -> None:
    geo = _geometry(30, 30)
    assert winograd.takes((1, 32, 32, 64), (16, 64, 3, 3), geo)
    assert not winograd.takes((1, 32, 32, winograd.MIN_CHANNELS - 1),
                              (16, winograd.MIN_CHANNELS - 1, 3, 3), geo)
    assert not winograd.takes((1, 32, 32, 64), (16, 64, 5, 5), _geometry(28, 28, pad=0))
    small = _geometry(6, 6)  # 9 tiles
    assert not winograd.takes((1, 8, 8, 64), (16, 64, 3, 3), small)
    with using(winograd=False):
        assert not winograd.takes((1, 32, 32, 64), (16, 64, 3, 3), geo)
    with using(compiled=False):
        assert not winograd.takes((1, 32, 32, 64), (16, 64, 3, 3), geo)


@pytest.mark.parametrize("split", ["batch", "one image's rows"])
def test_threads_and_small_blocks_give_the_same_values(split: str, monkeypatch) -> None:
    """Blocks of one row of tiles, split over two threads (by images, or one image's rows of
    tiles when its product is big enough to split): each tile is computed as alone."""
    from gridnn.ops import workspace

    n = 3 if split == "batch" else 1
    x, wt, b = _inputs((n, 64, 16, 30, 30), np.float32, seed=4)
    args = (gn.Tensor(x), gn.Tensor(wt), gn.Tensor(b))
    with gn.no_grad(), using(threads=1):
        alone = F.conv2d(*args, padding=1).data
    monkeypatch.setattr(winograd, "BLOCK_TILES", 1)
    monkeypatch.setattr(workspace, "ONE_SAMPLE_MACS_PER_ELEMENT", 0)
    with gn.no_grad(), using(threads=2, parallel_min_size=0):
        split_up = F.conv2d(*args, padding=1).data
    np.testing.assert_allclose(split_up, alone, rtol=0, atol=1e-6 * np.abs(alone).max())


def test_fused_activation_on_the_winograd_path() -> None:
    conv = nn.Conv2d(64, 16, 3, padding=1, rng=np.random.default_rng(5))
    x = gn.Tensor(np.random.default_rng(6).standard_normal((2, 64, 20, 20)).astype(np.float32))
    from gridnn.nn.fusion import then_for

    with gn.no_grad():
        fused = conv(x, then=then_for(nn.SiLU())).data
        two = F.silu(conv(x)).data
    np.testing.assert_array_equal(fused, two)


def test_weight_gradient_in_threads_and_small_blocks(monkeypatch) -> None:
    """Each thread sums its blocks' products into its own dU; the parts add up to the whole."""
    x, wt, b = _inputs((3, 64, 16, 22, 22), np.float64, seed=8)

    def weight_grad() -> np.ndarray:
        tw_ = gn.Tensor(wt, requires_grad=True)
        y = F.conv2d(gn.Tensor(x), tw_, gn.Tensor(b), padding=1)
        (y * y).sum().backward()
        return tw_.grad

    with using(threads=1):
        alone = weight_grad()
    monkeypatch.setattr(winograd, "BLOCK_TILES", 1)
    with using(threads=2, parallel_min_size=0):
        split_up = weight_grad()
    np.testing.assert_allclose(split_up, alone, rtol=0, atol=1e-12 * np.abs(alone).max())
