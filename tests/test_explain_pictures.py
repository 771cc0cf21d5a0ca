"""The explain and show pictures: sized before they allocate, drawn from the nonzeros, and
readable (sizes, aspect ratios, captions, colour scales centred on zero, no blank areas)."""

from __future__ import annotations

import io
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from gridnn import limits, nn
from gridnn.cli import main
from gridnn.errors import ArgumentError
from gridnn.explain import draw, trained
from gridnn.explain.cli import BYTES_PER_TRIPLE
from gridnn.explain.counts import progression
from gridnn.explain.dense import (
    connections,
    connections_work,
    geometry_maps,
    layer_map,
    window_inputs,
)

SRC = Path(__file__).resolve().parents[1] / "src"


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def png_size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as img:
        return img.size


def blank_share(png: bytes) -> tuple[float, float]:
    """Share of the height below, and of the width right of, the last non-white pixel."""
    with Image.open(io.BytesIO(png)) as img:
        a = np.asarray(img.convert("L")) < 250
    rows, cols = np.flatnonzero(a.any(axis=1)), np.flatnonzero(a.any(axis=0))
    return 1 - (rows[-1] + 1) / a.shape[0], 1 - (cols[-1] + 1) / a.shape[1]


# ---- limits ----------------------------------------------------------------------------------
def test_check_request_names_the_size_and_the_limit():
    limit = limits.request_limit()
    assert 0 < limit <= limits.MAX_REQUEST
    limits.check_request(limit, "a picture")  # at the limit: allowed
    with pytest.raises(ArgumentError) as e:
        limits.check_request(12 << 30 if limit < 12 << 30 else 2 * limit, "a picture", "smaller")
    msg = str(e.value)
    assert msg.startswith("a picture would need about ") and "\n" not in msg
    assert limits.format_bytes(limit) in msg and msg.endswith("; smaller")
    assert [limits.format_bytes(n) for n in (5, 1536, 3 << 20, 12 << 30)] == [
        "5 bytes", "1.5 KiB", "3.0 MiB", "12.0 GiB"]


def test_bounded_turns_an_oversized_allocation_into_one_line():
    with pytest.raises(ArgumentError, match=r"^the test needs an array of 64\.0 GiB, more than "
                                            r"the .* limit$"):
        with limits.bounded("the test"):
            np.ones(8 << 30)
    with limits.bounded("a small request"):  # within the limit nothing changes
        assert np.ones(1000).sum() == 1000


def test_summary_of_a_huge_input_is_one_line(capsys):
    code, _, err = run_cli(capsys, "summary", "digits_cnn", "--input-shape", "1,8192,8192")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "the summary of digits_cnn on input 1x8192x8192 needs an array of" in err
    assert "limit; use a smaller --input-shape" in err


# ---- sized before allocating ---------------------------------------------------------------
def test_geometry_maps_cost_no_memory_at_any_size():
    conv, local = geometry_maps((3, 20000, 20000), (3, 3), filters=64, padding=1)
    assert conv.weight.strides == (0,) * 4 and local.weight.strides == (0,) * 6
    counts = progression((3, 20000, 20000), (3, 3), filters=64, padding=1)
    assert counts["local"]["parameters"] == 20000 ** 2 * 64 * 27
    assert counts["conv"]["parameters"] == 64 * 27
    per_dim = 20000 * 3 - 2  # taps per row that read the input: the two edge windows lose one
    assert counts["conv"]["connections"] == 64 * 3 * per_dim ** 2


@pytest.mark.parametrize("shape,kernel,filters,stride,padding", [
    ((3, 40, 40), (3, 3), 8, 1, 1), ((2, 30), (5,), 4, 2, 0), ((4, 50, 20), (2, 5), 3, 1, 2)])
def test_connections_memory_within_the_estimate(shape, kernel, filters, stride, padding):
    conv, _ = geometry_maps(shape, kernel, filters=filters, stride=stride, padding=padding)
    for block in (None, 100):
        tracemalloc.start()
        connections(conv, block, block)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak <= BYTES_PER_TRIPLE * connections_work(conv, block, block)


