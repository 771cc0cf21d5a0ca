"""The operators of modern CNNs (issue 22): activations, LayerNorm/GroupNorm, transposed
convolutions, interpolation. Each is checked against PyTorch (values and gradients, float64 and
float32), by finite differences in float64, and the transposed convolution against a loop
reference that scatters each input element through the kernel."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import gridnn as gn
import gridnn.functional as F
from gridnn import nn
from needs_torch import torch
from torch_check import check_op

TF = torch.nn.functional
RNG = np.random.default_rng(0)


def _x(*shape: int, scale: float = 2.0) -> np.ndarray:
    return RNG.standard_normal(shape) * scale


# ---- activations -------------------------------------------------------------------------------
ACTIVATIONS = [
    ("hardsigmoid", F.hardsigmoid, TF.hardsigmoid),
    ("hardswish", F.hardswish, TF.hardswish),
    ("silu", F.silu, TF.silu),
    ("gelu", F.gelu, TF.gelu),
    ("gelu_tanh", lambda x: F.gelu(x, "tanh"), lambda x: TF.gelu(x, approximate="tanh")),
    ("erf", F.erf, torch.erf),
    ("elu", lambda x: F.elu(x, 0.7), lambda x: TF.elu(x, 0.7)),
    ("softplus", lambda x: F.softplus(x, 2.0, 5.0), lambda x: TF.softplus(x, 2.0, 5.0)),
    ("relu6", F.relu6, TF.relu6),
    ("hardtanh", lambda x: F.hardtanh(x, -0.5, 2.0), lambda x: TF.hardtanh(x, -0.5, 2.0)),
]


@pytest.mark.parametrize("name,ours,theirs", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_matches_torch(name, ours, theirs, op_path):
    x = _x(2, 3, 4, 5, scale=4.0)
    # torch's hard* backward multiplies by 1/6 rounded to float32, also in float64
    hard = name.startswith("hard")
    check_op(ours, theirs, x, label=name, rtol=1e-7 if hard else None,
             dtypes=(np.float64,))
    check_op(ours, theirs, x, label=name, dtypes=(np.float32,))
    xt = gn.tensor(_x(3, 4), requires_grad=True)  # float64, away from the kinks
    assert gn.gradcheck(ours, xt)


def test_prelu_matches_torch():
    x, w = _x(2, 3, 4, 4), RNG.uniform(0.1, 0.5, 3)
    check_op(F.prelu, TF.prelu, x, w, label="prelu")
    check_op(F.prelu, TF.prelu, x, w[:1], label="prelu one slope")
    assert gn.gradcheck(F.prelu, gn.tensor(_x(2, 3, 2), requires_grad=True),
                        gn.tensor(w, requires_grad=True))


def test_activation_layers_and_errors():
    x = gn.tensor(_x(2, 4, 3, 3).astype(np.float32))
    for layer, fn in ((nn.Hardswish(), F.hardswish), (nn.Hardsigmoid(), F.hardsigmoid),
                      (nn.SiLU(), F.silu), (nn.GELU("tanh"), lambda t: F.gelu(t, "tanh")),
                      (nn.ELU(0.5), lambda t: F.elu(t, 0.5)), (nn.ReLU6(), F.relu6),
                      (nn.Softplus(), F.softplus)):
        np.testing.assert_array_equal(layer(x).data, fn(x).data)
    prelu = nn.PReLU(4)
    assert [p.shape for p in prelu.parameters()] == [(4,)]
    with pytest.raises(gn.ArgumentError, match="approximate"):
        nn.GELU("exact")
    with pytest.raises(gn.ArgumentError, match="prelu: `weight` must have shape"):
        F.prelu(x, gn.tensor(np.ones(3, np.float32)))
    with pytest.raises(gn.ArgumentError, match="above"):
        F.clip(x, 2.0, 1.0)


FAST = [("hardsigmoid", F.hardsigmoid, TF.hardsigmoid), ("hardswish", F.hardswish, TF.hardswish),
        ("silu", F.silu, TF.silu), ("sigmoid", F.sigmoid, torch.sigmoid),
        ("gelu", F.gelu, TF.gelu),
        ("gelu_tanh", lambda x: F.gelu(x, "tanh"), lambda x: TF.gelu(x, approximate="tanh")),
        ("relu6", F.relu6, TF.relu6), ("relu", F.relu, TF.relu)]


@pytest.mark.parametrize("name,ours,theirs", FAST, ids=[a[0] for a in FAST])
def test_activation_keeps_channels_last_and_matches_float64(name, ours, theirs, op_path):
    """Large enough to split over threads, on a (N, C, H, W) view of channels-last memory and
    on a strided view, with the tails (+-90, where exp over- and underflows), zeros and NaN:
    each float32 value within float32 rounding of the float64 result (both paths), the
    output laid out as the input, and nothing kept for backward under no_grad."""
    base = (RNG.standard_normal((2, 40, 40, 96)) * 4).astype(np.float32)
    base.reshape(-1)[:6] = [90, -90, 0, -0.0, np.nan, 3]
    x = base.transpose(0, 3, 1, 2)  # channels-last memory
    for arr in (x, x[:, :, ::2]):
        want = theirs(torch.from_numpy(np.ascontiguousarray(arr, np.float64))).numpy()
        with gn.no_grad():
            got = ours(gn.tensor(arr))
        assert got.data.dtype == np.float32 and got.shape == arr.shape
        if arr is x:
            assert got.data.strides == x.strides, "channels-last memory kept"
        np.testing.assert_array_equal(np.isnan(got.data), np.isnan(want))
        np.testing.assert_allclose(got.data, want, rtol=2e-6, atol=1e-6 * 4, equal_nan=True)


SMOOTH = [a for a in FAST if a[0] not in ("relu", "relu6")]


@pytest.mark.parametrize("name,ours,theirs", SMOOTH, ids=[a[0] for a in SMOOTH])
def test_activation_gradient_in_any_layout_matches_float64(name, ours, theirs, op_path):
    """Backward on channels-last memory with the gradient laid out as the input, as a
    C-contiguous array, as a strided view and broadcast (one compiled loop with Numba, the
    gradient copied into the input's layout first where it has another; else the NumPy
    passes): each float32 value within float32 rounding of PyTorch's float64 gradient. The
    NumPy passes of the tanh GELU lose up to 3e-6 where 1 + tanh(y) cancels (x near -5), the
    compiled loop (sigmoid(2y) from exp) does not; sigmoid's backward, from its float32
    output y as PyTorch's, loses up to 6e-8 |g| in 1 - y on both paths."""
    base = (RNG.standard_normal((2, 20, 20, 48)) * 4).astype(np.float32)
    base.reshape(-1)[:4] = [90, -90, 0, 30]
    x = base.transpose(0, 3, 1, 2)
    xt = torch.from_numpy(np.ascontiguousarray(x, np.float64)).requires_grad_()
    g_last = RNG.standard_normal((2, 20, 20, 48)).astype(np.float32).transpose(0, 3, 1, 2)
    wide = RNG.standard_normal((2, 48, 20, 40)).astype(np.float32)
    for g in (g_last, np.ascontiguousarray(g_last), wide[..., ::2],
              np.broadcast_to(np.float32(0.5), x.shape)):
        xt.grad = None
        theirs(xt).backward(torch.from_numpy(g.astype(np.float64)))
        ours_x = gn.tensor(x, requires_grad=True)
        ours(ours_x).backward(gn.tensor(g))
        assert ours_x.grad.dtype == np.float32
        np.testing.assert_allclose(ours_x.grad.data, xt.grad.numpy(), rtol=3e-6,
                                   atol=1e-6 if op_path == "compiled" else 1e-5)


