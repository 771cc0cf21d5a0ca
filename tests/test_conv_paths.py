"""Every alternative kernel path of the convolution and of max pooling, against PyTorch (float64).

``ops.conv`` picks per shape how to get the input gradient (a convolution of the output
gradient, or col2im channels-last or channels-first), chunks the column matrix, and reuses
scratch buffers between calls; ``ops.conv_plain`` is the lecture's version of the same op;
``ops.pool`` assigns (disjoint windows, with or without a zero fill) or adds (overlapping
windows) the max-pool gradient and keeps the input's memory layout. Each test forces one path
(through ``gridnn.ops.options.using``) on the same covering set of cases, so a fast path can
never drift from the plain one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import gridnn as gn
import gridnn.functional as F
from gridnn.ops import workspace
from gridnn.ops.options import using
from needs_torch import TF, torch
from torch_check import check_op, relative_error

TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate",
              "circular": "circular"}

# (nd, batch, channels, size, filters, kernel, stride, pads, dilation, groups, mode, bias)
CONV_CASES = [
    (2, 2, 1, (7, 6), 4, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1, "zeros", True),
    (2, 2, 3, (9, 8), 5, (5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1), 1, "zeros", True),
    (2, 1, 8, (8, 8), 6, (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 1, "zeros", False),
    (2, 2, 12, (7, 9), 8, (3, 2), (2, 1), ((1, 2), (0, 1)), (2, 1), 1, "reflect", True),
    (2, 2, 8, (6, 7), 8, (3, 3), (1, 2), ((1, 1), (2, 1)), (1, 2), 2, "replicate", True),
    (2, 1, 16, (6, 6), 16, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 16, "circular", True),
    (2, 2, 16, (5, 5), 32, (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 16, "zeros", False),
    (2, 2, 10, (5, 6), 4, (1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 1, "zeros", True),
    (2, 3, 9, (8, 8), 6, (4, 4), (3, 3), ((0, 0), (0, 0)), (1, 1), 3, "zeros", True),
    (2, 2, 8, (5, 6), 4, (1, 2), (1, 1), ((2, 1), (0, 3)), (1, 1), 1, "zeros", True),
    (2, 1, 8, (9, 9), 8, (3, 3), (1, 1), ((2, 2), (1, 3)), (2, 2), 2, "zeros", False),
    (1, 4, 1, (13,), 6, (5,), (2,), ((2, 2),), (1,), 1, "zeros", True),
    (1, 2, 16, (11,), 8, (3,), (1,), ((1, 1),), (2,), 2, "circular", True),
    (1, 2, 4, (10,), 4, (2,), (3,), ((0, 1),), (1,), 4, "reflect", False),
    # depthwise (ops/depthwise.py): one image (rows split over threads), strides, dilation
    (2, 1, 6, (9, 8), 6, (3, 3), (2, 1), ((1, 1), (1, 1)), (1, 2), 6, "zeros", True),
    (2, 3, 5, (11, 10), 5, (5, 5), (2, 2), ((2, 2), (2, 2)), (1, 1), 5, "zeros", False),
    (1, 1, 7, (12,), 7, (3,), (1,), ((1, 1),), (1,), 7, "zeros", True),
    # 1x1 as one product (no columns) and a k x k convolution of one image split by rows
    (2, 1, 12, (6, 5), 9, (1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 1, "zeros", True),
    (2, 1, 5, (9, 7), 7, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1, "zeros", True),
    # 16 or 32 filters (ops/direct.py; im2col under "im2col-only"): a stem, and 1-D
    (2, 2, 3, (9, 9), 32, (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1), 1, "zeros", True),
    (1, 2, 16, (9,), 16, (3,), (1,), ((1, 1),), (2,), 1, "zeros", False),
    # fewer output rows than filters: columns in the weight's (channel, offset) order
    (2, 1, 6, (3, 4), 16, (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1, "zeros", True),
    (2, 1, 6, (2, 2), 36, (3, 2), (2, 2), ((1, 1), (0, 1)), (1, 1), 3, "reflect", True),
    (1, 1, 5, (4,), 12, (3,), (1,), ((0, 0),), (1,), 1, "zeros", False),
]


def _case_id(case: tuple[Any, ...]) -> str:
    nd, n, c, size, k, kernel, stride, pads, dil, groups, mode, bias = case
    return (f"{nd}d-c{c}-k{k}-w{kernel}-s{stride}-p{pads}-d{dil}-g{groups}-{mode}"
            f"{'-bias' if bias else ''}").replace(" ", "")


def _conv_arrays(case: tuple[Any, ...], seed: int = 0) -> list[np.ndarray]:
    nd, n, c, size, k, kernel, stride, pads, dil, groups, mode, bias = case
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((n, c, *size)), rng.standard_normal((k, c // groups, *kernel))]
    return arrays + [rng.standard_normal(k)] if bias else arrays


def _convs(case: tuple[Any, ...]) -> tuple[Any, Any]:
    """(gridnn fn, torch fn) of one case; torch pads explicitly (it lacks uneven pads)."""
    nd, n, c, size, k, kernel, stride, pads, dil, groups, mode, bias = case
    ours = F.conv1d if nd == 1 else F.conv2d
    theirs = TF.conv1d if nd == 1 else TF.conv2d
    flat = [p for lo_hi in reversed(pads) for p in lo_hi]

    def g_fn(x: Any, w: Any, b: Any = None) -> Any:
        return ours(x, w, b, stride=stride, padding=pads, dilation=dil, groups=groups,
                    padding_mode=mode)

    def t_fn(x: Any, w: Any, b: Any = None) -> Any:
        return theirs(TF.pad(x, flat, mode=TORCH_MODE[mode]), w, b, stride=stride,
                      dilation=dil, groups=groups)

    return g_fn, t_fn


# Options that force each input-gradient path for every channel count: a convolution of the
# output gradient (stride 1, zero padding; col2im elsewhere) or col2im in either layout,
# channels-last by the compiled loop (one group; where Numba is installed) or by NumPy.
INPUT_GRAD_PATHS = {
    "as-conv": {"input_grad_as_conv": True, "channels_first_col2im_below": 0},
    "channels-last": {"input_grad_as_conv": False, "channels_first_col2im_below": 0},
    "channels-last-numpy": {"input_grad_as_conv": False, "channels_first_col2im_below": 0,
                            "compiled": False},
    "channels-first": {"input_grad_as_conv": False, "channels_first_col2im_below": 1 << 30},
}
# Column chunks of one output row of one image (many chunks, sub-image slabs), or all images
# in one chunk.
CHUNKING = {"small-chunks": {"chunk_bytes": 1}, "whole-batch": {"chunk_bytes": 1 << 40}}
# Every fast path x chunking x threads, the plain convolution (it neither chunks nor threads,
# so once is enough), and im2col where the Winograd or direct path would take the case.
CONV_PATHS = {
    **{f"{grad}-{chunks}-{n}-threads": {**grad_opts, **chunk_opts, "threads": n,
                                        "parallel_min_size": 0}
       for grad, grad_opts in INPUT_GRAD_PATHS.items()
       for chunks, chunk_opts in CHUNKING.items() for n in (1, 2, 3)},
    "plain": {"plain_conv": True},
    "im2col-only": {"direct": False, "winograd": False},
}


@pytest.fixture(params=[1, 2, 3], ids=["1-thread", "2-threads", "3-threads"])
def threads(request: pytest.FixtureRequest) -> Any:
    """Split every op over the batch into this many threads, however small the op."""
    with using(threads=request.param, parallel_min_size=0):
        yield request.param


@pytest.mark.parametrize("path", list(CONV_PATHS))
@pytest.mark.parametrize("case", CONV_CASES, ids=_case_id)
def test_conv_every_path_matches_torch(case: tuple[Any, ...], path: str) -> None:
    g_fn, t_fn = _convs(case)
    with using(**CONV_PATHS[path]):
        check_op(g_fn, t_fn, *_conv_arrays(case), dtypes=(np.float64,),
                 label=f"{_case_id(case)} {path}")


@pytest.mark.parametrize("path", ["fast", "plain"])
def test_conv_default_paths_match_torch_in_float32(path: str) -> None:
    with using(plain_conv=path == "plain"):
        for case in CONV_CASES:
            g_fn, t_fn = _convs(case)
            check_op(g_fn, t_fn, *_conv_arrays(case), dtypes=(np.float32,),
                     label=_case_id(case))


def _torch_grads(case: tuple[Any, ...], arrays: list[np.ndarray], needs: list[bool],
                 cot: np.ndarray) -> tuple[np.ndarray, list[np.ndarray | None]]:
    _, t_fn = _convs(case)
    ts = [torch.tensor(a, requires_grad=r) for a, r in zip(arrays, needs)]
    out = t_fn(*ts)
    out.backward(torch.from_numpy(cot))
    return out.detach().numpy(), [t.grad.numpy() if t.grad is not None else None for t in ts]


def test_first_layer_skips_the_input_gradient() -> None:
    case = CONV_CASES[0]
    arrays = _conv_arrays(case)
    g_fn, _ = _convs(case)
    x = gn.tensor(arrays[0])
    w, b = (gn.tensor(a, requires_grad=True) for a in arrays[1:])
    out = g_fn(x, w, b)
    cot = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(cot)
    want_out, want = _torch_grads(case, arrays, [False, True, True], cot)
    assert x.grad is None
    assert relative_error(out.data, want_out) < 1e-12
    assert relative_error(w.grad, want[1]) < 1e-12
    assert relative_error(b.grad, want[2]) < 1e-12


def test_scratch_buffers_never_alias_results_or_saved_columns() -> None:
    """Two same-shaped convs in one graph take distinct buffers; earlier outputs survive."""
    rng = np.random.default_rng(2)
    x1, x2 = rng.standard_normal((2, 2, 4, 6, 6))
    w1, w2 = rng.standard_normal((2, 4, 4, 3, 3))
    ours = [gn.tensor(a, requires_grad=True) for a in (x1, w1, w2)]
    y = F.conv2d(F.conv2d(ours[0], ours[1], padding=1), ours[2], padding=1)
    other = F.conv2d(gn.tensor(x2), gn.tensor(w1), padding=1).data.copy()
    F.conv2d(gn.tensor(x1), gn.tensor(w2), padding=1)  # reuses the free buffers
    y.sum().backward()
    theirs = [torch.tensor(a, requires_grad=True) for a in (x1, w1, w2)]
    t_y = TF.conv2d(TF.conv2d(theirs[0], theirs[1], padding=1), theirs[2], padding=1)
    t_y.sum().backward()
    assert relative_error(y.data, t_y.detach().numpy()) < 1e-12
    assert relative_error(other, TF.conv2d(torch.tensor(x2), torch.tensor(w1),
                                           padding=1).numpy()) < 1e-12
    for ours_t, theirs_t in zip(ours, theirs):
        assert relative_error(ours_t.grad, theirs_t.grad.numpy()) < 1e-12


def test_retain_graph_keeps_the_columns_for_a_second_backward() -> None:
    case = CONV_CASES[3]
    arrays = _conv_arrays(case)
    g_fn, _ = _convs(case)
    ts = [gn.tensor(a, requires_grad=True) for a in arrays]
    out = g_fn(*ts)
    cot = np.random.default_rng(3).standard_normal(out.shape)
    out.backward(cot, retain_graph=True)
    out.backward(cot)
    _, want = _torch_grads(case, arrays, [True] * len(arrays), cot)
    for t, w in zip(ts, want):
        assert relative_error(t.grad, 2 * w) < 1e-12


def test_scratch_pool_is_bounded_and_least_recently_used_goes_first() -> None:
    pool = workspace.ScratchPool(max_bytes=4096)
    a, b, c = (pool.take((64,), np.float64) for _ in range(3))  # 512 bytes each
    for arr in (a, b, c):
        pool.give(arr)
    assert pool.kept == 3 * 512
    assert pool.take((64,), np.float64) is c  # a free buffer comes back
    pool.give(np.empty(2048, np.uint8))  # over a quarter of the budget: not kept
    assert pool.kept == 2 * 512
    for i in range(10):
        pool.give(np.empty(100 + i, np.float32))
    assert pool.kept <= 4096
    assert pool.take((64,), np.float64) is not a  # the oldest entries were dropped
    ones = pool.ones(5, np.float32)
    assert ones is pool.ones(5, np.float32) and not ones.flags.writeable
    bordered = pool.bordered((1, 4, 4, 1), ((1, 1), (1, 1)), np.float64)
    assert bordered is pool.bordered((1, 4, 4, 1), ((1, 1), (1, 1)), np.float64)
    assert not bordered.any()


# ---- max pooling -----------------------------------------------------------------------------
# (nd, size, kernel, stride, padding, ceil_mode): disjoint and tiling; disjoint with an uncovered
# edge, with padding or ceil_mode; overlapping windows; 1-D.
POOL_CASES = [
    (2, (8, 6), 2, 2, 0, False),
    (2, (7, 7), 2, 2, 0, False),
    (2, (9, 8), 3, 3, 1, False),
    (2, (7, 6), 2, 2, 0, True),
    (2, (9, 9), 3, 2, 1, False),
    (2, (6, 7), (2, 3), (1, 2), 0, False),
    (1, (12,), 2, 2, 0, False),
    (1, (11,), 3, 2, 1, True),
]


def _pool_fns(case: tuple[Any, ...]) -> tuple[Any, Any]:
    nd, size, kernel, stride, padding, ceil = case
    ours, theirs = (F.max_pool1d, TF.max_pool1d) if nd == 1 else (F.max_pool2d, TF.max_pool2d)
    opts = {"kernel_size": kernel, "stride": stride, "padding": padding, "ceil_mode": ceil}
    return (lambda x: ours(x, **opts)), (lambda x: theirs(x, **opts))


@pytest.mark.usefixtures("op_path")
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: str(c).replace(" ", ""))
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_max_pool_every_path_matches_torch(case: tuple[Any, ...], ties: bool,
                                           threads: int) -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, *case[1]))
    if ties:  # few distinct values: windows hold several equal maxima (first one wins)
        x = np.maximum(np.round(x), 0.0)
    g_fn, t_fn = _pool_fns(case)
    check_op(g_fn, t_fn, x, dtypes=(np.float64, np.float32), label=f"maxpool {case}")


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: str(c).replace(" ", ""))
def test_max_pool_of_channels_last_memory(case: tuple[Any, ...], op_path: str) -> None:
    """A conv output is a (N, C, H, W) view of channels-last memory; the gradient keeps it.
    Ties (several equal maxima) send the gradient to the first, as in PyTorch."""
    rng = np.random.default_rng(5)
    x = np.maximum(np.round(rng.standard_normal((2, 4, *case[1]))), 0.0)
    x_cl = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    x_view = np.moveaxis(x_cl, -1, 1)
    g_fn, t_fn = _pool_fns(case)
    ours = gn.tensor(x_view, requires_grad=True)
    out = g_fn(ours)
    assert (out._fn.kernels is not None) == (op_path == "compiled")  # the path under test ran
    cot = rng.standard_normal(out.shape)
    out.backward(cot)
    theirs = torch.tensor(x, requires_grad=True)
    t_out = t_fn(theirs)
    t_out.backward(torch.from_numpy(cot))
    assert relative_error(out.data, t_out.detach().numpy()) == 0
    assert relative_error(ours.grad, theirs.grad.numpy()) < 1e-12


@pytest.mark.usefixtures("op_path")
def test_conv_relu_pool_chain_keeps_channels_last_gradients() -> None:
    """conv -> relu -> pool -> conv, as in a CNN: every layout hand-off, against torch."""
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal(s) for s in ((2, 3, 8, 8), (8, 3, 3, 3), (8,), (4, 8, 3, 3))]

    def net(lib: Any, conv: Any, pool: Any, x: Any, w1: Any, b1: Any, w2: Any) -> Any:
        h = pool(lib.relu(conv(x, w1, b1, padding=1)), 2)
        return conv(h, w2, None, padding=1)

    check_op(lambda *a: net(F, F.conv2d, F.max_pool2d, *a),
             lambda *a: net(torch, TF.conv2d, TF.max_pool2d, *a), *arrays,
             dtypes=(np.float64,), label="conv-relu-pool-conv")



def test_threaded_matmul_splits_rows_exactly(threads: int) -> None:
    """workspace.matmul (the linear layers' product) equals np.matmul, transposed views too."""
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((9, 5)), rng.standard_normal((5, 4))
    np.testing.assert_allclose(workspace.matmul(a, b), a @ b, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(workspace.matmul(a.T, a), a.T @ a, rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(workspace.matmul(a[0], b), a[0] @ b)  # 1-D: NumPy's own
    c = rng.standard_normal((2, 3, 4, 5)).transpose(0, 2, 1, 3)  # a strided (..., k) operand
    np.testing.assert_allclose(workspace.matmul(c, b), c @ b, rtol=1e-14, atol=1e-14)
    assert workspace.matmul(a[:0], b).shape == (0, 4)


def test_threaded_matmul_of_few_rows_splits_columns_exactly(threads: int) -> None:
    """With fewer rows than columns the columns of b are split; one row is one product."""
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((3, 6)), rng.standard_normal((6, 11))
    np.testing.assert_allclose(workspace.matmul(a, b), a @ b, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(workspace.matmul(a[:1], b), a[:1] @ b, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(workspace.matmul(b[:, :1].T, b), b[:, :1].T @ b, rtol=1e-14,
                               atol=1e-14)


# (batch, channels, size, kernel, stride, pads, dilation): depthwise layers of a MobileNet and
# an EfficientNet, and each path of the compiled loop: 3 x 3 (four pixels a pass at stride 1,
# else two, an odd last one, one output column), 5-tap kernel rows (four or two pixels), other
# kernels tap by tap, the border pixels of each; channel counts that fill no whole vector
DEPTHWISE_CASES = [(1, 8, (10, 9), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),
                   (2, 3, (9, 9), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1)),
                   (1, 4, (11, 12), (5, 3), (2, 1), ((2, 0), (1, 1)), (2, 1)),
                   (3, 5, (13,), (5,), (2,), ((2, 2),), (1,)),
                   (1, 37, (9, 12), (3, 3), (2, 2), ((1, 1), (0, 1)), (2, 2)),
                   (1, 17, (5, 1), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1)),
                   (2, 19, (8, 7), (5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1)),
                   (1, 24, (12, 11), (3, 5), (1, 2), ((1, 1), (2, 2)), (1, 1)),
                   (2, 21, (7, 9), (5, 5), (2, 2), ((2, 1), (2, 2)), (1, 2)),
                   (2, 6, (15,), (3,), (1,), ((1, 1),), (2,)),
                   (2, 20, (11, 13), (3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1)),
                   (1, 18, (9, 11), (5, 5), (1, 1), ((2, 2), (2, 2)), (1, 1)),
                   (1, 10, (9, 10), (7, 4), (1, 2), ((3, 3), (2, 1)), (1, 1)),
                   (1, 5, (4, 3), (3, 3), (1, 1), ((3, 4), (4, 2)), (1, 1)),
                   (1, 12, (13, 15), (5, 5), (2, 2), ((2, 2), (2, 2)), (1, 1))]


@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=lambda c: str(c).replace(" ", ""))
def test_depthwise_matches_the_loop_reference(case: tuple[Any, ...], op_path: str,
                                              threads: int) -> None:
    """ops/depthwise.py (compiled loop, or NumPy multiply-adds) against reference.conv_ref's
    loops, forward; its gradients against the plain convolution's (the lecture's einsum)."""
    from reference import conv_ref

    n, c, size, kernel, stride, pads, dil = case
    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal((n, c, *size)), rng.standard_normal((c, 1, *kernel)),
               rng.standard_normal(c))
    conv = F.conv1d if len(size) == 1 else F.conv2d

    def run(plain: bool) -> list[np.ndarray]:
        ts = [gn.Tensor(a, requires_grad=True) for a in (x, w, b)]
        with using(plain_conv=plain):
            out = conv(*ts, stride=stride, padding=pads, dilation=dil, groups=c)
        out.backward(np.cos(np.arange(out.size)).reshape(out.shape))
        return [out.data] + [t.grad for t in ts]

    fast, plain = run(False), run(True)
    np.testing.assert_allclose(fast[0], conv_ref(x, w, b, stride, pads, dil, c), rtol=1e-12,
                               atol=1e-12)
    for got, want in zip(fast, plain):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=lambda c: str(c).replace(" ", ""))