@st.composite
def conv_cases(draw_):
    nd = draw_(st.integers(1, 2))
    c, groups = draw_(st.sampled_from([(1, 1), (2, 1), (4, 2)]))
    size = tuple(draw_(st.integers(3, 7)) for _ in range(nd))
    kernel = tuple(draw_(st.integers(1, 3)) for _ in range(nd))
    layer = (nn.Conv1d if nd == 1 else nn.Conv2d)(
        c, 2 * groups, kernel, stride=draw_(st.integers(1, 2)), padding=draw_(st.integers(0, 1)),
        dilation=draw_(st.integers(1, 2)), groups=groups, rng=np.random.default_rng(0))
    return layer, (c, *size)


@settings(max_examples=40, deadline=None)
@given(conv_cases(), st.integers(1, 60), st.integers(1, 60))
def test_block_connections_are_the_block_of_all_connections(case, max_row, max_col):
    layer, shape = case
    try:
        m = layer_map(layer, shape)
    except ArgumentError:  # kernel larger than the padded input
        return
    rows, cols, params = connections(m)
    keep = (rows < max_row) & (cols < max_col)
    got = sorted(zip(*(a.tolist() for a in connections(m, max_row, max_col))))
    assert got == sorted(zip(rows[keep].tolist(), cols[keep].tolist(), params[keep].tolist()))
    for r in range(min(m.n_out, 5)):
        assert window_inputs(m, r).tolist() == np.unique(cols[rows == r]).tolist()


def test_explain_conv_64x64_under_a_memory_cap(tmp_path):
    """The request that grew to 24 GB: under a 3 GiB address-space cap it draws the summarised
    picture, or refuses in one line; never a MemoryError."""
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30)); "
            "from gridnn.cli import main; sys.exit(main(sys.argv[1:]))")
    png = tmp_path / "big.png"
    proc = subprocess.run(
        [sys.executable, "-c", code, "explain", "conv", "--input", "64x64", "--kernel", "3",
         "--channels", "3", "--filters", "8", "--png", str(png)],
        capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(SRC),
                                                          "MPLBACKEND": "Agg"})
    assert "MemoryError" not in proc.stderr
    if proc.returncode == 2:
        assert len(proc.stderr.strip().splitlines()) == 1 and "limit" in proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr
        assert "dense matrix W is 30752 x 12288: too large to print" in proc.stdout
        with Image.open(png) as img:
            assert img.format == "PNG"


def test_a_huge_request_is_refused_before_allocating(capsys, tmp_path):
    code, _, err = run_cli(capsys, "explain", "conv", "--input", "20000x20000", "--kernel",
                           "10000x10000", "--channels", "64")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "would need about" in err and "limit; use a smaller --input" in err
    code, _, err = run_cli(capsys, "explain", "conv", "--input", "100000x100000", "--kernel",
                           "50000x50000", "--channels", "512", "--filters", "8")
    assert code == 2 and "weights, too many to describe" in err
    # large but describable: the text lists a few inputs per output, the picture is a block
    code, out, _ = run_cli(capsys, "explain", "conv", "--input", "3000x3000", "--kernel", "3",
                           "--channels", "64", "--png", str(tmp_path / "b.png"))
    assert code == 0 and out.splitlines()[6].endswith("x27006003, ... (576 inputs)")


# ---- explain conv pictures -----------------------------------------------------------------
def test_large_matrix_is_a_labelled_block_drawn_as_one_image():
    conv, _ = geometry_maps((3, 64, 64), (3, 3), filters=8)
    fig = draw.conv_matrix_figure(conv, "t")
    ax_m, ax_g = fig.axes[:2]
    assert len(ax_m.images) == 1 and ax_m.images[0].get_array().shape[:2] == (
        draw.MATRIX_BLOCK, draw.MATRIX_BLOCK)
    assert "30,752 x 12,288: its top-left block, outputs 1..1,024 x inputs 1..1,024" in \
        ax_m.get_title()
    assert not ax_m.texts  # no per-cell labels
    assert "windows of 3 of the 3,844 output positions" in ax_g.get_title()
    assert min(t.get_fontsize() for t in ax_m.get_xticklabels()) >= 8


def test_28x28_windows_are_summarised_and_ticks_readable(capsys, tmp_path):
    conv, _ = geometry_maps((1, 28, 28), (3, 3))
    fig = draw.conv_matrix_figure(conv)
    ax_m, ax_g = fig.axes[:2]
    assert "3 of the 676 output positions" in ax_g.get_title()
    assert len(ax_g.texts) == 3  # one label per drawn window, none per input cell
    assert len(ax_m.get_xticks()) <= 25 and len(ax_m.get_yticks()) <= 25
    assert all(t.get_fontsize() >= 8 for t in ax_m.get_yticklabels())
    assert png_size(draw.png_bytes(fig)) == (1300, 600)


