"""Grouped convolution with narrow groups (ops/grouped.py): its compiled loops, and the stacked
GEMMs of ops/conv.py that run instead without them, against the loop reference, the plain
convolution, PyTorch and float64 finite differences; forward, weight, bias and input gradients.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gridnn as gn
import gridnn.functional as F
from gridnn.ops import grouped
from gridnn.ops.compiled import kernels
from gridnn.ops.options import using
from gridnn.ops.windows import ConvGeometry
from gridnn.ops.workspace import scratch
from needs_torch import TF
from torch_check import check_op

# (batch, channels, filters, size, kernel, stride, pads, dilation, groups): RegNet's 8-channel
# groups (stride 1 and 2), 1 to 16 channels a group, filters per group unlike channels per
# group (1 input channel a group: a channel multiplier), uneven pads, dilation, stride 3 (more
# stride phases than taps in some), 1-D, a 1x1 of stride 2.
CASES = [
    (1, 16, 16, (9, 8), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 2),
    (2, 24, 24, (8, 9), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 3),
    (3, 4, 8, (7, 6), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 4),
    (2, 6, 9, (7, 8), (3, 2), (2, 1), ((1, 0), (2, 1)), (1, 2), 3),
    (1, 32, 16, (6, 5), (3, 3), (1, 2), ((2, 2), (1, 1)), (2, 1), 2),
    (2, 12, 6, (10, 11), (5, 5), (3, 3), ((2, 2), (2, 2)), (1, 1), 3),
    (2, 10, 20, (5, 4), (1, 1), (2, 2), ((0, 0), (0, 0)), (1, 1), 2),
    (4, 16, 8, (13,), (3,), (2,), ((1, 1),), (1,), 4),
    (1, 6, 6, (12,), (4,), (1,), ((2, 1),), (2,), 2),
]


@pytest.fixture(params=[1, 2, 3], ids=["1-thread", "2-threads", "3-threads"])
def threads(request: pytest.FixtureRequest) -> Any:
    """Split every op into this many threads, however small the op."""
    with using(threads=request.param, parallel_min_size=0):
        yield request.param


def _case_id(case: tuple[Any, ...]) -> str:
    n, c, k, size, kernel, stride, pads, dil, groups = case
    return f"n{n}-c{c}-k{k}-{size}-w{kernel}-s{stride}-p{pads}-d{dil}-g{groups}".replace(" ", "")


def _arrays(case: tuple[Any, ...], seed: int = 0) -> list[np.ndarray]:
    n, c, k, size, kernel, *_, groups = case
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, c, *size)), rng.standard_normal((k, c // groups, *kernel)),
            rng.standard_normal(k)]


def _conv(case: tuple[Any, ...], lib: Any = F) -> Any:
    n, c, k, size, kernel, stride, pads, dil, groups = case
    conv = lib.conv1d if len(size) == 1 else lib.conv2d
    if lib is F:
        return lambda x, w, b=None: conv(x, w, b, stride=stride, padding=pads, dilation=dil,
                                         groups=groups)
    flat = [p for lo_hi in reversed(pads) for p in lo_hi]
    return lambda x, w, b=None: conv(TF.pad(x, flat), w, b, stride=stride, dilation=dil,
                                     groups=groups)


def _run(case: tuple[Any, ...], arrays: list[np.ndarray], between: Any = None,
         **opts: Any) -> list[np.ndarray]:
    """Output and the input, weight and bias gradients of the case under ``opts``; the fast
    convolution takes ops/grouped.py exactly when the compiled loops are on. ``between()``
    runs between forward and backward."""
    ts = [gn.Tensor(a, requires_grad=True) for a in arrays]
    with using(**opts) as o:
        out = _conv(case)(*ts)
        if not o.plain_conv:
            assert out._fn.direct is (grouped if kernels() is not None else None)
        if between is not None:
            between()
        out.backward(np.cos(np.arange(out.size)).reshape(out.shape))
    return [out.data] + [t.grad for t in ts]


@pytest.mark.parametrize("direct", [True, False], ids=["direct-forward", "planes-forward"])
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_grouped_matches_the_loop_reference_and_the_plain_conv(case: tuple[Any, ...],
                                                                op_path: str,
                                                                threads: int,
                                                                direct: bool) -> None:
    """Compiled loops (or, with them off, the stacked GEMMs) against reference.conv_ref's
    loops, forward; the gradients against the plain convolution's (the lecture's einsum).
    Groups of a multiple of 8 filters run their forward by ``ops/direct.py``'s loop unless
    ``direct`` is off; the planes loop then runs it."""
    from reference import conv_ref

    n, c, k, size, kernel, stride, pads, dil, groups = case
    arrays = _arrays(case)
    fast, plain = _run(case, arrays, direct=direct), _run(case, arrays, plain_conv=True)
    np.testing.assert_allclose(fast[0], conv_ref(*arrays, stride, pads, dil, groups),
                               rtol=1e-12, atol=1e-12)
    for got, want in zip(fast, plain):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_grouped_matches_torch(case: tuple[Any, ...], op_path: str) -> None:
    check_op(_conv(case), _conv(case, TF), *_arrays(case, seed=1), label=_case_id(case))


@pytest.mark.parametrize("case", CASES[:4] + CASES[7:], ids=_case_id)
def test_grouped_gradients_match_finite_differences(case: tuple[Any, ...]) -> None:
    ts = [gn.tensor(a, requires_grad=True) for a in _arrays(case, seed=2)]
    assert gn.gradcheck(_conv(case), *ts)


@pytest.mark.parametrize("images", [1, 2, 5], ids=lambda v: f"{v}-images-a-task")
def test_images_taken_together_match_one_at_a_time(images: int, monkeypatch: Any,
                                                   threads: int) -> None:
    """Small images share a task's planes (several in one run, the last task of a batch of 5
    holding fewer): the same numbers as one image a task."""
    case = (5, 12, 12, (6, 7), (3, 3), (2, 1), ((1, 1), (0, 2)), (1, 2), 3)
    arrays = _arrays(case, seed=3)
    want = _run(case, arrays, plain_conv=True)
    monkeypatch.setattr(grouped, "RUN_LENGTH", images * 4 * 10)  # a 4 x 10 plane per image
    grouped._layout.cache_clear()
    try:
        got = _run(case, arrays)
    finally:
        grouped._layout.cache_clear()
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


@pytest.mark.usefixtures("op_path")
def test_channels_first_and_strided_inputs() -> None:
    """A channels-first input, a channels-last view (what a conv leaves) and a strided slice
    give the same result."""
    case = CASES[1]
    x, w, b = _arrays(case, seed=4)
    conv = _conv(case)
    want = conv(gn.tensor(x), gn.tensor(w), gn.tensor(b)).data
    channels_last = np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 1, -1)), -1, 1)
    wide = np.zeros((*x.shape[:3], 2 * x.shape[3]))
    wide[..., ::2] = x
    for view in (channels_last, wide[..., ::2]):
        np.testing.assert_allclose(conv(gn.tensor(view), gn.tensor(w), gn.tensor(b)).data, want,
                                   rtol=1e-13, atol=1e-13)


def test_float32_weight_gradient_ignores_stale_scratch(op_path: str) -> None:
    """The planes are zeroed before use: positions no input lands on meet zero output
    gradients in the weight gradient's sums, and 0 * NaN from a reused buffer would be NaN."""
    case = (2, 16, 16, (7, 7), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 2)
    x, w, b = (a.astype(np.float32) for a in _arrays(case, seed=5))
    geo = ConvGeometry((2, 2), (1, 1), ((1, 1), (1, 1)), "zeros", 2, (4, 4))
    lay = grouped._layout((2, 9, 9, 16), (3, 3), geo)

    def stale() -> None:
        scratch().give(np.full((8, 4 * lay.block), np.nan, np.float32))

    got = _run(case, [x, w, b], between=stale, threads=1)
    want = _run(case, [x, w, b], plain_conv=True)
    for g, r in zip(got, want):
        np.testing.assert_allclose(g, r, rtol=2e-5, atol=2e-5)


