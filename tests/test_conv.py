"""Convolution against its three oracles: the naive loops, PyTorch, and hand-computed numbers.

The parity grid is a covering set, not a cartesian product: every value of every axis (rank,
batch, channels, odd/even size, kernel, stride, padding form, dilation, groups, padding mode,
bias) appears with varied partners, every value pair of the axes that interact (padding form
x mode, groups x stride, kernel x padding, ...) appears, and seeded random cases fill in the
rest. Each case is checked against PyTorch (output and all three
gradients, float64 and float32) and against the loop reference (float64 output).

Every test here runs twice: on the fast convolution (``ops/conv.py``) and on the lecture's
(``ops/conv_plain.py``, through ``gn.plain_ops()``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gridnn as gn
import gridnn.functional as F
from needs_torch import TF, torch
from reference import conv_ref, same_pads
from torch_check import check_op, parity_summary  # noqa: F401 - autouse fixture

TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
              "circular": "circular"}
AXES: dict[str, list[Any]] = {
    "nd": [1, 2],
    "batch": [1, 3],
    "channels": [1, 3, 8],
    "size": ["odd", "even"],
    "kernel": [1, 2, 3, 4, 5, 6, 7],
    "stride": [1, 2, 3],
    "padding": ["zero", "int", "tuple", "pairs", "valid", "same"],
    "dilation": [1, 2, 3],
    "groups": ["1", "2", "depthwise"],
    "mode": ["zeros", "reflect", "replicate", "circular"],
    "bias": [True, False],
}
SIZES = {"odd": [5, 7, 9, 11], "even": [4, 6, 8, 10]}


@pytest.fixture(autouse=True, params=["fast", "plain"])
def conv_path(request: pytest.FixtureRequest) -> Any:
    """Run the test on the fast convolution, then on the plain one."""
    if request.param == "plain":
        with gn.plain_ops():
            yield request.param
    else:
        yield request.param


def _padding_arg(kind: str, nd: int, rng: np.random.Generator) -> Any:
    """The ``padding`` argument of one padding form, with random amounts."""
    if kind == "zero":
        return 0
    if kind == "int":
        return int(rng.integers(1, 4))
    if kind == "tuple":
        return tuple(int(p) for p in rng.integers(0, 4, nd))
    if kind == "pairs":
        return tuple((int(lo), int(hi)) for lo, hi in rng.integers(0, 4, (nd, 2)))
    return kind  # 'valid' or 'same'


def _explicit_pads(padding: Any, size: tuple[int, ...], kernel: tuple[int, ...],
                   stride: tuple[int, ...], dilation: tuple[int, ...]) -> tuple:
    """((lo, hi), ...) for any padding form; 'same' by the TensorFlow rule in reference.py."""
    nd = len(size)
    if padding == "valid":
        return ((0, 0),) * nd
    if padding == "same":
        return same_pads(size, kernel, stride, dilation)
    if isinstance(padding, int):
        return ((padding, padding),) * nd
    if isinstance(padding[0], int):
        return tuple((p, p) for p in padding)
    return tuple(padding)


def _draw(rng: np.random.Generator, fixed: dict[str, Any]) -> dict[str, Any] | None:
    """One random case with the ``fixed`` axis values, or None if the draw is not valid."""
    chosen: dict[str, Any] = {}

    def pick(axis: str) -> Any:
        values = AXES[axis]
        chosen[axis] = fixed[axis] if axis in fixed else values[int(rng.integers(len(values)))]
        return chosen[axis]

    nd, c, groups_kind = pick("nd"), pick("channels"), pick("groups")
    if groups_kind == "2" and c % 2:
        return None
    groups = {"1": 1, "2": 2, "depthwise": c}[groups_kind]
    first = {a: pick(a) for a in ("kernel", "stride", "dilation")}

    def per_dim(axis: str, values: list[int]) -> tuple[int, ...]:
        return (first[axis], *(int(rng.choice(values)) for _ in range(nd - 1)))

    kernel = per_dim("kernel", AXES["kernel"])
    stride = per_dim("stride", AXES["stride"])
    dilation = per_dim("dilation", AXES["dilation"])
    size = tuple(int(rng.choice(SIZES[pick("size")])) for _ in range(nd))
    padding = _padding_arg(pick("padding"), nd, rng)
    pads = _explicit_pads(padding, size, kernel, stride, dilation)
    mode = pick("mode")
    for n, (lo, hi), k, d in zip(size, pads, kernel, dilation):
        if d * (k - 1) + 1 > n + lo + hi:
            return None
        if (mode == "reflect" and max(lo, hi) >= n) or (mode == "circular" and max(lo, hi) > n):
            return None
    filters = groups * int(rng.integers(1, 3))
    # Give stride and dilation as a plain int when they are the same in every dim.
    return {"nd": nd, "batch": pick("batch"), "channels": c, "filters": filters, "size": size,
            "kernel": kernel, "stride": stride[0] if len(set(stride)) == 1 else stride,
            "dilation": dilation[0] if len(set(dilation)) == 1 else dilation,
            "padding": padding, "pads": pads, "groups": groups, "mode": mode,
            "bias": pick("bias"), "axes": chosen}


def _case(rng: np.random.Generator, **fixed: Any) -> dict[str, Any]:
    for _ in range(1000):
        case = _draw(rng, fixed)
        if case is not None:
            return case
    raise AssertionError(f"no valid case with {fixed}")


def conv_grid(seed: int = 2) -> list[dict[str, Any]]:
    """Every axis value in each rank, every value pair of the interacting axes (padding form x
    mode, groups x stride, kernel x padding, ...) in each rank, then random cases."""
    rng = np.random.default_rng(seed)
    cases = [_case(rng, nd=nd, **{axis: v})
             for nd in AXES["nd"] for axis, values in AXES.items() if axis != "nd"
             for v in values]
    pairs = [("padding", "mode"), ("groups", "stride"), ("groups", "mode"), ("padding", "stride"),
             ("padding", "dilation"), ("kernel", "stride"), ("kernel", "padding"),
             ("bias", "groups")]
    cases += [_case(rng, nd=nd, **{a: va, b: vb})
              for nd in AXES["nd"] for a, b in pairs for va in AXES[a] for vb in AXES[b]]
    cases += [_case(rng) for _ in range(100)]
    return cases


def case_id(case: dict[str, Any]) -> str:
    return (f"{case['nd']}d-n{case['batch']}-c{case['channels']}-k{case['filters']}-"
            f"x{'x'.join(map(str, case['size']))}-w{'x'.join(map(str, case['kernel']))}-"
            f"s{case['stride']}-p{case['padding']}-d{case['dilation']}-g{case['groups']}-"
            f"{case['mode']}{'-bias' if case['bias'] else ''}").replace(" ", "")


GRID = conv_grid()


def _arrays(case: dict[str, Any], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case["batch"], case["channels"], *case["size"]))
    w = rng.standard_normal((case["filters"], case["channels"] // case["groups"],
                             *case["kernel"]))
    return [x, w, rng.standard_normal(case["filters"])] if case["bias"] else [x, w]


def _ours(case: dict[str, Any]):
    conv = F.conv1d if case["nd"] == 1 else F.conv2d

    def run(x, w, b=None):
        return conv(x, w, b, stride=case["stride"], padding=case["padding"],
                    dilation=case["dilation"], groups=case["groups"], padding_mode=case["mode"])
    return run


def _torch(case: dict[str, Any]):
    """PyTorch's conv; padding by its own argument where it supports the form, else F.pad."""
    conv = TF.conv1d if case["nd"] == 1 else TF.conv2d
    padding, stride = case["padding"], case["stride"]
    native = case["mode"] == "zeros" and (
        padding == "valid" or (padding == "same" and stride == 1)
        or not isinstance(padding, str) and all(lo == hi for lo, hi in case["pads"]))
    flat = [p for pair in reversed(case["pads"]) for p in pair]  # F.pad wants last dim first

    def run(x, w, b=None):
        if native:
            arg = padding if isinstance(padding, str) else tuple(lo for lo, _ in case["pads"])
            return conv(x, w, b, stride, arg, case["dilation"], case["groups"])
        x = TF.pad(x, flat, mode=TORCH_MODE[case["mode"]])
        return conv(x, w, b, stride, 0, case["dilation"], case["groups"])
    return run


