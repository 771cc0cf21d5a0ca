"""The compiled float32 activations built on ``ops/kernels/activations.py``'s exp (sigmoid,
SiLU, both GELUs), through the public functions, against float64 over two million float32
inputs in [-100, 100] spread evenly over their bit patterns (so every binade, from the
smallest subnormal up, has its share), and on the edges: zeros, subnormals, where exp
overflows and underflows, huge values, infinities and NaN."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gridnn as gn
import gridnn.functional as F

TINY = float(np.finfo(np.float32).tiny)  # the smallest normal float32
K = math.sqrt(2 / math.pi)


def _floats(limit: float, count: int) -> np.ndarray:
    top = int(np.float32(limit).view(np.int32))
    bits = np.linspace(0, top, count // 2).astype(np.int32)
    bits = np.concatenate([bits, np.random.default_rng(0).integers(0, top, count // 2,
                                                                   dtype=np.int32)])
    pos = np.unique(bits).view(np.float32)
    return np.concatenate([pos, -pos])


def _sigmoid64(d: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-d))


def _gelu_tanh64(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tanh GELU d sigma(2y), y = K (d + 0.044715 d**3), and its condition number
    |d f'(d) / f(d)| (how far an input's rounding moves the output, relatively)."""
    inner = 2 * K * (d + 0.044715 * d**3)
    s = _sigmoid64(inner)
    return d * s, np.abs(1 + d * (1 - s) * 2 * K * (1 + 3 * 0.044715 * d * d))


def _gelu_erf64(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exact GELU d Phi(d) and its condition number |1 + d phi(d) / Phi(d)|."""
    cdf = 0.5 * np.frompyfunc(math.erfc, 1, 1)(-d / math.sqrt(2)).astype(np.float64)
    pdf = np.exp(-0.5 * d * d) / math.sqrt(2 * math.pi)
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = np.abs(1 + np.where(cdf > 0, d * pdf / cdf, -d * d))
    return d * cdf, cond


def _run(fn, x: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    with gn.no_grad():
        out = fn(gn.tensor(x)).data
    assert out.dtype == np.float32
    return out


def _ulps(got: np.ndarray, want: np.ndarray, x: np.ndarray) -> np.ndarray:
    """|got - want| in units of float32's spacing at ``want``, beyond an allowance of half the
    smallest normal float times |x|: where exp over- or underflows the outputs below that
    size are flushed to 0 or kept at FLT_MIN's size (see ``kernels/activations.py``)."""
    spacing = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    beyond = np.abs(got - want) - 0.5 * TINY * np.maximum(1, np.abs(x.astype(np.float64)))
    return np.maximum(beyond, 0) / spacing


def _compiled() -> None:
    from gridnn.ops.compiled import kernels

    if kernels() is None:
        pytest.skip("Numba is not installed (pip install -e '.[fast]'): no compiled loops")


@pytest.mark.parametrize("name,fn,ref", [
    ("sigmoid", F.sigmoid, _sigmoid64),
    ("silu", F.silu, lambda d: d * _sigmoid64(d)),
], ids=["sigmoid", "silu"])
def test_sigmoid_and_silu_within_ulps_of_float64(name, fn, ref):
    """Within 3 ulp everywhere: over every float32 in [-100, 100] at most 2.48 (sigmoid) and
    2.44 (SiLU), near x = -16.6, where 1 + e**-x rounds and exp's own ulp adds to it."""
    _compiled()
    x = _floats(100, 2_000_000)
    d = x.astype(np.float64)
    ulps = _ulps(_run(fn, x), ref(d), x)
    worst = int(np.argmax(ulps))
    assert ulps[worst] <= 3, f"{name}({x[worst]!r}): {ulps[worst]:.2f} ulp"


@pytest.mark.parametrize("name,fn,ref", [
    ("gelu_tanh", lambda t: F.gelu(t, "tanh"), _gelu_tanh64),
    ("gelu", F.gelu, _gelu_erf64),
], ids=["gelu_tanh", "gelu"])
def test_gelu_within_its_condition_of_float64(name, fn, ref):
    """Far in the negative tail a GELU is x times a tiny exp of a large argument, so a
    float32 input's own rounding moves the true output by the condition number times half
    an ulp (up to 2000 here): the error may reach 8 ulp plus that."""
    _compiled()
    x = _floats(100, 400_000)
    want, cond = ref(x.astype(np.float64))
    ulps = _ulps(_run(fn, x), want, x) - cond
    worst = int(np.argmax(ulps))
    assert ulps[worst] <= 8, f"{name}({x[worst]!r}): {ulps[worst]:.2f} ulp beyond {cond[worst]}"


def test_edges_saturate_and_keep_nan():
    """Exactly 0.5 at zero, 1 and 0 where exp under- and overflows (no inf or NaN from a
    finite input), the inputs' infinities as PyTorch treats them, NaN as NaN."""
    _compiled()
    nan, inf = math.nan, math.inf
    x = np.array([0.0, -0.0, 1e-45, TINY, 20, -20, 88.7, -88.7, 1e30, -1e30, 3e38, -3e38,
                  inf, -inf, nan], np.float32)
    sig = _run(F.sigmoid, x)
    np.testing.assert_array_equal(sig[[0, 1, 2, 3, 6, 8, 10, 12]], 0.5 ** np.array(
        [1, 1, 1, 1, 0, 0, 0, 0]))
    assert sig[5] == np.float32(1 / (1 + math.exp(20))) and sig[4] == 1
    np.testing.assert_array_equal(sig[[7, 9, 11, 13]], 0)
    silu = _run(F.silu, x)
    np.testing.assert_array_equal(silu[[6, 8, 10, 12]], x[[6, 8, 10, 12]])
    np.testing.assert_array_equal(silu[[7, 9, 11]], -0.0)
    assert np.signbit(silu[1]) and np.signbit(silu[9]), "-0 stays -0"
    assert np.isnan(silu[13]), "-inf / inf, as PyTorch's -inf * sigmoid(-inf)"
    for fn in (F.sigmoid, F.silu, F.gelu, lambda t: F.gelu(t, "tanh")):
        out = _run(fn, x)
        assert np.isnan(out[-1]) and np.isfinite(out[:12]).all()
