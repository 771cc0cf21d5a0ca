"""N-d convolution (cross-correlation) as strided windows (im2col) plus one GEMM per group.

Shapes, for d spatial dims (d = 1: L; d = 2: H, W):
    x (N, C, *S), weight (K, C/G, *k), bias (K,)  ->  out (N, K, *O)
    O_i = (S_i + lo_i + hi_i - dilation_i * (k_i - 1) - 1) // stride_i + 1

The work happens channels-last: the padded input is laid out (N, *Sp, C) so each window row
of the column matrix is a few long contiguous runs. The result is returned as a (N, K, *O) view
of channels-last memory; the next conv's move to channels-last is then free.

Where the time goes, and why the code looks the way it does (measured on 2 cores, OpenBLAS):
- The GEMMs run near the machine's peak; the rest is memory traffic. The column matrix is
  therefore never built whole: chunk by chunk (about 1.5 MiB) it is copied into one cached
  buffer and multiplied while it is still in cache, which also speeds the GEMM up (its output
  and inputs stay in cache). Backward rebuilds the columns for the weight gradient the same
  way from the kept padded input: faster than reading back a saved column matrix.
- Each pass is split over the batch into as many threads as the BLAS has, each thread with a
  single-threaded BLAS (``workspace.parallel_slices``): the copies run in parallel too, and no
  chunk's GEMM waits for the BLAS's threads to wake up.
- Buffers come from a bounded per-thread pool (``workspace.scratch``): a fresh multi-megabyte
  array costs a page fault per 4 KiB, which doubles a copy into it. Zero-padded inputs go to
  cached buffers whose borders are zeroed once.
- The bias rides in the forward GEMM as a column of ones in the column matrix (a separate
  ``out += bias`` pass cost as much as the GEMM itself for small layers); the bias gradient is
  a product of ones with the output gradient, chunk by chunk (6x faster than ``sum(axis=0)``).
- The input gradient of a stride-1, zero-padded convolution is itself a convolution (of the
  output gradient with the flipped kernel): one more chunked im2col + GEMM, faster than the
  scatter-add of col2im. Other strides and padding modes use col2im, chunked; with few
  channels per group it runs channels-first, where every add moves whole rows of the output
  instead of runs of C floats.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

from numpy.lib.stride_tricks import as_strided

from .._backend import xp
from ..autograd import Function
from .shape import pad_array, pad_array_backward
from .workspace import parallel_slices, scratch

Array = Any
Pads = tuple[tuple[int, int], ...]

# With fewer input channels per group than this, col2im runs channels-first (see module doc).
CHANNELS_FIRST_COL2IM_BELOW = 8
# Stride-1 zero-padded input gradients as a convolution (else col2im); a switch for the tests.
INPUT_GRAD_AS_CONV = True
# Bytes of column matrix per chunk: small enough to stay in the (1 MiB per core) L2 cache.
COLUMNS_CHUNK_BYTES = 3 << 19


def channels_last_padded(x: Array, pads: Pads, mode: str) -> Array:
    """(N, C, *S) -> C-contiguous (N, *Sp, C), padded by ``pads`` in ``mode`` (a new array)."""
    x_cl = xp.moveaxis(x, 1, -1)
    if not any(lo or hi for lo, hi in pads):
        return xp.ascontiguousarray(x_cl)
    return pad_array(x_cl, ((0, 0), *pads, (0, 0)), mode)


def padded_channels_last(x: Array, pads: Pads, mode: str,
                         keep: bool = False) -> tuple[Array, bool]:
    """(N, C, *S) -> (C-contiguous (N, *Sp, C) padded input, whether it is a pool buffer).

    It may be the caller's own memory (no padding, already channels-last), and with zero
    padding, unless ``keep``, a shared buffer whose borders stay zero: then it may only be read,
    and only until the next convolution. With ``keep`` a zero-padded copy is a buffer from the
    scratch pool that the caller owns (and gives back); other modes make a new array."""
    x_cl = xp.moveaxis(x, 1, -1)
    if not any(lo or hi for lo, hi in pads):
        return (x_cl, False) if x_cl.flags.c_contiguous else (copy_in_slices(x_cl), False)
    if mode != "zeros":
        return pad_array(x_cl, ((0, 0), *pads, (0, 0)), mode), False
    sizes = x_cl.shape[1:-1]
    shape = (x_cl.shape[0], *(n + lo + hi for n, (lo, hi) in zip(sizes, pads)), x_cl.shape[-1])
    if keep:
        buf = scratch().take(shape, x.dtype)
        for axis, (lo, hi) in enumerate(pads, start=1):  # zero the borders only
            index = [slice(None)] * buf.ndim
            for part in (slice(0, lo), slice(shape[axis] - hi, shape[axis])):
                index[axis] = part
                buf[tuple(index)] = 0
    else:
        buf = scratch().bordered(shape, pads, x.dtype)
    copy_in_slices(x_cl, buf[(slice(None), *(slice(lo, lo + n) for n, (lo, _)
                                               in zip(sizes, pads)))])
    return buf, keep


def copy_in_slices(src: Array, dst: Array | None = None) -> Array:
    """Copy ``src`` (N, ...) into ``dst`` (a new C-contiguous array if None), in threads."""
    dst = xp.empty(src.shape, src.dtype) if dst is None else dst
    parallel_slices(src.shape[0], src.size, lambda lo, hi: xp.copyto(dst[lo:hi], src[lo:hi]))
    return dst


def windows(a: Array, kernel: tuple[int, ...], stride: tuple[int, ...],
            dilation: tuple[int, ...], out: tuple[int, ...], spatial_start: int) -> Array:
    """Read-only strided view of every window of ``a``: spatial axes ``spatial_start...`` become
    output positions ``out`` followed by kernel offsets ``kernel``. No data is copied.

    For channels-last (N, *Sp, C) with spatial_start=1: (N, *out, *kernel, C).
    For channels-first (N, C, *Sp) with spatial_start=2: (N, C, *out, *kernel).
    """
    nd = len(kernel)
    sp = a.strides[spatial_start:spatial_start + nd]
    head, tail = a.shape[:spatial_start], a.shape[spatial_start + nd:]
    shape = (*head, *out, *kernel, *tail)
    strides = (*a.strides[:spatial_start], *(s * st for s, st in zip(sp, stride)),
               *(s * d for s, d in zip(sp, dilation)), *a.strides[spatial_start + nd:])
    return as_strided(a, shape=shape, strides=strides, writeable=False)


def window_slices(offset: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...],
                  out: tuple[int, ...]) -> tuple[slice, ...]:
    """Slices of the padded input that kernel offset ``offset`` touches over all outputs."""
    return tuple(slice(o * d, o * d + s * (n - 1) + 1, s)
                 for o, s, d, n in zip(offset, stride, dilation, out))


def add_windows(dst: Array, cols: Array, kernel_start: int, stride: tuple[int, ...],
                dilation: tuple[int, ...], out: tuple[int, ...], spatial_start: int) -> None:
    """col2im, the adjoint of ``windows``: add the gradient of every window entry onto the
    element of ``dst`` it was read from.

    ``cols`` holds the kernel offsets on axes ``kernel_start...``; with them taken out it is
    shaped like the slice of ``dst`` (spatial axes from ``spatial_start``, of output size
    ``out``) that one kernel offset touches.
    """
    kernel = cols.shape[kernel_start:kernel_start + len(out)]
    lead, at = (slice(None),) * spatial_start, (slice(None),) * kernel_start
    for offset in itertools.product(*map(range, kernel)):
        dst[lead + window_slices(offset, stride, dilation, out)] += cols[at + offset]


def _blocks(n: int, out_size: tuple[int, ...], row_bytes: int) -> list[tuple[Any, slice]]:
    """Chunks of about ``COLUMNS_CHUNK_BYTES`` of column matrix: a list of (index of the
    (N, O_0) axes, the rows of the (M, ...) matrix it covers). Whole images while one fits,
    else slabs of one image along its first output axis."""
    p = math.prod(out_size)
    rows = max(1, COLUMNS_CHUNK_BYTES // row_bytes)
    if rows >= p or out_size[0] == 1:
        step = max(1, min(n, rows // p))
        return [((slice(s, min(n, s + step)), slice(None)), slice(s * p, min(n, s + step) * p))
                for s in range(0, n, step)]
    inner = p // out_size[0]
    step = max(1, rows // inner)
    return [((slice(i, i + 1), slice(s, min(out_size[0], s + step))),
             slice(i * p + s * inner, i * p + min(out_size[0], s + step) * inner))
            for i in range(n) for s in range(0, out_size[0], step)]


def _im2col_blocks(win: Array, ones: bool) -> Iterator[tuple[slice, Array]]:
    """Copy the windows (N, *O, *k, G, C/G) chunk by chunk into one cached column buffer and
    yield (rows of M, columns (G, rows, f [+ 1])), rows ordered (kernel offset, channel); with
    ``ones`` a last column of ones carries the bias through the GEMM.

    With a single input channel the buffer is (G, f [+ 1], rows) and the columns a transposed
    view of it: a row of the column matrix would be a run of one float, while a row of its
    transpose is a run of output width (7x faster to fill; the GEMMs take either layout)."""
    n, g, cg = win.shape[0], win.shape[-2], win.shape[-1]
    nd = (win.ndim - 3) // 2
    out_size, kernel = win.shape[1:1 + nd], win.shape[1 + nd:1 + 2 * nd]
    f = math.prod(kernel) * cg
    blocks = _blocks(n, out_size, g * (f + ones) * win.itemsize)
    if not blocks:  # an empty batch
        return
    biggest = max(r.stop - r.start for _, r in blocks)
    transposed = g * cg == 1
    buf = scratch().take((g, f + ones, biggest) if transposed else (g, biggest, f + ones),
                         win.dtype)
    if ones:
        buf[(slice(None), f) if transposed else (..., f)] = 1  # never touched by the copies
    try:
        for index, rows in blocks:
            part = win[index]  # (n', o', *O[1:], *k, G, C/G)
            r = rows.stop - rows.start
            if transposed:
                order = (2 * nd + 1, *range(nd + 1, 2 * nd + 1), 2 * nd + 2, *range(nd + 1))
                cols_t = buf[:, :f, :r].reshape(g, *kernel, cg, *part.shape[:1 + nd])
                xp.copyto(cols_t, part.transpose(order))  # (G, *k, C/G, n', o', *O[1:])
                yield rows, buf[:, :, :r].transpose(0, 2, 1)
            else:
                cols = buf[:, :r]
                xp.copyto(cols[..., :f].reshape(g, *part.shape[:-2], cg),
                          xp.moveaxis(part, -2, 0))
                yield rows, cols
    finally:
        scratch().give(buf)


def _stacked_product(a: Array, b: Array) -> Array:
    """(G, m, r) @ (G, r, n) -> (G, m, n). One group goes through ``np.dot``: ``np.matmul``
    keeps the GIL through a product with a small result, such as the (9, rows) @ (rows, 32)
    weight gradient of a single-channel layer, so threads doing it ran one after another."""
    if a.shape[0] == 1:
        return xp.dot(a[0], b[0])[None]
    return xp.matmul(a, b)


def weight_matrix(w: Array, groups: int) -> Array:
    """(K, C/G, *k) -> (G, f, K/G), rows ordered (kernel offset, channel) like the columns."""
    k_out, cg = w.shape[:2]
    return w.reshape(groups, k_out // groups, cg, -1).transpose(0, 3, 2, 1).reshape(
        groups, -1, k_out // groups)


def conv_rows(xpad: Array, w: Array, bias: Array | None, stride: tuple[int, ...],
              dilation: tuple[int, ...], groups: int) -> tuple[Array, tuple[int, ...]]:
    """The convolution of the padded channels-last input (N, *Sp, C) as rows: (out (M, K)
    with rows ordered (N, *O), O). Chunk by chunk, the columns are copied into a cached
    buffer that stays in cache for their GEMM."""
    n, c = xpad.shape[0], xpad.shape[-1]
    k_out, kernel = w.shape[0], w.shape[2:]
    g, cg, kg = groups, c // groups, k_out // groups
    out_size = tuple((xpad.shape[1 + i] - dilation[i] * (k - 1) - 1) // stride[i] + 1
                     for i, k in enumerate(kernel))
    win = windows(xpad, kernel, stride, dilation, out_size, 1)  # (N, *O, *k, C)
    win = win.reshape(*win.shape[:-1], g, cg)  # (N, *O, *k, G, C/G)
    wmat = weight_matrix(w, g)  # (G, f, K/G); the bias is an extra last row
    if bias is not None:
        wmat = xp.concatenate([wmat, bias.astype(xpad.dtype).reshape(g, 1, kg)], axis=1)
    p = math.prod(out_size)
    out = xp.empty((n * p, k_out), dtype=xpad.dtype)
    out_grp = out.reshape(n * p, g, kg).transpose(1, 0, 2)  # (G, M, K/G) view

    def work(lo: int, hi: int) -> None:
        for rows, cols in _im2col_blocks(win[lo:hi], bias is not None):
            xp.matmul(cols, wmat, out=out_grp[:, lo * p + rows.start:lo * p + rows.stop])

    parallel_slices(n, n * p * wmat.shape[1], work)
    return out, out_size


class ConvNd(Function):
    """Forward and backward of the N-d convolution; arguments are validated by the caller.

    Backward: the weight gradient sums columns^T @ output gradient over the same chunks (the
    columns are rebuilt rather than kept: cheaper than reading back a saved copy, and no
    memory held between the passes). The input gradient is, for stride 1 and zero padding,
    itself a convolution (of the output gradient with the flipped, transposed kernel);
    otherwise a col2im scatter-add, channels-first when there are few channels per group.
    """

    def forward(self, x: Array, w: Array, *bias: Array, stride: tuple[int, ...],
                dilation: tuple[int, ...], pads: Pads, mode: str, groups: int) -> Array:
        xpad, owned = padded_channels_last(x, pads, mode, keep=self.needs_grad[1])
        out, out_size = conv_rows(xpad, w, bias[0] if bias else None, stride, dilation, groups)
        self.options = (stride, dilation, pads, mode, groups)
        self.x_shape, self.out_size, self.kernel = x.shape, out_size, w.shape[2:]
        if self.needs_grad[1]:  # the columns are rebuilt from the padded input in backward
            self.xpad, self.xpad_owned = xpad, owned
        if self.needs_grad[0]:
            self.w = w
        return xp.moveaxis(out.reshape(x.shape[0], *out_size, w.shape[0]), -1, 1)  # (N, K, *O)

    def backward(self, grad: Array) -> tuple[Array | None, ...]:
        stride, dilation, pads, mode, g = self.options
        k_out = grad.shape[1]
        m = grad.shape[0] * math.prod(self.out_size)
        g_cl = xp.moveaxis(grad, 1, -1)  # (N, *O, K): free when grad is channels-last memory
        copied = not g_cl.flags.c_contiguous
        if copied:
            g_rows = scratch().take((m, k_out), grad.dtype)
            copy_in_slices(g_cl, g_rows.reshape(g_cl.shape))
        else:
            g_rows = g_cl.reshape(m, k_out)
        g_grp = g_rows.reshape(m, g, k_out // g).transpose(1, 0, 2)  # (G, M, K/G)
        gx = gw = gb = None
        need_gb = len(self.needs_grad) == 3 and self.needs_grad[2]
        if self.needs_grad[1]:
            gw, gb = self._weight_grad(g_grp, g_rows if need_gb else None)
        elif need_gb:
            gb = xp.dot(scratch().ones(m, grad.dtype), g_rows)  # (K,)
        if self.needs_grad[0]:  # (N, K, *O) view of the channels-last rows
            g_view = xp.moveaxis(g_rows.reshape(g_cl.shape), -1, 1)
            gx = self._input_grad(g_view, g_grp)
        if copied:
            scratch().give(g_rows)
        return (gx, gw) if len(self.needs_grad) == 2 else (gx, gw, gb)

    def _weight_grad(self, g_grp: Array, g_rows: Array | None) -> tuple[Array, Array | None]:
        """(K, C/G, *k): the sum over chunks of columns^T (G, f, rows) @ grad (G, rows, K/G);
        with ``g_rows`` (M, K) also the bias gradient (K,), as ones (rows,) @ grad rows."""
        stride, dilation, _, _, g = self.options
        xpad, kernel = self.xpad, self.kernel
        cg, k_out = xpad.shape[-1] // g, g_grp.shape[0] * g_grp.shape[2]
        win = windows(xpad, kernel, stride, dilation, self.out_size, 1)
        win = win.reshape(*win.shape[:-1], g, cg)
        p, f = math.prod(self.out_size), math.prod(kernel) * cg

        def work(lo: int, hi: int) -> tuple[Array, Array]:
            gw_part = xp.zeros((g, f, k_out // g), dtype=g_grp.dtype)
            gb_part = xp.zeros(k_out, dtype=g_grp.dtype)
            for rows, cols in _im2col_blocks(win[lo:hi], False):
                rows = slice(lo * p + rows.start, lo * p + rows.stop)
                gw_part += _stacked_product(cols.transpose(0, 2, 1), g_grp[:, rows])
                if g_rows is not None:
                    r = rows.stop - rows.start
                    gb_part += xp.dot(scratch().ones(r, g_grp.dtype), g_rows[rows])
            return gw_part, gb_part

        parts = parallel_slices(xpad.shape[0], g_grp.shape[1] * f, work)
        gw_grp = sum(gw for gw, _ in parts)
        gw = gw_grp.reshape(g, -1, cg, k_out // g).transpose(0, 3, 2, 1).reshape(
            k_out, cg, *kernel)
        return gw, sum(gb for _, gb in parts) if g_rows is not None else None

    def release(self) -> None:
        if getattr(self, "xpad_owned", False):
            scratch().give(self.xpad)
        super().release()

    def _input_grad(self, grad: Array, g_grp: Array) -> Array:
        """(N, C, *S) view of channels-last (or channels-first) memory."""
        stride, dilation, pads, mode, g = self.options
        w, x_shape, out_size = self.w, self.x_shape, self.out_size
        n, c = x_shape[:2]
        kernel, cg = w.shape[2:], c // g
        pad_shape = (n, *(s + lo + hi for s, (lo, hi) in zip(x_shape[2:], pads)), c)
        geometry = (n, cg, kernel, out_size, stride, dilation)
        if cg < CHANNELS_FIRST_COL2IM_BELOW:
            dpad = col2im_channels_first(g_grp, weight_matrix(w, g), pad_shape, geometry)
            return xp.moveaxis(_unpad(dpad, ((0, 0), (0, 0), *pads), mode), 0, 1)
        if INPUT_GRAD_AS_CONV and mode == "zeros" and all(s == 1 for s in stride):
            return _transposed_conv(grad, w, dilation, pads, g, x_shape)
        dpad = col2im_channels_last(g_grp, weight_matrix(w, g), pad_shape, geometry)
        return xp.moveaxis(_unpad(dpad, ((0, 0), *pads, (0, 0)), mode), -1, 1)


def _transposed_conv(grad: Array, w: Array, dilation: tuple[int, ...], pads: Pads, g: int,
                     x_shape: tuple[int, ...]) -> Array:
    """Input gradient of a stride-1, zero-padded convolution, as a convolution itself:
    dx[s] = sum_j grad[s + lo - d*j] w[j] is grad padded by d*(k-1) - lo (low) and
    d*(k-1) - hi (high) correlated with the flipped kernel, K and C swapped per group.
    Returns (N, C, *S), a view of channels-last memory."""
    k_out, cg, kernel = w.shape[0], w.shape[1], w.shape[2:]
    nd = len(kernel)
    w_t = w.reshape(g, k_out // g, cg, *kernel).swapaxes(1, 2)  # (G, C/G, K/G, *k)
    w_t = w_t[(Ellipsis, *(slice(None, None, -1),) * nd)].reshape(g * cg, k_out // g, *kernel)
    new_pads, crop = [], [slice(None), slice(None)]
    for (lo, hi), d, k, o in zip(pads, dilation, kernel, grad.shape[2:]):
        span = d * (k - 1)
        new_pads.append((max(span - lo, 0), max(span - hi, 0)))
        crop.append(slice(max(lo - span, 0), o - max(hi - span, 0)))
    gpad, _ = padded_channels_last(grad[tuple(crop)], tuple(new_pads), "zeros")
    dx, _ = conv_rows(gpad, w_t, None, (1,) * nd, dilation, g)
    return xp.moveaxis(dx.reshape(x_shape[0], *x_shape[2:], x_shape[1]), -1, 1)


def col2im_channels_last(g_grp: Array, wmat: Array, pad_shape: tuple[int, ...],
                         geometry: tuple[Any, ...]) -> Array:
    """Input gradient on the padded input, channels-last: (N, *Sp, C).

    g_grp (G, M, K/G) is the output gradient, wmat (G, f, K/G) the forward weight matrix. Per
    chunk the column gradients (G, rows, f) come from one GEMM into a cached buffer and are
    added back onto the input element each of them read, one kernel offset at a time.
    """
    n, cg, kernel, out_size, stride, dilation = geometry
    g, f, nd, p = g_grp.shape[0], wmat.shape[1], len(kernel), math.prod(out_size)
    dpad = xp.zeros((*pad_shape[:-1], g, cg), dtype=g_grp.dtype)  # (N, *Sp, G, C/G)
    w_t = wmat.transpose(0, 2, 1)  # (G, K/G, f)

    def work(lo: int, hi: int) -> None:
        blocks = _blocks(hi - lo, out_size, g * f * g_grp.itemsize)
        if not blocks:
            return
        buf = scratch().take((g, max(r.stop - r.start for _, r in blocks), f), g_grp.dtype)
        for (images, first), rows in blocks:
            dcols = buf[:, :rows.stop - rows.start]
            xp.matmul(g_grp[:, lo * p + rows.start:lo * p + rows.stop], w_t, out=dcols)
            block_out = (len(range(*first.indices(out_size[0]))), *out_size[1:])
            dcols = dcols.reshape(g, -1, *block_out, *kernel, cg)
            # The block's outputs read the padded input from row first.start * stride on.
            region = dpad[lo:hi][images, (first.start or 0) * stride[0]:]
            add_windows(region, xp.moveaxis(dcols, 0, -2), 1 + nd,  # (n', *O', *k, G, C/G)
                        stride, dilation, block_out, 1)
        scratch().give(buf)

    parallel_slices(n, g_grp.shape[1] * f, work)
    return dpad.reshape(pad_shape)


def col2im_channels_first(g_grp: Array, wmat: Array, pad_shape: tuple[int, ...],
                          geometry: tuple[Any, ...]) -> Array:
    """Input gradient on the padded input, channels-first: (C, N, *Sp).

    The transposed column gradients (G, f, M) = wmat @ g_grp^T put each (kernel offset,
    channel) in one contiguous row over (N, *O), so every add moves whole output rows.
    """
    n, cg, kernel, out_size, stride, dilation = geometry
    g, f, p = g_grp.shape[0], wmat.shape[1], math.prod(out_size)
    dpad = xp.zeros((g, cg, n, *pad_shape[1:-1]), dtype=g_grp.dtype)  # (G, C/G, N, *Sp)

    def work(lo: int, hi: int) -> None:
        dcols = scratch().take((g, f, (hi - lo) * p), g_grp.dtype)
        xp.matmul(wmat, g_grp[:, lo * p:hi * p].transpose(0, 2, 1), out=dcols)
        d = dcols.reshape(g, *kernel, cg, hi - lo, *out_size)
        add_windows(dpad[:, :, lo:hi], d, 1, stride, dilation, out_size, 3)
        scratch().give(dcols)

    parallel_slices(n, g_grp.shape[1] * f, work)
    return dpad.reshape(g * cg, n, *pad_shape[1:-1])


def _unpad(dpad: Array, pads: Pads, mode: str) -> Array:
    """Gradient of the unpadded input from the padded one's: a view for zero padding."""
    if mode == "zeros":
        return dpad[tuple(slice(lo, dpad.shape[i] - hi) for i, (lo, hi) in enumerate(pads))]
    return pad_array_backward(dpad, pads, mode)