def test_1d_picture_titles_padding_and_staircase():
    conv, _ = geometry_maps((1, 8), (3,), padding=1)
    fig = draw.conv_matrix_figure(conv, "convolution: input 1x8\nkernel 3, stride 1, padding 1, "
                                        "dilation 1")
    ax_m, ax_g = fig.axes[:2]
    assert "padding 1" in fig._suptitle.get_text()
    labels = [t.get_text() for t in ax_g.texts]
    assert labels.count("y1") == 1 and labels.count("x1") == 8  # one row per output
    assert ax_m.texts[0].get_text() in {"w1", "w2", "w3"}
    assert "every output position" in ax_g.get_title()
    w, h = png_size(draw.png_bytes(fig))
    assert 1.5 <= w / h <= 2.5


def test_explain_picture_titles_name_dilation_and_channels(capsys, tmp_path):
    png = tmp_path / "d.png"
    code, out, _ = run_cli(capsys, "explain", "conv", "--input", "5x5", "--kernel", "3",
                           "--dilation", "2", "--channels", "3", "--png", str(png))
    assert code == 0 and "dilation 2x2" in out.splitlines()[0]
    conv, _ = geometry_maps((3, 5, 5), (3, 3), dilation=2)
    fig = draw.conv_matrix_figure(conv, out.splitlines()[0].replace(" (channels x size); ",
                                                                    "\n"))
    assert "dilation 2x2" in fig._suptitle.get_text()
    ax_m, ax_g = fig.axes[:2]
    labels = [t.get_text() for t in ax_g.texts]
    assert {"channel 1", "channel 2", "channel 3"} <= set(labels) and "x75" in labels
    assert not ax_m.texts  # 75 columns: labels would run together, the colours say it


def test_padding_that_only_multiplies_zeros_is_refused(capsys):
    code, out, err = run_cli(capsys, "explain", "conv", "--input", "4x4", "--kernel", "3",
                             "--padding", "9")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "reading only zero padding" in err and "at most 2 per side" in err
    assert run_cli(capsys, "explain", "conv", "--input", "4x4", "--kernel", "3",
                   "--padding", "2")[0] == 0


# ---- conv-steps ------------------------------------------------------------------------------
def frames(x, w, stride=(1, 1), pads=((0, 0), (0, 0)), one_d=False):
    from gridnn import functional as F
    from gridnn.tensor import Tensor

    y = F.conv2d(Tensor(x[None]), Tensor(w[None]), stride=stride, padding=pads).data[0, 0]
    return y, draw.conv_step_frames(x, w, y, stride=stride, pads=pads, dilation=(1, 1),
                                    one_d=one_d)


def test_conv_steps_diverging_scale_no_minus_zero_blank_pending():
    x = np.array([[[0.0, 1, 2], [3, 4, 5], [6, 7, 8]]])
    w = np.array([[[-1.0, 0], [0, 5]]])
    y, figs = frames(x, w)
    fig = figs[0]
    kernel_ax = next(ax for ax in fig.axes if ax.get_title() == "kernel")
    norm = kernel_ax.images[0].norm
    assert norm.vmin == -norm.vmax and norm.vmax > 0  # centred on zero: -1, +1 opposite
    products = next(ax for ax in fig.axes if ax.get_title().startswith("products"))
    assert "-0" not in [t.get_text() for t in products.texts]  # 0 * -1 shows as 0
    assert "0" in [t.get_text() for t in products.texts]
    out_ax = fig.axes[-1]
    assert [t.get_text() for t in out_ax.texts] == [f"{y.flat[0]:g}", "", "", ""]
    assert "output 1 of 4 (row 1, column 1)" in fig._suptitle.get_text()
    below, right = blank_share(draw.png_bytes(figs[-1]))
    assert below < 0.12 and right < 0.12


