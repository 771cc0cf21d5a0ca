"""The compiled loops of the depthwise convolution (``ops/depthwise.py``), channels innermost.

Each loop's innermost loop runs over the channels of one pixel: unit stride on every array,
so LLVM vectorises it. A depthwise layer does two multiply-adds per value it loads, so what
decides its speed is how many loads and stores each output costs. The forward loop therefore
sums all nine taps of a 3 x 3 kernel in one expression, in registers, and stores each output
once. At stride 1 it does four neighbouring pixels a pass: their windows overlap, so six input
columns and nine weight vectors serve 36 taps; at other strides two pixels share the weights.
Other kernels add one kernel row at a time onto the output, a 5-tap row as one expression
(four pixels from eight shared columns at stride 1, three from nine at stride 2). Zero padding
need not be copied in: the taps outside the input read a vector of zeros. The sums keep the
order of the formula (bias, then the taps row by row), so every path gives the same bits. (A
3 x 3 stride-2 four-pixel pass in the same loop needed so many run-time alias checks that LLVM
vectorised neither it nor the stride-1 pass.)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .loops import _JIT


@njit(**_JIT)
def depthwise_2d(x, w, bias, zero, sh, sw, dh, dw, ph, pw, r0, r1,  # type: ignore[no-untyped-def]
                 out):
    """Output rows r0..r1 of the (N * OH) rows: out[n, i, j, c] = bias[c] + sum over (a, b) of
    x[n, i*sh + a*dh - ph, j*sw + b*dw - pw, c] * w[a, b, c], the taps that fall outside x
    reading ``zero`` (C,) zeros (zero padding: ph rows and pw columns before x, after it as many
    as OH and OW need); x (N, H, W, C), w (KH, KW, C), bias (C,), out (N, OH, OW, C)."""
    h_, w_ = x.shape[1], x.shape[2]
    oh_, ow_, c_ = out.shape[1], out.shape[2], out.shape[3]
    kh, kw = w.shape[0], w.shape[1]
    # output columns lo..hi read inside x with every tap: the fast paths, with no checks
    lo = min(ow_, (pw + sw - 1) // sw)
    hi = max(lo, min(ow_, (w_ - 1 - (kw - 1) * dw + pw) // sw + 1))
    for r in range(r0, r1):
        n, i = r // oh_, r % oh_
        orow, top = out[n, i], i * sh - ph
        j0, j1 = (lo, hi) if top >= 0 and top + (kh - 1) * dh < h_ else (0, 0)
        for m in range(ow_ - (j1 - j0)):  # the pixels at the border, a kernel row at a time
            j = m if m < j0 else m + j1 - j0
            o, q = orow[j], j * sw - pw
            for c in range(c_):
                o[c] = bias[c]
            for a in range(kh):
                h = top + a * dh
                if h < 0 or h >= h_:  # a row of zeros adds nothing
                    continue
                xa, wa = x[n, h], w[a]
                if kw == 3 or kw == 5:  # as one expression, taps outside reading zeros
                    s0 = xa[q] if 0 <= q < w_ else zero
                    s1 = xa[q + dw] if 0 <= q + dw < w_ else zero
                    s2 = xa[q + 2 * dw] if 0 <= q + 2 * dw < w_ else zero
                    w0, w1, w2 = wa[0], wa[1], wa[2]
                    if kw == 3:
                        for c in range(c_):
                            o[c] = o[c] + s0[c] * w0[c] + s1[c] * w1[c] + s2[c] * w2[c]
                        continue
                    s3 = xa[q + 3 * dw] if 0 <= q + 3 * dw < w_ else zero
                    s4 = xa[q + 4 * dw] if 0 <= q + 4 * dw < w_ else zero
                    w3, w4 = wa[3], wa[4]
                    for c in range(c_):
                        o[c] = (o[c] + s0[c] * w0[c] + s1[c] * w1[c] + s2[c] * w2[c]
                                + s3[c] * w3[c] + s4[c] * w4[c])
                    continue
                for b in range(kw):
                    if 0 <= q + b * dw < w_:
                        src, wk = xa[q + b * dw], wa[b]
                        for c in range(c_):
                            o[c] += src[c] * wk[c]
        if j1 == j0:
            continue
        if kh == 3 and kw == 3:
            x0, x1, x2 = x[n, top], x[n, top + dh], x[n, top + 2 * dh]
            w00, w01, w02 = w[0, 0], w[0, 1], w[0, 2]
            w10, w11, w12 = w[1, 0], w[1, 1], w[1, 2]
            w20, w21, w22 = w[2, 0], w[2, 1], w[2, 2]
            if sw == 1 and dw == 1 and j1 - j0 >= 4:
                # four pixels a pass; their windows overlap, so a column of x read once
                # serves up to three of them (6 columns for 36 taps)
                for m in range(j0, j1, 4):
                    j = min(m, j1 - 4)  # the last pass redoes pixels: the same values
                    o0, o1, o2, o3 = orow[j], orow[j + 1], orow[j + 2], orow[j + 3]
                    q = j - pw
                    a0, a1, a2, a3, a4, a5 = (x0[q], x0[q + 1], x0[q + 2], x0[q + 3],
                                              x0[q + 4], x0[q + 5])
                    b0, b1, b2, b3, b4, b5 = (x1[q], x1[q + 1], x1[q + 2], x1[q + 3],
                                              x1[q + 4], x1[q + 5])
                    c0, c1, c2, c3, c4, c5 = (x2[q], x2[q + 1], x2[q + 2], x2[q + 3],
                                              x2[q + 4], x2[q + 5])
                    for c in range(c_):
                        y0 = (bias[c] + a0[c] * w00[c] + a1[c] * w01[c] + a2[c] * w02[c]
                              + b0[c] * w10[c] + b1[c] * w11[c] + b2[c] * w12[c]
                              + c0[c] * w20[c] + c1[c] * w21[c] + c2[c] * w22[c])
                        y1 = (bias[c] + a1[c] * w00[c] + a2[c] * w01[c] + a3[c] * w02[c]
                              + b1[c] * w10[c] + b2[c] * w11[c] + b3[c] * w12[c]
                              + c1[c] * w20[c] + c2[c] * w21[c] + c3[c] * w22[c])
                        y2 = (bias[c] + a2[c] * w00[c] + a3[c] * w01[c] + a4[c] * w02[c]
                              + b2[c] * w10[c] + b3[c] * w11[c] + b4[c] * w12[c]
                              + c2[c] * w20[c] + c3[c] * w21[c] + c4[c] * w22[c])
                        y3 = (bias[c] + a3[c] * w00[c] + a4[c] * w01[c] + a5[c] * w02[c]
                              + b3[c] * w10[c] + b4[c] * w11[c] + b5[c] * w12[c]
                              + c3[c] * w20[c] + c4[c] * w21[c] + c5[c] * w22[c])
                        o0[c], o1[c], o2[c], o3[c] = y0, y1, y2, y3
                continue
            for m in range(j0, j1, 2):
                # an odd run's last pass redoes the pixel before: pixels that overlap take a
                # slow path (the arrays may alias), pixels rewritten with the same value do not
                j = max(min(m, j1 - 2), j0)
                k = min(j + 1, j1 - 1)
                o, p, q, t = orow[j], orow[k], j * sw - pw, k * sw - pw
                a0, a1, a2 = x0[q], x0[q + dw], x0[q + 2 * dw]
                b0, b1, b2 = x1[q], x1[q + dw], x1[q + 2 * dw]
                c0, c1, c2 = x2[q], x2[q + dw], x2[q + 2 * dw]
                d0, d1, d2 = x0[t], x0[t + dw], x0[t + 2 * dw]
                e0, e1, e2 = x1[t], x1[t + dw], x1[t + 2 * dw]
                f0, f1, f2 = x2[t], x2[t + dw], x2[t + 2 * dw]
                for c in range(c_):
                    u = (bias[c] + a0[c] * w00[c] + a1[c] * w01[c] + a2[c] * w02[c]
                         + b0[c] * w10[c] + b1[c] * w11[c] + b2[c] * w12[c]
                         + c0[c] * w20[c] + c1[c] * w21[c] + c2[c] * w22[c])
                    v = (bias[c] + d0[c] * w00[c] + d1[c] * w01[c] + d2[c] * w02[c]
                         + e0[c] * w10[c] + e1[c] * w11[c] + e2[c] * w12[c]
                         + f0[c] * w20[c] + f1[c] * w21[c] + f2[c] * w22[c])
                    o[c] = u
                    p[c] = v
            continue
        for j in range(j0, j1):
            o = orow[j]
            for c in range(c_):
                o[c] = bias[c]
        for a in range(kh):  # one kernel row at a time, added onto the output row
            xa, wa = x[n, top + a * dh], w[a]
            rest = j0  # the pixels from here on: two a pass (5 taps), then tap by tap
            if kw == 5:
                w0, w1, w2, w3, w4 = wa[0], wa[1], wa[2], wa[3], wa[4]
                if sw == 1 and dw == 1:  # four pixels a pass from the eight columns they share
                    rest = j1 - (j1 - j0) % 4
                    for j in range(j0, rest, 4):
                        o0, o1, o2, o3 = orow[j], orow[j + 1], orow[j + 2], orow[j + 3]
                        q = j - pw
                        a0, a1, a2, a3, a4, a5, a6, a7 = (
                            xa[q], xa[q + 1], xa[q + 2], xa[q + 3], xa[q + 4], xa[q + 5],
                            xa[q + 6], xa[q + 7])
                        for c in range(c_):
                            y0 = (o0[c] + a0[c] * w0[c] + a1[c] * w1[c] + a2[c] * w2[c]
                                  + a3[c] * w3[c] + a4[c] * w4[c])
                            y1 = (o1[c] + a1[c] * w0[c] + a2[c] * w1[c] + a3[c] * w2[c]
                                  + a4[c] * w3[c] + a5[c] * w4[c])
                            y2 = (o2[c] + a2[c] * w0[c] + a3[c] * w1[c] + a4[c] * w2[c]
                                  + a5[c] * w3[c] + a6[c] * w4[c])
                            y3 = (o3[c] + a3[c] * w0[c] + a4[c] * w1[c] + a5[c] * w2[c]
                                  + a6[c] * w3[c] + a7[c] * w4[c])
                            o0[c], o1[c], o2[c], o3[c] = y0, y1, y2, y3
                elif sw == 2 and dw == 1:  # three pixels a pass from the nine columns they share
                    rest = j1 - (j1 - j0) % 3
                    for j in range(j0, rest, 3):
                        o0, o1, o2 = orow[j], orow[j + 1], orow[j + 2]
                        q = 2 * j - pw
                        a0, a1, a2, a3, a4, a5, a6, a7, a8 = (
                            xa[q], xa[q + 1], xa[q + 2], xa[q + 3], xa[q + 4], xa[q + 5],
                            xa[q + 6], xa[q + 7], xa[q + 8])
                        for c in range(c_):
                            y0 = (o0[c] + a0[c] * w0[c] + a1[c] * w1[c] + a2[c] * w2[c]
                                  + a3[c] * w3[c] + a4[c] * w4[c])
                            y1 = (o1[c] + a2[c] * w0[c] + a3[c] * w1[c] + a4[c] * w2[c]
                                  + a5[c] * w3[c] + a6[c] * w4[c])
                            y2 = (o2[c] + a4[c] * w0[c] + a5[c] * w1[c] + a6[c] * w2[c]
                                  + a7[c] * w3[c] + a8[c] * w4[c])
                            o0[c], o1[c], o2[c] = y0, y1, y2
                for j in range(rest, j1 - 1, 2):
                    o, p, q, t = orow[j], orow[j + 1], j * sw - pw, j * sw + sw - pw
                    a0, a1, a2, a3, a4 = (xa[q], xa[q + dw], xa[q + 2 * dw], xa[q + 3 * dw],
                                          xa[q + 4 * dw])
                    b0, b1, b2, b3, b4 = (xa[t], xa[t + dw], xa[t + 2 * dw], xa[t + 3 * dw],
                                          xa[t + 4 * dw])
                    for c in range(c_):
                        u = (o[c] + a0[c] * w0[c] + a1[c] * w1[c] + a2[c] * w2[c]
                             + a3[c] * w3[c] + a4[c] * w4[c])
                        v = (p[c] + b0[c] * w0[c] + b1[c] * w1[c] + b2[c] * w2[c]
                             + b3[c] * w3[c] + b4[c] * w4[c])
                        o[c] = u
                        p[c] = v
                rest = j1 - (j1 - rest) % 2
            for b in range(kw):
                wk = wa[b]
                for j in range(rest, j1):
                    o, src = orow[j], xa[j * sw + b * dw - pw]
                    for c in range(c_):
                        o[c] += src[c] * wk[c]


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
