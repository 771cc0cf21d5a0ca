"""Pictures of a trained network: its filters, feature maps, confusion matrix and examples.

Each ``*_figure`` function returns a matplotlib Figure (see ``draw``). Many small arrays (the
kernels of a layer) are drawn as one mosaic image with one colour scale, not as one subplot each:
one image draws in milliseconds where hundreds of subplots take seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .draw import Figure, new_figure

FILTERS_SHOWN = 64  # filters drawn per layer; a caption says when there are more
CHANNELS_SHOWN = 8  # input channels drawn per filter
MAPS_SHOWN = 8  # feature maps drawn per layer


def conv_layers(model: Any) -> list[tuple[str, Any]]:
    """(qualified name, module) of every convolution and locally connected layer of a model."""
    from .. import nn

    kinds = (nn.Conv1d, nn.Conv2d, nn.LocallyConnected1d, nn.LocallyConnected2d)
    return [(n, m) for n, m in model.named_modules() if isinstance(m, kinds)]


def filters_figures(model: Any) -> list[tuple[str, Figure]]:
    """(layer name, ``filters_figure``) of every conv layer of a model (a locally connected
    layer shows the kernels of its centre position)."""
    from .. import nn

    figures = []
    for name, module in conv_layers(model):
        w = module.weight.data
        if isinstance(module, (nn.LocallyConnected1d, nn.LocallyConnected2d)):
            w = w[tuple(n // 2 for n in module.output_size)]
            name = f"{name} (centre position)"
        figures.append((name, filters_figure(name, w)))
    return figures


def _near_square(n: int, tile_h: int, tile_w: int) -> tuple[int, int]:
    """(rows, cols) of a grid of n tiles of tile_h x tile_w cells that is closest to square."""
    cols = max(1, min(n, round(math.sqrt(n * tile_h / tile_w))))
    return math.ceil(n / cols), cols


def _mosaic(tiles: np.ndarray, rows: int, cols: int, gap: int = 1) -> np.ndarray:
    """tiles (N, h, w[, 3]) -> one (rows*(h+gap)-gap, cols*(w+gap)-gap[, 3]) array, NaN between
    tiles and in empty slots."""
    n, h, w = tiles.shape[:3]
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap, *tiles.shape[3:]), np.nan)
    for k in range(n):
        r, c = divmod(k, cols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tiles[k]
    return out


def _filter_tiles(w: np.ndarray, channels: int) -> np.ndarray:
    """(K, C, kH, kW) -> (K, kH, channels*(kW+1)-1): a filter's channels side by side, NaN
    between; (K, C, k) -> (K, channels, k): one row of taps per channel."""
    if w.ndim == 3:
        return w[:, :channels]
    k, _, kh, kw = w.shape
    tiles = np.full((k, kh, channels * (kw + 1) - 1), np.nan)
    for c in range(channels):
        tiles[:, :, c * (kw + 1):c * (kw + 1) + kw] = w[:, c]
    return tiles


def filters_figure(name: str, weight: np.ndarray, max_filters: int = FILTERS_SHOWN,
                   max_channels: int = CHANNELS_SHOWN) -> Figure:
    """The kernels of one conv layer as a near-square grid of tiles on one colour scale centred
    on zero (red +, blue -, white 0): weight (K, C, kH, kW), one tile per filter with its input
    channels side by side (a 3-channel first layer as colour images, grey = 0), or (K, C, k),
    one tile per filter with a row of taps per channel. A caption says what is left out."""
    from matplotlib import colormaps

    k_all, c_all = weight.shape[:2]
    k_n = min(k_all, max_filters)
    w = np.asarray(weight[:k_n], dtype=np.float64)
    vmax = float(np.abs(w).max()) or 1.0
    rgb = w.ndim == 4 and c_all == 3
    if rgb:
        tiles, shown = 0.5 + 0.5 * w.transpose(0, 2, 3, 1) / vmax, c_all
    else:
        shown = min(c_all, max_channels)
        tiles = _filter_tiles(w, shown)
    gap = 2 if shown > 1 and not rgb else 1  # wider between filters than between channels
    th, tw = tiles.shape[1:3]
    rows, cols = _near_square(k_n, th + gap, tw + gap)
    mosaic = _mosaic(tiles, rows, cols, gap)
    # The figure is sized to the mosaic (margins in inches: left for the filter numbers, right
    # for the colour bar, top for title and caption), so the image fills its axes exactly.
    cell = min(0.3, 6.5 / mosaic.shape[1], 7.0 / mosaic.shape[0])
    left, right, top, bottom = 0.75, 1.0, 0.8, 0.15
    img_w, img_h = cell * mosaic.shape[1], cell * mosaic.shape[0]
    fig_w = max(5.5, img_w + left + right)
    fig = new_figure(fig_w, img_h + top + bottom)
    x0 = left + (fig_w - left - right - img_w) / 2
    ax = fig.add_axes((x0 / fig_w, bottom / (img_h + top + bottom), img_w / fig_w,
                       img_h / (img_h + top + bottom)))
    if rgb:
        ax.imshow(np.nan_to_num(mosaic, nan=1.0), interpolation="nearest")
    else:
        from matplotlib.patches import Rectangle

        cmap = colormaps["RdBu_r"].with_extremes(bad="white")
        im = ax.imshow(mosaic, cmap=cmap, vmin=-vmax, vmax=vmax, interpolation="nearest")
        fig.colorbar(im, cax=ax.inset_axes((1.0 + 0.15 / img_w, 0.0, 0.2 / img_w, 1.0)))
        if shown > 1:  # outline each filter, and mark its channels, so it reads as one
            kw = (tw + 1) // shown - 1
            for n in range(k_n):
                r, c = divmod(n, cols)
                x0, y0 = c * (tw + gap) - 0.5, r * (th + gap) - 0.5
                ax.add_patch(Rectangle((x0, y0), tw, th, fill=False, lw=0.6, color="0.4"))
                if w.ndim == 4:
                    ax.vlines(x0 + np.arange(1, shown) * (kw + 1) - 0.5, y0, y0 + th,
                              colors="0.4", lw=0.4)
    step = th + gap
    ax.set_yticks([r * step + (th - 1) / 2 for r in range(rows)],
                  [f"{r * cols + 1}" for r in range(rows)], fontsize=7)
    ax.set_xticks([])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_ylabel("filter number (first of the row)", fontsize=8)
    shape = "x".join(map(str, weight.shape[1:]))
    fig.suptitle(f"layer {name}: {k_all} filters of {shape}", fontsize=11, va="top",
                 y=1 - 0.1 / fig.get_figheight())
    ax.set_title(_filters_caption(k_all, k_n, c_all, shown, w.ndim == 3, rgb), fontsize=9)
    return fig


def _filters_caption(k_all: int, k_n: int, c_all: int, shown: int, one_d: bool,
                     rgb: bool) -> str:
    what = f"all {k_all} filters" if k_n == k_all else f"first {k_n} of {k_all} filters"
    if rgb:
        return what + ", each as a colour image (grey = 0)"
    if c_all > 1:
        chans = (f"all {c_all} channels" if shown == c_all
                 else f"channels 1..{shown} of {c_all}")
        layout = "one row per channel" if one_d else "side by side"
        what += f", {chans} ({layout})"
    return what + "; red +, blue -, white 0"


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
                        title: str = "", max_maps: int = MAPS_SHOWN) -> Figure:
    """The input (C, ...) and, one row per conv layer, its first ``max_maps`` output channels
    (K, H, W) as images or (K, L) as curves; each row says how many of the layer's maps it
    shows."""
    rows = 1 + len(maps)
    fig = new_figure(1.3 * max_maps + 1.4, 1.35 * rows + 0.6)
    axes = fig.subplots(rows, max_maps, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].axis("on")
    _show_sample(axes[0, 0], sample)
    axes[0, 0].set_title("input", fontsize=8)
    for r, (name, fmap) in enumerate(maps, start=1):
        shown = min(max_maps, fmap.shape[0])
        for k in range(shown):
            ax = axes[r, k]
            if fmap.ndim == 2:
                ax.axis("on")
                ax.plot(fmap[k], lw=1)
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                ax.imshow(fmap[k], cmap="viridis", interpolation="nearest")
        count = (f"{fmap.shape[0]} maps" if shown == fmap.shape[0]
                 else f"maps 1..{shown} of {fmap.shape[0]}")
        axes[r, 0].set_title(f"layer {name}: {count}", fontsize=8, loc="left")
    fig.suptitle(title or "feature maps", fontsize=10)
    return fig


def confusion_figure(cm: np.ndarray, class_names: Sequence[str], title: str = "") -> Figure:
    """Confusion matrix (true label rows x predicted label columns) with counts."""
    n = len(class_names)
    size = max(4.0, 0.45 * n + 2)
    fig = new_figure(size + 0.8, size)
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues", interpolation="nearest")
    # An inset axes follows the matrix's drawn (square) box; a plain colorbar would sit at the
    # edge of the layout cell, far from a square matrix in a wider figure.
    fig.colorbar(im, cax=ax.inset_axes((1.03, 0.0, 0.04, 1.0)))
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
    fig = new_figure(1.4 * cols + 0.4, 1.6 * rows + 0.6)
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
