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
from .dense import LinearMap, connections, tap_table

Figure = Any


def _figure(width: float, height: float) -> Figure:
    import matplotlib

    matplotlib.use("Agg", force=False)
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
def conv_matrix_figure(m: LinearMap, title: str = "") -> Figure:
    """Left: the dense matrix (outputs x inputs), each connected entry coloured by the weight it
    holds (shared weights share a colour), blank where not connected. Right: the input grid with
    every output position's window (taps marked, so dilation shows its holes)."""
    rows, cols, params = connections(m)
    n_w = int(m.weight.size)
    colors = _palette(n_w)
    small = m.n_in <= 48 and m.n_out <= 48
    fig = _figure(11, 5)
    ax_m, ax_g = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    image = np.ones((m.n_out, m.n_in, 4))
    for r, c, p in zip(rows, cols, params):
        image[r, c] = colors[p]
    ax_m.imshow(image, interpolation="nearest", aspect="auto")
    if small:
        for r, c, p in zip(rows, cols, params):
            ax_m.text(c, r, f"w{p + 1}", ha="center", va="center", fontsize=7)
        ax_m.set_xticks(range(m.n_in), [f"x{i + 1}" for i in range(m.n_in)], fontsize=6,
                        rotation=90)
        ax_m.set_yticks(range(m.n_out), [f"y{i + 1}" for i in range(m.n_out)], fontsize=6)
    ax_m.set_xlabel("input (flattened, row by row)")
    ax_m.set_ylabel("output")
    ax_m.set_title(f"dense matrix {m.n_out} x {m.n_in}: {len(rows)} connections, "
                   f"{n_w} distinct weights", fontsize=9)
    _draw_windows(ax_g, m)
    fig.suptitle(title or f"{m.kind}: input {m.in_shape} -> output {m.out_shape}", fontsize=10)
    fig.set_layout_engine("constrained")
    return fig


def _draw_windows(ax: Any, m: LinearMap) -> None:
    from matplotlib.patches import Rectangle

    spatial = m.in_shape[1:] if m.kind != "linear" else (1, m.n_in)
    h, w = (1, spatial[0]) if len(spatial) == 1 else spatial
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_aspect("equal")
    for i in range(h):
        for j in range(w):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=0.5, color="0.6"))
            ax.text(j, i, f"x{i * w + j + 1}", ha="center", va="center", fontsize=7, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])
    if m.kind == "linear":
        ax.set_title("every output sees every input", fontsize=9)
        return
    tables = tap_table(m)
    if len(tables) == 1:
        tables = [np.zeros((1, 1), dtype=int), tables[0]]
    positions = [(a, b) for a in range(tables[0].shape[0]) for b in range(tables[1].shape[0])]
    colors = _palette(len(positions))
    for n, (a, b) in enumerate(positions):
        ti, tj = tables[0][a], tables[1][b]
        ti, tj = ti[ti >= 0], tj[tj >= 0]
        if not len(ti) or not len(tj):
            continue
        inset = 0.06 + 0.3 * n / max(len(positions), 1)
        ax.add_patch(Rectangle((tj.min() - 0.5 + inset, ti.min() - 0.5 + inset),
                               tj.max() - tj.min() + 1 - 2 * inset,
                               ti.max() - ti.min() + 1 - 2 * inset, fill=False, lw=1.6,
                               color=colors[n]))
        gx, gy = np.meshgrid(tj, ti)
        ax.plot(gx + 0.3 - inset / 2, gy + 0.3 - inset / 2, "o", ms=3, color=colors[n])
        ax.text(tj.min() - 0.45 + inset, ti.min() - 0.45 + inset, f"y{n + 1}", fontsize=7,
                color=colors[n], va="top", fontweight="bold")
    ax.set_title(f"windows of the {len(positions)} output positions", fontsize=9)