def test_depthwise_reads_zero_padding_without_a_padded_copy(case: tuple[Any, ...],
                                                            op_path: str) -> None:
    """depthwise.forward on the unpadded input (the loop leaves out the taps outside it, at
    every border) gives what it gives on the padded copy, and what the loop reference gives."""
    from gridnn.ops import depthwise
    from gridnn.ops.windows import ConvGeometry, channels_last, padded_channels_last
    from reference import conv_ref

    n, c, size, kernel, stride, pads, dil = case
    rng = np.random.default_rng(5)
    x, w, b = (rng.standard_normal((n, c, *size)), rng.standard_normal((c, 1, *kernel)),
               rng.standard_normal(c))
    want = conv_ref(x, w, b, stride, pads, dil, c)
    geo = ConvGeometry(stride, dil, pads, "zeros", c, want.shape[2:])
    xpad, _ = padded_channels_last(x, pads, "zeros", keep=True)
    got = depthwise.forward(np.ascontiguousarray(channels_last(x)), w, b, geo, padded=False)
    np.testing.assert_array_equal(got, depthwise.forward(xpad, w, b, geo))
    np.testing.assert_allclose(np.moveaxis(got, -1, 1), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=lambda c: str(c).replace(" ", ""))
def test_depthwise_matches_torch(case: tuple[Any, ...], op_path: str) -> None:
    """ops/depthwise.py against PyTorch, float64 and float32, forward and gradients."""
    n, c, size, kernel, stride, pads, dil = case
    rng = np.random.default_rng(4)
    arrays = (rng.standard_normal((n, c, *size)), rng.standard_normal((c, 1, *kernel)),
              rng.standard_normal(c))
    flat = [p for lo_hi in reversed(pads) for p in lo_hi]
    ours, theirs = (F.conv1d, TF.conv1d) if len(size) == 1 else (F.conv2d, TF.conv2d)
    check_op(lambda x, w, b: ours(x, w, b, stride=stride, padding=pads, dilation=dil,
                                  groups=c),
             lambda x, w, b: theirs(TF.pad(x, flat), w, b, stride=stride, dilation=dil,
                                    groups=c), *arrays, label=str(case))


