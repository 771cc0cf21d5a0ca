"""Pictures of what a network computes and sees, drawn with matplotlib's Agg backend.

Each ``*_figure`` function returns a ``matplotlib.figure.Figure`` (no pyplot, no display);
``png_bytes`` renders one and ``save_png`` writes it atomically. matplotlib is imported when
the first figure is drawn, so ``gridnn.explain`` needs only NumPy.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..fileio import atomic_write
from .dense import LinearMap, connections

Figure = Any


def new_figure(width: float, height: float) -> Figure:
    # A bare Figure draws with Agg when saved and needs no backend: never switch the user's
    # (that would turn off Jupyter's inline display of every figure).
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (fixed size: frames of one animation line up)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def save_png(fig: Figure, path: str | os.PathLike) -> None:
    """Write ``fig`` as a PNG file, atomically."""
    atomic_write(path, png_bytes(fig))


def _palette(n: int) -> list[Any]:
    """n distinct colours (tab20, then cycling through hues)."""
    from matplotlib import colormaps

    cmap = colormaps["tab20"] if n <= 20 else colormaps["hsv"]
    return [cmap(i / (20 if n <= 20 else n)) for i in range(n)]


# ---- a layer as a dense matrix, and its windows --------------------------------------------
MATRIX_BLOCK = 1024  # most rows or columns of the dense matrix drawn; beyond, its top-left block
LABEL_CELLS = 24  # up to this many rows and columns every entry is labelled with its weight
WINDOW_GRID = 12  # a windows panel up to this size per side labels its cells and every window
SHOWN_CHANNELS = 3  # input channels drawn side by side in the windows panel


def _weight_colors(params: np.ndarray, n_weights: int) -> np.ndarray:
    """(N, 4) uint8 colours of weight indices: tab20 for up to 20 weights, else a hue circle."""
    from matplotlib import colormaps

    if n_weights <= 20:
        return colormaps["tab20"](params / 20, bytes=True)
    return colormaps["hsv"](params / n_weights, bytes=True)


def _ticks(ax: Any, axis: str, n: int, prefix: str) -> None:
    """Tick labels x1.. or y1.. on at most ~24 evenly spaced cells, readable size."""
    step = max(1, math.ceil(n / 24))
    where = list(range(0, n, step))
    labels = [f"{prefix}{i + 1}" for i in where]
    if axis == "x":
        ax.set_xticks(where, labels, fontsize=8, rotation=90)
    else:
        ax.set_yticks(where, labels, fontsize=8)


def conv_matrix_figure(m: LinearMap, title: str = "") -> Figure:
    """Left: the dense matrix (outputs x inputs), each connected entry coloured by the weight it
    holds (shared weights share a colour), blank where not connected; a matrix larger than
    ``MATRIX_BLOCK`` per side shows its top-left block, labelled so. Right: the input grid (and
    its zero padding) with the windows of the output positions (all of them on a small grid;
    the first, middle and last on a large one). Drawn from the nonzeros as one image, so the
    cost grows with the block shown, not with the whole matrix."""
    n_rows, n_cols = min(m.n_out, MATRIX_BLOCK), min(m.n_in, MATRIX_BLOCK)
    rows, cols, params = connections(m, n_rows, n_cols)
    image = np.full((n_rows, n_cols, 4), 255, dtype=np.uint8)
    image[rows, cols] = _weight_colors(params, int(m.weight.size))
    fig = new_figure(13, 6)
    ax_m, ax_g = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.3, 1]})
    ax_m.imshow(image, interpolation="nearest",
                aspect="equal" if 0.5 <= n_rows / n_cols <= 2 else "auto")
    if n_rows <= LABEL_CELLS and n_cols <= LABEL_CELLS:
        for r, c, p in zip(rows, cols, params):
            ax_m.text(c, r, f"w{p + 1}", ha="center", va="center", fontsize=7)
    _ticks(ax_m, "x", n_cols, "x")
    _ticks(ax_m, "y", n_rows, "y")
    ax_m.set_xlabel("input (flattened, row by row" + (", channel after channel)"
                                                      if m.in_shape[0] > 1 else ")"), fontsize=9)
    ax_m.set_ylabel("output", fontsize=9)
    what = f"dense matrix {m.n_out:,} x {m.n_in:,}"
    if (n_rows, n_cols) != (m.n_out, m.n_in):
        what += f": its top-left block, outputs 1..{n_rows:,} x inputs 1..{n_cols:,}"
    else:
        what += f": {len(rows):,} connections, {int(m.weight.size):,} distinct weights"
    ax_m.set_title(what, fontsize=9)
    if m.kind == "linear":
        ax_g.axis("off")
    else:
        _draw_windows(ax_g, m)
    fig.suptitle(title or f"{m.kind}: input {m.in_shape} -> output {m.out_shape}", fontsize=10)
    fig.set_layout_engine("constrained")
    return fig


def _window_positions(m: LinearMap) -> list[tuple[int, ...]]:
    """Output positions whose windows are drawn: all on a small layer, else first/middle/last."""
    out = m.out_shape[1:]
    n = math.prod(out)
    big = max(m.in_shape[1:]) > WINDOW_GRID or n > 16
    if not big:
        return [tuple(int(i) for i in np.unravel_index(p, out)) for p in range(n)]
    picks = {tuple(0 for _ in out), tuple(o // 2 for o in out), tuple(o - 1 for o in out)}
    return sorted(picks)


def _draw_windows(ax: Any, m: LinearMap) -> None:
    """The input grid(s) with padding shaded and the windows of some output positions; a 1-D
    input as a staircase (one row per output) so its windows do not overlap."""
    from matplotlib.patches import Rectangle

    one_d = len(m.kernel) == 1
    pads = ((0, 0), *m.pads) if one_d else m.pads
    size = (1, *m.in_shape[1:]) if one_d else m.in_shape[1:]
    kernel, stride, dil = ((1, *t) for t in (m.kernel, m.stride, m.dilation)) if one_d else (
        m.kernel, m.stride, m.dilation)
    (pt, pb), (pl, pr) = pads
    h, w = size
    chans = min(m.in_shape[0], SHOWN_CHANNELS)
    positions = _window_positions(m)
    colors = _palette(len(positions))
    small = h <= WINDOW_GRID and w <= WINDOW_GRID
    rows_1d = len(positions) if one_d else 1  # the staircase repeats the 1-D input per output
    gap = pl + pr + 1  # columns between the channels' grids
    for ch in range(chans):
        x0 = ch * (w + gap)
        for r in range(rows_1d):
            y0 = 2 * r if one_d else 0
            ax.add_patch(Rectangle((x0 - pl - 0.5, y0 - pt - 0.5), w + pl + pr, h + pt + pb,
                                   color="0.92", lw=0))  # the zero padding
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), w, h, color="white", lw=0))
            if small:
                for i, j in np.ndindex(h, w):
                    ax.add_patch(Rectangle((x0 + j - 0.5, y0 + i - 0.5), 1, 1, fill=False,
                                           lw=0.5, color="0.7"))
                    ax.text(x0 + j, y0 + i, f"x{ch * h * w + i * w + j + 1}", ha="center",
                            va="center", fontsize=7, color="0.45")
            else:
                ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), w, h, fill=False, lw=0.8,
                                       color="0.5"))
        if chans > 1:
            ax.annotate(f"channel {ch + 1}", (x0 + (w - 1) / 2, -pt - 0.5), xytext=(0, 2),
                        textcoords="offset points", ha="center", va="bottom", fontsize=8)
        for n, pos in enumerate(positions):
            o_i, o_j = (0, *pos) if one_d else pos
            ti = o_i * stride[0] - pt + np.arange(kernel[0]) * dil[0]
            tj = o_j * stride[1] - pl + np.arange(kernel[1]) * dil[1]
            y0 = 2 * n if one_d else 0
            inset = 0.0 if one_d or not small else 0.06 + 0.3 * n / max(len(positions), 1)
            ax.add_patch(Rectangle((x0 + tj[0] - 0.5 + inset, y0 + ti[0] - 0.5 + inset),
                                   tj[-1] - tj[0] + 1 - 2 * inset, ti[-1] - ti[0] + 1 - 2 * inset,
                                   fill=False, lw=1.6, color=colors[n]))
            gx, gy = np.meshgrid(tj, ti)
            ax.plot(x0 + gx + 0.3 - inset / 2, y0 + gy + 0.3 - inset / 2, "o", ms=3,
                    color=colors[n])
            flat = int(np.ravel_multi_index(pos, m.out_shape[1:])) + 1
            if ch == 0:  # the label inside the window's corner, towards the grid's centre
                right = not small and tj[0] > w / 2
                ax.text(x0 + (tj[-1] + 0.45 if right else tj[0] - 0.45 + inset),
                        y0 + ti[0] - 0.45 + inset, f"y{flat}", fontsize=8, color=colors[n],
                        va="top", ha="right" if right else "left", fontweight="bold")
    rows_total = 2 * rows_1d - 1 if one_d else h
    ax.set_xlim(-pl - 0.5 - 0.2, chans * (w + gap) - gap + pr - 0.5 + 0.2)
    ax.set_ylim(rows_total + pb - 0.5 + 0.2, -pt - 0.5 - 0.2)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    n_pos = m.n_out // m.out_shape[0]
    shown = ("every output position" if len(positions) == n_pos else
             f"{len(positions)} of the {n_pos:,} output positions\n(first, centre, last)")
    more = (f"; channels 1..{chans} of {m.in_shape[0]}" if m.in_shape[0] > chans else "")
    ax.set_title(f"windows of {shown}{more}\n(grey: zero padding)", fontsize=9,
                 pad=14 if chans > 1 else 6)


# ---- one convolution step at a time ----------------------------------------------------------
STEP_CELL = 0.45  # inches per number cell in a conv-steps frame


def _num(v: float) -> str:
    """A cell's number: '3', '-1.5', '0' (never '-0'); '' for NaN (not computed yet)."""
    if np.isnan(v):
        return ""
    return f"{v + 0.0:g}"  # + 0.0 turns -0.0 into 0.0