# ---- one convolution step at a time ----------------------------------------------------------
def _grid(ax: Any, values: np.ndarray, title: str, highlight: Any = None, cmap: str = "Blues",
          fmt: str = "{:g}", shade: np.ndarray | None = None) -> None:
    """Draw a 2-D array as a table of numbers; ``highlight`` is a boolean mask to outline."""
    from matplotlib.patches import Rectangle

    h, w = values.shape
    vmax = max(float(np.abs(values).max()), 1e-9)
    ax.imshow(np.abs(values) / vmax if shade is None else shade, cmap=cmap, vmin=0, vmax=1.6,
              interpolation="nearest")
    for i in range(h):
        for j in range(w):
            ax.text(j, i, fmt.format(values[i, j]), ha="center", va="center", fontsize=8)
    if highlight is not None:
        for i, j in zip(*np.nonzero(highlight)):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2.2, color="crimson"))
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


def conv_step_frames(x: np.ndarray, w: np.ndarray, y: np.ndarray, *, stride: tuple[int, int],
                     pads: tuple[tuple[int, int], ...],
                     dilation: tuple[int, int]) -> list[Figure]:
    """One frame per output position of a one-filter 2-D convolution.

    x (C, H, W), w (C, kH, kW), y (oH, oW) the convolution's result (from ``F.conv2d``). Each
    frame shows, per input channel, the zero-padded input with the window outlined, the kernel
    and the element-wise products, then the output grid with the cells done so far and the
    current sum landing in its cell.
    """
    c, (kh, kw) = x.shape[0], w.shape[1:]
    xpad = np.pad(x, ((0, 0), *pads))
    inside = np.pad(np.ones(x.shape[1:]), pads)  # 1 on real inputs, 0 on padding
    oh, ow = y.shape
    frames = []
    for i, j in np.ndindex(oh, ow):
        rows = i * stride[0] + np.arange(kh) * dilation[0]
        cols = j * stride[1] + np.arange(kw) * dilation[1]
        window = np.zeros(xpad.shape[1:], dtype=bool)
        window[np.ix_(rows, cols)] = True
        fig = _figure(2.2 * 3 + 2.6, 2.3 * c + 0.6)
        axes = fig.subplots(c, 4, squeeze=False)
        for ch in range(c):
            products = xpad[ch][np.ix_(rows, cols)] * w[ch]
            label = f" (channel {ch + 1})" if c > 1 else ""
            _grid(axes[ch, 0], xpad[ch], "input" + label, window, shade=0.25 + 0.5 * inside)
            _grid(axes[ch, 1], w[ch], "kernel" + label, cmap="Oranges")
            _grid(axes[ch, 2], products, f"products, sum {products.sum():g}", cmap="Greens")
            if ch:
                axes[ch, 3].axis("off")
        done = np.full((oh, ow), np.nan)
        flat = i * ow + j
        done.flat[:flat + 1] = y.flat[:flat + 1]
        here = np.zeros((oh, ow), dtype=bool)
        here[i, j] = True
        _grid(axes[0, 3], np.nan_to_num(done), f"output y{flat + 1} = {y[i, j]:g}", here,
              cmap="Purples", shade=np.where(np.isnan(done), 0, 0.6),
              fmt="{:g}")
        fig.suptitle(f"output ({i}, {j}): sum of the products over {kh}x{kw}x{c} window",
                     fontsize=10)
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


