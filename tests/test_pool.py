"""Pooling against PyTorch (outputs and gradients) and against the loop reference."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gridnn as gn
import gridnn.functional as F
from needs_torch import TF
from reference import adaptive_avg_pool_ref, pool_ref
from torch_check import check_op, parity_summary  # noqa: F401 - autouse fixture

# every test on the compiled kernels and on the NumPy passes (conftest.op_path)
pytestmark = pytest.mark.usefixtures("op_path")

OURS = {("max", 1): F.max_pool1d, ("max", 2): F.max_pool2d,
        ("avg", 1): F.avg_pool1d, ("avg", 2): F.avg_pool2d}


def pool_grid(seed: int = 0) -> list[dict[str, Any]]:
    """kind x rank x kernel x stride x ceil_mode; padding, count_include_pad, size vary."""
    rng = np.random.default_rng(seed)
    cases = []
    for kind, nd, k, stride, ceil in itertools.product(("max", "avg"), (1, 2), (1, 2, 3, 4),
                                                       (None, 1, 2, 3), (False, True)):
        kernel = (k, *(int(v) for v in rng.integers(1, 5, nd - 1)))
        cases.append({
            "kind": kind, "nd": nd, "kernel": kernel if nd == 2 else k,
            "stride": stride if stride is None or nd == 1 else (stride, int(rng.integers(1, 4))),
            "padding": tuple(int(rng.integers(0, kk // 2 + 1)) for kk in kernel),
            "ceil_mode": ceil, "count_include_pad": bool(rng.integers(2)),
            "size": tuple(int(v) for v in rng.integers(4, 10, nd)),
            "batch": int(rng.integers(1, 3)), "channels": int(rng.choice([1, 3]))})
    # ceil_mode edges: a last window reaching past the padding (divisor clipped to input +
    # padding), and one that would start in the high padding and is dropped.
    edges = [(6, 3, 2, 0), (6, 3, 2, 1), (7, 3, 2, 1), (5, 2, 3, 1), (8, 4, 3, 2)]
    for (size, k, s, p), cip in itertools.product(edges, (True, False)):
        cases.append({"kind": "avg", "nd": 1, "kernel": k, "stride": s, "padding": (p,),
                      "ceil_mode": True, "count_include_pad": cip, "size": (size,),
                      "batch": 1, "channels": 2})
    return cases


def case_id(c: dict[str, Any]) -> str:
    extra = f"-cip{int(c['count_include_pad'])}" if c["kind"] == "avg" else ""
    return (f"{c['kind']}{c['nd']}d-x{'x'.join(map(str, c['size']))}-k{c['kernel']}-"
            f"s{c['stride']}-p{c['padding']}-ceil{int(c['ceil_mode'])}{extra}").replace(" ", "")


GRID = pool_grid()


def _options(c: dict[str, Any]) -> dict[str, Any]:
    opts = {"kernel_size": c["kernel"], "stride": c["stride"], "ceil_mode": c["ceil_mode"],
            "padding": c["padding"][0] if c["nd"] == 1 else c["padding"]}
    if c["kind"] == "avg":
        opts["count_include_pad"] = c["count_include_pad"]
    return opts


def _pool_input(case: dict[str, Any]) -> np.ndarray:
    return np.random.default_rng(1).standard_normal((case["batch"], case["channels"],
                                                     *case["size"]))


def check_pool_torch(case: dict[str, Any]) -> None:
    """One pooling case against torch: value and gradient."""
    key, opts = (case["kind"], case["nd"]), _options(case)
    theirs = f"{case['kind']}_pool{case['nd']}d"  # TF.max_pool2d and so on
    check_op(lambda t: OURS[key](t, **opts), lambda t: getattr(TF, theirs)(t, **opts),
             _pool_input(case), label=case_id(case))


def check_pool_reference(case: dict[str, Any]) -> None:
    """One pooling case against the loop reference (no torch needed)."""
    key, opts, x = (case["kind"], case["nd"]), _options(case), _pool_input(case)
    kernel = tuple(np.broadcast_to(case["kernel"], case["nd"]))
    stride = kernel if case["stride"] is None else tuple(np.broadcast_to(case["stride"],
                                                                         case["nd"]))
    want = pool_ref(x, case["kind"], kernel, stride, case["padding"], case["ceil_mode"],
                    case["count_include_pad"])
    np.testing.assert_allclose(OURS[key](gn.tensor(x), **opts).data, want, rtol=1e-12)


@pytest.mark.parametrize("case", GRID, ids=case_id)
def test_pool_matches_torch(case):
    check_pool_torch(case)


@pytest.mark.parametrize("case", GRID, ids=case_id)
def test_pool_matches_the_loop_reference(case):
    check_pool_reference(case)


@st.composite
def pool_cases(draw: st.DrawFn) -> dict[str, Any]:
    nd = draw(st.sampled_from([1, 2]))
    kernel = tuple(draw(st.integers(1, 5)) for _ in range(nd))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    size = tuple(draw(st.integers(max(1, k - 2 * p), 10)) for k, p in zip(kernel, padding))
    stride = draw(st.none() | st.tuples(*(st.integers(1, 4) for _ in range(nd))))
    return {"kind": draw(st.sampled_from(["max", "avg"])), "nd": nd, "size": size,
            "kernel": kernel, "stride": stride, "padding": padding,
            "ceil_mode": draw(st.booleans()), "count_include_pad": draw(st.booleans()),
            "batch": 2, "channels": 2}


@settings(max_examples=40, deadline=None, derandomize=True)
@given(pool_cases())
def test_pool_random_sweep_against_torch(case):
    check_pool_torch(case)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(pool_cases())
def test_pool_random_sweep_against_the_loop_reference(case):
    check_pool_reference(case)


def test_max_pool_ties_send_the_gradient_to_one_element_like_torch():
    """Equal values in a window: the whole gradient goes to the first maximum (PyTorch's rule)."""
    x = np.array([[[[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0], [0.0, 3.0, 3.0, 0.0]]]])
    check_op(lambda t: F.max_pool2d(t, 2, stride=1), lambda t: TF.max_pool2d(t, 2, stride=1), x,
             label="max pool ties")


def test_max_pool_known_values():
    x = gn.tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
    out = F.max_pool2d(x, 2)
    np.testing.assert_array_equal(out.data[0, 0], [[5, 7], [13, 15]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [[0, 0, 0, 0], [0, 1, 0, 1],
                                                 [0, 0, 0, 0], [0, 1, 0, 1]])


@pytest.mark.parametrize("size,out", [((7,), (3,)), ((8,), (4,)), ((5,), (7,)), ((6,), (1,)),
                                      ((6, 9), (4, 2)), ((7, 7), (3, 5)), ((4, 5), (6, 6)),
                                      ((5, 8), (1, 1))])
@pytest.mark.parametrize("reference", ["torch", "loops"])
def test_adaptive_avg_pool_matches_torch_and_the_loop_reference(size, out, reference):
    x = np.random.default_rng(2).standard_normal((2, 3, *size))
    ours = F.adaptive_avg_pool1d if len(size) == 1 else F.adaptive_avg_pool2d
    arg = out[0] if len(out) == 1 else out
    if reference == "loops":  # no torch needed
        np.testing.assert_allclose(ours(gn.tensor(x), arg).data, adaptive_avg_pool_ref(x, out),
                                   rtol=1e-12)
        return
    theirs = TF.adaptive_avg_pool1d if len(size) == 1 else TF.adaptive_avg_pool2d
    check_op(lambda t: ours(t, arg), lambda t: theirs(t, arg), x, label=f"adaptive {size}->{out}")


@pytest.mark.parametrize("channels_last", [True, False])
def test_global_adaptive_avg_pool_gradient_is_laid_out_as_its_input(channels_last):
    """The gradient of a (1, 1) adaptive pooling spreads each value's share over its map, in
    its input's memory order: a convolution's channels-last output gets a channels-last
    gradient, which ReLU's and BatchNorm's backward then read without a copy."""
    from gridnn.ops.pool import AdaptiveAvgPoolNd

    data = np.random.default_rng(4).standard_normal((3, 5, 4, 6))
    x = (np.ascontiguousarray(data.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
         if channels_last else data)
    g = np.random.default_rng(5).standard_normal((3, 5, 1, 1))
    op = AdaptiveAvgPoolNd()
    np.testing.assert_allclose(op.forward(x, (1, 1)), data.mean(axis=(2, 3), keepdims=True),
                               rtol=1e-14)
    (dx,) = op.backward(g)
    np.testing.assert_allclose(dx, np.broadcast_to(g / 24, data.shape), rtol=1e-15)
    assert (dx.transpose(0, 2, 3, 1) if channels_last else dx).flags.c_contiguous


@pytest.mark.parametrize("shape", [(2, 3, 7), (2, 3, 5, 6)])
def test_global_avg_pool_is_the_spatial_mean(shape):
    x = np.random.default_rng(3).standard_normal(shape)
    axes = tuple(range(2, len(shape)))
    check_op(F.global_avg_pool, lambda t: t.mean(dim=axes), x, label=f"global avg {shape}")