def test_clip_with_one_bound_matches_numpy(op_path):
    x = (_x(2, 3, 40, 40) * 2).astype(np.float32)
    x.reshape(-1)[0] = np.nan
    for low, high in ((None, 1.5), (-1.0, None), (-1.0, 1.5)):
        np.testing.assert_array_equal(F.clip(gn.tensor(x), low, high).data,
                                      np.clip(x, low, high))


def test_activation_without_gradient_keeps_no_array(op_path):
    """Inference: a forward whose input wants no gradient saves nothing for backward (the
    output is the caller's), and with a gradient it keeps what backward needs."""
    from gridnn.ops import activation as act
    from gridnn.ops import elementwise as ew

    x = _x(2, 3, 8, 8).astype(np.float32)
    for cls, options in ((act.SiLU, {}), (act.GELU, {"approximate": "none"}),
                         (act.GELU, {"approximate": "tanh"}), (act.Hardswish, {}),
                         (act.Hardsigmoid, {}), (act.Clip, {"low": 0.0, "high": 6.0}),
                         (ew.ReLU, {})):
        for wanted in (False, True):
            fn = cls()
            fn.needs_grad = (wanted,)
            fn.forward(x, **options)
            kept = [k for k, v in vars(fn).items() if isinstance(v, np.ndarray)]
            assert bool(kept) == wanted, f"{cls.__name__} {options} keeps {kept}"


