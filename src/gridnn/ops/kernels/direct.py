"""The compiled loops of ``ops/direct.py``: a convolution and its weight gradient with no
column matrix, for layers with few filters and for narrow groups (see the package's
docstring).

The forward computes four neighbouring output pixels for sixteen filters a pass: 64 sums
that live in registers (four 16-float tuples, which LLVM turns into eight 8-float vectors)
for the whole window, then are stored once. Per input channel of a tap it loads the sixteen
filters' weights once and one input value per pixel, for 64 multiply-adds (with groups of
eight filters, one input value per pixel for each half). The weight
gradient turns it around: 64 sums of four input channels of one tap for sixteen filters,
over a row of output pixels, each pixel's sixteen gradients loaded once. The tuples are
written out by the 16-lane helpers below; Numba's loop vectoriser cannot see them, so these
kernels are compiled with LLVM's SLP vectoriser on (``SLP_KERNELS``).
"""

from __future__ import annotations

from numba import njit

from .loops import _JIT

_DIRECT = {**_JIT, "fastmath": {"contract"}}


@njit(inline="always")
def _load16(v, o):  # type: ignore[no-untyped-def]
    """v[o:o + 16] as a tuple."""
    return (v[o], v[o + 1], v[o + 2], v[o + 3], v[o + 4], v[o + 5], v[o + 6], v[o + 7],
            v[o + 8], v[o + 9], v[o + 10], v[o + 11], v[o + 12], v[o + 13], v[o + 14],
            v[o + 15])


@njit(inline="always")
def _fill16(v):  # type: ignore[no-untyped-def]
    """(v, v, ..., v), 16 lanes."""
    return (v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v)


@njit(inline="always")
def _madd16(a, x, w):  # type: ignore[no-untyped-def]
    """a + x * w[:16], lane by lane (a a 16-tuple, x a scalar)."""
    return (a[0] + x * w[0], a[1] + x * w[1], a[2] + x * w[2], a[3] + x * w[3],
            a[4] + x * w[4], a[5] + x * w[5], a[6] + x * w[6], a[7] + x * w[7],
            a[8] + x * w[8], a[9] + x * w[9], a[10] + x * w[10], a[11] + x * w[11],
            a[12] + x * w[12], a[13] + x * w[13], a[14] + x * w[14], a[15] + x * w[15])


@njit(inline="always")
def _madd16x2(a, x, y, w):  # type: ignore[no-untyped-def]
    """``_madd16`` with x for lanes 0-7 and y for lanes 8-15 (two groups of eight filters)."""
    return (a[0] + x * w[0], a[1] + x * w[1], a[2] + x * w[2], a[3] + x * w[3],
            a[4] + x * w[4], a[5] + x * w[5], a[6] + x * w[6], a[7] + x * w[7],
            a[8] + y * w[8], a[9] + y * w[9], a[10] + y * w[10], a[11] + y * w[11],
            a[12] + y * w[12], a[13] + y * w[13], a[14] + y * w[14], a[15] + y * w[15])


@njit(inline="always")
def _add16(v, a):  # type: ignore[no-untyped-def]
    """v[:16] += a (indices written out, as in ``_store16``)."""
    v[0] += a[0]
    v[1] += a[1]
    v[2] += a[2]
    v[3] += a[3]
    v[4] += a[4]
    v[5] += a[5]
    v[6] += a[6]
    v[7] += a[7]
    v[8] += a[8]
    v[9] += a[9]
    v[10] += a[10]
    v[11] += a[11]
    v[12] += a[12]
    v[13] += a[13]
    v[14] += a[14]
    v[15] += a[15]


@njit(inline="always")
def _store8(a, v, o):  # type: ignore[no-untyped-def]
    """v[o:o + 8] = a[:8]: the last pass of a layer whose filters are not a multiple of 16."""
    v[o], v[o + 1], v[o + 2], v[o + 3] = a[0], a[1], a[2], a[3]
    v[o + 4], v[o + 5], v[o + 6], v[o + 7] = a[4], a[5], a[6], a[7]


@njit(inline="always")
def _store16(a, v, o):  # type: ignore[no-untyped-def]
    """v[o:o + 16] = a (indices written out: a loop would put the tuple in memory)."""
    v[o], v[o + 1], v[o + 2], v[o + 3] = a[0], a[1], a[2], a[3]
    v[o + 4], v[o + 5], v[o + 6], v[o + 7] = a[4], a[5], a[6], a[7]
    v[o + 8], v[o + 9], v[o + 10], v[o + 11] = a[8], a[9], a[10], a[11]
    v[o + 12], v[o + 13], v[o + 14], v[o + 15] = a[12], a[13], a[14], a[15]


