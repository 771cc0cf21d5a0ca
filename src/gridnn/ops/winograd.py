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
path's images. The input gradient of such a convolution is itself a stride-1 3 x 3
convolution (``conv._transposed_conv``) and takes this path too; the weight gradient does not.
"""

from __future__ import annotations

import functools
from typing import Any

from .._backend import xp
from .compiled import kernels
from .options import options
from .windows import ConvGeometry
from .workspace import parallel_slices, scratch, splits_one_sample, thread_count, write_block

Array = Any

# Layers with fewer output tiles (N * ceil(OH / 2) * ceil(OW / 2)) keep the im2col path.
MIN_TILES = 160
# Layers with fewer input channels keep it too: the 16 GEMMs' inner size is C, and under 64
# the BLAS runs them too slowly (squeezenet's 16 -> 64 layer at batch 1: 1.6x im2col's time).
MIN_CHANNELS = 64
# Tiles transformed and multiplied at a time.
BLOCK_TILES = 512
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
    """U (16, C, K) for w (K, C, 3, 3): U[4 a + b, c, k] = (G w[k, c] G^T)[a, b]."""
    k_out, c = w.shape[:2]
    u = xp.empty((16, c, k_out), w.dtype)
    rows = scratch().take((16, k_out + _ROW_GAP), w.dtype)
    kernels().winograd_weight(w, rows, u)
    scratch().give(rows)
    return u


def forward(xpad: Array, w: Array, bias: Array | None, geo: ConvGeometry,
            then: Any = None) -> Array:
    """The convolution of xpad (N, Hp, Wp, C), padded channels-last, by w (K, C, 3, 3) [+ bias
    (K,)] as rows: out (N * OH * OW, K); ``then`` as ``conv.conv_rows``'s."""
    n, c, k_out, dtype = xpad.shape[0], xpad.shape[-1], w.shape[0], xpad.dtype
    oh, ow = geo.out_size
    th, tw = -(-oh // 2), -(-ow // 2)
    u = weight(w.astype(dtype, copy=False))
    b = xp.zeros(k_out, dtype) if bias is None else bias.astype(dtype, copy=False)
    zero = xp.zeros(c, dtype)
    out = xp.empty((n * oh * ow, k_out), dtype)
    k = kernels()
    per_block = max(1, BLOCK_TILES // tw)  # units (rows of tiles) a block

    def first_row(unit: int) -> int:  # of the (N * OH) output rows
        return unit // th * oh + 2 * (unit % th)

    def work(lo: int, hi: int) -> None:  # units lo..hi
        count = min(per_block, hi - lo) * tw
        vbuf = scratch().take((16, count * c + _ROW_GAP), dtype)
        mbuf = scratch().take((16, count * k_out + _ROW_GAP), dtype)
        t, s = scratch().take((4, 4, c), dtype), scratch().take((4, 2, k_out), dtype)
        for u0 in range(lo, hi, per_block):
            u1 = min(hi, u0 + per_block)
            tiles = (u1 - u0) * tw
            v = vbuf[:, :tiles * c].reshape(16, tiles, c)
            m = mbuf[:, :tiles * k_out].reshape(16, tiles, k_out)
            k.winograd_input(xpad, zero, u0, u1, th, tw, t, v)
            xp.matmul(v, u, out=m)
            r0, r1 = first_row(u0), first_row(u1 - 1) + min(2, oh - 2 * ((u1 - 1) % th))
            write_block(out[r0 * ow:r1 * ow], functools.partial(
                _outputs, m, b, u0, u1, th, tw, oh, r0, s, ow), None, then)
        for a in (vbuf, mbuf, t, s):
            scratch().give(a)

    tiles = n * th * tw
    # one image too big for one thread splits its rows of tiles (as conv_rows its rows)
    samples = None if n < thread_count() and splits_one_sample(16 * tiles * c * k_out) else n
    parallel_slices(n * th, 16 * tiles * (c + k_out), work, samples)
    return out


def _outputs(m: Array, bias: Array, u0: int, u1: int, th: int, tw: int, oh: int, r0: int,
             s: Array, ow: int, dst: Array) -> None:
    """Output rows (rows, K) from row r0 on of the tiles of units u0..u1 (``forward``)."""
    kernels().winograd_output(m, bias, u0, u1, th, tw, oh, r0, s,
                              dst.reshape(-1, ow, dst.shape[-1]))
