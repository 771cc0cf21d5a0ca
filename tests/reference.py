"""Naive oracles written straight from the definitions, sharing no code with gridnn.

Every output element is computed on its own: take the window the kernel covers at that output
position (window moved by the stride, taps spaced by the dilation), multiply it element-wise
with the kernel, sum, add the bias. Padding is explicit index arithmetic: a coordinate outside
the input is mapped back inside (reflect, replicate, circular) or reads a zero.

Shapes: x (N, C, *S) with S = (L,) or (H, W); weight (K, C/groups, *k); bias (K,) or None.
Pads are ((lo, hi), ...) per spatial dim. All functions return float64 NumPy arrays.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

Pads = tuple[tuple[int, int], ...]


def source_index(i: int, n: int, mode: str) -> int | None:
    """Index of the input element that padded coordinate ``i`` (input coords, may be < 0 or
    >= n) reads, or None where it reads a zero."""
    if 0 <= i < n:
        return i
    if mode == "zeros":
        return None
    if mode == "replicate":
        return 0 if i < 0 else n - 1
    if mode == "circular":
        return i % n
    if mode == "reflect":  # mirror about the edge element, which is not repeated
        return -i if i < 0 else 2 * (n - 1) - i
    raise ValueError(f"unknown padding mode {mode!r}")


def pad_ref(x: np.ndarray, pads: Pads, mode: str) -> np.ndarray:
    """Pad the trailing len(pads) axes of x element by element: (N, C, *S) -> (N, C, *Sp)."""
    spatial = x.shape[x.ndim - len(pads):]
    lead = x.shape[:x.ndim - len(pads)]
    out_spatial = tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pads))
    out = np.zeros(lead + out_spatial, dtype=np.float64)
    for pos in itertools.product(*map(range, out_spatial)):
        src = [source_index(p - lo, n, mode) for p, n, (lo, _) in zip(pos, spatial, pads)]
        if None not in src:
            out[(...,) + pos] = x[(...,) + tuple(src)]
    return out


def conv_ref(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: tuple[int, ...],
             pads: Pads, dilation: tuple[int, ...], groups: int = 1,
             mode: str = "zeros") -> np.ndarray:
    """Cross-correlation (N, C, *S) * (K, C/G, *k) + b -> (N, K, *O), one output at a time.

    O_i = floor((S_i + lo_i + hi_i - dilation_i * (k_i - 1) - 1) / stride_i) + 1.
    """
    nd = w.ndim - 2
    n_batch, c = x.shape[:2]
    k_out, cg, kernel = w.shape[0], w.shape[1], w.shape[2:]
    xp = pad_ref(x.astype(np.float64), pads, mode)
    out_size = tuple((xp.shape[2 + i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1
                     for i in range(nd))
    out = np.zeros((n_batch, k_out, *out_size))
    per_group = k_out // groups
    for n, k in itertools.product(range(n_batch), range(k_out)):
        g = k // per_group  # filter k sees only the channels of its group
        channels = slice(g * cg, (g + 1) * cg)
        for pos in itertools.product(*map(range, out_size)):
            # Window taps along dim i: pos_i * stride_i + j * dilation_i for j in 0..k_i-1.
            taps = [[p * s + j * d for j in range(kk)]
                    for p, s, d, kk in zip(pos, stride, dilation, kernel)]
            window = xp[n, channels][np.ix_(range(cg), *taps)]  # (C/G, *k)
            total = float((window * w[k]).sum())
            out[(n, k) + pos] = total + (float(b[k]) if b is not None else 0.0)
    return out


def pool_windows(n: int, k: int, s: int, p: int, ceil_mode: bool) -> list[tuple[int, int, int]]:
    """Per output: (start, stop, stop clipped to the input + padding) in input coordinates.

    floor (or ceil) of (n + 2p - k) / s, plus one; with ceil_mode a last window that would start
    past the input and its low padding is dropped (PyTorch's rule).
    """
    span = n + 2 * p - k
    count = (math.ceil(span / s) if ceil_mode else span // s) + 1
    if ceil_mode and (count - 1) * s >= n + p:
        count -= 1
    return [(o * s - p, o * s - p + k, min(o * s - p + k, n + p)) for o in range(count)]


def pool_ref(x: np.ndarray, kind: str, kernel: tuple[int, ...], stride: tuple[int, ...],
             padding: tuple[int, ...], ceil_mode: bool = False,
             count_include_pad: bool = True) -> np.ndarray:
    """Max or average pooling (N, C, *S) -> (N, C, *O) with zero/-inf padding, one window each.

    Average: sum of the window's input elements divided by the number of window cells inside
    the input, or (count_include_pad) inside the input plus its padding.
    """
    x = x.astype(np.float64)
    spatial = x.shape[2:]
    wins = [pool_windows(n, k, s, p, ceil_mode)
            for n, k, s, p in zip(spatial, kernel, stride, padding)]
    out = np.zeros(x.shape[:2] + tuple(len(w) for w in wins))
    for pos in itertools.product(*(range(len(w)) for w in wins)):
        bounds = [w[o] for w, o in zip(wins, pos)]
        inside = [range(max(lo, 0), min(hi, n)) for (lo, hi, _), n in zip(bounds, spatial)]
        block = x[(slice(None), slice(None)) + np.ix_(*inside)]  # (N, C, *window ∩ input)
        flat = block.reshape(*x.shape[:2], -1)
        if kind == "max":
            out[(...,) + pos] = flat.max(axis=-1)
            continue
        if count_include_pad:
            cells = math.prod(clip - lo for lo, _, clip in bounds)
        else:
            cells = math.prod(len(r) for r in inside)
        out[(...,) + pos] = flat.sum(axis=-1) / cells
    return out


def adaptive_avg_pool_ref(x: np.ndarray, out_size: tuple[int, ...]) -> np.ndarray:
    """(N, C, *S) -> (N, C, *out_size); bin i of a dim covers floor(i*S/O) .. ceil((i+1)*S/O)."""
    x = x.astype(np.float64)
    out = np.zeros(x.shape[:2] + tuple(out_size))
    for pos in itertools.product(*map(range, out_size)):
        ranges = [range(i * n // o, math.ceil((i + 1) * n / o))
                  for i, n, o in zip(pos, x.shape[2:], out_size)]
        out[(...,) + pos] = x[(slice(None), slice(None)) + np.ix_(*ranges)].mean(
            axis=tuple(range(2, x.ndim)))
    return out


def same_pads(size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
              dilation: tuple[int, ...]) -> Pads:
    """TensorFlow's 'same': ceil(n / s) outputs; the total pad split with the odd one high."""
    pads = []
    for n, k, s, d in zip(size, kernel, stride, dilation):
        total = max((-(-n // s) - 1) * s + d * (k - 1) + 1 - n, 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)