def test_erf_paths_agree(op_path):
    x = np.linspace(-6, 6, 1001)
    ref = np.array([__import__("math").erf(v) for v in x])
    np.testing.assert_allclose(F.erf(gn.tensor(x)).data, ref, rtol=0, atol=1e-15)
    np.testing.assert_allclose(F.erf(gn.tensor(x.astype(np.float32))).data, ref, atol=1e-7)


# ---- normalisation -----------------------------------------------------------------------------
def test_layer_norm_matches_torch(op_path):
    x, w, b = _x(2, 5, 6), _x(5, 6), _x(5, 6)
    check_op(lambda x, w, b: F.layer_norm(x, (5, 6), w, b, 1e-5),
             lambda x, w, b: TF.layer_norm(x, (5, 6), w, b, 1e-5), x, w, b, label="layer_norm")
    # ConvNeXt's shape: rows enough to split over threads, rows off zero
    x, w, b = _x(2, 56, 56, 96) + 3, _x(96), _x(96)
    check_op(lambda x, w, b: F.layer_norm(x, 96, w, b, 1e-6),
             lambda x, w, b: TF.layer_norm(x, (96,), w, b, 1e-6), x, w, b,
             label="layer_norm rows")
    assert gn.gradcheck(lambda x: F.layer_norm(x, 4), gn.tensor(_x(3, 4), requires_grad=True))


def test_layer_norm_over_channels_is_convnext_layer_norm(op_path):
    x, w, b = _x(2, 6, 4, 5), _x(6), _x(6)
    ours = nn.LayerNorm(6, eps=1e-6, channels_first=True, dtype=np.float64)
    ours.weight.data[...], ours.bias.data[...] = w, b
    check_op(lambda x: ours(x),
             lambda x: TF.layer_norm(x.permute(0, 2, 3, 1), (6,), torch.tensor(w),
                                     torch.tensor(b), 1e-6).permute(0, 3, 1, 2),
             x, dtypes=(np.float64,), label="LayerNorm channels_first")


@pytest.mark.parametrize("groups", [1, 2, 6])
def test_group_norm_matches_torch(groups, op_path):
    x, w, b = _x(2, 6, 3, 4), _x(6), _x(6)
    check_op(lambda x, w, b: F.group_norm(x, groups, w, b),
             lambda x, w, b: TF.group_norm(x, groups, w, b), x, w, b, label="group_norm")
    layer = nn.GroupNorm(groups, 6)
    assert [p.shape for p in layer.parameters()] == [(6,), (6,)]
    assert gn.gradcheck(lambda x: F.group_norm(x, groups),
                        gn.tensor(_x(2, 6, 3), requires_grad=True))


def test_norm_errors_name_the_value():
    with pytest.raises(gn.ArgumentError, match="num_groups"):
        F.group_norm(gn.tensor(np.ones((1, 6, 2))), 4)
    with pytest.raises(gn.ArgumentError, match="normalized_shape"):
        F.layer_norm(gn.tensor(np.ones((2, 3))), 4)


