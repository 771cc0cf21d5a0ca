"""gridnn.explain: dense equivalents (property-based), connection counts against hand counts and
closed forms, receptive fields against a hand-computed LeNet table, and every `explain`/`show`
command producing what it promises on a tiny trained run."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import gridnn as gn
from gridnn import nn
from gridnn.cli import main
from gridnn.explain import (
    connection_counts,
    conv_map,
    dense_equivalent,
    receptive_field,
)

MODES = ["zeros", "reflect", "replicate", "circular"]


# ---- dense equivalents -----------------------------------------------------------------------
@st.composite
def conv_layers(draw):
    """A random Conv1d/Conv2d (float64) and an input shape it accepts."""
    nd = draw(st.sampled_from([1, 2]))
    groups = draw(st.sampled_from([1, 2]))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    size = tuple(draw(st.integers(d * (k - 1) + 1, 7)) for k, d in zip(kernel, dilation))
    mode = draw(st.sampled_from(MODES))
    padding = draw(st.sampled_from(["same", "valid", "int", "pairs"]))
    if padding == "int":
        padding = draw(st.integers(0, min(size) - 1))
    elif padding == "pairs":
        padding = tuple((draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))) for n in size)
    cls = nn.Conv1d if nd == 1 else nn.Conv2d
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    layer = cls(c_in, c_out, kernel, stride, padding, dilation, groups,
                bias=draw(st.booleans()), padding_mode=mode, rng=rng, dtype=np.float64)
    return layer, (c_in, *size)


@st.composite
def local_layers(draw):
    nd = draw(st.sampled_from([1, 2]))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    size = tuple(draw(st.integers(d * (k - 1) + 1, 6)) for k, d in zip(kernel, dilation))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    padding = draw(st.sampled_from(["same", 0, 1]))
    padding = min(padding, min(size) - 1) if isinstance(padding, int) else padding
    cls = nn.LocallyConnected1d if nd == 1 else nn.LocallyConnected2d
    c_in = draw(st.integers(1, 2))
    layer = cls(c_in, draw(st.integers(1, 3)), size, kernel, stride, padding, dilation,
                bias=draw(st.booleans()), bias_mode=draw(st.sampled_from(["position", "channel"])),
                padding_mode=draw(st.sampled_from(MODES)),
                rng=np.random.default_rng(draw(st.integers(0, 2**16))), dtype=np.float64)
    return layer, (c_in, *size)


def check_dense(layer, shape, seed):
    """layer(x).flatten() == W @ x.flatten() + b, and the counts agree with W's structure."""
    x = np.random.default_rng(seed).standard_normal((3, *shape))
    w, b = dense_equivalent(layer, shape)
    with gn.no_grad():
        y = layer(gn.tensor(x)).data.reshape(3, -1)
    np.testing.assert_allclose(x.reshape(3, -1) @ w.T + b, y, rtol=1e-10, atol=1e-12)
    counts = connection_counts(layer, shape)
    assert counts["connections"] == np.count_nonzero(w)
    assert counts["mlp_weights"] == w.size
    assert counts["parameters"] == layer.weight.size
    assert counts["biases"] == (0 if layer.bias is None else layer.bias.size)


@settings(max_examples=60, deadline=None)
@given(conv_layers(), st.integers(0, 100))
def test_dense_equivalent_of_conv(case, seed):
    check_dense(*case, seed)


@settings(max_examples=30, deadline=None)
@given(local_layers(), st.integers(0, 100))
def test_dense_equivalent_of_locally_connected(case, seed):
    check_dense(*case, seed)


def test_dense_equivalent_of_linear():
    layer = nn.Linear(5, 3, rng=np.random.default_rng(0), dtype=np.float64)
    w, b = dense_equivalent(layer, (5,))
    np.testing.assert_array_equal(w, layer.weight.data)
    np.testing.assert_array_equal(b, layer.bias.data)
    with pytest.raises(gn.ArgumentError, match=r"Linear expects input_shape \(5,\)"):
        dense_equivalent(layer, (4,))
    with pytest.raises(gn.ArgumentTypeError, match="must be Linear, Conv1d"):
        dense_equivalent(nn.ReLU(), (4,))


