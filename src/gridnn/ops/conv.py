"""N-d convolution (cross-correlation): exactly ``conv_plain``, made fast.

It computes what ``ops/conv_plain.py`` computes (pad, take every window, multiply by the kernel
and sum, add the bias; backward: windows x gradient, sum, col2im) and differs only in how:
chunked im2col into cached buffers, one GEMM per chunk, threads over the batch, scratch pools.
Results agree with ``conv_plain`` to float rounding; the tests run both on every case.

Shapes, for d spatial dims (d = 1: L; d = 2: H, W):
    x (N, C, *S), weight (K, C/G, *k), bias (K,)  ->  out (N, K, *O)
    O_i = (S_i + lo_i + hi_i - dilation_i * (k_i - 1) - 1) // stride_i + 1

The work happens channels-last: the padded input is laid out (N, *Sp, C) so each window row
of the column matrix is a few long contiguous runs. The result is returned as a (N, K, *O) view
of channels-last memory; the next conv's move to channels-last is then free.

Where the time goes, and why the code looks the way it does (2 cores, OpenBLAS; the numbers
are in benchmarks/RESULTS.md):
- The GEMMs run near the machine's peak; the rest is memory traffic. The column matrix is
  therefore never built whole: chunk by chunk (``options().chunk_bytes``) it is copied into one
  cached buffer and multiplied while it is still in cache, which also speeds the GEMM up (its
  output and inputs stay in cache). Backward rebuilds the columns for the weight gradient the
  same way from the kept padded input: faster than reading back a saved column matrix.
- Each pass is split over the batch into as many threads as the BLAS has, each thread with a
  single-threaded BLAS (``workspace.parallel_slices``): the copies run in parallel too, and no
  chunk's GEMM waits for the BLAS's threads to wake up. With fewer images than threads (batch
  1) a big enough product (``workspace.splits_one_sample``) splits each image's output rows,
  or, where there are fewer rows than filters (deep layers), the filters (``workspace.dot``):
  there, row slices each re-read the whole weight in small products, at half the BLAS's
  speed. Smaller ones run in the calling thread: handing work to a thread and joining it
  costs 30-50 us.
- Buffers come from a bounded per-thread pool (``workspace.scratch``): a fresh multi-megabyte
  array costs a page fault per 4 KiB, which doubles a copy into it. Zero-padded inputs go to
  cached buffers whose borders are zeroed once.
- Big enough 3 x 3 stride-1 layers skip im2col: Winograd's F(2 x 2, 3 x 3)
  (``ops/winograd.py``) does 16 multiplies for every 2 x 2 outputs instead of 36, as 16 GEMMs
  between cheap transforms (forward, the weight gradient, and the input gradient when it is
  such a convolution itself). Layers of few filters skip it too: their GEMM is too narrow for
  the BLAS, and a compiled direct loop (``ops/direct.py``) sums each output in registers.
- The bias rides in the forward GEMM as a column of ones in the column matrix (a separate
  ``out += bias`` pass cost as much as the GEMM itself for small layers); the bias gradient is
  a product of ones with the output gradient, chunk by chunk (a BLAS product beats
  ``sum(axis=0)``, which reduces along the slow axis).
- The input gradient of a stride-1, zero-padded convolution is itself a convolution (of the
  output gradient with the flipped kernel): one more chunked im2col + GEMM, faster than the
  scatter-add of col2im (``options().input_grad_as_conv``). Other strides and padding modes use
  col2im, chunked; with few channels per group (``options().channels_first_col2im_below``) it
  runs channels-first, where every add moves whole rows of the output instead of runs of C
  floats. With Numba, channels-last col2im of one group is one compiled loop
  (``kernels.col2im_2d``) instead of one NumPy call per kernel offset.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from .._backend import xp
from ..autograd import Function
from . import depthwise, direct, grouped, winograd
from .columns import col2im_channels_first, col2im_channels_last, im2col_blocks
from .options import options
from .shape import pad_array_backward
from .windows import (
    ConvGeometry,
    Pads,
    channels_first,
    channels_last,
    padded_channels_last,
    windows,
)
from .workspace import (
    chunks,
    copy_in_slices,
    dot,
    parallel_slices,
    scratch,
    splits_one_sample,
    thread_count,
    write_block,
)

Array = Any
Then = Callable[[Array, Array], None]  # then(src, dst): (rows, K) blocks of the output


def _stacked_product(a: Array, b: Array) -> Array:
    """(G, m, r) @ (G, r, n) -> (G, m, n). One group goes through ``np.dot``: ``np.matmul``
    keeps the GIL through a product with a small result, such as the (9, rows) @ (rows, 32)
    weight gradient of a single-channel layer, so threads doing it ran one after another."""
    if a.shape[0] == 1:
        return xp.dot(a[0], b[0])[None]
    return xp.matmul(a, b)


def weight_matrix(w: Array, groups: int, bias: Array | None = None,
                  out: Array | None = None) -> Array:
    """(K, C/G, *k) -> (G, f, K/G), rows ordered (kernel offset, channel) like the columns;
    with ``bias`` (K,) an extra last row (f + 1 rows). The result is a transposed view of
    (G, K/G, f) memory (``out`` if given, of that shape, else new), which a GEMM reads as it
    is: the copy then moves runs of C/G floats for each filter, where transposing K to the
    inside as well was 4x slower (4.7 ms for a 512 x 512 x 3 x 3 weight)."""
    k_out, cg = w.shape[:2]
    kg = k_out // groups
    wt = w.reshape(groups, kg, cg, -1).transpose(0, 1, 3, 2)  # (G, K/G, k, C/G) view
    f = wt.shape[2] * cg
    if bias is None and out is None:
        return wt.reshape(groups, kg, f).transpose(0, 2, 1)  # a view when k or C/G is 1
    m = xp.empty((groups, kg, f + (bias is not None)), w.dtype) if out is None else out
    rows = m[..., :f]  # (G, K/G, f): its last axis split into (k, C/G), a view
    item = rows.itemsize
    xp.copyto(xp.lib.stride_tricks.as_strided(
        rows, (groups, kg, wt.shape[2], cg), (*rows.strides[:2], cg * item, item)), wt)
    if bias is not None:
        m[..., f] = bias.reshape(groups, kg)
    return m.transpose(0, 2, 1)


def conv_rows(xpad: Array, w: Array, bias: Array | None, geo: ConvGeometry,
              then: Then | None = None) -> Array:
    """The convolution of the padded channels-last input (N, *Sp, C) as rows: out (M, K), rows
    ordered (N, *O). Chunk by chunk, the columns are copied into a cached buffer that stays in
    cache for their GEMM; ``then`` (see ``ConvNd``) runs on each chunk's rows of ``out``."""
    n, c = xpad.shape[0], xpad.shape[-1]
    k_out, kernel, out_size = w.shape[0], w.shape[2:], geo.out_size
    g, cg, kg = geo.groups, c // geo.groups, k_out // geo.groups
    if winograd.takes(xpad.shape, w.shape, geo):
        return winograd.forward(xpad, w, bias, geo, then)
    if direct.takes(c, k_out, kernel, geo):
        return direct.forward(xpad, w, bias, geo, then)
    flat = pointwise_rows(xpad, kernel, geo)
    if flat is not None:
        return _pointwise(flat, weight_matrix(w, 1)[0],
                          None if bias is None else bias.astype(xpad.dtype, copy=False), n, then)
    win = windows(xpad, kernel, geo.stride, geo.dilation, out_size, 1)  # (N, *O, *k, C)
    win = win.reshape(*win.shape[:-1], g, cg)  # (N, *O, *k, G, C/G)
    p, f = math.prod(out_size), math.prod(kernel) * cg
    # Far fewer output rows than filters per group (deep layers, small batches): reordering
    # the weight (K * C/G * k elements) costs more than the GEMM. Then the columns take the
    # weight's own (channel, kernel offset) order (a slower copy, but of M * C * k elements)
    # and the GEMM reads the weight in place, transposed; the bias is added to each chunk.
    channel_major = 4 * n * p < kg
    wbuf = None
    if channel_major:
        wmat = w.reshape(g, kg, -1).transpose(0, 2, 1)  # (G, f, K/G), a view
    else:  # the bias rides as a last row, against the columns' last column of ones
        wbuf = scratch().take((g, kg, f + (bias is not None)), xpad.dtype)
        wmat = weight_matrix(w, g, None if bias is None else bias.astype(xpad.dtype), wbuf)
    ones = bias is not None and not channel_major
    out = xp.empty((n * p, k_out), dtype=xpad.dtype)

    late_bias = bias.astype(xpad.dtype, copy=False) if channel_major and bias is not None \
        else None
    o0, inner = out_size[0], p // out_size[0] if p else 0
    # one image too big for one thread: its filters split (fewer output rows than filters, as
    # in deep layers: row slices would each re-read the whole weight) or its output rows
    split = n < thread_count() and splits_one_sample(n * p * f * k_out)
    by_filters = split and g == 1 and n * p < k_out

    def product(cols: Array, done: slice) -> None:  # a chunk's rows of the output
        write_block(out[done], lambda dst: dot(cols[0], wmat[0], out=dst) if by_filters else
                    xp.matmul(cols, wmat, out=dst.reshape(-1, g, kg).transpose(1, 0, 2)),
                    late_bias, then)

    def work(lo: int, hi: int) -> None:  # images lo..hi
        for rows, cols in im2col_blocks(win[lo:hi], ones, channel_major):
            product(cols, slice(lo * p + rows.start, lo * p + rows.stop))

    def work_rows(lo: int, hi: int) -> None:  # units lo..hi of (image, first output axis)
        for i in range(lo // o0, (hi - 1) // o0 + 1):
            a, b = max(lo - i * o0, 0), min(hi - i * o0, o0)
            for rows, cols in im2col_blocks(win[i:i + 1, a:b], ones, channel_major):
                base = i * p + a * inner
                product(cols, slice(base + rows.start, base + rows.stop))

    size = n * p * wmat.shape[1]
    if by_filters:  # here, not inside parallel_slices: ``dot``'s own slices split the filters
        work(0, n)
    elif split and o0 > 1:
        parallel_slices(n * o0, size, work_rows)
    else:
        parallel_slices(n, size, work)
    if wbuf is not None:
        scratch().give(wbuf)
    return out


def pointwise_rows(xpad: Array, kernel: tuple[int, ...], geo: ConvGeometry) -> Array | None:
    """The input (N, *S, C) as its (M, C) matrix of rows when the convolution is a plain
    product with the weight (1 x 1 kernel, stride 1, one group): its columns are the input
    itself, so there is nothing to copy. Else None."""
    if geo.groups == 1 and all(k == 1 for k in kernel) and all(s == 1 for s in geo.stride):
        return xpad.reshape(-1, xpad.shape[-1])
    return None


def _pointwise(rows: Array, wmat: Array, bias: Array | None, n: int,
               then: Then | None = None) -> Array:
    """rows (M, C) of n images @ wmat (C, K) [+ bias (K,)], then ``then``: images split over
    threads, each slice in cache-sized pieces of rows, so that the bias and ``then`` find
    their piece in cache. One image too big for one thread is one ``dot``, split by it."""
    k_out = wmat.shape[1]
    size = rows.size + wmat.size + rows.shape[0] * k_out
    out = xp.empty((rows.shape[0], k_out), dtype=rows.dtype)
    if n < thread_count() and splits_one_sample(rows.size * k_out):
        write_block(out, lambda dst: dot(rows, wmat, out=dst), bias, then)
        return out
    p = rows.shape[0] // n if n else 0
    item = (rows.shape[1] + k_out) * rows.itemsize

    def work(lo: int, hi: int) -> None:
        for s, e in chunks(lo * p, hi * p, item) if then is not None else [(lo * p, hi * p)]:
            write_block(out[s:e], lambda dst, part=rows[s:e]: xp.dot(part, wmat, out=dst),
                        bias, then)

    parallel_slices(n, size, work)
    return out


class ConvNd(Function):
    """Forward and backward of the N-d convolution; arguments are validated by the caller.

    ``then`` (inference only: no input may want a gradient): ``then(src, dst)`` writes into
    ``dst`` a function of ``src``, both C-contiguous (rows, K) blocks (channels last), such as
    the activation that follows the convolution. Each chunk's GEMM writes to a scratch block
    that ``then`` turns into the output's rows while it is in cache: a separate activation
    pass read and wrote the whole output once more.

    Backward: the weight gradient sums columns^T @ output gradient over the same chunks (the
    columns are rebuilt rather than kept: cheaper than reading back a saved copy, and no
    memory held between the passes). The input gradient is, for stride 1 and zero padding,
    itself a convolution (of the output gradient with the flipped, transposed kernel);
    otherwise a col2im scatter-add, channels-first when there are few channels per group.
    """

    def forward(self, x: Array, w: Array, *bias: Array, geometry: ConvGeometry,
                then: Then | None = None) -> Array:
        if then is not None and any(self.needs_grad):
            raise ValueError("ConvNd: `then` is for inference; no input may need a gradient")
        geo = self.geo = geometry
        c, k_out, nd = x.shape[1], w.shape[0], w.ndim - 2
        self.direct = (depthwise if depthwise.is_depthwise(c, k_out, nd, geo) else
                       grouped if grouped.takes(c, k_out, nd, geo) else None)
        # a depthwise layer reads its zero padding as zeros (no padded copy), unless the
        # weight's gradient will want the padded input
        unpadded = self.direct is depthwise and geo.mode == "zeros" and not self.needs_grad[1]
        xpad, owned = padded_channels_last(x, ((0, 0),) * nd if unpadded else geo.pads,
                                           geo.mode, keep=self.needs_grad[1])
        if self.direct is not None:  # (N, *O, K) channels-last
            out = depthwise.forward(xpad, w, bias[0] if bias else None, geo,
                                    padded=not unpadded) if self.direct is depthwise else \
                grouped.forward(xpad, w, bias[0] if bias else None, geo)
            if then is not None:  # (N, *O, K): each image's rows in its own thread
                rows, out = out.reshape(x.shape[0], -1, k_out), xp.empty_like(out)
                done = out.reshape(rows.shape)
                parallel_slices(x.shape[0], out.size, lambda lo, hi: [
                    then(rows[i], done[i]) for i in range(lo, hi)])
        else:
            out = conv_rows(xpad, w, bias[0] if bias else None, geo, then)
        self.x_shape, self.kernel = x.shape, w.shape[2:]
        if self.needs_grad[1]:  # the columns are rebuilt from the padded input in backward
            self.xpad, self.xpad_owned = xpad, owned
        if self.needs_grad[0]:
            self.w = w
        out = out.reshape(x.shape[0], *geo.out_size, w.shape[0])  # (N, *O, K)
        return channels_first(out)  # (N, K, *O)

    def backward(self, grad: Array) -> tuple[Array | None, ...]:
        if self.direct is not None:
            return self._direct_backward(grad)
        g = self.geo.groups
        k_out = grad.shape[1]
        m = grad.shape[0] * math.prod(self.geo.out_size)
        g_cl = channels_last(grad)  # (N, *O, K): free when grad is channels-last memory
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
            gb = _bias_grad(g_rows, grad.shape[0])
        if self.needs_grad[0]:  # (N, K, *O) view of the channels-last rows
            g_view = channels_first(g_rows.reshape(g_cl.shape))
            gx = self._input_grad(g_view, g_grp)
        if copied:
            scratch().give(g_rows)
        return (gx, gw) if len(self.needs_grad) == 2 else (gx, gw, gb)

    def _direct_backward(self, grad: Array) -> tuple[Array | None, ...]:
        """Backward of a depthwise or narrow-grouped convolution, by its own module."""
        geo = self.geo
        g_cl = xp.ascontiguousarray(channels_last(grad))  # (N, *O, C)
        gx = gw = gb = None
        if self.needs_grad[1]:
            gw = self.direct.weight_grad(self.xpad, g_cl, geo, self.kernel)
        if len(self.needs_grad) == 3 and self.needs_grad[2]:
            gb = _bias_grad(g_cl.reshape(-1, g_cl.shape[-1]), grad.shape[0])
        if self.needs_grad[0]:
            x_shape = self.x_shape
            pad_shape = (x_shape[0], *(s + lo + hi for s, (lo, hi) in zip(x_shape[2:],
                                                                           geo.pads)),
                         x_shape[1])
            dpad = self.direct.input_grad(g_cl, self.w, geo, pad_shape)
            gx = channels_first(_unpad(dpad, ((0, 0), *geo.pads, (0, 0)), geo.mode))
        return (gx, gw) if len(self.needs_grad) == 2 else (gx, gw, gb)

    def _weight_grad(self, g_grp: Array, g_rows: Array | None) -> tuple[Array, Array | None]:
        """(K, C/G, *k): the sum over chunks of columns^T (G, f, rows) @ grad (G, rows, K/G);
        with ``g_rows`` (M, K) also the bias gradient (K,), as ones (rows,) @ grad rows."""
        geo, xpad, kernel = self.geo, self.xpad, self.kernel
        g = geo.groups
        cg, k_out = xpad.shape[-1] // g, g_grp.shape[0] * g_grp.shape[2]
        if winograd.takes(xpad.shape, (k_out, cg, *kernel), geo):  # as the forward went
            gb = None if g_rows is None else _bias_grad(g_rows, xpad.shape[0])
            return winograd.weight_grad(xpad, g_grp[0], geo), gb
        if direct.takes_weight_grad(cg * g, k_out, kernel, geo):
            gb = None if g_rows is None else _bias_grad(g_rows, xpad.shape[0])
            return direct.weight_grad(xpad, g_grp[0], geo, kernel), gb
        win = windows(xpad, kernel, geo.stride, geo.dilation, geo.out_size, 1)  # (N,*O,*k,C)
        win = win.reshape(*win.shape[:-1], g, cg)  # (N, *O, *k, G, C/G)
        p, f = math.prod(geo.out_size), math.prod(kernel) * cg
        flat = pointwise_rows(xpad, kernel, geo)

        def work(lo: int, hi: int) -> tuple[Array, Array]:
            gw_part = xp.zeros((g, f, k_out // g), dtype=g_grp.dtype)
            gb_part = xp.zeros(k_out, dtype=g_grp.dtype)
            blocks = (im2col_blocks(win[lo:hi], False) if flat is None else
                      [(slice(0, (hi - lo) * p), flat[None, lo * p:hi * p])])
            for rows, cols in blocks:
                rows = slice(lo * p + rows.start, lo * p + rows.stop)
                gw_part += _stacked_product(cols.transpose(0, 2, 1), g_grp[:, rows])
                if g_rows is not None:
                    r = rows.stop - rows.start
                    gb_part += xp.dot(scratch().ones(r, g_grp.dtype), g_rows[rows])
            return gw_part, gb_part

        parts = parallel_slices(xpad.shape[0], g_grp.shape[1] * f, work)
        gw_grp = sum(gw for gw, _ in parts)  # (G, f, K/G), rows ordered (kernel offset, channel)
        gw = gw_grp.reshape(g, -1, cg, k_out // g).transpose(0, 3, 2, 1).reshape(
            k_out, cg, *kernel)
        return gw, sum(gb for _, gb in parts) if g_rows is not None else None

    def release(self) -> None:
        if getattr(self, "xpad_owned", False):
            scratch().give(self.xpad)
        super().release()

    def _input_grad(self, grad: Array, g_grp: Array) -> Array:
        """(N, C, *S) view of channels-last (or channels-first) memory."""
        geo, w, x_shape = self.geo, self.w, self.x_shape
        n, c = x_shape[:2]
        pad_shape = (n, *(s + lo + hi for s, (lo, hi) in zip(x_shape[2:], geo.pads)), c)
        opts = options()
        if c // geo.groups < opts.channels_first_col2im_below:
            dpad = col2im_channels_first(g_grp, weight_matrix(w, geo.groups), pad_shape,
                                         w.shape[2:], geo)
            return xp.moveaxis(_unpad(dpad, ((0, 0), (0, 0), *geo.pads), geo.mode), 0, 1)
        if opts.input_grad_as_conv and geo.mode == "zeros" and all(s == 1 for s in geo.stride):
            return _transposed_conv(grad, w, geo, x_shape)
        dpad = col2im_channels_last(g_grp, weight_matrix(w, geo.groups), pad_shape, w.shape[2:],
                                    geo)
        return channels_first(_unpad(dpad, ((0, 0), *geo.pads, (0, 0)), geo.mode))


def _bias_grad(g_rows: Array, samples: int) -> Array:
    """(K,): the sum of the output gradient's rows (M, K), as ones (1, M) @ rows through
    ``workspace.dot``: gridnn's threads and a one-thread BLAS at any batch of several, since
    a product on the BLAS's own threads leaves them spinning for a while after, which stalls
    the threads of the ops that come next."""
    return dot(scratch().ones(g_rows.shape[0], g_rows.dtype)[None], g_rows, samples=samples)[0]


def _transposed_conv(grad: Array, w: Array, geo: ConvGeometry, x_shape: tuple[int, ...]) -> Array:
    """Input gradient of a stride-1, zero-padded convolution, as a convolution itself:
    dx[s] = sum_j grad[s + lo - d*j] w[j] is grad padded by d*(k-1) - lo (low) and
    d*(k-1) - hi (high) correlated with the flipped kernel, K and C swapped per group.
    Returns (N, C, *S), a view of channels-last memory."""
    g = geo.groups
    k_out, cg, kernel = w.shape[0], w.shape[1], w.shape[2:]
    nd = len(kernel)
    w_t = w.reshape(g, k_out // g, cg, *kernel).swapaxes(1, 2)  # (G, C/G, K/G, *k)
    w_t = w_t[(Ellipsis, *(slice(None, None, -1),) * nd)].reshape(g * cg, k_out // g, *kernel)
    new_pads, crop = [], [slice(None), slice(None)]
    for (lo, hi), d, k, o in zip(geo.pads, geo.dilation, kernel, grad.shape[2:]):
        span = d * (k - 1)
        new_pads.append((max(span - lo, 0), max(span - hi, 0)))
        crop.append(slice(max(lo - span, 0), o - max(hi - span, 0)))
    gpad, _ = padded_channels_last(grad[tuple(crop)], tuple(new_pads), "zeros")
    transposed = dataclasses.replace(geo, stride=(1,) * nd, pads=tuple(new_pads),
                                     out_size=tuple(x_shape[2:]))
    dx = conv_rows(gpad, w_t, None, transposed)  # (N * prod(S), C)
    return channels_first(dx.reshape(x_shape[0], *x_shape[2:], x_shape[1]))


def _unpad(dpad: Array, pads: Pads, mode: str) -> Array:
    """Gradient of the unpadded input from the padded one's: a view for zero padding."""
    if mode == "zeros":
        return dpad[tuple(slice(lo, dpad.shape[i] - hi) for i, (lo, hi) in enumerate(pads))]
    return pad_array_backward(dpad, pads, mode)