def _channels_last(x: np.ndarray) -> np.ndarray:
    """The (N, C, *S) view of a channels-last copy of x, as a convolution leaves it."""
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(x, 1, -1)), -1, 1)


@pytest.mark.usefixtures("op_path")
@pytest.mark.parametrize("shape", [(6, 4, 5, 7), (6, 4, 9)], ids=["2d", "1d"])
@pytest.mark.parametrize("grad_layout", ["channels-last", "channels-first"])
def test_relu_gradient_in_either_memory_layout(grad_layout: str, shape: tuple[int, ...],
                                               threads: int) -> None:
    """ReLU's gradient passes where the output is positive, whatever the layouts of the
    input and of the incoming gradient."""
    rng = np.random.default_rng(8)
    x = _channels_last(np.round(rng.standard_normal(shape), 1))  # some exact zeros
    g = rng.standard_normal(x.shape)
    g = _channels_last(g) if grad_layout == "channels-last" else np.ascontiguousarray(g)
    ours = gn.tensor(x, requires_grad=True)
    out = F.relu(ours)
    out.backward(g)
    np.testing.assert_array_equal(out.data, np.maximum(x, 0))
    np.testing.assert_array_equal(ours.grad, np.where(x > 0, g, 0.0))


@pytest.mark.usefixtures("op_path")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batchnorm_over_many_rows_matches_torch(dtype: Any, threads: int) -> None:
    """BatchNorm on a channels-last batch large enough for many cache-sized pieces in each
    thread: output, input and parameter gradients against PyTorch in float64."""
    from gridnn import nn

    rng = np.random.default_rng(9)
    x = _channels_last(rng.standard_normal((16, 8, 20, 24)) * 3 + 1).astype(dtype)
    cot = rng.standard_normal(x.shape)
    bn = nn.BatchNorm2d(8, dtype=dtype)
    bn.weight.data[:] = rng.uniform(0.5, 2.0, 8)
    bn.bias.data[:] = rng.standard_normal(8)
    ours = gn.tensor(x, requires_grad=True)
    out = bn(ours)
    out.backward(cot.astype(dtype))
    twin = torch.nn.BatchNorm2d(8, dtype=torch.float64)
    with torch.no_grad():
        twin.weight[:] = torch.from_numpy(bn.weight.data.astype(np.float64))
        twin.bias[:] = torch.from_numpy(bn.bias.data.astype(np.float64))
    theirs = torch.tensor(x.astype(np.float64), requires_grad=True)
    ref = twin(theirs)
    ref.backward(torch.from_numpy(cot))
    tol = 1e-12 if dtype == np.float64 else 2e-5
    assert relative_error(out.data, ref.detach().numpy()) < tol
    assert relative_error(ours.grad, theirs.grad.numpy()) < tol
    assert relative_error(bn.weight.grad, twin.weight.grad.numpy()) < tol
    assert relative_error(bn.bias.grad, twin.bias.grad.numpy()) < tol
    np.testing.assert_allclose(bn.running_mean, twin.running_mean.numpy(), rtol=1e-5)