def test_grid_covers_every_axis_value():
    for axis, values in AXES.items():
        assert {c["axes"][axis] for c in GRID} == set(values), axis
    for a, b in [("padding", "mode"), ("kernel", "padding"), ("groups", "stride")]:
        seen = {(c["axes"][a], c["axes"][b], c["nd"]) for c in GRID}
        assert len(seen) == len(AXES[a]) * len(AXES[b]) * len(AXES["nd"]), (a, b)
    assert any(c["axes"]["groups"] == "depthwise" and c["channels"] == 8 for c in GRID)
    assert len(GRID) >= 400


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's own note
@pytest.mark.parametrize("case", GRID, ids=case_id)
def test_conv_matches_torch(case):
    check_op(_ours(case), _torch(case), *_arrays(case, seed=len(GRID)), label=case_id(case))


@pytest.mark.parametrize("case", GRID, ids=case_id)
def test_conv_matches_the_loop_reference(case):
    """The same grid against conv_ref, loops written from the definition (no torch needed)."""
    arrays = _arrays(case, seed=len(GRID))
    b = arrays[2] if case["bias"] else None
    stride = tuple(np.broadcast_to(case["stride"], case["nd"]))
    dilation = tuple(np.broadcast_to(case["dilation"], case["nd"]))
    want = conv_ref(arrays[0], arrays[1], b, stride, case["pads"], dilation, case["groups"],
                    case["mode"])
    got = _ours(case)(*(gn.tensor(a, dtype=np.float64) for a in arrays))
    np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-12)
    if case["padding"] == "same":
        assert got.shape[2:] == tuple(math.ceil(n / s) for n, s in zip(case["size"], stride))


