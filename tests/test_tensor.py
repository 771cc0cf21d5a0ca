"""Tensor and autograd: broadcasting, accumulation, deep graphs, no_grad, dtypes, graph reuse,
and every tensor op against PyTorch through the one parity helper."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import gridnn as gn
import gridnn.functional as F
from needs_torch import TF, torch
from torch_check import check_op, parity_summary  # noqa: F401 - autouse fixture

rng = np.random.default_rng(0)


def randn(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


def positive(*shape: int) -> np.ndarray:
    return rng.uniform(0.5, 2.0, shape)


# (name, gridnn fn, torch fn, arrays): every op of the tensor API, same arrays for both.
PARITY = [
    ("add_broadcast", lambda a, b: a + b, lambda a, b: a + b, [randn(3, 1, 4), randn(2, 4)]),
    ("sub_broadcast", lambda a, b: a - b, lambda a, b: a - b, [randn(2, 3), randn(3)]),
    ("mul_broadcast", lambda a, b: a * b, lambda a, b: a * b, [randn(4, 1), randn(1, 5)]),
    ("div_broadcast", lambda a, b: a / b, lambda a, b: a / b, [randn(2, 3), positive(1, 3)]),
    ("scalars", lambda a: (2 - a) * 3 / 1.5 + 1 - 4 / (a + 5),
     lambda a: (2 - a) * 3 / 1.5 + 1 - 4 / (a + 5), [randn(5)]),
    ("pow_scalar", lambda a: a ** 3 + a ** -0.5, lambda a: a ** 3 + a ** -0.5, [positive(2, 3)]),
    ("pow_tensor", lambda a, b: a ** b, lambda a, b: a ** b, [positive(2, 3), randn(3)]),
    ("rpow", lambda a: 2.0 ** a, lambda a: 2.0 ** a, [randn(4)]),
    ("neg", lambda a: -a, lambda a: -a, [randn(3)]),
    ("exp_log_sqrt", lambda a: a.exp() + a.log() * a.sqrt(),
     lambda a: a.exp() + a.log() * a.sqrt(), [positive(3, 2)]),
    ("abs", lambda a: a.abs(), lambda a: a.abs(), [randn(6)]),
    ("relu", F.relu, lambda a: TF.relu(a), [randn(3, 4)]),
    ("leaky_relu", lambda a: F.leaky_relu(a, 0.2), lambda a: TF.leaky_relu(a, 0.2),
     [randn(3, 4)]),
    ("sigmoid_extreme", F.sigmoid, lambda a: torch.sigmoid(a),
     [np.array([-800.0, -30, -1, 0, 2, 40, 800])]),
    ("tanh", F.tanh, lambda a: torch.tanh(a), [randn(3, 4)]),
    ("softmax", lambda a: F.softmax(a, dim=0), lambda a: torch.softmax(a, dim=0), [randn(3, 4)]),
    ("log_softmax", lambda a: F.log_softmax(a, 1), lambda a: torch.log_softmax(a, 1),
     [randn(3, 4) * 50]),
    ("sum_all", lambda a: a.sum(), lambda a: a.sum(), [randn(2, 3, 4)]),
    ("sum_axes_keepdims", lambda a: a.sum(axis=(0, 2), keepdims=True),
     lambda a: a.sum(dim=(0, 2), keepdim=True), [randn(2, 3, 4)]),
    ("mean_axis", lambda a: a.mean(axis=-1), lambda a: a.mean(dim=-1), [randn(2, 3, 4)]),
    ("max_axis", lambda a: a.max(axis=1), lambda a: a.amax(dim=1), [randn(3, 4, 2)]),
    ("max_all", lambda a: a.max(), lambda a: a.amax(), [randn(3, 4)]),
    ("min_keepdims", lambda a: a.min(axis=(0, 2), keepdims=True),
     lambda a: a.amin(dim=(0, 2), keepdim=True), [randn(3, 4, 2)]),
    ("max_ties_share", lambda a: a.max(axis=1), lambda a: a.amax(dim=1),
     [np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])]),
    ("matmul", lambda a, b: a @ b, lambda a, b: a @ b, [randn(3, 4), randn(4, 2)]),
    ("matmul_batched_broadcast", lambda a, b: a @ b, lambda a, b: a @ b,
     [randn(2, 1, 3, 4), randn(3, 4, 2)]),
    ("matmul_vec_mat", lambda a, b: a @ b, lambda a, b: a @ b, [randn(4), randn(2, 4, 3)]),
    ("matmul_mat_vec", lambda a, b: a @ b, lambda a, b: a @ b, [randn(2, 3, 4), randn(4)]),
    ("matmul_vec_vec", lambda a, b: a @ b, lambda a, b: a @ b, [randn(5), randn(5)]),
    ("linear", F.linear, lambda *a: TF.linear(*a), [randn(2, 3, 4), randn(5, 4), randn(5)]),
    ("reshape_flatten", lambda a: a.reshape(4, -1).flatten(), lambda a: a.reshape(4, -1).flatten(),
     [randn(2, 3, 4)]),
    ("flatten_start", lambda a: a.flatten(1), lambda a: a.flatten(1), [randn(2, 3, 4)]),
    ("permute", lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), [randn(2, 3, 4)]),
    ("transpose_pair", lambda a: a.transpose(0, 2), lambda a: a.transpose(0, 2),
     [randn(2, 3, 4)]),
    ("T", lambda a: a.T, lambda a: a.T, [randn(2, 3)]),
    ("getitem_slices", lambda a: a[1:, :3:2, None, ..., 1], lambda a: a[1:, :3:2, None, ..., 1],
     [randn(3, 4, 2)]),
    ("getitem_fancy_repeated", lambda a: a[np.array([0, 2, 0, 0])],
     lambda a: a[torch.tensor([0, 2, 0, 0])], [randn(3, 4)]),
    ("getitem_fancy_pairs", lambda a: a[np.array([0, 1, 0]), np.array([2, 2, 2])],
     lambda a: a[torch.tensor([0, 1, 0]), torch.tensor([2, 2, 2])], [randn(3, 4)]),
    *[(f"pad_{mode}", lambda a, mode=mode: F.pad(a, (2, 1, 1, 3), mode=mode),
       lambda a, mode=mode: TF.pad(a, (2, 1, 1, 3), mode=mode), [randn(2, 4, 5)])
      for mode in ("constant", "reflect", "replicate", "circular")],
    ("concat", lambda a, b: gn.concat([a, b, a], axis=1), lambda a, b: torch.cat([a, b, a], 1),
     [randn(2, 3), randn(2, 1)]),
    ("stack", lambda a, b: gn.stack([a, b], axis=-1), lambda a, b: torch.stack([a, b], -1),
     [randn(2, 3), randn(2, 3)]),
    ("where", lambda a, b: gn.where(a.data > 0, a, b),
     lambda a, b: torch.where(a > 0, a, b), [randn(3, 4), randn(4)]),
]


@pytest.mark.parametrize("name,ours,theirs,arrays", PARITY, ids=[p[0] for p in PARITY])
def test_op_matches_torch(name, ours, theirs, arrays):
    check_op(ours, theirs, *arrays, label=name)


# ---- autograd mechanics ----------------------------------------------------------------------
def test_broadcast_gradients_are_reduced_to_each_input_shape():
    a = gn.tensor(np.ones((2, 3)), requires_grad=True)
    b = gn.tensor(np.ones(3), requires_grad=True)
    c = gn.tensor(np.ones((2, 1)), requires_grad=True)
    ((a + b) * c).sum().backward()
    assert a.grad.shape == (2, 3) and b.grad.shape == (3,) and c.grad.shape == (2, 1)
    np.testing.assert_array_equal(b.grad, [2, 2, 2])  # b was added to each of 2 rows
    np.testing.assert_array_equal(c.grad, [[6], [6]])  # c scaled 3 entries of (1 + 1)


def test_shared_subexpression_sums_its_gradients():
    x = gn.tensor(np.array([3.0]), requires_grad=True)
    y = x * x + x  # dy/dx = 2x + 1
    y.backward(np.array([1.0]))
    np.testing.assert_array_equal(x.grad, [7.0])


def test_gradients_accumulate_until_zeroed():
    x = gn.tensor(np.array([1.0, 2.0]), requires_grad=True)
    for expected in ([2.0, 4.0], [4.0, 8.0], [6.0, 12.0]):
        (x * x).sum().backward()
        np.testing.assert_array_equal(x.grad, expected)
    x.zero_grad()
    assert x.grad is None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_ten_thousand_deep_chain_needs_no_recursion():
    assert sys.getrecursionlimit() < 10_000  # a recursive walk would fail here
    x = gn.tensor(np.array(1.0), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001 ** 10_000, rel=1e-9)


def test_no_grad_records_nothing():
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    with gn.no_grad():
        y = x * 2
        assert not gn.is_grad_enabled()
        with gn.enable_grad():
            z = x * 2
    assert gn.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad and not z.is_leaf

    @gn.no_grad()
    def doubled(t: gn.Tensor) -> gn.Tensor:
        return t * 2

    assert not doubled(x).requires_grad
    with pytest.raises(gn.ArgumentError, match="does not require grad"):
        y.sum().backward()


def test_detach_shares_data_and_stops_gradients():
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.data is x.data
    (x * d).sum().backward()  # d is a constant: d(x * d)/dx = d
    np.testing.assert_array_equal(x.grad, [1.0, 2.0])


def test_dtype_rules():
    assert gn.tensor([1.0, 2.0]).dtype == np.float32  # float32 by default
    assert gn.tensor([1, 2]).dtype == np.float32  # Python ints become float32 too
    assert gn.tensor(3.5).dtype == np.float32
    assert gn.tensor(np.ones(2)).dtype == np.float64  # a float64 array is kept
    assert gn.tensor([1.0], dtype=np.float64).dtype == np.float64
    assert gn.tensor(np.array([1, 2])).dtype.kind == "i"  # integer arrays stay labels
    f32 = gn.tensor([1.0, 2.0], requires_grad=True)
    assert (f32 * 2.5 + np.ones(2)).dtype == np.float32  # no silent float64 upcast
    f64 = gn.tensor(np.ones(2), requires_grad=True)
    out = (f64.exp() * 2.0).sum()
    out.backward()
    assert out.dtype == np.float64 and f64.grad.dtype == np.float64
    cast = f32.astype(np.float64)
    cast.sum().backward()
    assert cast.dtype == np.float64 and f32.grad.dtype == np.float32


def test_mixed_dtypes_give_each_leaf_a_gradient_of_its_own_dtype():
    a = gn.tensor([1.0, 2.0], requires_grad=True)  # float32
    b = gn.tensor(np.array([3.0, 4.0]), requires_grad=True)  # float64
    (a * b).sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_array_equal(a.grad, [3.0, 4.0])


def test_retain_graph_allows_a_second_backward():
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * first)


def test_second_backward_through_a_freed_graph_is_a_clear_error():
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(gn.ArgumentError, match=r"already freed.*retain_graph=True"):
        y.backward()


def test_backward_needs_a_grad_for_non_scalar_outputs():
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(gn.ArgumentError, match=r"one-element outputs, received shape \(2,\)"):
        (x * 2).backward()
    with pytest.raises(gn.ArgumentError, match=r"grad has shape \(3,\) but the tensor has "
                                               r"shape \(2,\)"):
        (x * 2).backward(np.ones(3))


def test_array_facts_and_numpy_sharing():
    t = gn.tensor(np.arange(6.0).reshape(2, 3))
    assert (t.shape, t.ndim, t.size, len(t)) == ((2, 3), 2, 6, 2)
    assert t.numpy() is t.data and t[1, 2].item() == 5.0
    np.testing.assert_array_equal(t > 2.5, t.data > 2.5)
    assert "tensor(" in repr(t) and "float64" in repr(t)
    assert t.argmax(axis=1).tolist() == [2, 2]


def test_an_op_on_a_parameter_gives_a_plain_tensor():
    """Function.apply wraps results through the inputs' ``_wrap``: never a Parameter."""
    from gridnn.nn import Parameter

    p = Parameter(np.ones((2, 3), np.float32))
    for out in (p * 2.0, p.T, p.sum(), F.relu(p)):
        assert type(out) is gn.Tensor and out.requires_grad
