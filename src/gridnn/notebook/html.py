"""HTML for Jupyter's rich display of tensors and modules (``_repr_html_``), NumPy only.

A tensor shows its shape, dtype and range; 1-D and 2-D data (after dropping leading axes of
size 1) also as a heat map: small arrays as a table of their numbers on coloured cells, larger
ones as a PNG image with one pixel per element, both on one colour scale centred on zero (red
+, blue -, white 0), the scale of ``gridnn show filters``. A module shows its layers as a
table: name, type, settings and parameters.
"""

from __future__ import annotations

import base64
import html
import struct
import zlib
from typing import Any

import numpy as np

TABLE_MAX = (12, 16)  # (rows, cols) up to which a 2-D heat map is a table of numbers
IMAGE_MAX = 256  # larger arrays are shown strided down to at most this many pixels a side
STYLE = ("<style>.gridnn-html table{border-collapse:collapse;font:12px monospace}"
         ".gridnn-html td,.gridnn-html th{padding:2px 6px;border:1px solid #ddd;"
         "text-align:right}.gridnn-html th{background:#f4f4f4}"
         ".gridnn-html td.name{text-align:left}.gridnn-html .caption{color:#555;margin:4px 0}"
         ".gridnn-html img{image-rendering:pixelated}</style>")


def colors(values: np.ndarray, scale: float) -> np.ndarray:
    """RGB uint8 (..., 3): white at 0, red at +scale, blue at -scale (clipped)."""
    t = np.clip(np.nan_to_num(values / scale if scale > 0 else values * 0.0), -1.0, 1.0)
    pos, neg = np.clip(t, 0, 1), np.clip(-t, 0, 1)
    red = 255 - 120 * neg  # light enough at the extremes for black numbers on top
    green = 255 - 150 * np.maximum(pos, neg)
    blue = 255 - 120 * pos
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)


def png(rgb: np.ndarray) -> bytes:
    """An (H, W, 3) uint8 array as PNG bytes (8-bit RGB, no filter)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[i].tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def img_tag(png_bytes: bytes, alt: str, width: int) -> str:
    data = base64.b64encode(png_bytes).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" width="{width}">'


def number(v: float) -> str:
    """A short form of one element: integers without '.0', else 4 significant digits."""
    v = float(v)
    return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.4g}"


def heatmap(values: np.ndarray, alt: str = "heat map") -> str:
    """A 1-D or 2-D array as a coloured table of its numbers (small) or a PNG (large)."""
    grid = np.atleast_2d(np.asarray(values, dtype=np.float64))
    finite = grid[np.isfinite(grid)]
    scale = float(np.abs(finite).max()) if finite.size else 0.0
    if grid.shape[0] <= TABLE_MAX[0] and grid.shape[1] <= TABLE_MAX[1]:
        rgb = colors(grid, scale)
        rows = "".join(
            "<tr>" + "".join(
                f'<td style="background:rgb({r},{g},{b})">{number(v)}</td>'
                for v, (r, g, b) in zip(row, rgb_row)) + "</tr>"
            for row, rgb_row in zip(grid, rgb))
        return f'<table class="heatmap">{rows}</table>'
    step = [max(1, -(-n // IMAGE_MAX)) for n in grid.shape]
    shown = grid[::step[0], ::step[1]]
    note = "" if step == [1, 1] else \
        f'<div class="caption">every {step[0]}x{step[1]}th element shown</div>'
    width = min(400, max(100, 4 * shown.shape[1]))
    return img_tag(png(colors(shown, scale)), alt, width) + note


def tensor_html(t: Any) -> str:
    """Shape, dtype, gradient flag and range of a Tensor, and a heat map of 1-D/2-D data."""
    data = np.asarray(t.data)
    flags = " · requires_grad" if t.requires_grad else ""
    head = f"<b>Tensor</b> shape {html.escape(str(tuple(data.shape)))} · {data.dtype}{flags}"
    body = ""
    if data.size and data.dtype.kind in "fiub":
        finite = data[np.isfinite(data)] if data.dtype.kind == "f" else data
        if finite.size:
            head += (f'<div class="caption">min {number(finite.min())} · max '
                     f'{number(finite.max())} · mean {number(finite.mean())}</div>')
        squeezed = data.reshape(data.shape[next((i for i, n in enumerate(data.shape)
                                                 if n != 1), data.ndim):])
        if 1 <= squeezed.ndim <= 2:
            body = heatmap(squeezed, f"heat map of a tensor of shape {tuple(data.shape)}")
    return f'<div class="gridnn-html">{STYLE}<div>{head}</div>{body}</div>'


def module_html(module: Any) -> str:
    """A module's layers (each leaf module) as a table: name, type, settings, parameters."""
    rows = []
    for name, m in module.named_modules():
        if next(iter(m.named_children()), None) is not None:
            continue  # a container: its layers have their own rows
        own = list(m.parameters())
        rows.append((name or "(model)", type(m).__name__, m.extra_repr(),
                     sum(p.size for p in own)))
    params = list(module.parameters())
    total = sum(p.size for p in params)
    trainable = sum(p.size for p in params if p.requires_grad)
    body = "".join(
        f'<tr><td class="name">{html.escape(n)}</td><td class="name">{html.escape(k)}</td>'
        f'<td class="name">{html.escape(s)}</td><td>{p:,}</td></tr>' for n, k, s, p in rows)
    name = getattr(module, "zoo_name", None) or type(module).__name__
    return (f'<div class="gridnn-html">{STYLE}<div><b>{html.escape(name)}</b></div>'
            f'<table class="layers"><thead><tr><th>Layer</th><th>Type</th><th>Settings</th>'
            f"<th>Param #</th></tr></thead><tbody>{body}</tbody></table>"
            f'<div class="caption">Total params: {total:,} · Trainable params: {trainable:,}'
            f"</div><div class=\"caption\">gn.summary(model, input_shape) adds each layer's "
            f"output shape and its connections.</div></div>")