@pytest.mark.parametrize("stride", [2, 3, (2, 3), (3, 1)])
@pytest.mark.parametrize("size,kernel", [((8, 9), (3, 3)), ((7, 10), (4, 5)), ((5, 6), (1, 2))])
def test_strided_same_is_tensorflow_rule(stride, size, kernel):
    """PyTorch refuses strided 'same'; gridnn pads total = (out-1)*s + k - n, odd one high."""
    s = tuple(np.broadcast_to(stride, 2))
    pads = same_pads(size, kernel, s, (1, 1))
    assert all(hi - lo in (0, 1) for lo, hi in pads)
    flat = [p for pair in reversed(pads) for p in pair]
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((2, 3, *size)), rng.standard_normal((4, 3, *kernel)), \
        rng.standard_normal(4)
    check_op(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding="same"),
             lambda x, w, b: TF.conv2d(TF.pad(x, flat), w, b, s), x, w, b,
             label=f"strided same {size} {kernel} {stride}")
    out = F.conv2d(gn.tensor(x), gn.tensor(w), stride=stride, padding="same")
    assert out.shape == (2, 4, *(math.ceil(n / si) for n, si in zip(size, s)))


@pytest.mark.parametrize("n,k,s,d,want", [(8, 3, 2, 1, (0, 1)), (7, 3, 2, 1, (1, 1)),
                                           (10, 4, 3, 1, (1, 2)), (5, 1, 3, 1, (0, 0)),
                                           (9, 3, 1, 2, (2, 2)), (6, 2, 1, 1, (0, 1))])
def test_same_padding_by_hand(n, k, s, d, want):
    """TensorFlow's rule by hand: out = ceil(n/s), total = (out-1)*s + d*(k-1) + 1 - n."""
    assert same_pads((n,), (k,), (s,), (d,)) == (want,)
    assert F.resolve_padding("same", (n,), (k,), (s,), (d,), "conv1d") == (want,)