# ---- transposed convolution --------------------------------------------------------------------
def conv_transpose_ref(x, w, b, stride, pads, out_pad, dilation, groups):
    """Loop reference: input element (n, c, i) adds x * w[c, k, t] onto output position
    i * stride + t * dilation - pad_lo (where that lies inside the output)."""
    nd = x.ndim - 2
    c_in, k_per = w.shape[0], w.shape[1]
    out_size = [(n - 1) * s - lo - hi + d * (k - 1) + e + 1 for n, s, (lo, hi), d, k, e in
                zip(x.shape[2:], stride, pads, dilation, w.shape[2:], out_pad)]
    y = np.zeros((x.shape[0], k_per * groups, *out_size))
    for n, c in itertools.product(range(x.shape[0]), range(c_in)):
        g = c // (c_in // groups)
        for i in itertools.product(*map(range, x.shape[2:])):
            for t in itertools.product(*map(range, w.shape[2:])):
                o = [ii * s + tt * d - lo for ii, s, tt, d, (lo, _) in
                     zip(i, stride, t, dilation, pads)]
                if all(0 <= oo < size for oo, size in zip(o, out_size)):
                    for k in range(k_per):
                        y[(n, g * k_per + k, *o)] += x[(n, c, *i)] * w[(c, k, *t)]
    if b is not None:
        y += b.reshape(-1, *(1,) * nd)
    return y


CASES = [  # (nd, C_in, C_out, kernel, stride, padding, output_padding, dilation, groups)
    (2, 3, 4, 3, 1, 0, 0, 1, 1),
    (2, 4, 6, 3, 2, 1, 1, 1, 2),
    (2, 2, 3, (2, 3), (2, 1), (0, 1), (1, 0), 1, 1),
    (2, 4, 4, 3, 2, 2, 1, 2, 4),
    (1, 3, 2, 4, 3, 1, 2, 1, 1),
    (1, 2, 4, 3, 1, 2, 0, 2, 2),
]


