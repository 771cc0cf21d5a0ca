"""The compiled loops of ``ops/winograd.py``: the three transforms of Winograd's F(2 x 2, 3 x 3).

With d a 4 x 4 tile of the padded input (one channel), g a 3 x 3 kernel and

    B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
    G   = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]
    A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]

the 2 x 2 outputs of the tile are A^T [(G g G^T) * (B^T d B)] A (``*`` element by element):
16 multiplies instead of 36, and summed over channels the 16 products are 16 GEMMs.

The two stages of each transform (columns, then rows) repeat the same four combinations
written out: as a shared helper function the input transform ran 1.5-1.8x slower.

Every innermost loop runs over channels (input channels for the input and weight transforms,
filters for the output one), channels-last, with unit stride, so LLVM vectorises it; each reads
at most four arrays, few enough for its run-time alias checks. Rows written together are kept
apart in memory by the callers (rows of a stride that is a multiple of 4 KiB share cache sets,
which made a first version of these loops several times slower).
"""

from __future__ import annotations

from numba import njit

from .loops import _JIT


@njit(**_JIT)
def winograd_weight(w, rows, u):  # type: ignore[no-untyped-def]
    """u[4 a + b, c, k] = (G w[k, c] G^T)[a, b] for w (K, C, 3, 3); rows (16, >= K) scratch
    (one input channel's 16 rows are built there, then copied out)."""
    k_, c_ = w.shape[0], w.shape[1]
    half = w.dtype.type(0.5)
    for c in range(c_):
        for k in range(k_):
            g = w[k, c]
            # each kernel row times G^T: (x0, (x0 + x1 + x2) / 2, (x0 - x1 + x2) / 2, x2)
            p0, p3 = g[0, 0], g[0, 2]
            p1, p2 = (g[0, 0] + g[0, 1] + g[0, 2]) * half, (g[0, 0] - g[0, 1] + g[0, 2]) * half
            q0, q3 = g[1, 0], g[1, 2]
            q1, q2 = (g[1, 0] + g[1, 1] + g[1, 2]) * half, (g[1, 0] - g[1, 1] + g[1, 2]) * half
            r0, r3 = g[2, 0], g[2, 2]
            r1, r2 = (g[2, 0] + g[2, 1] + g[2, 2]) * half, (g[2, 0] - g[2, 1] + g[2, 2]) * half
            # then G times the columns
            rows[0, k], rows[1, k], rows[2, k], rows[3, k] = p0, p1, p2, p3
            rows[4, k] = (p0 + q0 + r0) * half
            rows[5, k] = (p1 + q1 + r1) * half
            rows[6, k] = (p2 + q2 + r2) * half
            rows[7, k] = (p3 + q3 + r3) * half
            rows[8, k] = (p0 - q0 + r0) * half
            rows[9, k] = (p1 - q1 + r1) * half
            rows[10, k] = (p2 - q2 + r2) * half
            rows[11, k] = (p3 - q3 + r3) * half
            rows[12, k], rows[13, k], rows[14, k], rows[15, k] = r0, r1, r2, r3
        for i in range(16):  # element by element: an array assignment would allocate
            ui, ri = u[i, c], rows[i]
            for k in range(k_):
                ui[k] = ri[k]


@njit(**_JIT)
def winograd_input(xpad, zero, u0, u1, th, tw, t, v):  # type: ignore[no-untyped-def]
    """v[4 a + b, tile, c] = (B^T d B)[a, b] for the tiles of units u0..u1 (a unit is one row
    of tw tiles of one image: image u // th, tile row u % th), tile = (u - u0) * tw + column.
    The tile at tile row i, column j reads xpad (N, Hp, Wp, C) from row 2 i and column 2 j;
    rows and columns past its end read ``zero`` (C,) zeros. t (4, 4, C) scratch."""
    hp, wp = xpad.shape[1], xpad.shape[2]
    for u in range(u0, u1):
        n, i0 = u // th, 2 * (u % th)
        for tj in range(tw):
            j0, tile = 2 * tj, (u - u0) * tw + tj
            for q in range(4):  # B^T d, one column of the tile at a time
                inside = j0 + q < wp
                d0 = xpad[n, i0, j0 + q] if inside else zero
                d1 = xpad[n, i0 + 1, j0 + q] if inside else zero
                d2 = xpad[n, i0 + 2, j0 + q] if inside and i0 + 2 < hp else zero
                d3 = xpad[n, i0 + 3, j0 + q] if inside and i0 + 3 < hp else zero
                t0, t1, t2, t3 = t[0, q], t[1, q], t[2, q], t[3, q]
                for c in range(d0.shape[0]):
                    t0[c] = d0[c] - d2[c]
                for c in range(d0.shape[0]):
                    t1[c] = d1[c] + d2[c]
                for c in range(d0.shape[0]):
                    t2[c] = d2[c] - d1[c]
                for c in range(d0.shape[0]):
                    t3[c] = d1[c] - d3[c]
            for a in range(4):  # then times B
                s0, s1, s2, s3 = t[a, 0], t[a, 1], t[a, 2], t[a, 3]
                v0, v1, v2, v3 = v[4 * a, tile], v[4 * a + 1, tile], v[4 * a + 2, tile], \
                    v[4 * a + 3, tile]
                for c in range(s0.shape[0]):
                    v0[c] = s0[c] - s2[c]
                for c in range(s0.shape[0]):
                    v1[c] = s1[c] + s2[c]
                for c in range(s0.shape[0]):
                    v2[c] = s2[c] - s1[c]
                for c in range(s0.shape[0]):
                    v3[c] = s1[c] - s3[c]