@st.composite
def conv_cases(draw: st.DrawFn) -> dict[str, Any]:
    seed = draw(st.integers(0, 2**32 - 1))
    fixed = {axis: draw(st.sampled_from(AXES[axis])) for axis in ("nd", "padding", "mode")}
    return _case(np.random.default_rng(seed), **fixed)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # conv_path: same each run
@given(conv_cases())
def test_conv_random_sweep(case):
    check_op(_ours(case), _torch(case), *_arrays(case, seed=1), label="hypothesis " + case_id(case))


# ---- the lecture's worked examples -----------------------------------------------------------
def test_lecture_4x4_input_2x2_kernel():
    """Slide a 2x2 kernel over a 4x4 image: 3x3 outputs with stride 1, 2x2 with stride 2.

    image  1  2  3  4      kernel 1 2
           5  6  7  8             3 4
           9 10 11 12
          13 14 15 16
    top-left output: 1*1 + 2*2 + 5*3 + 6*4 = 44; each step right adds 1+2+3+4 = 10,
    each step down adds 4 * 10 = 40.
    """
    image = gn.tensor(np.arange(1, 17, dtype=np.float32).reshape(1, 1, 4, 4))
    kernel = gn.tensor(np.array([[[[1, 2], [3, 4]]]], dtype=np.float32))
    stride1 = F.conv2d(image, kernel, stride=1)
    assert stride1.shape == (1, 1, 3, 3)
    np.testing.assert_array_equal(stride1.data[0, 0], [[44, 54, 64],
                                                       [84, 94, 104],
                                                       [124, 134, 144]])
    stride2 = F.conv2d(image, kernel, stride=2)
    assert stride2.shape == (1, 1, 2, 2)
    np.testing.assert_array_equal(stride2.data[0, 0], [[44, 64],
                                                       [124, 144]])


def test_lecture_32x32x3_with_twelve_5x5x3_kernels_same():
    """12 kernels of 5x5x3 with 'same' padding turn a 32x32x3 image into 12 maps of 32x32."""
    rng = np.random.default_rng(0)
    image = rng.standard_normal((1, 3, 32, 32))
    kernels, bias = rng.standard_normal((12, 3, 5, 5)), rng.standard_normal(12)
    maps = F.conv2d(gn.tensor(image), gn.tensor(kernels), gn.tensor(bias), padding="same")
    assert maps.shape == (1, 12, 32, 32)
    assert kernels.size + bias.size == 12 * (5 * 5 * 3 + 1)
    want = TF.conv2d(torch.tensor(image), torch.tensor(kernels), torch.tensor(bias),
                     padding="same").numpy()
    np.testing.assert_allclose(maps.data, want, rtol=1e-5, atol=1e-4)
    # One output by hand: the element-wise product of kernel 7 and the window at (10, 20).
    window = image[0, :, 8:13, 18:23]
    assert maps.data[0, 7, 10, 20] == pytest.approx((window * kernels[7]).sum() + bias[7],
                                                    rel=1e-5)


