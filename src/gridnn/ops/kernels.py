"""Compiled loops (Numba) for the ops whose NumPy versions pass over memory several times.

Max pooling's backward in NumPy compares every window offset with the output and masks
(four passes per offset); BatchNorm's backward makes three passes and two BLAS sums; ReLU's
backward multiplies by a stored mask; col2im adds one strided view per kernel offset, each a
NumPy call over short runs of channels. Here each is one loop that reads its inputs once, as
the formulas in ``ops/pool.py`` and ``ops/norm.py`` say. The ops call a kernel on a slice of the
batch (or of the rows) per thread (``workspace.parallel_slices``); ``nogil`` lets the threads
run at once. Sums accumulate in float64 whatever the data's dtype.

Called only through ``ops.compiled.kernels()``: this module needs Numba, which compiles each
kernel once per machine and argument kind into machine code that ``ops/kernel_objects.py``
caches and later processes load without Numba. A kernel writes its results into arrays it is
given and never raises (one that returns a value runs through Numba's dispatcher).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_JIT = {"nogil": True, "cache": True, "fastmath": False, "boundscheck": False}


@njit(**_JIT)
def max_pool_2d(x, kh, kw, sh, sw, ph, pw, out, arg):  # type: ignore[no-untyped-def]
    """Max over windows with their first maximum's offset, channels innermost.

    x (N, H, W, C); out, arg (N, OH, OW, C): out[n, i, j, c] is the max of x[n, i*sh - ph + a,
    j*sw - pw + b, c] over the window offsets (a, b) inside the input, arg the first such
    offset a*kw + b (row-major order, as the NumPy path and PyTorch pick). A NaN wins (the first
    one), as in PyTorch.
    """
    n_, h_, w_, c_ = x.shape
    oh_, ow_ = out.shape[1], out.shape[2]
    for n in range(n_):
        for i in range(oh_):
            for j in range(ow_):
                o, best_at = out[n, i, j], arg[n, i, j]
                first = True
                for a in range(kh):
                    h = i * sh - ph + a
                    if h < 0 or h >= h_:
                        continue
                    for b in range(kw):
                        w = j * sw - pw + b
                        if w < 0 or w >= w_:
                            continue
                        k, v = a * kw + b, x[n, h, w]
                        if first:
                            for c in range(c_):
                                o[c] = v[c]
                                best_at[c] = k
                            first = False
                            continue
                        # selects, not branches: no mispredictions on random data, and the
                        # loop vectorises
                        for c in range(c_):
                            take = v[c] > o[c] or (v[c] != v[c] and o[c] == o[c])
                            o[c] = v[c] if take else o[c]
                            best_at[c] = k if take else best_at[c]


@njit(**_JIT)
def max_pool_2d_grad(g, arg, kh, kw, sh, sw, ph, pw, tiled, dx):  # type: ignore[no-untyped-def]
    """dx (N, H, W, C) from g, arg (N, OH, OW, C): each window's gradient goes to the input
    value its ``arg`` names. ``tiled``: the windows cover the input exactly once (stride =
    kernel, no padding, no rows left over), so every value of dx is written, never added;
    else dx is zeroed first and overlapping windows add up."""
    n_, oh_, ow_, c_ = g.shape
    h_, w_ = dx.shape[1], dx.shape[2]
    if not tiled:
        dx[...] = 0
    for n in range(n_):
        for i in range(oh_):
            for j in range(ow_):
                for a in range(kh):
                    h = i * sh - ph + a
                    if h < 0 or h >= h_:
                        continue
                    for b in range(kw):
                        w = j * sw - pw + b
                        if w < 0 or w >= w_:
                            continue
                        k = a * kw + b
                        if tiled:
                            for c in range(c_):
                                dx[n, h, w, c] = g[n, i, j, c] if arg[n, i, j, c] == k else 0
                        else:
                            for c in range(c_):
                                if arg[n, i, j, c] == k:
                                    dx[n, h, w, c] += g[n, i, j, c]


@njit(**_JIT)
def col2im_2d(cols, sh, sw, dh, dw, dst):  # type: ignore[no-untyped-def]
    """col2im, channels innermost: dst (N, Hp, Wp, C) += every window entry of cols
    (N, OH, OW, KH, KW, C) at the input element it was read from, dst[n, i*sh + a*dh,
    j*sw + b*dw, c] += cols[n, i, j, a, b, c]."""
    n_, oh_, ow_, kh, kw, c_ = cols.shape
    for n in range(n_):
        for i in range(oh_):
            for j in range(ow_):
                for a in range(kh):
                    for b in range(kw):
                        src, out = cols[n, i, j, a, b], dst[n, i * sh + a * dh, j * sw + b * dw]
                        for c in range(c_):
                            out[c] += src[c]


@njit(**_JIT)
def channel_sums(rows, out):  # type: ignore[no-untyped-def]
    """out (C,) float64 += the column sums of rows (M, C)."""
    m_, c_ = rows.shape
    for r in range(m_):
        for c in range(c_):
            out[c] += rows[r, c]


@njit(**_JIT)
def channel_squared_deviations(rows, mean, out):  # type: ignore[no-untyped-def]
    """out (C,) float64 += sum over rows of (rows - mean)^2, rows (M, C), mean (C,)."""
    m_, c_ = rows.shape
    for r in range(m_):
        for c in range(c_):
            d = np.float64(rows[r, c]) - mean[c]
            out[c] += d * d


@njit(**_JIT)
def channel_grad_sums(rows, grad, mean, out):  # type: ignore[no-untyped-def]
    """out (2, C) float64 += [sum(grad), sum(grad * (rows - mean))] per column; rows and
    grad (M, C), mean (C,)."""
    m_, c_ = rows.shape
    for r in range(m_):
        for c in range(c_):
            gv = np.float64(grad[r, c])
            out[0, c] += gv
            out[1, c] += gv * (np.float64(rows[r, c]) - mean[c])


@njit(**_JIT)
def scale_shift(rows, scale, shift, out):  # type: ignore[no-untyped-def]
    """out = rows * scale + shift per column; rows, out (M, C), scale and shift (C,)."""
    m_, c_ = rows.shape
    for r in range(m_):
        for c in range(c_):
            out[r, c] = rows[r, c] * scale[c] + shift[c]


@njit(**_JIT)
def batch_norm_input_grad(grad, rows, scale, slope, shift, out):  # type: ignore[no-untyped-def]
    """out = grad * scale - rows * slope + shift per column (BatchNorm's dx with batch
    statistics, see ``ops/norm.py``); all (M, C) but the (C,) coefficients."""
    m_, c_ = rows.shape
    for r in range(m_):
        for c in range(c_):
            out[r, c] = grad[r, c] * scale[c] - rows[r, c] * slope[c] + shift[c]


@njit(**_JIT)
def relu_grad(g, y, out):  # type: ignore[no-untyped-def]
    """out = g where y > 0, else 0; all 1-D of one length (ReLU's output y)."""
    for i in range(g.shape[0]):
        out[i] = g[i] if y[i] > 0 else 0



@njit(**_JIT)
def depthwise_2d(xpad, w, bias, sh, sw, dh, dw, r0, r1, out):  # type: ignore[no-untyped-def]
    """Depthwise convolution, channels innermost, output rows r0..r1 of the (N * OH) rows:
    out[n, i, j, c] = bias[c] + sum over (a, b) of xpad[n, i*sh + a*dh, j*sw + b*dw, c]
    * w[a, b, c]; xpad (N, Hp, Wp, C) padded, w (KH, KW, C), bias (C,), out (N, OH, OW, C)."""
    oh_, ow_, c_ = out.shape[1], out.shape[2], out.shape[3]
    kh, kw = w.shape[0], w.shape[1]
    for r in range(r0, r1):
        n, i = r // oh_, r % oh_
        for j in range(ow_):
            for c in range(c_):
                out[n, i, j, c] = bias[c]
        for a in range(kh):  # one kernel offset over the whole output row: runs of W * C
            h = i * sh + a * dh
            for b in range(kw):
                for j in range(ow_):
                    q = j * sw + b * dw
                    for c in range(c_):
                        out[n, i, j, c] += xpad[n, h, q, c] * w[a, b, c]


@njit(**_JIT)
def depthwise_2d_weight_grad(xpad, g, sh, sw, dh, dw, out):  # type: ignore[no-untyped-def]
    """out (KH, KW, C) float64 += sum over (n, i, j) of g[n, i, j, c] * xpad[n, i*sh + a*dh,
    j*sw + b*dw, c]; g (N, OH, OW, C)."""
    n_, oh_, ow_, c_ = g.shape
    kh, kw = out.shape[0], out.shape[1]
    for n in range(n_):
        for i in range(oh_):
            for j in range(ow_):
                gv = g[n, i, j]
                for a in range(kh):
                    for b in range(kw):
                        src, o = xpad[n, i * sh + a * dh, j * sw + b * dw], out[a, b]
                        for c in range(c_):
                            o[c] += np.float64(gv[c]) * src[c]


@njit(**_JIT)
def depthwise_2d_input_grad(g, w, sh, sw, dh, dw, r0, r1, dxpad):  # type: ignore[no-untyped-def]
    """The gradient on the padded input, rows r0..r1 of its (N * Hp) rows, gathered (every
    element written once, so row slices never collide): dxpad[n, p, q, c] = sum of g[n, i, j,
    c] * w[a, b, c] over the (i, j, a, b) with i*sh + a*dh = p and j*sw + b*dw = q."""
    oh_, ow_, c_ = g.shape[1], g.shape[2], g.shape[3]
    hp_, wp_ = dxpad.shape[1], dxpad.shape[2]
    kh, kw = w.shape[0], w.shape[1]
    for r in range(r0, r1):
        n, p = r // hp_, r % hp_
        for q in range(wp_):
            o = dxpad[n, p, q]
            for c in range(c_):
                o[c] = 0
            for a in range(kh):
                t = p - a * dh
                if t < 0 or t % sh != 0 or t // sh >= oh_:
                    continue
                i = t // sh
                for b in range(kw):
                    u = q - b * dw
                    if u < 0 or u % sw != 0 or u // sw >= ow_:
                        continue
                    gv, wk = g[n, i, u // sw], w[a, b]
                    for c in range(c_):
                        o[c] += gv[c] * wk[c]


@njit(**_JIT)
def erf(x, out):  # type: ignore[no-untyped-def]
    """out = erf(x) element-wise (the C library's erf); both 1-D of one length."""
    for i in range(x.shape[0]):
        out[i] = math.erf(x[i])


# grouped convolution -------------------------------------------------------------------------
# The loops of ``ops/grouped.py``. One task is one group of channels of a few images: their
# inputs are copied channels-first into flat "planes" (one per input channel, split by stride
# phase), where the window of every kernel tap is one contiguous run, and each output channel
# is a sum of taps x whole runs: long vectorised loops however few channels a group has.
# ``contract`` lets a multiply and an add fuse; the weight gradient's sums also reassociate,
# which lets them run in vector lanes.
_GROUPED = {**_JIT, "fastmath": {"contract"}}
_GROUPED_SUMS = {**_JIT, "fastmath": {"contract", "reassoc"}}


@njit(**_GROUPED)
def _add_taps(src, offs, wts, acc):  # type: ignore[no-untyped-def]
    """acc[p] += sum over taps t of src[offs[t] + p] * wts[t] for p < len(acc), three taps a
    pass (one load and store of acc per three products)."""
    n, taps = acc.shape[0], offs.shape[0]
    t = 0
    while t + 3 <= taps:
        o0, o1, o2 = offs[t], offs[t + 1], offs[t + 2]
        s0, s1, s2 = src[o0:o0 + n], src[o1:o1 + n], src[o2:o2 + n]
        w0, w1, w2 = wts[t], wts[t + 1], wts[t + 2]
        for p in range(n):
            acc[p] += s0[p] * w0 + s1[p] * w1 + s2[p] * w2
        t += 3
    while t < taps:
        s0, w0 = src[offs[t]:offs[t] + n], wts[t]
        for p in range(n):
            acc[p] += s0[p] * w0
        t += 1


@njit(**_GROUPED_SUMS)
def _dot_taps(gk, src, offs, out):  # type: ignore[no-untyped-def]
    """out[t] += sum over p < len(gk) of gk[p] * src[offs[t] + p], three taps a pass, summed
    in the data's dtype (in vector lanes: many partial sums) and added to out's."""
    n, taps, zero = gk.shape[0], offs.shape[0], gk.dtype.type(0)
    t = 0
    while t + 3 <= taps:
        o0, o1, o2 = offs[t], offs[t + 1], offs[t + 2]
        s0, s1, s2 = src[o0:o0 + n], src[o1:o1 + n], src[o2:o2 + n]
        a0, a1, a2 = zero, zero, zero
        for p in range(n):
            a0 += gk[p] * s0[p]
            a1 += gk[p] * s1[p]
            a2 += gk[p] * s2[p]
        out[t] += a0
        out[t + 1] += a1
        out[t + 2] += a2
        t += 3
    while t < taps:
        s0, a0 = src[offs[t]:offs[t] + n], zero
        for p in range(n):
            a0 += gk[p] * s0[p]
        out[t] += a0
        t += 1


@njit(**_GROUPED)
def _add_taps4(src, offs, wts, acc, r, lo, n):  # type: ignore[no-untyped-def]
    """``_add_taps`` for rows r..r+4 of acc at once (their elements lo..lo+n), weighted by wts
    (4, T): each run of src is read once for four filters (or input channels)."""
    taps = offs.shape[0]
    a_, b_ = acc[r, lo:lo + n], acc[r + 1, lo:lo + n]
    c_, d_ = acc[r + 2, lo:lo + n], acc[r + 3, lo:lo + n]
    t = 0
    while t + 3 <= taps:
        o0, o1, o2 = offs[t], offs[t + 1], offs[t + 2]
        s0, s1, s2 = src[o0:o0 + n], src[o1:o1 + n], src[o2:o2 + n]
        a0, a1, a2 = wts[0, t], wts[0, t + 1], wts[0, t + 2]
        b0, b1, b2 = wts[1, t], wts[1, t + 1], wts[1, t + 2]
        c0, c1, c2 = wts[2, t], wts[2, t + 1], wts[2, t + 2]
        d0, d1, d2 = wts[3, t], wts[3, t + 1], wts[3, t + 2]
        for p in range(n):
            x0, x1, x2 = s0[p], s1[p], s2[p]
            a_[p] += x0 * a0 + x1 * a1 + x2 * a2
            b_[p] += x0 * b0 + x1 * b1 + x2 * b2
            c_[p] += x0 * c0 + x1 * c1 + x2 * c2
            d_[p] += x0 * d0 + x1 * d1 + x2 * d2
        t += 3
    while t < taps:
        s0 = src[offs[t]:offs[t] + n]
        a0, b0, c0, d0 = wts[0, t], wts[1, t], wts[2, t], wts[3, t]
        for p in range(n):
            x0 = s0[p]
            a_[p] += x0 * a0
            b_[p] += x0 * b0
            c_[p] += x0 * c0
            d_[p] += x0 * d0
        t += 1


@njit(**_GROUPED)
def _add_rows(src, offs, wts, acc, lo, n):  # type: ignore[no-untyped-def]
    """acc[:, lo:lo + n] (R rows) += the taps of src weighted by wts (R, T), row r by wts[r]:
    four rows a pass, then one at a time. (Rows of a C-contiguous acc are sliced here, not by
    the caller, so that the loops see unit strides.)"""
    r = 0
    while r + 4 <= acc.shape[0]:
        _add_taps4(src, offs, wts[r:r + 4], acc, r, lo, n)
        r += 4
    while r < acc.shape[0]:
        _add_taps(src, offs, wts[r], acc[r, lo:lo + n])
        r += 1


@njit(**_GROUPED_SUMS)
def _dot_rows(g, n, src, offs, out):  # type: ignore[no-untyped-def]
    """out (R, T) += the dot products of the first n of g's rows (R, >= n) with the runs of
    src at offs, as ``_dot_taps``; four rows a pass (each run read once for four), then one at
    a time."""
    taps, zero = offs.shape[0], g.dtype.type(0)
    r = 0
    while r + 4 <= g.shape[0]:
        g0, g1, g2, g3 = g[r, :n], g[r + 1, :n], g[r + 2, :n], g[r + 3, :n]
        for t in range(taps):
            s0 = src[offs[t]:offs[t] + n]
            a0, a1, a2, a3 = zero, zero, zero, zero
            for p in range(n):
                x0 = s0[p]
                a0 += g0[p] * x0
                a1 += g1[p] * x0
                a2 += g2[p] * x0
                a3 += g3[p] * x0
            out[r, t] += a0
            out[r + 1, t] += a1
            out[r + 2, t] += a2
            out[r + 3, t] += a3
        r += 4
    while r < g.shape[0]:
        _dot_taps(g[r, :n], src, offs, out[r])
        r += 1


@njit(**_GROUPED)
def _planes(xpad, n0, m, c0, sh, sw, hg, wg, planes, back):  # type: ignore[no-untyped-def]
    """Between channels c0.. of images n0..n0+m of xpad (N, Hp, Wp, C) and the planes
    (CG, S * B): element (n0 + n, h, q, c0 + ci) sits at planes[ci, ((h % sh * sw + q % sw)
    * B // (hg * wg) + n) * hg * wg + h // sh * wg + q // sw], B = planes.shape[1] // S (its
    stride phase, then image, row and column of the phase). Copies xpad into the planes, or
    with ``back`` the planes into xpad; a channel's run of one row at a time (contiguous in the
    planes, every sw-th pixel in xpad)."""
    hp_, wp_, cg = xpad.shape[1], xpad.shape[2], planes.shape[0]
    images = planes.shape[1] // (sh * sw * hg * wg)
    for n in range(m):
        for h in range(hp_):
            row = xpad[n0 + n, h]
            for pw in range(sw):
                at = (((h % sh * sw + pw) * images + n) * hg + h // sh) * wg
                count = (wp_ - pw + sw - 1) // sw
                for ci in range(cg):
                    run, px = planes[ci, at:at + count], row[pw:, c0 + ci]
                    if back:
                        for q in range(count):
                            px[q * sw] = run[q]
                    else:
                        for q in range(count):
                            run[q] = px[q * sw]


@njit(**_GROUPED)
def grouped_2d(xpad, w, bias, offs, sh, sw, hg, wg,  # type: ignore[no-untyped-def]
               t0, t1, planes, acc, out):
    """Grouped convolution, tasks t0..t1 of (image chunk, group), chunk-major:
    out[n, i, j, k] = bias[k] + sum over (ci, tap) of xpad[n, i*sh + a*dh, j*sw + b*dw,
    group(k) * CG + ci] * w[k, ci, tap]. xpad (N, Hp, Wp, C) padded; w (K, CG, T) with the
    taps (a, b) in the order of offs (T,), their runs' starts in the planes (CG, S * B); acc
    (KG, B) scratch; out (N, OH, OW, K). Output (n, i, j) of a chunk is position
    n * hg * wg + i * wg + j of a run."""
    n_, c_ = xpad.shape[0], xpad.shape[3]
    oh_, ow_, k_ = out.shape[1], out.shape[2], out.shape[3]
    cg = w.shape[1]
    groups, plane = c_ // cg, hg * wg
    kg, images = k_ // groups, planes.shape[1] // (sh * sw * plane)
    for task in range(t0, t1):
        n0, g = task // groups * images, task % groups
        m = min(images, n_ - n0)
        _planes(xpad, n0, m, g * cg, sh, sw, hg, wg, planes, False)
        length = (m - 1) * plane + (oh_ - 1) * wg + ow_
        for t in range(kg):
            acc[t, :length] = bias[g * kg + t]
        for ci in range(cg):
            _add_rows(planes[ci], offs, w[g * kg:(g + 1) * kg, ci], acc, 0, length)
        for n in range(m):
            for i in range(oh_):
                o, p = out[n0 + n, i], n * plane + i * wg
                for j in range(ow_):
                    for t in range(kg):
                        o[j, g * kg + t] = acc[t, p + j]


@njit(**_GROUPED)
def _grad_rows(g, n0, m, k0, hg, wg, margin, rows):  # type: ignore[no-untyped-def]
    """rows (KG, margin + B) = 0, then the output gradient g[n0 + n, i, j, k0 + t] at
    rows[t, margin + n * hg * wg + i * wg + j]: the runs of the forward outputs, zero at every
    position that is not an output."""
    oh_, ow_, kg = g.shape[1], g.shape[2], rows.shape[0]
    rows[:] = 0
    for n in range(m):
        for i in range(oh_):
            gv, p = g[n0 + n, i], margin + n * hg * wg + i * wg
            for j in range(ow_):
                for t in range(kg):
                    rows[t, p + j] = gv[j, k0 + t]


@njit(**_GROUPED_SUMS)
def grouped_2d_weight_grad(xpad, g, offs, sh, sw, hg, wg,  # type: ignore[no-untyped-def]
                           t0, t1, planes, rows, out):
    """out (K, CG, T) float64 += sum over the outputs of tasks t0..t1 of g[n, i, j, k] *
    the input that tap t of weight (k, ci) met there (layout as in ``grouped_2d``); g
    (N, OH, OW, K); rows (KG, B) scratch."""
    n_, c_ = xpad.shape[0], xpad.shape[3]
    oh_, ow_, k_ = g.shape[1], g.shape[2], g.shape[3]
    cg = out.shape[1]
    groups, plane = c_ // cg, hg * wg
    kg, images = k_ // groups, planes.shape[1] // (sh * sw * plane)
    for task in range(t0, t1):
        n0, gr = task // groups * images, task % groups
        m = min(images, n_ - n0)
        _planes(xpad, n0, m, gr * cg, sh, sw, hg, wg, planes, False)
        _grad_rows(g, n0, m, gr * kg, hg, wg, 0, rows)
        length = (m - 1) * plane + (oh_ - 1) * wg + ow_
        for ci in range(cg):
            _dot_rows(rows, length, planes[ci], offs, out[gr * kg:(gr + 1) * kg, ci])


@njit(**_GROUPED)
def grouped_2d_input_grad(g, w, offs, phases, sh, sw, hg, wg,  # type: ignore[no-untyped-def]
                          t0, t1, rows, planes, dxpad):
    """The gradient on the padded input dxpad (N, Hp, Wp, C), tasks t0..t1 (each writes its
    own images and channels once): a gathered sum, per stride phase, of the output gradient's
    runs (``_grad_rows`` after a zero margin) shifted back by each tap of that phase, offs[t]
    = margin - (the tap's start within its phase), taps phases[s]..phases[s + 1]; times
    w[k, ci, t]. rows (KG, margin + B), planes (CG, S * B) scratch."""
    n_, c_ = dxpad.shape[0], dxpad.shape[3]
    k_, cg = g.shape[3], w.shape[1]
    groups, plane = c_ // cg, hg * wg
    kg, images = k_ // groups, planes.shape[1] // (sh * sw * plane)
    block, margin = images * plane, rows.shape[1] - images * plane
    for task in range(t0, t1):
        n0, gr = task // groups * images, task % groups
        m = min(images, n_ - n0)
        _grad_rows(g, n0, m, gr * kg, hg, wg, margin, rows)
        for s in range(sh * sw):
            planes[:, s * block:s * block + m * plane] = 0
            lo, hi = phases[s], phases[s + 1]
            for t in range(kg):
                _add_rows(rows[t], offs[lo:hi], w[gr * kg + t, :, lo:hi], planes, s * block,
                          m * plane)
        _planes(dxpad, n0, m, gr * cg, sh, sw, hg, wg, planes, True)



# element-wise activations
# float32 only, on 1-D slices of dense memory. Numba calls the C library's exp per element (no
# vector maths library here), 10x slower than NumPy's SIMD exp; so exp is written out: e**v =
# 2**k e**r with k = round(v / ln 2), r = v - k ln 2 (ln 2 in two parts, as Cephes' expf) and
# a polynomial for e**r. A first loop writes 2**k's bits into ``out`` through ``bits`` (the
# caller's int32 view of it: Numba's own view is strided, which LLVM gathers and scatters), a
# second finishes the op, a block at a time so both stay in L1; LLVM vectorises each.

_F = np.float32
# a division by zero gives inf, as in NumPy, instead of a check that stops vectorisation
_JIT_VEC = {**_JIT, "error_model": "numpy", "fastmath": {"contract"}}
_BLOCK = 2048
_SHIFT = _F(12582912.0)  # 1.5 * 2**23: (v + _SHIFT) - _SHIFT rounds v to an integer
_LOG2E, _LN2_HI, _LN2_LO = _F(1.4426950408889634), _F(0.693359375), _F(-2.12194440e-4)
_SQRT_HALF, _GELU_K, _GELU_C = _F(0.7071067811865476), _F(0.7978845608028654), _F(0.044715)


@njit(**_JIT_VEC)
def _clip(v, low, high):  # type: ignore[no-untyped-def]
    """v clipped to [low, high]; NaN stays NaN (Numba's max(NaN, low) is low)."""
    return low if v < low else high if v > high else v


@njit(**_JIT_VEC)
def _two_k(v):  # type: ignore[no-untyped-def]
    """The int32 bits of 2**k, k = round(v / ln 2), v clipped to float32 exp's range."""
    v = _clip(v, _F(-87.0), _F(88.0))
    return (np.int32((v * _LOG2E + _SHIFT) - _SHIFT) + 127) << 23


@njit(**_JIT_VEC)
def _exp(v, two_k):  # type: ignore[no-untyped-def]
    """e**v given 2**k from ``_two_k(v)``: 2**k e**r, e**r by Cephes' expf polynomial."""
    v = _clip(v, _F(-87.0), _F(88.0))
    k = (v * _LOG2E + _SHIFT) - _SHIFT
    r = v - k * _LN2_HI - k * _LN2_LO
    p = ((((_F(1.9875691500e-4) * r + _F(1.3981999507e-3)) * r + _F(8.3334519073e-3)) * r
          + _F(4.1665795894e-2)) * r + _F(1.6666665459e-1)) * r + _F(5.0000001201e-1)
    return (p * r * r + r + _F(1)) * two_k


@njit(**_JIT_VEC)
def _gelu_tanh_arg(v):  # type: ignore[no-untyped-def]
    """-2y, y = sqrt(2/pi) (v + 0.044715 v**3): v (1 + tanh(y)) / 2 = v / (1 + e**(-2y))."""
    return _F(-2) * _GELU_K * (v + _GELU_C * v * v * v)


@njit(**_JIT_VEC)
def _erfc_t(v):  # type: ignore[no-untyped-def]
    return _F(1) / (_F(1) + _F(0.5) * _SQRT_HALF * abs(v))


@njit(**_JIT_VEC)
def _erfc_arg(v, t):  # type: ignore[no-untyped-def]
    """-z**2 + P(t), z = |v| / sqrt 2, t = 1 / (1 + z/2): erfc(z) = t e**(that), the Chebyshev
    fit of Numerical Recipes (2nd ed., 6.2), relative error below 1.2e-7 for every z >= 0."""
    p = ((((((((_F(0.17087277) * t + _F(-0.82215223)) * t + _F(1.48851587)) * t
              + _F(-1.13520398)) * t + _F(0.27886807)) * t + _F(-0.18628806)) * t
           + _F(0.09678418)) * t + _F(0.37409196)) * t + _F(1.00002368)) * t + _F(-1.26551223)
    return p - _F(0.5) * v * v


@njit(**_JIT_VEC)
def sigmoid(x, out, bits):  # type: ignore[no-untyped-def]
    """out = 1 / (1 + e**-x)."""
    for s in range(0, x.shape[0], _BLOCK):  # loops from 0: no negative-index wraparound
        xb, ob, bb = x[s:s + _BLOCK], out[s:s + _BLOCK], bits[s:s + _BLOCK]
        for i in range(xb.shape[0]):
            bb[i] = _two_k(-xb[i])
        for i in range(xb.shape[0]):
            ob[i] = _F(1) / (_F(1) + _exp(-xb[i], ob[i]))


@njit(**_JIT_VEC)
def silu(x, out, bits):  # type: ignore[no-untyped-def]
    """out = x / (1 + e**-x)."""
    for s in range(0, x.shape[0], _BLOCK):  # loops from 0: no negative-index wraparound
        xb, ob, bb = x[s:s + _BLOCK], out[s:s + _BLOCK], bits[s:s + _BLOCK]
        for i in range(xb.shape[0]):
            bb[i] = _two_k(-xb[i])
        for i in range(xb.shape[0]):
            ob[i] = xb[i] / (_F(1) + _exp(-xb[i], ob[i]))


@njit(**_JIT_VEC)
def gelu_tanh(x, out, bits):  # type: ignore[no-untyped-def]
    """out = x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3))) / 2."""
    for s in range(0, x.shape[0], _BLOCK):  # loops from 0: no negative-index wraparound
        xb, ob, bb = x[s:s + _BLOCK], out[s:s + _BLOCK], bits[s:s + _BLOCK]
        for i in range(xb.shape[0]):
            bb[i] = _two_k(_gelu_tanh_arg(xb[i]))
        for i in range(xb.shape[0]):
            ob[i] = xb[i] / (_F(1) + _exp(_gelu_tanh_arg(xb[i]), ob[i]))


@njit(**_JIT_VEC)
def gelu_erf(x, out, bits):  # type: ignore[no-untyped-def]
    """out = x Phi(x), Phi(x) = erfc(-x / sqrt 2) / 2: the exact GELU. The second loop
    recomputes t and the exponent rather than keeping them in an array: an allocation here
    would need Numba's runtime (and Numba) in every process that runs the kernel."""
    for s in range(0, x.shape[0], _BLOCK):
        xb, ob, bb = x[s:s + _BLOCK], out[s:s + _BLOCK], bits[s:s + _BLOCK]
        for i in range(xb.shape[0]):
            bb[i] = _two_k(_erfc_arg(xb[i], _erfc_t(xb[i])))
        for i in range(xb.shape[0]):
            v = xb[i]
            t = _erfc_t(v)
            tail = _F(0.5) * t * _exp(_erfc_arg(v, t), ob[i])  # Phi(-|v|); ob[i] is 2**k
            ob[i] = v * (tail if v <= 0 else _F(1) - tail)


@njit(**_JIT_VEC)
def hardswish(x, out):  # type: ignore[no-untyped-def]
    """out = x clip(x + 3, 0, 6) / 6."""
    for i in range(x.shape[0]):
        v = x[i]
        out[i] = v * _clip(v + _F(3), _F(0), _F(6)) * _F(1 / 6)


@njit(**_JIT_VEC)
def hardsigmoid(x, out):  # type: ignore[no-untyped-def]
    """out = clip(x + 3, 0, 6) / 6."""
    for i in range(x.shape[0]):
        out[i] = _clip(x[i] + _F(3), _F(0), _F(6)) * _F(1 / 6)


@njit(**{**_JIT_VEC, "fastmath": {"contract", "reassoc"}})  # sums in any order: vectorised
def normalize_rows(x, eps, out, invstd):  # type: ignore[no-untyped-def]
    """LayerNorm's rows: out[r] = (x[r] - mean) / sqrt(var + eps) over each row of x (M, K),
    mean and (biased) var summed in float64; invstd (M,) gets 1 / sqrt(var + eps)."""
    m_, k_ = x.shape
    for r in range(m_):
        row, total = x[r], 0.0
        for c in range(k_):
            total += row[c]
        mean = total / k_
        squares = 0.0
        for c in range(k_):
            d = row[c] - mean
            squares += d * d
        inv = 1.0 / np.sqrt(squares / k_ + eps)
        invstd[r] = inv
        o, m, s = out[r], x.dtype.type(mean), x.dtype.type(inv)
        for c in range(k_):
            o[c] = (row[c] - m) * s


@njit(**_JIT_VEC)
def clip(x, low, high, out):  # type: ignore[no-untyped-def]
    """out = x clipped to [low, high] (ReLU: [0, inf], ReLU6: [0, 6]); NaN stays NaN. NumPy's
    maximum and clip here take 1 ns an element, this loop a fifth of that."""
    lo, hi = x.dtype.type(low), x.dtype.type(high)
    for i in range(x.shape[0]):
        out[i] = _clip(x[i], lo, hi)
