"""Locally connected layers against three oracles: a naive loop written from the definition, the
dense matrix of the same weights (gridnn.explain), and PyTorch's unfold + one product per
position; gradients by float64 finite differences and by PyTorch."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import gridnn as gn
from gridnn import nn
from gridnn.explain import dense_equivalent
from gridnn.functional import locally_connected
from needs_torch import torch
from reference import pad_ref
from torch_check import check_op


def local_ref(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple[int, ...],
              pads: tuple[tuple[int, int], ...], dilation: tuple[int, ...],
              mode: str = "zeros") -> np.ndarray:
    """out[n, k, *o] = sum over c, taps of x_padded[n, c, o * stride + tap * dilation]
    * w[*o, k, c, *tap] + bias, one output element at a time."""
    nd = (w.ndim - 2) // 2
    out_size, k_out, kernel = w.shape[:nd], w.shape[nd], w.shape[nd + 2:]
    xpad = pad_ref(x, pads, mode)
    out = np.zeros((x.shape[0], k_out, *out_size))
    for n, pos in itertools.product(range(x.shape[0]), itertools.product(*map(range, out_size))):
        taps = [[p * s + j * d for j in range(kk)]
                for p, s, d, kk in zip(pos, stride, dilation, kernel)]
        window = xpad[n][np.ix_(range(x.shape[1]), *taps)]  # (C, *k)
        for k in range(k_out):
            bias = 0.0 if b is None else (b[pos][k] if b.ndim > 1 else b[k])
            out[(n, k, *pos)] = (window * w[pos][k]).sum() + bias
    return out


CASES = [  # nd, input size, kernel, stride, padding (resolved pads), dilation, padding mode
    (1, (9,), (3,), (1,), ((0, 0),), (1,), "zeros"),
    (1, (10,), (3,), (2,), ((1, 1),), (2,), "reflect"),
    (2, (5, 6), (2, 3), (1, 2), ((0, 0), (1, 1)), (1, 1), "zeros"),
    (2, (7, 6), (3, 2), (2, 3), ((1, 1), (1, 1)), (1, 2), "circular"),
    (2, (6, 5), (3, 3), (2, 1), ((2, 0), (1, 2)), (1, 1), "replicate"),
]


def make_layer(nd, size, kernel, stride, pads, dilation, mode, bias_mode="position",
               bias=True, c_in=3, c_out=4, dtype=np.float64, seed=0):
    cls = nn.LocallyConnected1d if nd == 1 else nn.LocallyConnected2d
    return cls(c_in, c_out, size, kernel, stride, pads, dilation, bias=bias, bias_mode=bias_mode,
               padding_mode=mode, rng=np.random.default_rng(seed), dtype=dtype)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("bias_mode", ["position", "channel", None])
def test_forward_matches_naive_loop_and_dense_matrix(case, bias_mode):
    nd, size, kernel, stride, pads, dilation, mode = case
    layer = make_layer(*case, bias_mode=bias_mode or "position", bias=bias_mode is not None)
    x = np.random.default_rng(1).standard_normal((2, 3, *size))
    y = layer(gn.tensor(x)).data
    b = None if layer.bias is None else layer.bias.data
    np.testing.assert_allclose(y, local_ref(x, layer.weight.data, b, stride, pads, dilation, mode),
                               rtol=1e-12, atol=1e-12)
    w_dense, bvec = dense_equivalent(layer, (3, *size))
    for n in range(2):
        np.testing.assert_allclose(w_dense @ x[n].ravel() + bvec, y[n].ravel(), rtol=1e-12,
                                   atol=1e-12)


@pytest.mark.parametrize("case", CASES[1:4])
@pytest.mark.parametrize("bias_mode", ["position", "channel"])
def test_gradcheck_float64(case, bias_mode):
    layer = make_layer(*case, bias_mode=bias_mode, c_in=2, c_out=2)
    x = gn.tensor(np.random.default_rng(2).standard_normal((2, 2, *case[1])), requires_grad=True)
    nd, _, _, stride, pads, dilation, mode = case

    def fn(x, w, b):
        return locally_connected(x, w, b, stride, pads, dilation, mode)

    assert gn.gradcheck(fn, x, layer.weight, layer.bias)


@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), ((1, 2), (2, 1), 2)])
def test_matches_torch_unfold(stride, padding, dilation):
    """PyTorch has no locally connected layer; unfold gives its windows (N, C*kk, P), and one
    product per position applies each position's (K, C*kk) kernel."""
    rng = np.random.default_rng(3)
    c, k_out, size, kernel = 3, 5, (7, 8), (3, 2)
    layer = nn.LocallyConnected2d(c, k_out, size, kernel, stride, padding, dilation, rng=rng)
    out_size = layer.output_size
    x = rng.standard_normal((2, c, *size)).astype(np.float32)

    def torch_fn(x, w, b):
        cols = torch.nn.functional.unfold(x, kernel, dilation, padding, stride)  # (N, C*kk, P)
        wp = w.reshape(-1, k_out, c * np.prod(kernel))  # (P, K, C*kk)
        out = torch.einsum("njp,pkj->nkp", cols, wp) + b.reshape(-1, k_out).T
        return out.reshape(x.shape[0], k_out, *out_size)

    def gridnn_fn(x, w, b):
        return locally_connected(x, w, b, stride, padding, dilation)

    check_op(gridnn_fn, torch_fn, x, layer.weight.data, layer.bias.data, label="local2d")