def test_dense_equivalent_names_a_kernel_that_does_not_fit():
    """The same geometry checks (and messages) as F.conv2d itself."""
    with pytest.raises(gn.ArgumentError, match=r"kernel size 5 \(dilation 1, spans 5\) is larger "
                       r"than the padded input size 3 in spatial dim 0 \(input shape \(1, 3, 3\)"):
        dense_equivalent(nn.Conv2d(1, 1, 5), (1, 3, 3))
    with pytest.raises(gn.ArgumentError, match=r"reflect padding \(3, 3\) must be smaller"):
        dense_equivalent(nn.Conv1d(1, 1, 3, padding=3, padding_mode="reflect"), (1, 3))


def test_dense_equivalent_of_functional_maps():
    """The maps also describe plain functional calls (no layer objects)."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 5, 5)), rng.standard_normal((4, 1, 3, 3))
    m = conv_map(w, None, x.shape, stride=2, padding="same", groups=2)
    dense, _ = dense_equivalent(m)
    y = gn.functional.conv2d(gn.tensor(x[None]), gn.tensor(w), stride=2, padding="same",
                             groups=2).data
    np.testing.assert_allclose(dense @ x.ravel(), y.ravel(), atol=1e-12)


# ---- counts ----------------------------------------------------------------------------------
def test_counts_4x4_kernel_2x2_stride_2():
    conv = nn.Conv2d(1, 1, 2, stride=2, bias=False, rng=np.random.default_rng(0))
    local = nn.LocallyConnected2d(1, 1, (4, 4), 2, stride=2, bias=False,
                                  rng=np.random.default_rng(0))
    c, lc = connection_counts(conv, (1, 4, 4)), connection_counts(local, (1, 4, 4))
    assert (c["mlp_weights"], c["connections"], c["parameters"]) == (64, 16, 4)
    assert (lc["mlp_weights"], lc["connections"], lc["parameters"]) == (64, 16, 16)
    assert c["biases"] == lc["biases"] == 0 and c["mlp_biases"] == 4


def taps_inside(n: int, k: int, pad: int) -> int:
    """Sum over the n 'same' (stride 1) positions of the kernel taps that land in the input:
    k per position, less the taps in the padding at both ends (1 + 2 + ... + pad each)."""
    return n * k - 2 * (pad * (pad + 1) // 2)


def test_counts_32x32x3_12_filters_5x5_same():
    """32x32x3 input, 12 kernels of 5x5x3, padding 'same': closed forms."""
    conv = nn.Conv2d(3, 12, 5, padding="same", rng=np.random.default_rng(0))
    local = nn.LocallyConnected2d(3, 12, (32, 32), 5, padding="same",
                                  rng=np.random.default_rng(0))
    c, lc = connection_counts(conv, (3, 32, 32)), connection_counts(local, (3, 32, 32))
    n_in, n_out = 3 * 32 * 32, 12 * 32 * 32
    connections = 12 * 3 * taps_inside(32, 5, 2) ** 2  # each window: 3 channels x taps inside
    assert c == {"inputs": n_in, "outputs": n_out, "mlp_weights": n_in * n_out,
                 "connections": connections, "parameters": 12 * 5 * 5 * 3,
                 "unused_weights": 0, "mlp_biases": n_out, "biases": 12}
    assert (c["mlp_weights"], c["connections"], c["parameters"]) == (37_748_736, 853_776, 900)
    assert lc["connections"] == connections
    assert lc["parameters"] == 32 * 32 * 12 * 3 * 5 * 5 == 921_600
    # Border kernels of the locally connected layer partly see only zero padding.
    assert lc["unused_weights"] == lc["parameters"] - connections
    assert lc["biases"] == n_out


def test_counts_multichannel_against_dense_matrix():
    layer = nn.Conv2d(3, 4, 3, stride=2, padding=1, groups=1, rng=np.random.default_rng(1),
                      dtype=np.float64)
    counts = connection_counts(layer, (3, 9, 9))
    w, _ = dense_equivalent(layer, (3, 9, 9))
    # 5 windows per dim; the first and the last have one tap in the padding: 13 taps inside.
    assert counts["connections"] == np.count_nonzero(w) == 4 * 3 * (5 * 3 - 2) ** 2


# ---- receptive fields ------------------------------------------------------------------------
def lenet(padding: int = 0):
    rng = np.random.default_rng(0)
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=padding, rng=rng), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5, rng=rng), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(16, 120, 5, rng=rng), nn.Tanh(), nn.Flatten(),
        nn.Linear(120, 84, rng=rng), nn.Tanh(), nn.Linear(84, 10, rng=rng))


def test_receptive_field_lenet5_table():
    # Hand-computed for LeNet-5 on 32x32: r' = r + (k-1) j, j' = j s.
    #   C1 5x5 s1: r 5, j 1; S2 2x2 s2: r 6, j 2; C3 5x5: r 14, j 2; S4: r 16, j 4;
    #   C5 5x5: r 32, j 4 (one unit that sees the whole 32x32 input).
    rf = receptive_field(lenet(), (1, 32, 32))
    table = [(f.name, f.output_shape, f.size[0], f.jump[0], f.start[0]) for f in rf.layers[:7]]
    assert table == [("0", (28, 28), 5, 1, 0), ("1", (28, 28), 5, 1, 0),
                     ("2", (14, 14), 6, 2, 0), ("3", (10, 10), 14, 2, 0),
                     ("4", (10, 10), 14, 2, 0), ("5", (5, 5), 16, 4, 0),
                     ("6", (1, 1), 32, 4, 0)]
    assert all(f.size == (32, 32) and f.jump == (0, 0) for f in rf.layers[8:])
    assert rf.output == ("7", (0, 0)) and rf.mask.all()
    # S4 unit (2, 1) sees rows 2*4 .. 2*4 + 15 and columns 1*4 .. 1*4 + 15.
    rf = receptive_field(lenet(), (1, 32, 32), output_index=(2, 1), layer="5")
    expected = np.zeros((32, 32), bool)
    expected[8:24, 4:20] = True
    np.testing.assert_array_equal(rf.mask, expected)
    assert "sees 256 of 1024 input positions" in str(rf)


def test_receptive_field_padding_and_dilation_holes():
    rf = receptive_field(lenet(padding=2), (1, 28, 28), output_index=(0, 0), layer="5")
    assert rf.layers[5].start == (-2, -2) and rf.layers[5].size == (16, 16)
    assert rf.mask.sum() == 14 * 14  # rows and columns -2..13 clipped to 0..13
    dilated = nn.Sequential(nn.Conv1d(1, 1, 3, dilation=2, rng=np.random.default_rng(0)))
    rf = receptive_field(dilated, (1, 9), output_index=1)
    assert rf.layers[0].size == (5,) and rf.inputs == [(1,), (3,), (5,)]


def test_receptive_field_follows_residual_branches():
    block = nn.ResidualBlock(2, 4, stride=2, rng=np.random.default_rng(0))
    rf = receptive_field(nn.Sequential(block), (2, 12, 12), output_index=(2, 2))
    final = rf.layers[-1]
    assert final.size == (7, 7) and final.jump == (2, 2)  # two 3x3 convs, the first stride 2
    expected = np.zeros((12, 12), bool)
    expected[1:8, 1:8] = True  # unit 2: 2*2 - 3 .. 2*2 + 3; the 1x1 shortcut adds nothing
    np.testing.assert_array_equal(rf.mask, expected)


# ---- the command line ------------------------------------------------------------------------
def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_explain_conv_prints_matrix_table_and_counts(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "explain", "conv", "--input", "4x4", "--kernel", "2x2",
                           "--stride", "2", "--png", str(tmp_path / "m.png"))
    assert code == 0
    lines = out.splitlines()
    assert "y1  w1  w2   0   0  w3  w4   0   0   0   0   0   0   0   0   0   0" in lines
    assert "y4   0   0   0   0   0   0   0   0   0   0  w1  w2   0   0  w3  w4" in lines
    for row in ("y1 <- x1, x2, x5, x6", "y2 <- x3, x4, x7, x8", "y3 <- x9, x10, x13, x14",
                "y4 <- x11, x12, x15, x16"):
        assert row in lines
    counts = {line.split()[0]: line.split()[-3:] for line in lines
              if line.startswith(("weights", "connections"))}
    assert counts == {"weights": ["64", "16", "4"], "connections": ["64", "16", "16"]}
    with Image.open(tmp_path / "m.png") as img:
        img.verify()
        assert img.format == "PNG"
    code, out, _ = run_cli(capsys, "explain", "conv", "--input", "4x4", "--kernel", "2x2",
                           "--stride", "2", "--local")
    assert "y4   0   0   0   0   0   0   0   0   0   0 w13 w14   0   0 w15 w16" in out


def test_explain_conv_multichannel_counts(capsys):
    code, out, _ = run_cli(capsys, "explain", "conv", "--input", "32x32", "--channels", "3",
                           "--kernel", "5x5", "--filters", "12", "--padding", "same", "--bias")
    assert code == 0 and "too large to print" in out
    assert "weights (parameters)   37,748,736            921,600      900" in out
    assert "connections            37,748,736            853,776  853,776" in out


def test_explain_conv_errors_are_one_line(capsys):
    code, _, err = run_cli(capsys, "explain", "conv", "--input", "4by4", "--kernel", "2")
    assert code == 2 and err.strip() == (
        "gridnn: error: `--input` must be one or two sizes like 4x4 or 8, received '4by4' "
        "(see 'gridnn explain conv --help')")
    code, _, err = run_cli(capsys, "explain", "conv", "--input", "4x4", "--kernel", "2x2x2")
    assert code == 2 and "`--kernel` must be an int or 2 ints like 2x2 for a 2-D input" in err


def test_show_conv_steps_frames_and_gif(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "show", "conv-steps", "--input", "4x4", "--kernel", "2x2",
                           "--stride", "1", "--out", str(tmp_path / "a"))
    assert code == 0
    frames = sorted((tmp_path / "a").glob("step_*.png"))
    assert len(frames) == 9  # 3x3 output positions
    with Image.open(tmp_path / "a" / "conv_steps.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == 9
    code, _, _ = run_cli(capsys, "show", "conv-steps", "--input", "3x3", "--kernel", "2x2",
                         "--channels", "2", "--stride", "2", "--padding", "1",
                         "--out", str(tmp_path / "b"))
    assert code == 0 and len(list((tmp_path / "b").glob("step_*.png"))) == 4
    with Image.open(tmp_path / "b" / "step_01.png") as img:
        img.verify()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A digits CNN trained for one epoch (a few seconds)."""
    out = tmp_path_factory.mktemp("run") / "digits"
    assert main(["train", "--epochs", "1", "--no-progress", "--out", str(out)]) == 0
    return out