def test_conv_1d_and_2d_agree_on_a_row():
    """A conv2d over a 1-pixel-high image is the conv1d of that row."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 3, 11)), rng.standard_normal((4, 3, 3))
    one = F.conv1d(gn.tensor(x), gn.tensor(w), stride=2, padding="same", padding_mode="reflect")
    two = F.conv2d(gn.tensor(x[:, :, None]), gn.tensor(w[:, :, None]), stride=(1, 2),
                   padding=((0, 0), (1, 1)), padding_mode="reflect")
    np.testing.assert_allclose(one.data, two.data[:, :, 0], rtol=1e-6)


# ---- gradients for only some inputs, non-contiguous inputs, stacked layers -------------------
def test_conv_gradient_for_input_only_or_weight_only():
    rng = np.random.default_rng(4)
    x, w, b = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 2, 3, 2)), \
        rng.standard_normal(6)
    opts = {"stride": (2, 1), "padding": "same", "groups": 2}
    flat = [p for pair in reversed(same_pads((7, 6), (3, 2), (2, 1), (1, 1))) for p in pair]
    check_op(lambda x: F.conv2d(x, gn.tensor(w, dtype=x.dtype), gn.tensor(b, dtype=x.dtype),
                                **opts),
             lambda x: TF.conv2d(TF.pad(x, flat), torch.tensor(w, dtype=x.dtype),
                                 torch.tensor(b, dtype=x.dtype), (2, 1), groups=2),
             x, label="conv grad of input only")
    check_op(lambda w: F.conv2d(gn.tensor(x, dtype=w.dtype), w, **opts),
             lambda w: TF.conv2d(TF.pad(torch.tensor(x, dtype=w.dtype), flat), w, None, (2, 1),
                                 groups=2), w, label="conv grad of weight only")


def test_conv_of_non_contiguous_views():
    """Permuted and sliced inputs and weights (strided memory) give the same results."""
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 3, 3))
    check_op(lambda x, w: F.conv2d(x.permute(0, 1, 3, 2)[:, :, ::2], w.transpose(2, 3), stride=2,
                                   padding=1, padding_mode="circular"),
             lambda x, w: TF.conv2d(TF.pad(x.permute(0, 1, 3, 2)[:, :, ::2], (1, 1, 1, 1),
                                           mode="circular"), w.transpose(2, 3), stride=2),
             x, w, label="conv of views")


def test_stacked_conv_relu_pool_network():
    """conv -> relu -> max_pool -> conv (depthwise) -> avg_pool -> linear, end to end."""
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal((3, 2, 12, 11)), rng.standard_normal((4, 2, 3, 3)),
              rng.standard_normal(4), rng.standard_normal((4, 1, 3, 3)),
              rng.standard_normal((5, 4 * 3 * 2))]  # 12x11 -> 6x5 -> 3x2

    def ours(x, w1, b1, w2, wl):
        h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1, padding=1)), 2)
        h = F.avg_pool2d(F.conv2d(h, w2, padding="same", groups=4, padding_mode="reflect"), 2)
        return F.linear(h.flatten(1), wl)

    def theirs(x, w1, b1, w2, wl):
        h = TF.max_pool2d(TF.relu(TF.conv2d(x, w1, b1, padding=1)), 2)
        h = TF.avg_pool2d(TF.conv2d(TF.pad(h, (1, 1, 1, 1), mode="reflect"), w2, groups=4), 2)
        return TF.linear(h.flatten(1), wl)

    check_op(ours, theirs, *arrays, label="conv-relu-pool-conv-pool-linear")


def test_conv_under_no_grad_records_nothing():
    x = gn.tensor(np.ones((1, 2, 5, 5)), requires_grad=True)
    with gn.no_grad():
        out = F.conv2d(x, gn.tensor(np.ones((3, 2, 3, 3)), requires_grad=True))
    assert not out.requires_grad and out.is_leaf


@pytest.mark.parametrize("nd", [1, 2])
def test_conv_of_a_conv_output(nd):
    """A conv's output (a channels-last view) fed straight into another conv."""
    conv, tconv = (F.conv1d, TF.conv1d) if nd == 1 else (F.conv2d, TF.conv2d)
    rng = np.random.default_rng(8)
    arrays = [rng.standard_normal((2, 4, *(9,) * nd)), rng.standard_normal((6, 2, *(3,) * nd)),
              rng.standard_normal((3, 6, *(2,) * nd))]
    check_op(lambda x, w1, w2: conv(conv(x, w1, groups=2, stride=2), w2, dilation=2),
             lambda x, w1, w2: tconv(tconv(x, w1, groups=2, stride=2), w2, dilation=2),
             *arrays, label=f"conv{nd}d of conv{nd}d")


def test_conv_of_an_empty_batch():
    rng = np.random.default_rng(9)
    check_op(lambda x, w: F.conv2d(x, w, padding=1), lambda x, w: TF.conv2d(x, w, padding=1),
             np.zeros((0, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), label="empty batch")