def test_training_reduces_loss():
    """Trainable: plain gradient steps on a locally connected layer fit a fixed target."""
    rng = np.random.default_rng(4)
    layer = nn.LocallyConnected2d(2, 3, (6, 6), 3, padding=1, rng=rng)
    x = gn.tensor(rng.standard_normal((8, 2, 6, 6)).astype(np.float32))
    target = rng.standard_normal((8, 3, 6, 6)).astype(np.float32)
    losses = []
    for _ in range(20):
        loss = gn.functional.mse_loss(layer(x), target)
        layer.zero_grad()
        loss.backward()
        for p in layer.parameters():
            p.data -= 0.5 * p.grad
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_shapes_and_unshared_weights():
    layer = nn.LocallyConnected2d(3, 12, (32, 32), 5, padding="same", rng=np.random.default_rng(0))
    assert layer.output_size == (32, 32)
    assert layer.weight.shape == (32, 32, 12, 3, 5, 5)
    assert layer.bias.shape == (32, 32, 12)
    # Every position has its own kernel: no two positions share one.
    assert not np.array_equal(layer.weight.data[0, 0], layer.weight.data[0, 1])
    strided = nn.LocallyConnected1d(2, 4, 11, 3, stride=2, bias_mode="channel",
                                    rng=np.random.default_rng(0))
    assert strided.weight.shape == (5, 4, 2, 3) and strided.bias.shape == (4,)
    assert strided(gn.tensor(np.zeros((1, 2, 11), np.float32))).shape == (1, 4, 5)
    assert "input_size=(32, 32)" in repr(layer)


def test_state_dict_round_trip():
    a = nn.LocallyConnected1d(2, 3, 8, 3, rng=np.random.default_rng(0))
    b = nn.LocallyConnected1d(2, 3, 8, 3, rng=np.random.default_rng(1))
    b.load_state_dict(a.state_dict())
    x = gn.tensor(np.random.default_rng(2).standard_normal((2, 2, 8)).astype(np.float32))
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_errors_name_the_argument():
    with pytest.raises(gn.ArgumentError, match="`bias_mode` must be one of"):
        nn.LocallyConnected2d(1, 1, (4, 4), 2, bias_mode="pixel")
    with pytest.raises(gn.ArgumentError, match=r"`input_size` must be positive.*=\(4, 0\)"):
        nn.LocallyConnected2d(1, 1, (4, 0), 2)
    with pytest.raises(gn.ArgumentError, match="does not fit input_size"):
        nn.LocallyConnected1d(1, 1, 3, 5)
    layer = nn.LocallyConnected2d(1, 2, (4, 4), 2, rng=np.random.default_rng(0))
    with pytest.raises(gn.ArgumentError, match=r"input must be \(N, 1, 4, 4\).*\(1, 1, 5, 4\)"):
        layer(gn.tensor(np.zeros((1, 1, 5, 4), np.float32)))
    with pytest.raises(gn.ArgumentError, match="input has 2 channels but the weight expects 1"):
        locally_connected(np.zeros((1, 2, 4, 4), np.float32), layer.weight)


def test_saved_windows_survive_a_later_convolution():
    """The padded input the op reads may be a shared zero-bordered buffer that the next
    convolution refills; the windows it keeps for the weight gradient are its own copy, also
    when one window covers the whole padded input (where a reshape could return a view)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4, 4))
    layer = make_layer(2, (4, 4), (6, 6), (1, 1), ((1, 1), (1, 1)), (1, 1), "zeros", seed=1)
    y = layer(gn.tensor(x))  # output size 1x1: the one window is the whole padded input
    other = gn.functional.conv2d(gn.tensor(rng.standard_normal((2, 3, 4, 4))),
                                 gn.tensor(rng.standard_normal((5, 3, 3, 3))), padding=1)
    assert other.shape == (2, 5, 4, 4)  # it ran on the same padded shape (2, 6, 6, 3)
    y.sum().backward()
    xpad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))  # (N, C, 6, 6)
    want = np.broadcast_to(xpad.sum(axis=0), layer.weight.shape)  # (1, 1, K, C, 6, 6)
    np.testing.assert_allclose(layer.weight.grad, want, rtol=1e-12, atol=1e-12)
