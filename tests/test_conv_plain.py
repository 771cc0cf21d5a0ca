"""``gn.plain_ops()`` and the options behind it: what they switch, that they switch back, and
that a model trains the same on the plain convolution as on the fast one.

The plain convolution's values and gradients are checked case by case in test_conv.py,
test_conv_paths.py and test_gradcheck.py (every case there runs on both paths).
"""

from __future__ import annotations

import numpy as np
import pytest

import gridnn as gn
import gridnn.functional as F
from gridnn import nn
from gridnn.ops.conv import ConvNd
from gridnn.ops.conv_plain import ConvPlain
from gridnn.ops.options import Options, options, using
from gridnn.optim import SGD


def _conv_fn_type() -> type:
    x = gn.tensor(np.ones((1, 2, 5, 5), np.float32), requires_grad=True)
    w = gn.tensor(np.ones((3, 2, 3, 3), np.float32))
    return type(F.conv2d(x, w, padding=1)._fn)


def test_plain_ops_switches_the_conv_and_switches_back():
    assert _conv_fn_type() is ConvNd
    with gn.plain_ops():
        assert options().plain_conv
        assert _conv_fn_type() is ConvPlain
    assert _conv_fn_type() is ConvNd
    with pytest.raises(RuntimeError, match="inside"), gn.plain_ops():
        raise RuntimeError("inside")
    assert _conv_fn_type() is ConvNd and options() == Options()


def test_using_nests_and_restores_each_level():
    with using(threads=1):
        with using(plain_conv=True, chunk_bytes=64):
            assert options() == Options(threads=1, plain_conv=True, chunk_bytes=64)
        assert options() == Options(threads=1)
    assert options() == Options()


@pytest.mark.parametrize("changes, error, message", [
    ({"plain": True}, gn.ArgumentError, "unknown option 'plain'"),
    ({"chunk_bytes": 0}, gn.ArgumentError, "`chunk_bytes` must be at least 1, received 0"),
    ({"threads": 0}, gn.ArgumentError, "`threads` must be at least 1, received 0"),
    ({"threads": 1.5}, gn.ArgumentTypeError, "`threads` must be an int, received 1.5"),
    ({"plain_conv": 1}, gn.ArgumentTypeError, "`plain_conv` must be True or False, received 1"),
])
def test_bad_options_name_the_option(changes, error, message):
    with pytest.raises(error, match=message), using(**changes):
        pass
    assert options() == Options()


def _train(steps: int = 5) -> list[float]:
    """SGD steps of a small CNN (conv with bias, strided grouped conv, reflect padding,
    pooling, linear) on fixed data; the losses, one per step."""
    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, rng=rng), nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding="same", groups=2, padding_mode="reflect", rng=rng),
        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 2 * 2, 4, rng=rng))
    x = gn.tensor(rng.standard_normal((6, 3, 8, 8)).astype(np.float32))
    y = rng.integers(0, 4, 6)
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_a_model_trains_the_same_on_the_plain_convolution():
    fast = _train()
    with gn.plain_ops():
        plain = _train()
    assert fast[-1] < fast[0]  # it learns
    np.testing.assert_allclose(plain, fast, rtol=1e-5)