@pytest.mark.parametrize("case", CASES)
def test_conv_transpose_matches_torch_and_loops(case):
    nd, c_in, c_out, k, s, p, e, d, g = case
    kernel = (k,) * nd if isinstance(k, int) else k
    x, w, b = _x(2, c_in, *(5,) * nd), _x(c_in, c_out // g, *kernel), _x(c_out)
    ours = F.conv_transpose1d if nd == 1 else F.conv_transpose2d
    theirs = TF.conv_transpose1d if nd == 1 else TF.conv_transpose2d
    check_op(lambda x, w, b: ours(x, w, b, s, p, e, g, d),
             lambda x, w, b: theirs(x, w, b, s, p, e, g, d), x, w, b, label=f"convT {case}")
    tup = lambda v: (v,) * nd if isinstance(v, int) else v  # noqa: E731
    ref = conv_transpose_ref(x, w, b, tup(s), [(q, q) for q in tup(p)], tup(e), tup(d), g)
    np.testing.assert_allclose(ours(gn.tensor(x), gn.tensor(w), gn.tensor(b), s, p, e, g,
                                    d).data, ref, rtol=1e-12, atol=1e-12)
    xs, ws = (gn.tensor(a[:1, :, :3] if a is x else a, requires_grad=True) for a in (x, w))
    assert gn.gradcheck(lambda x, w: ours(x, w, None, s, p, e, g, d), xs, ws)


def test_conv_transpose_layer_and_errors():
    layer = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert layer.weight.shape == (4, 3, 3, 3)
    assert layer(gn.tensor(np.ones((1, 4, 5, 5), np.float32))).shape == (1, 6, 10, 10)
    with pytest.raises(gn.ArgumentError, match="output_padding"):
        F.conv_transpose2d(gn.tensor(np.ones((1, 4, 5, 5))), gn.tensor(np.ones((4, 2, 3, 3))),
                           stride=1, output_padding=1)
    with pytest.raises(gn.ArgumentError, match="input has 3 channels"):
        F.conv_transpose2d(gn.tensor(np.ones((1, 3, 5, 5))), gn.tensor(np.ones((4, 2, 3, 3))))


# ---- interpolation -----------------------------------------------------------------------------
RESIZES = [  # (input spatial size, size or None, scale or None, mode, align_corners)
    ((5, 7), (10, 14), None, "nearest", None),
    ((5, 7), (8, 3), None, "nearest", None),
    ((4, 6), None, 2.0, "nearest", None),
    ((5, 7), (11, 4), None, "bilinear", False),
    ((5, 7), (11, 4), None, "bilinear", True),
    ((4, 6), None, 2.0, "bilinear", False),
    ((4, 6), None, 1.5, "bilinear", True),
    ((7,), (16,), None, "linear", False),
    ((7,), (3,), None, "linear", True),
    ((6,), None, 3.0, "nearest", None),
]


@pytest.mark.parametrize("spatial,size,scale,mode,corners", RESIZES)
def test_interpolate_matches_torch(spatial, size, scale, mode, corners):
    x = _x(2, 3, *spatial)
    check_op(lambda x: F.interpolate(x, size, scale, mode, corners),
             lambda x: TF.interpolate(x, size, scale, mode, corners), x,
             label=f"interpolate {mode} {spatial}->{size or scale}")
    assert gn.gradcheck(lambda x: F.interpolate(x, size, scale, mode, corners),
                        gn.tensor(x[:1, :2], requires_grad=True))
    layer = nn.Upsample(size, scale, mode, corners)
    np.testing.assert_array_equal(layer(gn.tensor(x)).data,
                                  F.interpolate(gn.tensor(x), size, scale, mode, corners).data)


def test_interpolate_errors():
    x = gn.tensor(np.ones((1, 2, 3, 3)))
    with pytest.raises(gn.ArgumentError, match="exactly one"):
        F.interpolate(x)
    with pytest.raises(gn.ArgumentError, match="'linear'"):
        F.interpolate(x, 4, mode="linear")
    with pytest.raises(gn.ArgumentError, match="align_corners"):
        F.interpolate(x, 4, align_corners=True)


def test_linear_on_channels_last_maps_matches_torch():
    """ConvNeXt's pointwise layers: Linear on (N, H, W, C), one GEMM over all positions."""
    x, w, b = _x(2, 3, 4, 5), _x(6, 5), _x(6)
    check_op(F.linear, TF.linear, x, w, b, label="linear 4-D")


def test_inference_bias_and_affine_match_the_recorded_path():
    """Without a gradient, a Linear's bias and a norm's scale and shift go into the op's own
    new array (``functional.checks.finish``): the same values as with a gradient recorded, the
    same dtypes (a float64 bias on float32 still promotes), and no input touched."""
    x = _x(2, 5, 5, 8).astype(np.float32)
    x0 = x.copy()
    w, b, g = _x(4, 8).astype(np.float32), _x(4).astype(np.float32), _x(8).astype(np.float32)
    calls = [lambda t, p: F.linear(t, p[0], p[1]),
             lambda t, p: F.linear(t, p[0], gn.tensor(b.astype(np.float64))),
             lambda t, p: F.layer_norm(t, 8, p[2], p[2]),
             lambda t, p: F.group_norm(t.permute(0, 3, 1, 2), 2, p[2], p[2])]
    for call in calls:
        params = [gn.tensor(a, requires_grad=True) for a in (w, b, g)]
        recorded = call(gn.tensor(x, requires_grad=True), params)
        with gn.no_grad():
            inferred = call(gn.Tensor._wrap(x, False), params)  # x itself, not a copy
        assert inferred.dtype == recorded.dtype
        np.testing.assert_array_equal(inferred.data, recorded.data)
        for p, a in zip(params, (w, b, g)):
            np.testing.assert_array_equal(p.data, a)
        np.testing.assert_array_equal(x, x0)