@njit(**_DIRECT)
def direct_2d(x, w, bias, kg, sh, sw, dh, dw, oh_, r0, out):  # type: ignore[no-untyped-def]
    """Output rows r0.. of the (N * OH) rows (image n, row i: r = n * OH + i), into out (R,
    OW, K): out[r - r0, j, k] = bias[k] + sum over (a, b, c) of x[n, i*sh + a*dh, j*sw + b*dw,
    (k // kg) * CG + c] * w[k // 16, a, b, c, k % 16]; x (N, Hp, Wp, C) padded, w (ceil(K /
    16), KH, KW, CG, 16) and bias (16 * ceil(K / 16),) zero past K, kg filters a group (a
    multiple of 8; K for one group), K a multiple of 8. The sum runs tap by tap, each over the
    group's channels, from the bias. Each half of a pass's sixteen filters reads its own
    group's channels (the same ones with groups of 16 or more); a last pass of eight filters
    computes eight of zero weight (reading the first half's channels) and stores eight."""
    ow_, k_ = out.shape[1], out.shape[2]
    blocks, kh, kw, c_ = w.shape[0], w.shape[1], w.shape[2], w.shape[3]
    for r in range(r0, r0 + out.shape[0]):
        n, i = r // oh_, r % oh_
        orow = out[r - r0]
        for kb in range(blocks):
            k0 = kb * 16
            full = k0 + 16 <= k_
            lo = k0 // kg * c_  # the two halves' first channels
            hi = (k0 + 8) // kg * c_ if full else lo
            j = 0
            while j + 4 <= ow_:  # four pixels a pass
                a0 = a1 = a2 = a3 = _load16(bias, k0)
                for a in range(kh):
                    xr = x[n, i * sh + a * dh]
                    for b in range(kw):
                        wt, q = w[kb, a, b], j * sw + b * dw
                        x0, x1, x2, x3 = xr[q], xr[q + sw], xr[q + 2 * sw], xr[q + 3 * sw]
                        if lo == hi:  # one group: one load of each input value
                            for c in range(c_):
                                wc, u = wt[c], lo + c
                                a0 = _madd16(a0, x0[u], wc)
                                a1 = _madd16(a1, x1[u], wc)
                                a2 = _madd16(a2, x2[u], wc)
                                a3 = _madd16(a3, x3[u], wc)
                            continue
                        for c in range(c_):
                            wc, u, v = wt[c], lo + c, hi + c
                            a0 = _madd16x2(a0, x0[u], x0[v], wc)
                            a1 = _madd16x2(a1, x1[u], x1[v], wc)
                            a2 = _madd16x2(a2, x2[u], x2[v], wc)
                            a3 = _madd16x2(a3, x3[u], x3[v], wc)
                if full:
                    _store16(a0, orow[j], k0)
                    _store16(a1, orow[j + 1], k0)
                    _store16(a2, orow[j + 2], k0)
                    _store16(a3, orow[j + 3], k0)
                else:
                    _store8(a0, orow[j], k0)
                    _store8(a1, orow[j + 1], k0)
                    _store8(a2, orow[j + 2], k0)
                    _store8(a3, orow[j + 3], k0)
                j += 4
            while j < ow_:  # the last few, one at a time
                a0 = _load16(bias, k0)
                for a in range(kh):
                    xr = x[n, i * sh + a * dh]
                    for b in range(kw):
                        wt, x0 = w[kb, a, b], xr[j * sw + b * dw]
                        for c in range(c_):
                            a0 = _madd16x2(a0, x0[lo + c], x0[hi + c], wt[c])
                if full:
                    _store16(a0, orow[j], k0)
                else:
                    _store8(a0, orow[j], k0)
                j += 1


@njit(**_DIRECT)
def direct_2d_weight_grad(x, g, sh, sw, dh, dw, oh_, r0, r1, out):  # type: ignore[no-untyped-def]
    """out[kb, a, b, c, l] += sum over the outputs of rows r0..r1 (image n, row i: r = n * OH +
    i) of g[r, j, kb * 16 + l] * x[n, i*sh + a*dh, j*sw + b*dw, c]; x (N, Hp, Wp, C) padded,
    g (N * OH, OW, K) the output gradient, out (K / 16, KH, KW, C, 16) float64. Each output
    row's sums are formed in the data's dtype, then added to out."""
    ow_ = g.shape[1]
    blocks, kh, kw, c_ = out.shape[0], out.shape[1], out.shape[2], out.shape[3]
    zero = g.dtype.type(0)
    for r in range(r0, r1):
        n, i = r // oh_, r % oh_
        grow = g[r]
        for kb in range(blocks):
            k0 = kb * 16
            for a in range(kh):
                xr = x[n, i * sh + a * dh]
                for b in range(kw):
                    tap = out[kb, a, b]
                    c = 0
                    while c + 4 <= c_:  # four channels a pass
                        a0 = a1 = a2 = a3 = _fill16(zero)
                        for j in range(ow_):
                            gv, xv = grow[j], xr[j * sw + b * dw]
                            gk = _load16(gv, k0)
                            a0 = _madd16(a0, xv[c], gk)
                            a1 = _madd16(a1, xv[c + 1], gk)
                            a2 = _madd16(a2, xv[c + 2], gk)
                            a3 = _madd16(a3, xv[c + 3], gk)
                        _add16(tap[c], a0)
                        _add16(tap[c + 1], a1)
                        _add16(tap[c + 2], a2)
                        _add16(tap[c + 3], a3)
                        c += 4
                    while c < c_:  # the last few, one at a time
                        a0 = _fill16(zero)
                        for j in range(ow_):
                            a0 = _madd16(a0, xr[j * sw + b * dw, c], _load16(grow[j], k0))
                        _add16(tap[c], a0)
                        c += 1
