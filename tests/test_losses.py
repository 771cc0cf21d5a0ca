"""Losses against PyTorch (values and gradients), by hand, and at extreme logits."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gridnn as gn
import gridnn.functional as F
from needs_torch import TF
from torch_check import check_op, parity_summary  # noqa: F401 - autouse fixture

REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("shape", [(5, 4), (1, 10), (3, 4, 6), (2, 3, 4, 5)],
                         ids=["NC", "1C", "NCd", "NCdd"])
def test_cross_entropy_matches_torch(shape, smoothing, reduction):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal(shape) * 3
    target = rng.integers(0, shape[1], (shape[0], *shape[2:]))
    check_op(lambda x, t: F.cross_entropy(x, t, label_smoothing=smoothing, reduction=reduction),
             lambda x, t: TF.cross_entropy(x, t, label_smoothing=smoothing, reduction=reduction),
             logits, target, label=f"cross_entropy {shape} eps={smoothing} {reduction}")


def test_cross_entropy_by_hand():
    """Equal logits over C classes: every class has probability 1/C, the loss is log C."""
    loss = F.cross_entropy(gn.tensor(np.zeros((2, 5))), np.array([0, 3]))
    assert loss.item() == pytest.approx(math.log(5), rel=1e-12)


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, -1000.0, 0.0], [-1e4, 1e4, 3.0]])
    target = np.array([1, 1])
    check_op(lambda x, t: F.cross_entropy(x, t), lambda x, t: TF.cross_entropy(x, t),
             logits, target, label="cross_entropy huge logits")
    loss = F.cross_entropy(gn.tensor(logits, dtype=np.float32), target)
    assert np.isfinite(loss.item()) and loss.item() == pytest.approx(1000.0, rel=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(7,), (4, 3), (2, 3, 4)])
def test_mse_matches_torch(shape, reduction):
    rng = np.random.default_rng(1)
    check_op(lambda a, b: F.mse_loss(a, b, reduction=reduction),
             lambda a, b: TF.mse_loss(a, b, reduction=reduction),
             rng.standard_normal(shape), rng.standard_normal(shape),
             label=f"mse {shape} {reduction}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(6,), (4, 5), (2, 3, 4)])
def test_bce_with_logits_matches_torch(shape, reduction):
    rng = np.random.default_rng(2)
    logits, target = rng.standard_normal(shape) * 4, rng.random(shape)  # soft targets in [0, 1]
    check_op(lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction=reduction),
             lambda x, y: TF.binary_cross_entropy_with_logits(x, y, reduction=reduction),
             logits, target, label=f"bce {shape} {reduction}")


BCE_EXTREMES = (np.array([100.0, -100.0, 100.0, -100.0, 0.0, 30.0]),  # logits, targets
                np.array([0.0, 1.0, 1.0, 0.0, 0.5, 0.25]))


def test_bce_with_logits_at_plus_minus_100_matches_torch():
    check_op(lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction="none"),
             lambda x, y: TF.binary_cross_entropy_with_logits(x, y, reduction="none"),
             *BCE_EXTREMES, label="bce +-100")


def test_bce_with_logits_is_stable_at_plus_minus_100():
    """sigmoid(100) is 1 in float32, so a naive log(1 - sigmoid(x)) would give inf."""
    logits, target = BCE_EXTREMES
    x = gn.tensor(logits, dtype=np.float32, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(x, target, reduction="none")
    np.testing.assert_allclose(loss.data[:4], [100.0, 100.0, 0.0, 0.0], atol=1e-6)
    loss.sum().backward()
    assert np.isfinite(x.grad).all()
    np.testing.assert_allclose(x.grad[:4], [1.0, -1.0, 0.0, 0.0], atol=1e-6)
