"""3 x 3 stride-1 convolutions by Winograd's F(2 x 2, 3 x 3): 16 multiplies for every 2 x 2
outputs of a channel pair instead of 36.

The output is cut into 2 x 2 tiles, each read from a 4 x 4 tile d of the padded input. For one
input channel c and filter k, with the kernel g = w[k, c] and the constant matrices B, G and
A of ``ops/kernels/winograd.py``,

    out tile = A^T [ U * V ] A,   U = G g G^T (4 x 4),   V = B^T d B (4 x 4)

summed over c, where ``*`` is element by element. So for each of the 16 positions (a, b) of
the 4 x 4 matrices the sum over c is a product of matrices, tiles x C by C x K:

    M[ab] (tiles, K) = V[ab] (tiles, C) @ U[ab] (C, K),   then out = A^T M A + bias

16 GEMMs with 16/36 of the direct convolution's multiply-adds, plus three transforms that
add and subtract (compiled loops, channels innermost). The same numbers as ``ops/conv.py``'s
im2col to float rounding (the transforms' constants are 0, +-1 and +-1/2, exact in binary;
relative differences of about 1e-6 in float32, tests/test_winograd.py).

Worth it where the GEMMs are big: the weight's transform (16 x C x K floats written per
call, as the weight may have changed since the last one) costs about as much as 100 tiles'
saved multiplies, so layers with fewer than ``MIN_TILES`` tiles (deep layers at batch 1) and
narrow ones (under ``MIN_CHANNELS`` input channels: skinny GEMMs) keep the im2col path. The tiles
go in blocks of whole tile rows (about ``BLOCK_TILES`` tiles), each transformed, multiplied
and transformed back while it is in cache, the blocks split over threads like the im2col
path's images. Backward: the input gradient of such a convolution is itself a stride-1 3 x 3
convolution (``conv._transposed_conv``) and takes this path when it qualifies; the weight
gradient runs the 16 products backwards (``weight_grad``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from .._backend import xp
from .compiled import kernels
from .options import options
from .windows import ConvGeometry
from .workspace import (
    dot,
    parallel_slices,
    scratch,
    splits_one_sample,
    thread_count,
    write_block,
)

Array = Any

# Layers with fewer output tiles (N * ceil(OH / 2) * ceil(OW / 2)) keep the im2col path.
MIN_TILES = 160
# Layers with fewer input channels keep it too: the 16 GEMMs' inner size is C, and under 64
# the BLAS runs them too slowly (squeezenet's 16 -> 64 layer at batch 1: 1.6x im2col's time).
MIN_CHANNELS = 64
# Tiles transformed and multiplied at a time.
BLOCK_TILES = 512
# G^T (x) G^T: the weight's gradient G^T dU G of every (c, k) at once, as one (9, 16) @ (16,
# C * K) product (row 3 p + q, column 4 a + b: G[a, p] G[b, q]).
_G = xp.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
_G_KRON_G = xp.kron(_G.T, _G.T)
# Floats between rows that are written together (v's and m's 16 rows): a row stride that is a
# multiple of 4 KiB puts the 16 rows in the same cache sets.
_ROW_GAP = 16


def takes(xpad_shape: tuple[int, ...], w_shape: tuple[int, ...], geo: ConvGeometry) -> bool:
    """Whether the convolution of the padded channels-last input ``xpad_shape`` (N, Hp, Wp, C)
    by a weight of ``w_shape`` takes this path."""
    if (len(w_shape) != 4 or tuple(w_shape[2:]) != (3, 3) or geo.groups != 1
            or geo.stride != (1, 1) or geo.dilation != (1, 1)):
        return False
    n, c, k_out = xpad_shape[0], xpad_shape[-1], w_shape[0]
    oh, ow = geo.out_size
    tiles = n * -(-oh // 2) * -(-ow // 2)
    return (c >= MIN_CHANNELS and k_out >= 16 and tiles >= MIN_TILES and options().winograd
            and kernels() is not None)


def weight(w: Array) -> Array:
    """U (16, C, K) for w (K, C, 3, 3): U[4 a + b, c, k] = (G w[k, c] G^T)[a, b], in a
    buffer from the scratch pool (megabytes each call: a fresh array would fault its pages
    in again), which the caller may give back once done with it."""
    k_out, c = w.shape[:2]
    u = scratch().take((16, c, k_out), w.dtype)
    rows = scratch().take((16, k_out + _ROW_GAP), w.dtype)
    kernels().winograd_weight(w, rows, u)
    scratch().give(rows)
    return u


def _tiles(geo: ConvGeometry) -> tuple[int, int, int, int]:
    """(OH, OW, rows of tiles th, columns of tiles tw) of a layer."""
    oh, ow = geo.out_size
    return oh, ow, -(-oh // 2), -(-ow // 2)


def _blocks(xpad: Array, lo: int, hi: int, th: int, tw: int, oh: int, k_out: int
            ) -> Iterator[tuple[int, int, Array, Array, int, int]]:
    """Units lo..hi (rows of tiles) in blocks of about ``BLOCK_TILES`` tiles: (u0, u1, V
    (16, tiles, C) of units u0..u1 already transformed, scratch (16, tiles, K) for their
    products, the first and the end of the (N * OH) output rows they cover)."""
    c, dtype = xpad.shape[-1], xpad.dtype
    per_block = max(1, BLOCK_TILES // tw)
    count = min(per_block, hi - lo) * tw
    pool = scratch()
    vbuf = pool.take((16, count * c + _ROW_GAP), dtype)
    mbuf = pool.take((16, count * k_out + _ROW_GAP), dtype)
    t, zero = pool.take((4, 4, c), dtype), xp.zeros(c, dtype)
    try:
        for u0 in range(lo, hi, per_block):
            u1 = min(hi, u0 + per_block)
            tiles = (u1 - u0) * tw
            v = vbuf[:, :tiles * c].reshape(16, tiles, c)
            kernels().winograd_input(xpad, zero, u0, u1, th, tw, t, v)
            last = u1 - 1  # the last unit's rows: two, or one at the end of an odd height
            yield (u0, u1, v, mbuf[:, :tiles * k_out].reshape(16, tiles, k_out),
                   _first_row(u0, th, oh), _first_row(last, th, oh) + min(2, oh - 2 * (last % th)))
    finally:
        for a in (vbuf, mbuf, t):
            pool.give(a)


def _first_row(unit: int, th: int, oh: int) -> int:
    """The first of the (N * OH) output rows that unit ``unit`` (a row of tiles) covers."""
    return unit // th * oh + 2 * (unit % th)


def _split(n: int, th: int, tw: int, c: int, k_out: int, work: Any) -> list[Any]:
    """``work(lo, hi)`` over the n * th units in threads, as the im2col path splits its images
    (one image too big for one thread splits its rows of tiles, as conv_rows its rows)."""
    tiles = n * th * tw
    samples = None if n < thread_count() and splits_one_sample(16 * tiles * c * k_out) else n
    return parallel_slices(n * th, 16 * tiles * (c + k_out), work, samples)


def forward(xpad: Array, w: Array, bias: Array | None, geo: ConvGeometry,
            then: Any = None) -> Array:
    """The convolution of xpad (N, Hp, Wp, C), padded channels-last, by w (K, C, 3, 3) [+ bias
    (K,)] as rows: out (N * OH * OW, K); ``then`` as ``conv.conv_rows``'s."""
    n, c, k_out, dtype = xpad.shape[0], xpad.shape[-1], w.shape[0], xpad.dtype
    oh, ow, th, tw = _tiles(geo)
    u = weight(w.astype(dtype, copy=False))
    b = xp.zeros(k_out, dtype) if bias is None else bias.astype(dtype, copy=False)
    out = xp.empty((n * oh * ow, k_out), dtype)

    def work(lo: int, hi: int) -> None:  # units lo..hi
        s = scratch().take((4, 2, k_out), dtype)
        for u0, u1, v, m, r0, r1 in _blocks(xpad, lo, hi, th, tw, oh, k_out):
            xp.matmul(v, u, out=m)
            write_block(out[r0 * ow:r1 * ow], functools.partial(
                _outputs, m, b, u0, u1, th, tw, oh, r0, s, ow), None, then)
        scratch().give(s)

    _split(n, th, tw, c, k_out, work)
    scratch().give(u)
    return out


