"""Every op's backward against float64 central differences (gn.gradcheck), and gradcheck itself.

Inputs are small random float64 leaves; values stay away from the kinks of abs/relu/max so the
finite differences are meaningful.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import gridnn as gn
import gridnn.functional as F
from gridnn.autograd import Function
from gridnn.ops.options import using


def leaf(*shape: int, seed: int = 0, positive: bool = False) -> gn.Tensor:
    """A float64 leaf that requires grad; ``positive`` keeps it in [0.5, 2] (log, sqrt, pow)."""
    rng = np.random.default_rng(seed)
    data = rng.uniform(0.5, 2.0, shape) if positive else rng.standard_normal(shape)
    return gn.tensor(data, requires_grad=True)


def spread(*shape: int, seed: int = 0) -> gn.Tensor:
    """A float64 leaf of distinct values 0.1 apart, none within 0.05 of zero (no ties for max,
    no kinks of abs/relu within the finite-difference step)."""
    rng = np.random.default_rng(seed)
    values = (rng.permutation(int(np.prod(shape))) - np.prod(shape) / 2 + 0.5) * 0.1
    return gn.tensor(values.reshape(shape), requires_grad=True)


# Each entry: (name, fn, inputs factory). Factories build fresh leaves per test.
CASES: list[tuple[str, Callable[..., gn.Tensor], Callable[[], tuple[Any, ...]]]] = [
    # element-wise, with broadcasting against each input's shape
    ("add_broadcast", lambda a, b: a + b, lambda: (leaf(3, 1, 4), leaf(2, 4, seed=1))),
    ("sub_broadcast", lambda a, b: a - b, lambda: (leaf(2, 3), leaf(3, seed=1))),
    ("mul_broadcast", lambda a, b: a * b, lambda: (leaf(4, 1), leaf(1, 5, seed=1))),
    ("div_broadcast", lambda a, b: a / b, lambda: (leaf(2, 3), leaf(3, seed=1, positive=True))),
    ("scalar_ops", lambda a: (2.0 - a) * 3.0 / 1.5 + 1.0 - 4.0 / (a + 5.0), lambda: (leaf(5),)),
    ("pow_scalar", lambda a: a ** 3 + a ** 0.5, lambda: (leaf(2, 3, positive=True),)),
    ("pow_tensor", lambda a, b: a ** b,
     lambda: (leaf(2, 3, positive=True), leaf(3, seed=1))),
    ("rpow", lambda a: 2.0 ** a, lambda: (leaf(4),)),
    ("neg", lambda a: -a, lambda: (leaf(3),)),
    ("exp", lambda a: a.exp(), lambda: (leaf(2, 3),)),
    ("log", lambda a: a.log(), lambda: (leaf(2, 3, positive=True),)),
    ("sqrt", lambda a: a.sqrt(), lambda: (leaf(2, 3, positive=True),)),
    ("abs", lambda a: a.abs(), lambda: (spread(2, 3),)),
    ("relu", lambda a: a.relu(), lambda: (spread(3, 4),)),
    ("leaky_relu", lambda a: a.leaky_relu(0.2), lambda: (spread(3, 4),)),
    ("sigmoid", lambda a: a.sigmoid(), lambda: (leaf(3, 4),)),
    ("tanh", lambda a: a.tanh(), lambda: (leaf(3, 4),)),
    ("functional_activations",
     lambda a: F.relu(a) + F.leaky_relu(a, 0.1) + F.sigmoid(a) + F.tanh(a),
     lambda: (spread(2, 5),)),
    ("where", lambda a, b: gn.where(a.data > 0, a, b), lambda: (spread(3, 4), leaf(4, seed=1))),
    ("where_scalar", lambda a: gn.where(a.data > 0, a * 2.0, 0.5), lambda: (spread(6),)),
    # matrix products
    ("matmul", lambda a, b: a @ b, lambda: (leaf(3, 4), leaf(4, 2, seed=1))),
    ("matmul_batched_broadcast", lambda a, b: a @ b,
     lambda: (leaf(2, 1, 3, 4), leaf(3, 4, 2, seed=1))),
    ("matmul_vec_mat", lambda a, b: a @ b, lambda: (leaf(4), leaf(4, 3, seed=1))),
    ("matmul_mat_vec", lambda a, b: a @ b, lambda: (leaf(2, 3, 4), leaf(4, seed=1))),
    ("matmul_vec_vec", lambda a, b: a @ b, lambda: (leaf(5), leaf(5, seed=1))),
    ("matmul_array_left", lambda b: np.ones((2, 3)) @ b, lambda: (leaf(3, 4),)),
    ("linear", lambda x, w, b: F.linear(x, w, b),
     lambda: (leaf(2, 3, 4), leaf(5, 4, seed=1), leaf(5, seed=2))),
    # reductions and the softmax family
    ("sum_all", lambda a: a.sum(), lambda: (leaf(2, 3, 4),)),
    ("sum_axis_keepdims", lambda a: a.sum(axis=(0, 2), keepdims=True), lambda: (leaf(2, 3, 4),)),
    ("mean_axis", lambda a: a.mean(axis=-1), lambda: (leaf(2, 3, 4),)),
    ("mean_keepdims", lambda a: a.mean(axis=1, keepdims=True), lambda: (leaf(2, 3, 4),)),
    ("max_all", lambda a: a.max(), lambda: (spread(3, 4),)),
    ("max_axis", lambda a: a.max(axis=1), lambda: (spread(3, 4, 2),)),
    ("min_axes_keepdims", lambda a: a.min(axis=(0, 2), keepdims=True), lambda: (spread(3, 4, 2),)),
    ("softmax", lambda a: a.softmax(axis=0), lambda: (leaf(3, 4),)),
    ("log_softmax", lambda a: a.log_softmax(), lambda: (leaf(3, 4),)),
    ("functional_softmax", lambda a: F.softmax(a, dim=1) * F.log_softmax(a, dim=1),
     lambda: (leaf(2, 5),)),
    # shape ops
    ("reshape", lambda a: a.reshape(4, -1) * np.arange(6.0), lambda: (leaf(2, 3, 4),)),
    ("flatten", lambda a: a.flatten(1), lambda: (leaf(2, 3, 4),)),
    ("permute", lambda a: a.permute(2, 0, 1), lambda: (leaf(2, 3, 4),)),
    ("transpose_pair", lambda a: a.transpose(0, 2), lambda: (leaf(2, 3, 4),)),
    ("T", lambda a: a.T, lambda: (leaf(2, 3),)),
    ("getitem_basic", lambda a: a[1:, ::-2, None, ..., 1], lambda: (leaf(3, 4, 2),)),
    ("getitem_int", lambda a: a[-1], lambda: (leaf(3, 4),)),
    ("getitem_fancy_repeated", lambda a: a[np.array([0, 2, 0, 0])], lambda: (leaf(3, 4),)),
    ("getitem_fancy_pairs", lambda a: a[np.array([0, 1, 0]), np.array([2, 2, 2])],
     lambda: (leaf(3, 4),)),
    ("getitem_mask", lambda a: a[a.data > 0], lambda: (spread(3, 4),)),
    ("concat", lambda a, b: gn.concat([a, b, a], axis=1),
     lambda: (leaf(2, 3), leaf(2, 1, seed=1))),
    ("stack", lambda a, b: gn.stack([a, b], axis=-1), lambda: (leaf(2, 3), leaf(2, 3, seed=1))),
    *[(f"pad_{mode}", lambda a, mode=mode: F.pad(a, (2, 1, 1, 3), mode=mode),
       lambda: (leaf(2, 4, 5),))
      for mode in ("constant", "zeros", "reflect", "replicate", "circular")],
    ("pad_last_axis_value", lambda a: F.pad(a, (0, 2), value=1.5), lambda: (leaf(3, 2),)),
    ("cast_float64", lambda a: a.astype(np.float64) * 2.0, lambda: (leaf(3),)),
    ("dropout_fixed_rng",
     lambda a: F.dropout(a, 0.4, training=True, rng=np.random.default_rng(5)),
     lambda: (leaf(4, 5),)),
    # convolution variants
    ("conv1d_bias", lambda x, w, b: F.conv1d(x, w, b),
     lambda: (leaf(2, 3, 7), leaf(4, 3, 3, seed=1), leaf(4, seed=2))),
    ("conv1d_stride_dilation_reflect",
     lambda x, w: F.conv1d(x, w, stride=2, padding=(2,), dilation=2, padding_mode="reflect"),
     lambda: (leaf(1, 2, 9), leaf(3, 2, 3, seed=1))),
    ("conv1d_same_circular", lambda x, w: F.conv1d(x, w, stride=3, padding="same",
                                                   padding_mode="circular"),
     lambda: (leaf(2, 2, 8), leaf(2, 2, 4, seed=1))),
    ("conv2d_bias", lambda x, w, b: F.conv2d(x, w, b, padding=1),
     lambda: (leaf(2, 3, 5, 4), leaf(2, 3, 3, 3, seed=1), leaf(2, seed=2))),
    ("conv2d_groups_pairs_replicate",
     lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=((0, 2), (1, 0)), groups=2,
                           padding_mode="replicate"),
     lambda: (leaf(1, 4, 5, 5), leaf(4, 2, 2, 3, seed=1))),
    ("conv2d_depthwise_dilated",
     lambda x, w, b: F.conv2d(x, w, b, dilation=(2, 1), padding="same", groups=3),
     lambda: (leaf(1, 3, 6, 5), leaf(3, 1, 3, 2, seed=1), leaf(3, seed=2))),
    ("conv2d_strided_same_reflect",
     lambda x, w: F.conv2d(x, w, stride=2, padding="same", padding_mode="reflect"),
     lambda: (leaf(1, 2, 7, 6), leaf(2, 2, 3, 3, seed=1))),
    # pooling
    ("max_pool1d", lambda x: F.max_pool1d(x, 3, stride=2, padding=1), lambda: (spread(2, 2, 7),)),
    ("max_pool2d_ceil", lambda x: F.max_pool2d(x, 2, ceil_mode=True),
     lambda: (spread(1, 2, 5, 5),)),
    ("avg_pool1d", lambda x: F.avg_pool1d(x, 3, stride=2, padding=1, count_include_pad=False),
     lambda: (leaf(2, 2, 7),)),
    ("avg_pool2d_ceil_pad", lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True),
     lambda: (leaf(1, 2, 6, 5),)),
    ("adaptive_avg_pool1d", lambda x: F.adaptive_avg_pool1d(x, 3), lambda: (leaf(2, 2, 7),)),
    ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
     lambda: (leaf(1, 2, 5, 4),)),
    ("global_avg_pool", F.global_avg_pool, lambda: (leaf(2, 3, 4, 3),)),
    # losses
    ("cross_entropy_smoothing",
     lambda x: F.cross_entropy(x, np.array([0, 2, 1]), label_smoothing=0.2),
     lambda: (leaf(3, 4),)),
    ("cross_entropy_NCd_sum",
     lambda x: F.cross_entropy(x, np.array([[0, 2], [1, 1]]), reduction="sum"),
     lambda: (leaf(2, 3, 2),)),
    ("mse_loss", lambda a, b: F.mse_loss(a, b), lambda: (leaf(3, 4), leaf(3, 4, seed=1))),
    ("bce_with_logits", lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction="none"),
     lambda: (leaf(3, 4), leaf(3, 4, seed=1, positive=True) * 0.4)),
]


# The convolution cases run on the fast convolution and again on the plain one.
PATHS = [(case, "fast") for case in CASES] + [
    (case, "plain") for case in CASES if case[0].startswith("conv")]


@pytest.mark.parametrize("case,path", PATHS, ids=[f"{c[0]}-{p}" for c, p in PATHS])
def test_gradcheck_op(case, path):
    name, fn, make = case
    # Re-wrap so every input is a leaf (a factory may scale one, e.g. targets into [0.2, 0.8]).
    inputs = tuple(gn.tensor(t.data, requires_grad=True) for t in make())
    with using(plain_conv=path == "plain"):
        assert gn.gradcheck(fn, *inputs)


# ---- gradcheck catches wrong gradients ------------------------------------------------------
class WrongSquare(Function):
    """x ** 2 whose backward is wrong at two elements: 2.2x at (0, 1) and 3x at (1, 2)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x * x

    def backward(self, g: np.ndarray) -> tuple[np.ndarray]:
        grad = 2 * self.x * g
        grad[0, 1] *= 1.1
        grad[1, 2] *= 1.5
        return (grad,)