def _grid(ax: Any, values: np.ndarray, title: str, highlight: Any = None,
          muted: np.ndarray | None = None) -> None:
    """A 2-D array as a table of numbers shaded on a diverging scale centred on zero (red +,
    blue -, white 0 and NaN); ``highlight`` outlines cells, ``muted`` greys their numbers."""
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    h, w = values.shape
    vmax = max(float(np.nanmax(np.abs(values))) if not np.isnan(values).all() else 0.0, 1e-9)
    cmap = colormaps["RdBu_r"].with_extremes(bad="white")
    ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=-1.6 * vmax, vmax=1.6 * vmax,
              interpolation="nearest")
    for i, j in np.ndindex(h, w):
        color = "0.6" if muted is not None and muted[i, j] else "black"
        ax.text(j, i, _num(values[i, j]), ha="center", va="center", fontsize=9, color=color)
    if highlight is not None:
        for i, j in zip(*np.nonzero(highlight)):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2.2, color="black"))
    ax.set_xticks(np.arange(w + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(h + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="0.85", lw=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    ax.set_title(title, fontsize=9)


def conv_step_frames(x: np.ndarray, w: np.ndarray, y: np.ndarray, *, stride: tuple[int, int],
                     pads: tuple[tuple[int, int], ...], dilation: tuple[int, int],
                     one_d: bool = False) -> list[Figure]:
    """One frame per output position of a one-filter 2-D convolution.

    x (C, H, W), w (C, kH, kW), y (oH, oW) the convolution's result (from ``F.conv2d``); a 1-D
    signal comes as H = 1 with ``one_d``. Each frame shows, per input channel, the zero-padded
    input (padding in grey) with the window outlined, the kernel and the element-wise products,
    and beside them the output with the values computed so far (later ones blank). Every panel
    is shaded on a scale centred on zero, so a -1 and a +1 look opposite.
    """
    from matplotlib.gridspec import GridSpec

    c, (kh, kw) = x.shape[0], w.shape[1:]
    xpad = np.pad(x, ((0, 0), *pads))
    padding = np.pad(np.zeros(x.shape[1:], dtype=bool), pads, constant_values=True)
    oh, ow = y.shape
    widths = [max(n, 3) for n in (xpad.shape[2], kw, kw, ow)]
    height = max(xpad.shape[1], kh, 1)
    frames = []
    for i, j in np.ndindex(oh, ow):
        rows = i * stride[0] + np.arange(kh) * dilation[0]
        cols = j * stride[1] + np.arange(kw) * dilation[1]
        window = np.zeros(xpad.shape[1:], dtype=bool)
        window[np.ix_(rows, cols)] = True
        fig = new_figure(STEP_CELL * sum(widths) + 1.2, (STEP_CELL * height + 0.5) * c + 0.35)
        gs = GridSpec(c, 4, figure=fig, width_ratios=widths)
        for ch in range(c):
            products = xpad[ch][np.ix_(rows, cols)] * w[ch]
            label = f" (channel {ch + 1})" if c > 1 else ""
            _grid(fig.add_subplot(gs[ch, 0]), xpad[ch], "input" + label, window, padding)
            _grid(fig.add_subplot(gs[ch, 1]), w[ch], "kernel" + label)
            _grid(fig.add_subplot(gs[ch, 2]), products, f"products, sum {_num(products.sum())}")
        done = np.full((oh, ow), np.nan)
        n = i * ow + j + 1
        done.flat[:n] = y.flat[:n]
        here = np.zeros((oh, ow), dtype=bool)
        here[i, j] = True
        _grid(fig.add_subplot(gs[:, 3]), done, f"output y{n} = {_num(y[i, j])}", here)
        if one_d:
            what = f"output {n} of {y.size}: the sum of the products of its {kw}-tap window"
        else:
            what = (f"output {n} of {y.size} (row {i + 1}, column {j + 1}): the sum of the "
                    f"products of its {kh}x{kw} window")
        fig.suptitle(what + (f", over {c} channels" if c > 1 else ""), fontsize=10)
        fig.set_layout_engine("constrained")
        frames.append(fig)
    return frames


def gif_bytes(frames: Sequence[bytes], ms_per_frame: int = 900) -> bytes:
    """An endlessly looping animated GIF of PNG frames (Pillow)."""
    from PIL import Image

    images = [Image.open(io.BytesIO(f)).convert("RGB") for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                   duration=ms_per_frame, loop=0)
    return buf.getvalue()