# ---- a trained network -----------------------------------------------------------------------
def filters_figure(name: str, weight: np.ndarray, max_filters: int = 32,
                   max_channels: int = 8) -> Figure:
    """The kernels of one conv layer: weight (K, C, kH, kW) as a K x C grid of images (a
    3-channel first layer as colour images, one per filter), or (K, C, k) as K x C curves."""
    from matplotlib import colormaps

    k_out = min(weight.shape[0], max_filters)
    w = weight[:k_out]
    if w.ndim == 3:  # 1-D kernels: one small curve per (filter, channel)
        chans = min(w.shape[1], max_channels)
        fig = _figure(1.2 * chans + 1, 0.5 * k_out + 1)
        axes = fig.subplots(k_out, chans, squeeze=False)
        for a, b in np.ndindex(k_out, chans):
            axes[a, b].plot(w[a, b], "-o", ms=2)
            axes[a, b].axhline(0, color="0.7", lw=0.5)
            axes[a, b].axis("off")
    elif w.shape[1] == 3:  # colour: map each filter to an RGB image
        cols = min(k_out, 8)
        rows = math.ceil(k_out / cols)
        fig = _figure(1.1 * cols + 0.5, 1.1 * rows + 0.8)
        axes = fig.subplots(rows, cols, squeeze=False)
        for n, ax in enumerate(axes.flat):
            ax.axis("off")
            if n < k_out:
                f = w[n].transpose(1, 2, 0)
                ax.imshow((f - f.min()) / max(float(np.ptp(f)), 1e-12), interpolation="nearest")
    else:
        chans = min(w.shape[1], max_channels)
        fig = _figure(0.9 * chans + 1, 0.9 * k_out + 1)
        axes = fig.subplots(k_out, chans, squeeze=False)
        vmax = float(np.abs(w).max()) or 1.0
        for a, b in np.ndindex(k_out, chans):
            axes[a, b].imshow(w[a, b], cmap=colormaps["RdBu_r"], vmin=-vmax, vmax=vmax,
                              interpolation="nearest")
            axes[a, b].axis("off")
    shape = "x".join(map(str, weight.shape[1:]))
    note = " (red +, blue -)" if w.ndim == 4 and w.shape[1] != 3 else ""
    fig.suptitle(f"{name}: {weight.shape[0]} filters of {shape}{note}", fontsize=9)
    return fig


def _show_sample(ax: Any, x: np.ndarray) -> None:
    """One input sample (C, H, W) as an image or (C, L) as curves."""
    if x.ndim == 2:
        for ch in x:
            ax.plot(ch, lw=1)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    if x.shape[0] == 3:
        img = x.transpose(1, 2, 0)
        ax.imshow((img - img.min()) / max(float(np.ptp(img)), 1e-12), interpolation="nearest")
    else:
        ax.imshow(x[0], cmap="gray", interpolation="nearest")
    ax.axis("off")


def feature_maps_figure(sample: np.ndarray, maps: Sequence[tuple[str, np.ndarray]],
                        title: str = "", max_maps: int = 8) -> Figure:
    """The input (C, ...) and, one row per conv layer, its first ``max_maps`` output channels
    (K, H, W) as images or (K, L) as curves."""
    rows = 1 + len(maps)
    fig = _figure(1.3 * max_maps + 1.4, 1.35 * rows + 0.6)
    axes = fig.subplots(rows, max_maps, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].axis("on")
    _show_sample(axes[0, 0], sample)
    axes[0, 0].set_title("input", fontsize=8)
    for r, (name, fmap) in enumerate(maps, start=1):
        for k in range(min(max_maps, fmap.shape[0])):
            ax = axes[r, k]
            if fmap.ndim == 2:
                ax.axis("on")
                ax.plot(fmap[k], lw=1)
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                ax.imshow(fmap[k], cmap="viridis", interpolation="nearest")
            if k == 0:
                ax.set_title(f"layer {name}: {fmap.shape[0]} maps", fontsize=8, loc="left")
    fig.suptitle(title or "feature maps", fontsize=10)
    return fig


def confusion_figure(cm: np.ndarray, class_names: Sequence[str], title: str = "") -> Figure:
    """Confusion matrix (true label rows x predicted label columns) with counts."""
    n = len(class_names)
    size = max(4.0, 0.45 * n + 2)
    fig = _figure(size + 1, size)
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues", interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.8)
    if n <= 30:
        for i, j in np.ndindex(cm.shape):
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
        ax.set_xticks(range(n), class_names, rotation=90, fontsize=7)
        ax.set_yticks(range(n), class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix", fontsize=10)
    fig.set_layout_engine("constrained")
    return fig


def examples_figure(samples: np.ndarray, captions: Sequence[str], title: str,
                    cols: int = 8) -> Figure:
    """A grid of input samples (N, C, ...) with one caption each."""
    n = max(len(samples), 1)
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    fig = _figure(1.4 * cols + 0.4, 1.6 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, x, caption in zip(axes.flat, samples, captions):
        ax.axis("on")
        _show_sample(ax, x)
        ax.set_title(caption, fontsize=7)
    if not len(samples):
        axes[0, 0].text(0.5, 0.5, "none", ha="center", va="center")
    fig.suptitle(title, fontsize=10)
    return fig
