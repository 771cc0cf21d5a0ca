"""Grouped convolution with narrow groups (a few channels each, as in RegNet or ResNeXt), 1-D
and 2-D: each group's filters summed over taps of whole input planes instead of im2col.

im2col with G groups builds G column matrices of k*k*C/G columns and multiplies each by a
weight of K/G columns: with 8 channels a group those are (rows, 72) @ (72, 8) products, too
narrow for the BLAS to block well, after a copy k*k times the input. Here one task takes one
group of a few images and copies its input channels-first into flat planes, one per channel
(the padded image, rows one after another, split by stride phase for strides above 1), so
that the window of a kernel tap (a, b) over all outputs is one contiguous run of a plane:

    out[n, i, j, k] = bias[k] + sum over (c, a, b) of plane_c[start(a, b) + p] * w[k, c, a, b],
    p = n * (plane size) + i * (plane width) + j

Each output channel is then a sum of runs times scalars: long vector loops
(``kernels.grouped_2d``) however few channels a group has. The run also passes the columns
between rows (j >= output width), which are computed and dropped. Backward reads the same
sum two ways: the weight gradient is a dot product of the output gradient's run (zeros where
no output is) with each tap's run; the input gradient gathers, per stride phase, the output
gradient's run shifted back by each tap of that phase. Tasks split over (images, group), so
one image splits over threads. Needs the compiled loops: without Numba (or with
``options(compiled=False)``) grouped convolutions take ``ops/conv.py``'s stacked GEMMs, which
compute the same numbers.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

from .._backend import xp
from . import direct
from .compiled import kernels
from .depthwise import as_2d, steps_2d
from .windows import ConvGeometry
from .workspace import parallel_slices, scratch

Array = Any

# Widest group (input or output channels) taken here: beyond it the stacked GEMMs are as fast
# (measured on 2 cores, benchmarks/RESULTS.md).
MAX_GROUP_WIDTH = 16
# Plane positions a task aims at: images are taken together until their planes are this long,
# so small late-layer images still make long runs.
RUN_LENGTH = 1024


def takes(c: int, k_out: int, nd: int, geo: ConvGeometry) -> bool:
    """Whether a convolution of ``c`` input channels to ``k_out`` filters (not depthwise)
    takes this path."""
    g = geo.groups
    return (1 < g and max(c // g, k_out // g) <= MAX_GROUP_WIDTH and nd <= 2
            and kernels() is not None)


@dataclass(frozen=True)
class _Layout:
    """Where a task's planes hold what: per plane ``hg`` x ``wg`` positions per stride phase
    and image, ``images`` images a task, the taps in phase order (``order``, into the
    flattened kernel) with their runs' starts ``offs`` in the forward planes and ``back`` in
    the input gradient's rows (``margin`` - their start in the phase), the taps of phase s at
    ``phases[s]:phases[s + 1]``."""

    stride: tuple[int, int]
    hg: int
    wg: int
    images: int
    tasks: int
    order: Array
    offs: Array
    back: Array
    phases: Array
    margin: int

    @property
    def block(self) -> int:
        """Positions of one stride phase of a task's images."""
        return self.images * self.hg * self.wg


