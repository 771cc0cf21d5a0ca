"""The column matrix of a convolution in chunks, and its gradient added back onto the input.

``blocks`` cuts the (M, f) column matrix into chunks of about ``options().chunk_bytes`` (a
chunk is copied, multiplied and dropped while it is in cache; see ``ops/conv.py``), and
``im2col_blocks`` copies the windows into them, chunk by chunk, in one cached buffer. The
col2im functions are the input gradient for strides and padding modes where it is not itself
a convolution: per chunk, one GEMM gives the column gradients, which are added onto the
padded input element each of them read.

Shapes: g_grp (G, M, K/G) the output gradient as rows, wmat (G, f, K/G) the forward weight
matrix (``conv.weight_matrix``), f = prod(k) * C/G; results on the padded input.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from .._backend import xp
from .compiled import kernels
from .options import options
from .windows import ConvGeometry, add_windows
from .workspace import parallel_slices, scratch

Array = Any


def blocks(n: int, out_size: tuple[int, ...], row_bytes: int) -> list[tuple[Any, slice]]:
    """Chunks of about ``options().chunk_bytes`` of column matrix: a list of (index of the
    (N, O_0) axes, the rows of the (M, ...) matrix it covers). Whole images while one fits,
    else slabs of one image along its first output axis."""
    p = math.prod(out_size)
    rows = max(1, options().chunk_bytes // row_bytes)
    if rows >= p or out_size[0] == 1:
        step = max(1, min(n, rows // p))
        return [((slice(s, min(n, s + step)), slice(None)), slice(s * p, min(n, s + step) * p))
                for s in range(0, n, step)]
    inner = p // out_size[0]
    step = max(1, rows // inner)
    return [((slice(i, i + 1), slice(s, min(out_size[0], s + step))),
             slice(i * p + s * inner, i * p + min(out_size[0], s + step) * inner))
            for i in range(n) for s in range(0, out_size[0], step)]


def im2col_blocks(win: Array, ones: bool, channel_major: bool = False
                  ) -> Iterator[tuple[slice, Array]]:
    """Copy the windows (N, *O, *k, G, C/G) chunk by chunk into one cached column buffer and
    yield (rows of M, columns (G, rows, f [+ 1])), columns ordered (kernel offset, channel)
    (``channel_major``: (channel, kernel offset), the order of the weight's own memory); with
    ``ones`` a last column of ones carries the bias through the GEMM.

    With a single input channel the buffer is (G, f [+ 1], rows) and the columns a transposed
    view of it: a row of the column matrix would be a run of one float, while a row of its
    transpose is a run of output width (much faster to fill; the GEMMs take either layout)."""
    n, g, cg = win.shape[0], win.shape[-2], win.shape[-1]
    nd = (win.ndim - 3) // 2
    out_size, kernel = win.shape[1:1 + nd], win.shape[1 + nd:1 + 2 * nd]
    f = math.prod(kernel) * cg
    chunks = blocks(n, out_size, g * (f + ones) * win.itemsize)
    if not chunks:  # an empty batch
        return
    biggest = max(r.stop - r.start for _, r in chunks)
    transposed = g * cg == 1
    groups_first = (win.ndim - 2, *range(win.ndim - 2), win.ndim - 1)  # moveaxis(-2, 0)
    buf = scratch().take((g, f + ones, biggest) if transposed else (g, biggest, f + ones),
                         win.dtype)
    if ones:
        buf[(slice(None), f) if transposed else (..., f)] = 1  # never touched by the copies
    try:
        for index, rows in chunks:
            part = win[index]  # (n', o', *O[1:], *k, G, C/G)
            r = rows.stop - rows.start
            if transposed:
                order = (2 * nd + 1, *range(nd + 1, 2 * nd + 1), 2 * nd + 2, *range(nd + 1))
                cols_t = buf[:, :f, :r].reshape(g, *kernel, cg, *part.shape[:1 + nd])
                xp.copyto(cols_t, part.transpose(order))  # (G, *k, C/G, n', o', *O[1:])
                yield rows, buf[:, :, :r].transpose(0, 2, 1)
            elif channel_major:
                cols = buf[:, :r]
                order = (2 * nd + 1, *range(nd + 1), 2 * nd + 2, *range(nd + 1, 2 * nd + 1))
                xp.copyto(cols[..., :f].reshape(g, *part.shape[:1 + nd], cg, *kernel),
                          part.transpose(order))  # (G, n', o', *O[1:], C/G, *k)
                yield rows, cols
            else:
                cols = buf[:, :r]
                xp.copyto(cols[..., :f].reshape(g, *part.shape[:-2], cg),
                          part.transpose(groups_first))
                yield rows, cols
    finally:
        scratch().give(buf)


def col2im_channels_last(g_grp: Array, wmat: Array, pad_shape: tuple[int, ...],
                         kernel: tuple[int, ...], geo: ConvGeometry) -> Array:
    """Input gradient on the padded input, channels-last: (N, *Sp, C).

    g_grp (G, M, K/G) is the output gradient, wmat (G, f, K/G) the forward weight matrix. Per
    chunk the column gradients (G, rows, f) come from one GEMM into a cached buffer and are
    added back onto the input element each of them read, one kernel offset at a time.
    """
    out_size, stride, dilation = geo.out_size, geo.stride, geo.dilation
    n, cg = pad_shape[0], pad_shape[-1] // geo.groups
    g, f, nd, p = g_grp.shape[0], wmat.shape[1], len(kernel), math.prod(out_size)
    dpad = xp.zeros((*pad_shape[:-1], g, cg), dtype=g_grp.dtype)  # (N, *Sp, G, C/G)
    w_t = wmat.transpose(0, 2, 1)  # (G, K/G, f)
    compiled = kernels() if g == 1 and nd <= 2 else None

    def work(lo: int, hi: int) -> None:
        chunks = blocks(hi - lo, out_size, g * f * g_grp.itemsize)
        if not chunks:
            return
        buf = scratch().take((g, max(r.stop - r.start for _, r in chunks), f), g_grp.dtype)
        for (images, first), rows in chunks:
            dcols = buf[:, :rows.stop - rows.start]
            xp.matmul(g_grp[:, lo * p + rows.start:lo * p + rows.stop], w_t, out=dcols)
            block_out = (len(range(*first.indices(out_size[0]))), *out_size[1:])
            dcols = dcols.reshape(g, -1, *block_out, *kernel, cg)  # (G, n', *O', *k, C/G)
            # The block's outputs read the padded input from row first.start * stride on.
            region = dpad[lo:hi][images, (first.start or 0) * stride[0]:]
            if compiled is not None:  # one loop instead of one NumPy call per kernel offset
                _col2im_compiled(compiled, region[..., 0, :], dcols[0], stride, dilation)
            else:
                add_windows(region, xp.moveaxis(dcols, 0, -2), 1 + nd,  # (n',*O',*k,G,C/G)
                            stride, dilation, block_out, 1)
        scratch().give(buf)

    parallel_slices(n, g_grp.shape[1] * f, work)
    return dpad.reshape(pad_shape)


def _col2im_compiled(k: Any, region: Array, cols: Array, stride: tuple[int, ...],
                     dilation: tuple[int, ...]) -> None:
    """``add_windows`` of one group's column gradients cols (n', *O', *k, C) onto region
    (n', *Sp', C) by ``kernels.col2im_2d``; 1-D as height 1."""
    if len(stride) == 1:
        region, cols = region[:, None], cols[:, None, :, None]
        stride, dilation = (1, *stride), (1, *dilation)
    k.col2im_2d(cols, *stride, *dilation, region)


def col2im_channels_first(g_grp: Array, wmat: Array, pad_shape: tuple[int, ...],
                          kernel: tuple[int, ...], geo: ConvGeometry) -> Array:
    """Input gradient on the padded input, channels-first: (C, N, *Sp).

    The transposed column gradients (G, f, M) = wmat @ g_grp^T put each (kernel offset,
    channel) in one contiguous row over (N, *O), so every add moves whole output rows.
    """
    out_size = geo.out_size
    n, cg = pad_shape[0], pad_shape[-1] // geo.groups
    g, f, p = g_grp.shape[0], wmat.shape[1], math.prod(out_size)
    dpad = xp.zeros((g, cg, n, *pad_shape[1:-1]), dtype=g_grp.dtype)  # (G, C/G, N, *Sp)

    def work(lo: int, hi: int) -> None:
        dcols = scratch().take((g, f, (hi - lo) * p), g_grp.dtype)
        xp.matmul(wmat, g_grp[:, lo * p:hi * p].transpose(0, 2, 1), out=dcols)
        d = dcols.reshape(g, *kernel, cg, hi - lo, *out_size)  # (G, *k, C/G, n', *O)
        add_windows(dpad[:, :, lo:hi], d, 1, geo.stride, geo.dilation, out_size, 3)
        scratch().give(dcols)

    parallel_slices(n, g_grp.shape[1] * f, work)
    return dpad.reshape(g * cg, n, *pad_shape[1:-1])