def assert_png(path):
    with Image.open(path) as img:
        img.verify()
        assert img.format == "PNG"
    assert path.stat().st_size > 1000


def test_show_run_pictures(capsys, tmp_path, tiny_run):
    out = tmp_path / "plots"
    assert run_cli(capsys, "show", "filters", str(tiny_run), "--out", str(out))[0] == 0
    assert sorted(p.name for p in out.glob("filters_*.png")) == ["filters_0.png", "filters_3.png"]
    assert run_cli(capsys, "show", "feature-maps", str(tiny_run), "--index", "5",
                   "--out", str(out))[0] == 0
    image = tmp_path / "digit.png"
    Image.fromarray((np.eye(8) * 255).astype(np.uint8)).save(image)
    assert run_cli(capsys, "show", "feature-maps", str(tiny_run), "--image", str(image),
                   "--out", str(out))[0] == 0
    code, text, _ = run_cli(capsys, "show", "confusion", str(tiny_run), "--out", str(out))
    assert code == 0 and "test accuracy" in text
    for name in ("filters_0.png", "filters_3.png", "feature_maps_test5.png",
                 "feature_maps_digit.png", "confusion.png", "misclassified.png"):
        assert_png(out / name)
    code, _, err = run_cli(capsys, "show", "feature-maps", str(tiny_run), "--index", "100000")
    assert code == 2 and "`--index` must be in [0, 359]" in err