def test_conv_steps_1d_says_output_n_of_m():
    x = np.arange(8.0)[None, None]
    _, figs = frames(x, np.array([[[1.0, -1, 2]]]), one_d=True)
    assert len(figs) == 6
    assert figs[2]._suptitle.get_text().startswith("output 3 of 6: the sum of the products of "
                                                   "its 3-tap window")
    below, right = blank_share(draw.png_bytes(figs[2]))
    assert below < 0.25 and right < 0.12


def test_conv_steps_rerun_removes_only_its_own_old_frames(capsys, tmp_path):
    out = tmp_path / "steps"
    assert run_cli(capsys, "show", "conv-steps", "--input", "4x4", "--kernel", "2",
                   "--out", str(out))[0] == 0
    assert len(list(out.glob("step_*.png"))) == 9
    (out / "step_notes.txt").write_text("mine")
    (out / "step_x.png").write_bytes(b"mine")
    code, text, _ = run_cli(capsys, "show", "conv-steps", "--input", "2x2", "--kernel", "2",
                            "--out", str(out))
    assert code == 0 and text.startswith("wrote 1 frame step_01.png and conv_steps.gif")
    assert sorted(p.name for p in out.iterdir()) == [
        "conv_steps.gif", "step_01.png", "step_notes.txt", "step_x.png"]


def test_conv_steps_refuses_what_it_cannot_draw(capsys):
    code, _, err = run_cli(capsys, "show", "conv-steps", "--input", "100000x3", "--kernel",
                           "99990x3", "--out", "unused")
    assert code == 2 and "too large (at most 24 per side)" in err
    code, _, err = run_cli(capsys, "show", "conv-steps", "--input", "4x4", "--kernel", "2",
                           "--channels", "1000000", "--out", "unused")
    assert code == 2 and "`--channels` must be 1..4" in err


# ---- pictures of a trained network ---------------------------------------------------------
@pytest.mark.parametrize("shape,caption", [
    ((32, 1, 3, 3), "all 32 filters; red +, blue -, white 0"),
    ((64, 32, 3, 3), "all 64 filters, channels 1..8 of 32 (side by side)"),
    ((100, 4, 5), "first 64 of 100 filters, all 4 channels (one row per channel)"),
    ((32, 1, 5), "all 32 filters"),
])
def test_filters_grid_caption_scale_and_aspect(shape, caption):
    w = np.random.default_rng(0).normal(size=shape)
    fig = trained.filters_figure("3", w)
    ax = fig.axes[0]
    assert len(ax.images) == 1  # one mosaic, not a subplot per kernel
    assert ax.get_title().startswith(caption)
    norm = ax.images[0].norm
    assert norm.vmin == -norm.vmax == -np.abs(w[:64]).max()
    assert fig._suptitle.get_text() == f"layer 3: {shape[0]} filters of " + "x".join(
        map(str, shape[1:]))
    width, height = png_size(draw.png_bytes(fig))
    assert 0.6 <= width / height <= 1.8 and max(width, height) <= 1000
    # the title fits: rendered inside the figure
    bbox = fig._suptitle.get_window_extent()
    assert bbox.x0 >= 0 and bbox.x1 <= width


def test_rgb_filters_are_colour_images_with_grey_zero():
    w = np.zeros((4, 3, 5, 5))
    w[0, 0, 0, 0] = 1.0
    fig = trained.filters_figure("0", w)
    image = fig.axes[0].images[0].get_array()
    assert image.shape[-1] == 3 and np.isclose(image[0, 0, 0], 1.0)
    assert np.isclose(image[1, 1, 1], 0.5)  # a zero weight is mid grey
    assert "each as a colour image (grey = 0)" in fig.axes[0].get_title()


def test_feature_map_rows_say_how_many_they_show():
    maps = [("0", np.zeros((32, 6, 6))), ("3", np.zeros((4, 3, 3)))]
    fig = trained.feature_maps_figure(np.zeros((1, 8, 8)), maps)
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert "layer 0: maps 1..8 of 32" in titles and "layer 3: 4 maps" in titles


def test_confusion_colour_bar_sits_beside_the_matrix():
    fig = trained.confusion_figure(np.eye(10, dtype=int) * 36, [str(i) for i in range(10)])
    draw.png_bytes(fig)
    ax = fig.axes[0]
    matrix, bar = ax.get_window_extent(), ax.child_axes[0].get_window_extent()
    assert 0 <= bar.x0 - matrix.x1 <= 0.05 * fig.bbox.width