def test_only_narrow_groups_take_the_path() -> None:
    """Up to ``MAX_GROUP_WIDTH`` channels (in or out) a group, not depthwise, 1-D or 2-D."""
    def geo(groups: int, nd: int = 2) -> ConvGeometry:
        return ConvGeometry((1,) * nd, (1,) * nd, ((0, 0),) * nd, "zeros", groups, (4,) * nd)

    width = grouped.MAX_GROUP_WIDTH
    with using(compiled=True):
        on = kernels() is not None
        assert grouped.takes(4 * width, 4 * width, 2, geo(4)) is on
        assert grouped.takes(4 * width, 4, 1, geo(4, 1)) is on
        assert not grouped.takes(2 * width + 2, 2 * width + 2, 2, geo(2))
        assert not grouped.takes(8, 8 * width + 8, 2, geo(8))
        assert not grouped.takes(8, 8, 2, geo(1))
        assert not grouped.takes(8, 8, 3, geo(2, 3))
    with using(compiled=False):
        assert not grouped.takes(16, 16, 2, geo(4))


def test_random_shapes_match_the_plain_conv() -> None:
    """Seeded random geometries (1-D and 2-D, empty batches, 1 to 16 channels and filters a
    group, kernels of 1 to 4 taps, strides 1 to 3, dilations, uneven pads, 1 to 3 threads)."""
    rng = np.random.default_rng(42)
    for trial in range(40):
        nd = int(rng.integers(1, 3))
        g, cg, kg = int(rng.integers(2, 5)), int(rng.integers(1, 17)), int(rng.integers(2, 17))
        kernel = tuple(int(v) for v in rng.integers(1, 5, nd))
        stride = tuple(int(v) for v in rng.integers(1, 4, nd))
        dil = tuple(int(v) for v in rng.integers(1, 3, nd))
        pads = tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in range(nd))
        size = tuple(d * (k - 1) + 1 + int(rng.integers(0, 9)) for d, k in zip(dil, kernel))
        case = (int(rng.integers(0 if trial % 8 == 0 else 1, 4)), g * cg, g * kg, size, kernel,
                stride, pads, dil, g)
        arrays = _arrays(case, seed=trial)
        got = _run(case, arrays, threads=int(rng.integers(1, 4)), parallel_min_size=0)
        for a, b in zip(got, _run(case, arrays, plain_conv=True)):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-11, err_msg=_case_id(case))