@njit(**_JIT)
def winograd_output(m, bias, u0, u1, th, tw, oh, r0, s, out):  # type: ignore[no-untyped-def]
    """The outputs of the tiles of units u0..u1 (as ``winograd_input``) from their products
    m (16, tiles, K): A^T m A + bias, written to out (R, OW, K), whose row 0 is output row r0
    of the (N * OH) rows; outputs past the last row or column are dropped. s (4, 2, K)
    scratch."""
    ow = out.shape[1]
    for u in range(u0, u1):
        n, i0 = u // th, 2 * (u % th)
        for tj in range(tw):
            j0, tile = 2 * tj, (u - u0) * tw + tj
            for a in range(4):  # m A, one row of the tile at a time
                m0, m1, m2, m3 = m[4 * a, tile], m[4 * a + 1, tile], m[4 * a + 2, tile], \
                    m[4 * a + 3, tile]
                left, right = s[a, 0], s[a, 1]
                for k in range(m0.shape[0]):
                    left[k] = m0[k] + m1[k] + m2[k]
                for k in range(m0.shape[0]):
                    right[k] = m1[k] - m2[k] - m3[k]
            for i in range(2):  # then A^T times it
                if i0 + i >= oh:
                    break
                row = out[n * oh + i0 + i - r0]
                for j in range(2):
                    if j0 + j >= ow:
                        break
                    o, p0, p1, p2, p3 = row[j0 + j], s[0, j], s[1, j], s[2, j], s[3, j]
                    if i == 0:
                        for k in range(o.shape[0]):
                            o[k] = bias[k] + (p0[k] + p1[k] + p2[k])
                    else:
                        for k in range(o.shape[0]):
                            o[k] = bias[k] + (p1[k] - p2[k] - p3[k])


@njit(**_JIT)
def winograd_output_grad(g, zero, u0, u1, th, tw, oh, r0, e, dm):  # type: ignore[no-untyped-def]
    """The gradient of ``winograd_output``'s products: dm[4 a + b, tile] = (A dy A^T)[a, b]
    for the tiles of units u0..u1, dy the tile's 2 x 2 output gradient from g (R, OW, K),
    whose row 0 is output row r0 (outputs past the last row or column: ``zero`` (K,) zeros,
    as they were dropped). e (2, 4, K) scratch."""
    ow = g.shape[1]
    for u in range(u0, u1):
        n, i0 = u // th, 2 * (u % th)
        for tj in range(tw):
            j0, tile = 2 * tj, (u - u0) * tw + tj
            for i in range(2):  # each output row times A^T's columns: (y0, y0 + y1, y0 - y1, -y1)
                inside = i0 + i < oh
                y0 = g[n * oh + i0 + i - r0, j0] if inside else zero
                y1 = g[n * oh + i0 + i - r0, j0 + 1] if inside and j0 + 1 < ow else zero
                e0, e1, e2, e3 = e[i, 0], e[i, 1], e[i, 2], e[i, 3]
                for k in range(y0.shape[0]):
                    e0[k] = y0[k]
                for k in range(y0.shape[0]):
                    e1[k] = y0[k] + y1[k]
                for k in range(y0.shape[0]):
                    e2[k] = y0[k] - y1[k]
                for k in range(y0.shape[0]):
                    e3[k] = -y1[k]
            for b in range(4):  # then A times them, the same combination down the rows
                f0, f1 = e[0, b], e[1, b]
                d0, d1, d2, d3 = dm[b, tile], dm[4 + b, tile], dm[8 + b, tile], dm[12 + b, tile]
                for k in range(f0.shape[0]):
                    d0[k] = f0[k]
                for k in range(f0.shape[0]):
                    d1[k] = f0[k] + f1[k]
                for k in range(f0.shape[0]):
                    d2[k] = f0[k] - f1[k]
                for k in range(f0.shape[0]):
                    d3[k] = -f1[k]
