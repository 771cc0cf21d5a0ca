"""Direct convolution for layers with few filters (8 to ``MAX_FILTERS``) and for narrow
groups, 1-D and 2-D: each output summed in registers from the padded input, with no column
matrix.

im2col + GEMM is at its best with many filters: the column matrix (k*k times the input) is
copied once and each of its values then meets every filter. With 16 or 32 filters the GEMM's
output is (rows, 16): the BLAS blocks it poorly (one thread, (131072, 144) @ (144, 16): 37
GFLOP/s, against 91 for 128 filters) and the copy costs as much again. Here a compiled loop
(``kernels.direct_2d``) keeps four output pixels of sixteen filters in vector registers over
the whole window, reading the input where it lies:

    out[n, i, j, k] = bias[k] + sum_(a,b,c) xpad[n, i*s + a*d, j*s + b*d, c] * w[k, c, a, b]

The weight goes in as (ceil(K / 16), *k, C/G, 16), so the sixteen filters' weights for one
input value are one contiguous run. Grouped layers (``ops/grouped.py`` hands over their
forward) take it the same way with groups of 8 or 16 filters: a pass's two halves of eight
filters each read their own group's channels, with no copy of each group into planes.

The weight gradient of one group, a GEMM of the columns with the output gradient in
``ops/conv.py`` ((f, M) @ (M, 16): as narrow), is the same loop turned around
(``kernels.direct_2d_weight_grad``): sums over one output row at a time in registers, added
to float64 totals. The input gradient of a stride-1 convolution is a convolution itself
(``ops/conv.py``), so it takes this path too when it qualifies.
"""

from __future__ import annotations

import math
from typing import Any

from .._backend import xp
from .compiled import kernels
from .depthwise import as_2d, steps_2d
from .options import options
from .windows import ConvGeometry
from .workspace import chunks, parallel_slices, scratch

Array = Any
Then = Any  # ops.conv.Then

# Filters a pass of ``kernels.direct_2d`` (its 16-lane tuples): the weight's last axis; a
# layer's filters are taken in passes of 16, the last one of 8 or 16.
LANES = 16
# Widest layers taken here: with more filters or more input channels the GEMM's blocks are
# wide or deep enough for the BLAS, and im2col was as fast (measured on 2 cores,
# benchmarks/RESULTS.md). Grouped layers: groups of up to MAX_GROUP_WIDTH channels and
# filters, as ``ops/grouped.py`` takes, with a multiple of 8 filters a group.
MAX_FILTERS = 32
MAX_CHANNELS = 32
MAX_GROUP_WIDTH = 16


def takes(c: int, k_out: int, kernel: tuple[int, ...], geo: ConvGeometry) -> bool:
    """Whether a convolution of ``c`` input channels to ``k_out`` filters takes this path: a
    multiple of 8 filters a group, and either one group of at most ``MAX_FILTERS`` filters
    and 2 to ``MAX_CHANNELS`` input channels (a single channel's columns are copied as whole
    rows, ``columns.im2col_blocks``, and im2col was faster), other than a 1 x 1 stride-1
    convolution (a plain GEMM of the input, with nothing to copy); or narrow groups (RegNet's
    eight channels a group)."""
    g = geo.groups
    cg, kg = c // g, k_out // g
    if g == 1:
        pointwise = all(k == 1 for k in kernel) and all(s == 1 for s in geo.stride)
        fits = k_out <= MAX_FILTERS and 1 < c <= MAX_CHANNELS and not pointwise
    else:
        fits = max(cg, kg) <= MAX_GROUP_WIDTH
    return (fits and kg % 8 == 0 and len(kernel) <= 2 and options().direct
            and kernels() is not None)


def takes_weight_grad(c: int, k_out: int, kernel: tuple[int, ...], geo: ConvGeometry) -> bool:
    """Whether the weight gradient takes ``weight_grad``: one group of a multiple of 16
    filters taking the path (grouped layers keep ``ops/grouped.py``'s backward)."""
    return geo.groups == 1 and k_out % LANES == 0 and takes(c, k_out, kernel, geo)


def weight_blocks(w: Array, dtype: Any) -> Array:
    """(K, CG, *k) -> (ceil(K / 16), *k2, CG, 16) contiguous, zero past K (1-D kernels as
    height 1)."""
    k_out, cg = w.shape[:2]
    kernel = (1, *w.shape[2:]) if w.ndim == 3 else w.shape[2:]
    passes = -(-k_out // LANES)
    padded = xp.zeros((passes * LANES, cg, *kernel), dtype)
    padded[:k_out] = w.reshape(k_out, cg, *kernel)
    return xp.ascontiguousarray(padded.reshape(passes, LANES, cg, *kernel).transpose(
        0, 3, 4, 2, 1))


def forward(xpad: Array, w: Array, bias: Array | None, geo: ConvGeometry,
            then: Then | None = None) -> Array:
    """xpad (N, *Sp, C) padded channels-last, w (K, C, *k), bias (K,) or None -> out (M, K),
    rows ordered (N, *O); ``then`` (see ``ops.conv.ConvNd``) on each cache-sized block of
    rows, from a scratch block into ``out``."""
    n, nd, k_out = xpad.shape[0], len(geo.out_size), w.shape[0]
    wb, k, x2 = weight_blocks(w, xpad.dtype), kernels(), as_2d(xpad, nd)
    b = xp.zeros(wb.shape[0] * LANES, xpad.dtype)  # zero past K, as the weight blocks
    if bias is not None:
        b[:k_out] = bias
    oh, ow = (1, *geo.out_size) if nd == 1 else geo.out_size
    out = xp.empty((n * oh, ow, k_out), dtype=xpad.dtype)  # (output rows (image, i), OW, K)
    steps, kg = steps_2d(geo), k_out // geo.groups

    def work(lo: int, hi: int) -> None:
        if then is None:
            k.direct_2d(x2, wb, b, kg, *steps, oh, lo, out[lo:hi])
            return
        for s, e in chunks(lo, hi, ow * k_out * out.itemsize):
            block = scratch().take((e - s, ow, k_out), out.dtype)
            k.direct_2d(x2, wb, b, kg, *steps, oh, s, block)
            then(block.reshape(-1, k_out), out[s:e].reshape(-1, k_out))
            scratch().give(block)

    parallel_slices(n * oh, out.size * wb[0].size, work, n)
    return out.reshape(-1, k_out)


def weight_grad(xpad: Array, g_rows: Array, geo: ConvGeometry, kernel: tuple[int, ...]) -> Array:
    """(K, C, *k) from the padded input (N, *Sp, C) and the output gradient's rows g_rows
    (M, K), C-contiguous, ordered (N, *O)."""
    n, nd, c, k_out = xpad.shape[0], len(kernel), xpad.shape[-1], g_rows.shape[1]
    x2, k = as_2d(xpad, nd), kernels()
    oh, ow = (1, *geo.out_size) if nd == 1 else geo.out_size
    kernel2 = (1, *kernel) if nd == 1 else kernel
    g3, steps = g_rows.reshape(n * oh, ow, k_out), steps_2d(geo)

    def work(lo: int, hi: int) -> Array:
        acc = xp.zeros((k_out // LANES, *kernel2, c, LANES), xp.float64)
        k.direct_2d_weight_grad(x2, g3, *steps, oh, lo, hi, acc)
        return acc

    total = sum(parallel_slices(n * oh, g_rows.size * c * math.prod(kernel), work, n))
    gw = total.transpose(0, 4, 3, 1, 2).reshape(k_out, c, *kernel)  # (K/16, 16, C, *k2)
    return gw.astype(g_rows.dtype)