def test_show_filters_needs_only_the_weights(capsys, tmp_path, tiny_run, monkeypatch):
    import gridnn.recipes

    def no_dataset(*args, **kwargs):
        raise AssertionError("show filters loaded the dataset")

    monkeypatch.setattr(gridnn.recipes, "load_bundle", no_dataset)
    code, out, _ = run_cli(capsys, "show", "filters", str(tiny_run), "--out", str(tmp_path))
    assert code == 0 and out.count("wrote") == 2
    with Image.open(tmp_path / "filters_3.png") as img:
        assert 0.6 <= img.width / img.height <= 1.8


def test_run_confusion_matches_predictions(tiny_run):
    from gridnn.explain import runs

    run = runs.load(tiny_run)
    cm = run.confusion()
    assert cm.sum() == len(run.y_test) == 360
    assert math.isclose(np.trace(cm) / cm.sum(), run.metrics["test_accuracy"], abs_tol=1e-6)


def test_explain_receptive_command(capsys):
    code, out, _ = run_cli(capsys, "explain", "receptive", "lenet5", "--layer", "5",
                           "--index", "2x2")
    assert code == 0
    assert "5 (MaxPool2d)  5x5     16x16   4x4  -2,-2" in out
    assert "5[2, 2] sees 256 of 784 input positions (span 6..21, 6..21)" in out
