"""Every Linear, convolution and locally connected layer is a linear map: the MLP layer it equals.

``dense_equivalent(layer, input_shape)`` gives ``(W, b)`` with
``layer(x).flatten() == W @ x.flatten() + b`` for one sample ``x`` of ``input_shape`` (C order).
It is built by index arithmetic, not by running the layer: for each output element, each kernel
tap says which input element it reads (or a zero of the padding), and which weight it multiplies.
That list of (output, input, weight) triples is the layer's connectivity; ``W`` is the weights
scattered into it, so the test ``layer(x) == W @ x + b`` checks the layer against an independent
construction.

Flattened index order: an input (C, *S) element (c, *s) is ``c * prod(S) + ravel(s)``; an output
(K, *O) element likewise. Weight indices are positions in ``weight.ravel()``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError
from ..functional import conv_output_size, window_geometry
from ..ops.shape import pad_array

Pads = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class LinearMap:
    """A layer as a linear map of one sample: what ``dense_equivalent`` and the counts need.

    kind: 'linear', 'conv' or 'local'. ``weight``/``bias`` are float64 copies laid out as the
    layer's (Linear (F_out, F_in); conv (K, C/groups, *k); local (*O, K, C, *k), bias (*O, K)
    or (K,)). For 'linear' the spatial fields are empty tuples.
    """

    kind: str
    in_shape: tuple[int, ...]  # (F_in,) or (C, *S)
    out_shape: tuple[int, ...]  # (F_out,) or (K, *O)
    weight: np.ndarray
    bias: np.ndarray | None
    kernel: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    pads: Pads = ()
    mode: str = "zeros"
    groups: int = 1

    @property
    def n_in(self) -> int:
        return math.prod(self.in_shape)

    @property
    def n_out(self) -> int:
        return math.prod(self.out_shape)


def _array64(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    return np.array(getattr(value, "data", value), dtype=np.float64)


def linear_map(weight: Any, bias: Any = None) -> LinearMap:
    """The map of ``F.linear(x, weight, bias)``: weight (F_out, F_in), bias (F_out,) or None."""
    w = _array64(weight)
    if w.ndim != 2:
        raise ArgumentError(f"linear_map: `weight` must be 2-D (out, in), received {w.shape}")
    return LinearMap("linear", (w.shape[1],), (w.shape[0],), w, _array64(bias))


def _geometry(op: str, input_shape: tuple[int, ...], kernel: tuple[int, ...], stride: Any,
              padding: Any, dilation: Any, padding_mode: str) -> tuple[Any, ...]:
    nd = len(kernel)
    if len(input_shape) != nd + 1:
        raise ArgumentError(
            f"{op}: `input_shape` must be (C, {', '.join('LHW'[-nd:] if nd < 3 else 'S')}) "
            f"for one sample, received {tuple(input_shape)}"
        )
    return window_geometry(input_shape, kernel, stride, padding, dilation, padding_mode, op)


def conv_map(weight: Any, bias: Any, input_shape: tuple[int, ...], *, stride: Any = 1,
             padding: Any = 0, dilation: Any = 1, groups: int = 1,
             padding_mode: str = "zeros") -> LinearMap:
    """The map of ``F.conv1d/conv2d(x, weight, bias, ...)`` for one sample of ``input_shape``
    (C, *S): weight (K, C/groups, *k), bias (K,) or None."""
    w = _array64(weight)
    kernel = w.shape[2:]
    c = input_shape[0]
    if w.shape[1] * groups != c or w.shape[0] % groups:
        raise ArgumentError(
            f"conv_map: weight shape {w.shape} with groups={groups} does not fit an input with "
            f"{c} channels"
        )
    stride_t, dilation_t, pads, out = _geometry("conv_map", tuple(input_shape), kernel, stride,
                                                padding, dilation, padding_mode)
    return LinearMap("conv", tuple(input_shape), (w.shape[0], *out), w, _array64(bias), kernel,
                     stride_t, dilation_t, pads, padding_mode, groups)


def local_map(weight: Any, bias: Any, input_shape: tuple[int, ...], *, stride: Any = 1,
              padding: Any = 0, dilation: Any = 1, padding_mode: str = "zeros") -> LinearMap:
    """The map of a locally connected layer: weight (*O, K, C, *k), bias (*O, K), (K,) or None."""
    w = _array64(weight)
    nd = (w.ndim - 2) // 2
    kernel = w.shape[nd + 2:]
    stride_t, dilation_t, pads, out = _geometry("local_map", tuple(input_shape), kernel, stride,
                                                padding, dilation, padding_mode)
    if out != w.shape[:nd] or w.shape[nd + 1] != input_shape[0]:
        raise ArgumentError(
            f"local_map: weight shape {w.shape} does not fit input shape {tuple(input_shape)} "
            f"(output size {out})"
        )
    return LinearMap("local", tuple(input_shape), (w.shape[nd], *out), w, _array64(bias), kernel,
                     stride_t, dilation_t, pads, padding_mode)


def geometry_maps(in_shape: tuple[int, ...], kernel: tuple[int, ...], *, filters: int = 1,
                  stride: Any = 1, padding: Any = 0, dilation: Any = 1, bias: bool = False,
                  op: str = "geometry_maps") -> tuple[LinearMap, LinearMap]:
    """(conv map, locally connected map) of one geometry, for one sample of ``in_shape``
    (C, *S), with placeholder weights: read-only broadcast views of 1.0 shaped as the layers'
    weights (conv (K, C, *k), local (*O, K, C, *k)), so they cost no memory at any size. For
    what depends only on shapes: counts, connections, drawings."""
    kernel = tuple(kernel)
    stride_t, dilation_t, pads, out = _geometry(op, tuple(in_shape), kernel, stride, padding,
                                                dilation, "zeros")
    local_shape = (*out, filters, in_shape[0], *kernel)
    if math.prod(local_shape) >= 2 ** 62:  # past what even a broadcast view can index
        raise ArgumentError(f"{op}: the locally connected layer would have "
                            f"{math.prod(local_shape):,} weights, too many to describe")
    one = np.float64(1.0)
    conv = LinearMap("conv", tuple(in_shape), (filters, *out),
                     np.broadcast_to(one, (filters, in_shape[0], *kernel)),
                     np.broadcast_to(one, (filters,)) if bias else None, kernel, stride_t,
                     dilation_t, pads)
    local = replace(conv, kind="local", weight=np.broadcast_to(one, local_shape),
                    bias=np.broadcast_to(one, (*out, filters)) if bias else None)
    return conv, local


def layer_map(layer: Any, input_shape: tuple[int, ...]) -> LinearMap:
    """The LinearMap of a ``Linear``, ``Conv1d``/``Conv2d`` or ``LocallyConnected1d/2d`` layer
    for one sample of ``input_shape`` ((F_in,) for Linear, (C, *S) otherwise)."""
    from .. import nn

    input_shape = tuple(int(n) for n in input_shape)
    if isinstance(layer, nn.Linear):
        if input_shape != (layer.in_features,):
            raise ArgumentError(
                f"dense_equivalent: Linear expects input_shape ({layer.in_features},), "
                f"received {input_shape}"
            )
        return linear_map(layer.weight, layer.bias)
    if isinstance(layer, (nn.LocallyConnected1d, nn.LocallyConnected2d)):
        if input_shape != (layer.in_channels, *layer.input_size):
            raise ArgumentError(
                f"dense_equivalent: {type(layer).__name__} is built for input shape "
                f"{(layer.in_channels, *layer.input_size)}, received {input_shape}"
            )
        return local_map(layer.weight, layer.bias, input_shape, stride=layer.stride,
                         padding=layer.padding, dilation=layer.dilation,
                         padding_mode=layer.padding_mode)
    if isinstance(layer, (nn.Conv1d, nn.Conv2d)):
        return conv_map(layer.weight, layer.bias, input_shape, stride=layer.stride,
                        padding=layer.padding, dilation=layer.dilation, groups=layer.groups,
                        padding_mode=layer.padding_mode)
    raise ArgumentTypeError(
        f"dense_equivalent: `layer` must be Linear, Conv1d, Conv2d, LocallyConnected1d or "
        f"LocallyConnected2d, received {type(layer).__name__}"
    )


def as_map(layer: Any, input_shape: tuple[int, ...] | None) -> LinearMap:
    """``layer`` if it is already a LinearMap, else ``layer_map(layer, input_shape)``."""
    if isinstance(layer, LinearMap):
        return layer
    if input_shape is None:
        raise ArgumentError("dense_equivalent: `input_shape` is required for a layer")
    return layer_map(layer, input_shape)


def tap_indices(size: int, kernel: int, stride: int, dilation: int, pads: tuple[int, int],
                mode: str) -> np.ndarray:
    """(O, k) int array: the input index each kernel tap of each output reads along one spatial
    dim, or -1 where it reads a zero of the padding. Padding modes that copy input elements
    (reflect, replicate, circular) map a tap back to the element it copies."""
    padded = pad_array(np.arange(size), [pads], mode, value=-1)
    out = conv_output_size(size, kernel, stride, pads, dilation)
    return padded[np.arange(out)[:, None] * stride + np.arange(kernel)[None, :] * dilation]


def tap_table(m: LinearMap) -> list[np.ndarray]:
    """``tap_indices`` for every spatial dim of a conv or local map."""
    return [tap_indices(n, k, s, d, p, m.mode)
            for n, k, s, d, p in zip(m.in_shape[1:], m.kernel, m.stride, m.dilation, m.pads)]


def _ravel(index: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """C-order flat index of broadcastable per-dim index arrays."""
    flat = index[0]
    for i, n in zip(index[1:], shape[1:]):
        flat = flat * n + i
    return flat


def _block_ranges(m: LinearMap, max_row: int, max_col: int
                  ) -> tuple[int, int, tuple[int, ...]]:
    """(filters, channels per group, output sizes) that can reach the top-left block of
    ``max_row`` rows and ``max_col`` columns of a conv or local map's dense matrix."""
    out = m.out_shape[1:]
    per_filter, per_row = math.prod(out), math.prod(out[1:])
    k_n = min(m.out_shape[0], -(-max_row // per_filter))
    o_n = (min(out[0], -(-max_row // per_row)), *out[1:]) if k_n == 1 else out
    c_n = min(m.in_shape[0] // m.groups, -(-max_col // math.prod(m.in_shape[1:])))
    return k_n, c_n, o_n


def connections_work(m: LinearMap, max_row: int | None = None,
                     max_col: int | None = None) -> int:
    """How many candidate (row, col, weight) triples ``connections`` enumerates for the same
    block: what its time and memory grow with (a few dozen bytes each)."""
    max_row = m.n_out if max_row is None else min(max_row, m.n_out)
    max_col = m.n_in if max_col is None else min(max_col, m.n_in)
    if m.kind == "linear":
        return max_row * max_col
    k_n, c_n, o_n = _block_ranges(m, max_row, max_col)
    return k_n * c_n * math.prod(o_n) * math.prod(m.kernel)


def connections(m: LinearMap, max_row: int | None = None, max_col: int | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The map as triples (row, col, weight index): output ``row`` reads input ``col`` times
    ``weight.ravel()[weight index]``. A pair (row, col) repeats when two taps of one window
    read the same input (reflect/replicate/circular padding); taps on zero padding are left out.

    With ``max_row``/``max_col`` only the triples with row < max_row and col < max_col (the
    top-left block of the dense matrix) are built, in memory proportional to that block.
    """
    max_row = m.n_out if max_row is None else min(max_row, m.n_out)
    max_col = m.n_in if max_col is None else min(max_col, m.n_in)
    if m.kind == "linear":
        rows, cols = np.indices((max_row, max_col)).reshape(2, -1)
        return rows, cols, rows * m.n_in + cols
    nd = len(m.kernel)
    c_in, spatial = m.in_shape[0], m.in_shape[1:]
    k_out, out = m.out_shape[0], m.out_shape[1:]
    cg, kg = c_in // m.groups, k_out // m.groups
    per_filter = math.prod(out)
    k_n, c_n, o_n = _block_ranges(m, max_row, max_col)
    # Index grids of shape (K, C/G, *O, *k): filter, channel in group, position, tap.
    grid = np.meshgrid(np.arange(k_n), np.arange(c_n), *map(np.arange, o_n),
                       *map(np.arange, m.kernel), indexing="ij", sparse=True)
    k, c, pos, tap = grid[0], grid[1], grid[2:2 + nd], grid[2 + nd:]
    taps = tap_table(m)
    src = [t[o, j] for t, o, j in zip(taps, pos, tap)]  # input index per dim, -1 in padding
    valid = functools.reduce(np.logical_and, [s >= 0 for s in src])
    in_flat, pos_flat, tap_flat = _ravel(src, spatial), _ravel(pos, out), _ravel(tap, m.kernel)
    channel = (k // kg) * cg + c  # filter k reads only the channels of its group
    rows = k * per_filter + pos_flat
    cols = channel * math.prod(spatial) + in_flat
    kk = math.prod(m.kernel)
    if m.kind == "conv":
        params = (k * cg + c) * kk + tap_flat
    else:
        params = ((pos_flat * k_out + k) * c_in + c) * kk + tap_flat
    shape = np.broadcast_shapes(rows.shape, cols.shape, params.shape, valid.shape)
    valid = np.broadcast_to(valid, shape) & (rows < max_row) & (cols < max_col)
    return tuple(np.broadcast_to(a, shape)[valid] for a in (rows, cols, params))


def window_inputs(m: LinearMap, row: int) -> np.ndarray:
    """Sorted distinct flat input indices output ``row`` reads (taps on zero padding left
    out), from the per-dim tap tables: memory of one window, whatever the layer's size."""
    if m.kind == "linear":
        return np.arange(m.n_in)
    k_out, out = m.out_shape[0], m.out_shape[1:]
    k, pos = divmod(row, math.prod(out))
    spatial = m.in_shape[1:]
    per_dim = [t[i][t[i] >= 0] for t, i in zip(tap_table(m), np.unravel_index(pos, out))]
    cg = m.in_shape[0] // m.groups
    channels = (k // (k_out // m.groups)) * cg + np.arange(cg)
    grid = np.meshgrid(channels, *per_dim, indexing="ij", sparse=True)
    flat = grid[0] * math.prod(spatial) + _ravel(list(grid[1:]), spatial)
    return np.unique(flat)


def bias_vector(m: LinearMap) -> np.ndarray:
    """b (n_out,): the bias of every output element (zeros without a bias)."""
    if m.bias is None:
        return np.zeros(m.n_out)
    if m.kind == "local" and m.bias.ndim > 1:  # (*O, K) -> (K, *O)
        return np.moveaxis(m.bias, -1, 0).ravel()
    return np.repeat(m.bias, m.n_out // m.out_shape[0])


def dense_equivalent(layer: Any, input_shape: tuple[int, ...] | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(W, b), float64, with ``layer(x).flatten() == W @ x.flatten() + b`` for one sample.

    ``layer``: a Linear, Conv1d, Conv2d, LocallyConnected1d/2d or a LinearMap (then
    ``input_shape`` may be omitted). W is (n_out, n_in) with n_in = prod(input_shape) and
    n_out = prod(output shape); b is (n_out,). Entries of W that no weight reaches are 0.
    """
    m = as_map(layer, input_shape)
    rows, cols, params = connections(m)
    flat = np.bincount(rows * m.n_in + cols, weights=m.weight.ravel()[params],
                       minlength=m.n_out * m.n_in)
    return flat.reshape(m.n_out, m.n_in), bias_vector(m)


def weight_labels(m: LinearMap) -> np.ndarray:
    """(n_out, n_in) object array: '' where not connected, else the weight names ('w3', or
    'w1+w3' when two taps read one input), weights numbered 1.. in ``weight.ravel()`` order."""
    labels = np.full((m.n_out, m.n_in), "", dtype=object)
    for r, c, p in zip(*connections(m)):
        labels[r, c] = f"{labels[r, c]}+w{p + 1}" if labels[r, c] else f"w{p + 1}"
    return labels
