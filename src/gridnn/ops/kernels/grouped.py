"""The compiled loops of ``ops/grouped.py`` (see the package's docstring)."""

from __future__ import annotations

from numba import njit

from .loops import _JIT

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