def weight_grad(xpad: Array, g_rows: Array, geo: ConvGeometry) -> Array:
    """The weight's gradient (K, C, 3, 3) from the padded input xpad (N, Hp, Wp, C) that the
    forward read and the output gradient g_rows (N * OH * OW, K): the forward's 16 products
    run backwards, dU[ab] (C, K) = sum over blocks of V[ab]^T @ dM[ab] with dM = A dy A^T
    tile by tile (``winograd_output_grad``), then dW[k, c] = G^T dU[:, c, k] G."""
    n, c, k_out, dtype = xpad.shape[0], xpad.shape[-1], g_rows.shape[1], xpad.dtype
    oh, ow, th, tw = _tiles(geo)
    g3 = g_rows.reshape(n * oh, ow, k_out)
    zero_k, k = xp.zeros(k_out, dtype), kernels()

    def work(lo: int, hi: int) -> Array:  # units lo..hi: their part of dU (16, C, K)
        du = xp.zeros((16, c, k_out), dtype)
        part = scratch().take((16, c, k_out), dtype)
        e = scratch().take((2, 4, k_out), dtype)
        for u0, u1, v, dm, r0, r1 in _blocks(xpad, lo, hi, th, tw, oh, k_out):
            k.winograd_output_grad(g3[r0:r1], zero_k, u0, u1, th, tw, oh, r0, e, dm)
            du += xp.matmul(v.transpose(0, 2, 1), dm, out=part)
        scratch().give(part)
        scratch().give(e)
        return du

    du = sum(_split(n, th, tw, c, k_out, work))
    # ``dot``: gridnn's threads with a one-thread BLAS, as the products above (a product on
    # the BLAS's own threads leaves them spinning, which stalls the next op's threads)
    gw = dot(_G_KRON_G.astype(dtype), du.reshape(16, -1), samples=n).reshape(3, 3, c, k_out)
    return xp.ascontiguousarray(gw.transpose(3, 2, 0, 1))


def _outputs(m: Array, bias: Array, u0: int, u1: int, th: int, tw: int, oh: int, r0: int,
             s: Array, ow: int, dst: Array) -> None:
    """Output rows (rows, K) from row r0 on of the tiles of units u0..u1 (``forward``)."""
    kernels().winograd_output(m, bias, u0, u1, th, tw, oh, r0, s,
                              dst.reshape(-1, ow, dst.shape[-1]))