def test_single_blas_holds_the_blas_at_one_thread_and_restores_it(monkeypatch) -> None:
    """The BLAS thread switch (OpenBLAS's own calls, or threadpoolctl's) agrees with
    threadpoolctl's view: one thread inside, the previous count after, also on an error."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    # the switches are found once, on first use: find them again, so that a BLAS loaded since
    # (scipy's, which Numba's import brings in) is among them, as it is in threadpoolctl's view
    monkeypatch.setattr(workspace._threads, "blas", None)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        def counts() -> list[int]:
            return [lib["num_threads"] for lib in threadpoolctl.threadpool_info()
                    if lib["user_api"] == "blas"]

        before = counts()
        assert before and workspace._threads.count() == max(before)
        with workspace._threads.single_blas():
            assert counts() == [1] * len(before)
            assert workspace._threads.count() == 1
        assert counts() == before
        with pytest.raises(RuntimeError), workspace._threads.single_blas():
            raise RuntimeError("inside")
        assert counts() == before


def test_compiled_loops_fall_back_to_numpy_when_no_cache_folder_is_writable(
        monkeypatch, tmp_path) -> None:
    """No writable folder for the compiled code (a read-only install, no home): gridnn warns
    once and runs its NumPy passes."""
    from gridnn.ops import compiled, kernel_objects

    blocked = tmp_path / "a file"
    blocked.write_text("")  # no folder can be made below a file, whoever runs the test
    monkeypatch.setattr(compiled, "_state", {})
    monkeypatch.setattr(kernel_objects, "cache_folders", lambda: [blocked / "kernels"])
    with pytest.warns(RuntimeWarning, match="compiled loops are off.*no writable folder"):
        assert compiled.kernels() is None
    assert compiled.kernels() is None  # decided once per process
    x = gn.tensor(_channels_last(np.arange(32.0).reshape(1, 2, 4, 4)), requires_grad=True)
    out = F.max_pool2d(F.relu(x), 2)
    assert out._fn.kernels is None  # channels-last input, yet the NumPy passes ran
    out.sum().backward()
    np.testing.assert_array_equal(out.data, x.data[:, :, 1::2, 1::2])
    np.testing.assert_array_equal(x.grad[:, :, 1::2, 1::2], 1.0)
    assert x.grad.sum() == out.size


@pytest.mark.parametrize("shape", [(3, 5, 4, 6), (2, 4, 7)], ids=["2d", "1d"])
def test_global_average_pool_and_concat_of_channels_last_memory(shape: tuple[int, ...],
                                                               threads: int) -> None:
    """Global average pooling and channel concatenation read a convolution's channels-last
    output in its own order; results and gradients equal the channels-first arrays' (torch)."""
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal(shape), rng.standard_normal((shape[0], 3, *shape[2:]))
    pool = F.adaptive_avg_pool1d if len(shape) == 3 else F.adaptive_avg_pool2d
    t_pool = TF.adaptive_avg_pool1d if len(shape) == 3 else TF.adaptive_avg_pool2d
    for layout in (_channels_last, np.ascontiguousarray):
        check_op(lambda a: pool(a, 1), lambda a: t_pool(a, 1), layout(x), dtypes=(np.float64,),
                 label="global average pool")
        check_op(lambda a, b: F.concat([a, b], axis=1), lambda a, b: torch.cat([a, b], 1),
                 layout(x), layout(y), dtypes=(np.float64,), label="concat")
        out = F.concat([gn.Tensor(layout(x)), gn.Tensor(layout(y))], axis=1).data
        np.testing.assert_array_equal(out, np.concatenate([x, y], axis=1))
        mean = pool(gn.Tensor(layout(x)), 1).data
        np.testing.assert_allclose(mean, x.mean(axis=tuple(range(2, x.ndim)), keepdims=True),
                                   rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=lambda c: str(c).replace(" ", ""))
def test_depthwise_inference_reads_padding_as_zeros_like_training(case: tuple[Any, ...],
                                                                  op_path: str) -> None:
    """Without a weight gradient ``ConvNd`` hands the depthwise loop the unpadded input; the
    values are those of the padded path that training takes."""
    n, c, size, kernel, stride, pads, dilation = case
    rng = np.random.default_rng(11)
    x = gn.Tensor(rng.standard_normal((n, c, *size)).astype(np.float32))
    w = gn.Tensor(rng.standard_normal((c, 1, *kernel)).astype(np.float32), requires_grad=True)
    conv = F.conv1d if len(size) == 1 else F.conv2d
    pad = tuple(lo for lo, _ in pads) if all(lo == hi for lo, hi in pads) else pads
    trained = conv(x, w, None, stride, pad, dilation, groups=c).data
    with gn.no_grad():
        inferred = conv(x, w, None, stride, pad, dilation, groups=c).data
    np.testing.assert_array_equal(inferred, trained)