@functools.lru_cache(maxsize=256)
def _layout(x2_shape: tuple[int, ...], kernel: tuple[int, int], geo: ConvGeometry) -> _Layout:
    """The layout for the 2-D view (N, Hp, Wp, C) of the padded input (cached: a network calls
    the same few shapes again and again)."""
    n, hp, wp, c = x2_shape
    sh, sw, dh, dw = steps_2d(geo)
    hg, wg = -(-hp // sh), -(-wp // sw)
    images = max(1, min(n, RUN_LENGTH // (hg * wg)))
    block = images * hg * wg
    taps = [(a * dh, b * dw) for a in range(kernel[0]) for b in range(kernel[1])]
    phase = [u % sh * sw + v % sw for u, v in taps]
    start = [u // sh * wg + v // sw for u, v in taps]
    order = sorted(range(len(taps)), key=phase.__getitem__)
    margin = max(start)
    return _Layout(
        (sh, sw), hg, wg, images, -(-n // images) * geo.groups, xp.asarray(order),
        xp.asarray([phase[t] * block + start[t] for t in order], dtype=xp.int64),
        xp.asarray([margin - start[t] for t in order], dtype=xp.int64),
        xp.searchsorted(xp.asarray(sorted(phase)), xp.arange(sh * sw + 1)), margin)


def _kernel_2d(kernel: tuple[int, ...]) -> tuple[int, int]:
    """A kernel's size for the 2-D loops, 1-D as height 1."""
    return (1, kernel[0]) if len(kernel) == 1 else (kernel[0], kernel[1])


def _taps(w: Array, lay: _Layout) -> Array:
    """(K, C/G, *k) -> (K, C/G, T) contiguous, the taps in the layout's order (the kernel's
    own with stride 1: no copy)."""
    taps = w.reshape(*w.shape[:2], -1)
    return xp.ascontiguousarray(taps if lay.phases[1] == taps.shape[2] else
                                taps[:, :, lay.order])


def _planes(cg: int, lay: _Layout, dtype: Any, zeroed: bool) -> Array:
    """A task's (C/G, S * block) planes. ``zeroed``: positions no input lands on are zero, so
    that the weight gradient's zero-times-unused never meets a stale NaN (the forward only
    computes outputs it drops from them)."""
    planes = scratch().take((cg, lay.stride[0] * lay.stride[1] * lay.block), dtype)
    if zeroed:
        planes[...] = 0
    return planes


def forward(xpad: Array, w: Array, bias: Array | None, geo: ConvGeometry) -> Array:
    """xpad (N, *Sp, C) padded channels-last, w (K, C/G, *k), bias (K,) or None ->
    (N, *O, K). Groups of a multiple of 8 filters take ``ops/direct.py``'s loop (each
    output's sums in registers, no copy into planes: 0.6-0.8 of this loop's time on RegNet's
    layers); the backward stays here."""
    n, nd, k_out = xpad.shape[0], len(geo.out_size), w.shape[0]
    if direct.takes(xpad.shape[-1], k_out, w.shape[2:], geo):
        return direct.forward(xpad, w, bias, geo).reshape(n, *geo.out_size, k_out)
    out = xp.empty((n, *geo.out_size, k_out), dtype=xpad.dtype)
    b = xp.zeros(k_out, xpad.dtype) if bias is None else bias.astype(xpad.dtype, copy=False)
    x2, out2 = as_2d(xpad, nd), as_2d(out, nd)
    lay = _layout(x2.shape, _kernel_2d(w.shape[2:]), geo)
    wk, k = _taps(w.astype(xpad.dtype, copy=False), lay), kernels()

    def work(lo: int, hi: int) -> None:
        planes = _planes(w.shape[1], lay, xpad.dtype, False)
        acc = scratch().take((k_out // geo.groups, lay.block), xpad.dtype)
        k.grouped_2d(x2, wk, b, lay.offs, *lay.stride, lay.hg, lay.wg, lo, hi, planes, acc,
                     out2)
        scratch().give(acc)
        scratch().give(planes)

    parallel_slices(lay.tasks, out.size * math.prod(w.shape[1:]), work, n)
    return out


def weight_grad(xpad: Array, g: Array, geo: ConvGeometry, kernel: tuple[int, ...]) -> Array:
    """(K, C/G, *k) from the padded input (N, *Sp, C) and the output gradient g (N, *O, K)."""
    nd, k_out = len(kernel), g.shape[-1]
    cg = xpad.shape[-1] // geo.groups
    x2, g2 = as_2d(xpad, nd), as_2d(g, nd)
    lay = _layout(x2.shape, _kernel_2d(kernel), geo)
    k = kernels()

    def work(lo: int, hi: int) -> Array:
        acc = xp.zeros((k_out, cg, len(lay.order)), xp.float64)
        planes = _planes(cg, lay, g.dtype, True)
        rows = scratch().take((k_out // geo.groups, lay.block), g.dtype)
        k.grouped_2d_weight_grad(x2, g2, lay.offs, *lay.stride, lay.hg, lay.wg, lo, hi,
                                 planes, rows, acc)
        scratch().give(rows)
        scratch().give(planes)
        return acc

    parts = parallel_slices(lay.tasks, g.size * cg * math.prod(kernel), work, g.shape[0])
    gw = xp.empty((k_out, cg, len(lay.order)), g.dtype)
    gw[:, :, lay.order] = sum(parts)  # taps back in the kernel's order
    return gw.reshape(k_out, cg, *kernel)


def input_grad(g: Array, w: Array, geo: ConvGeometry, pad_shape: tuple[int, ...]) -> Array:
    """The gradient on the padded input (N, *Sp, C) from the output gradient g (N, *O, K)."""
    nd, cg, kg = len(geo.out_size), w.shape[1], w.shape[0] // geo.groups
    dpad = xp.empty(pad_shape, g.dtype)
    g2, d2 = as_2d(g, nd), as_2d(dpad, nd)
    lay = _layout(d2.shape, _kernel_2d(w.shape[2:]), geo)
    wk, k = _taps(w.astype(g.dtype, copy=False), lay), kernels()

    def work(lo: int, hi: int) -> None:
        rows = scratch().take((kg, lay.margin + lay.block), g.dtype)
        planes = _planes(cg, lay, g.dtype, False)  # every position written first
        k.grouped_2d_input_grad(g2, wk, lay.back, lay.phases, *lay.stride, lay.hg, lay.wg,
                                lo, hi, rows, planes, d2)
        scratch().give(planes)
        scratch().give(rows)

    parallel_slices(lay.tasks, g.size * math.prod(w.shape[1:]), work, g.shape[0])
    return dpad