class ForgetsSecondInput(Function):
    """a * b whose backward gives b's gradient as zeros."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.a, self.b = a, b
        return a * b

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return g * self.b, np.zeros_like(self.a)


def test_gradcheck_names_the_worst_element():
    """Of the two wrong elements, the message names the one that is further off."""
    x = leaf(3, 4, positive=True)
    with pytest.raises(gn.GradcheckError, match=r"input 0 at index \(1, 2\)"):
        gn.gradcheck(WrongSquare.apply, x)


def test_gradcheck_checks_every_input():
    a, b = leaf(2, 3), leaf(2, 3, seed=1)
    with pytest.raises(gn.GradcheckError, match=r"gradient of input 1 at index"):
        gn.gradcheck(ForgetsSecondInput.apply, a, b)


def test_gradcheck_error_is_an_assertion_error_with_both_numbers():
    """The message gives backward's value and the finite-difference value: here 3x vs 2x."""
    x = leaf(2, 3, positive=True)
    with pytest.raises(AssertionError) as info:
        gn.gradcheck(lambda t: WrongSquare.apply(t).sum(), x)
    found = re.search(r"index \(1, 2\) is (\S+) by backward but (\S+) by finite differences",
                      str(info.value))
    assert found, str(info.value)
    assert float(found[1]) / float(found[2]) == pytest.approx(1.5, rel=1e-6)


def test_gradcheck_needs_float64_and_a_grad_input():
    with pytest.raises(gn.ArgumentTypeError, match="input 0 must be float64.*float32"):
        gn.gradcheck(lambda t: t * 2, gn.tensor([1.0, 2.0], requires_grad=True))
    with pytest.raises(gn.ArgumentError, match="no input is a Tensor with requires_grad=True"):
        gn.gradcheck(lambda t: t * 2, gn.tensor(np.ones(2)))
