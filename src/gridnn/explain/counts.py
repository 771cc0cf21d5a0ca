"""How many weights a layer would need as an MLP, how many connections it really has, and how many
distinct parameters those connections share.

The progression a convolution makes, for a 4x4 input, a 2x2 kernel, stride 2, no bias:

    fully connected (MLP)   64 weights   64 connections
    locally connected       16 weights   16 connections   (sparse connections)
    convolution              4 weights   16 connections   (sparse connections + sharing)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .dense import LinearMap, as_map, geometry_maps, tap_table


def _distinct_valid_per_row(taps: np.ndarray) -> np.ndarray:
    """(O,) number of distinct input indices (>= 0) in each row of a (O, k) tap table."""
    s = np.sort(taps, axis=1)
    new = np.ones_like(s, dtype=bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    return (new & (s >= 0)).sum(axis=1)


def connection_counts(layer: Any, input_shape: tuple[int, ...] | None = None) -> dict[str, int]:
    """Counts for a Linear, Conv1d/2d or LocallyConnected1d/2d layer (or a LinearMap) applied to
    one sample of ``input_shape`` ((F,) or (C, *S)):

    - ``inputs``, ``outputs``: elements of one input and one output sample.
    - ``mlp_weights``: inputs * outputs, the weights of a fully connected layer of those sizes.
    - ``connections``: non-zero entries of the dense equivalent (input-output pairs a weight
      links; taps that read zero padding are not connections).
    - ``parameters``: weights the layer stores and trains (with sharing: a conv's kernel size).
    - ``unused_weights``: of those, weights that only ever multiply zero padding (a locally
      connected layer's kernels at the border with zero padding).
    - ``mlp_biases``: outputs (one bias per output unit in an MLP); ``biases``: biases stored.

    Everything is computed per spatial dimension and multiplied, so the counts of large layers
    cost microseconds: windows along different dimensions are independent.
    """
    m = as_map(layer, input_shape)
    counts = {"inputs": m.n_in, "outputs": m.n_out, "mlp_weights": m.n_in * m.n_out,
              "parameters": int(m.weight.size), "mlp_biases": m.n_out,
              "biases": 0 if m.bias is None else int(m.bias.size)}
    counts["connections"], used = _sparse_counts(m)
    counts["unused_weights"] = counts["parameters"] - used
    return counts


def _sparse_counts(m: LinearMap) -> tuple[int, int]:
    """(connections, weights that touch at least one input element)."""
    if m.kind == "linear":
        return m.n_in * m.n_out, int(m.weight.size)
    taps = tap_table(m)
    k_out, c_in = m.out_shape[0], m.in_shape[0]
    per_filter = k_out * (c_in // m.groups)  # (filter, input channel) pairs that are linked
    # A window is a product of per-dim index sets, so its size (and the sum over all windows)
    # is a product of per-dim counts.
    connections = per_filter * math.prod(int(_distinct_valid_per_row(t).sum()) for t in taps)
    if m.kind == "conv":  # a shared tap is used if it reads an input at any position
        used = per_filter * math.prod(int((t >= 0).any(axis=0).sum()) for t in taps)
    else:  # an unshared tap is used if it reads an input at its own position
        used = per_filter * math.prod(int((t >= 0).sum()) for t in taps)
    return connections, used


def progression(in_shape: tuple[int, ...], kernel: tuple[int, ...], *, filters: int = 1,
                stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                bias: bool = False) -> dict[str, dict[str, int]]:
    """Counts for the MLP, locally connected and conv layers with one geometry, side by side:
    {'mlp': ..., 'local': ..., 'conv': ...}, each a ``connection_counts`` dict. Only the shapes
    matter (``geometry_maps``), so any size costs microseconds."""
    conv, local = geometry_maps(in_shape, kernel, filters=filters, stride=stride,
                                padding=padding, dilation=dilation, bias=bias, op="progression")
    conv_counts, local_counts = connection_counts(conv), connection_counts(local)
    mlp = dict(conv_counts, connections=conv_counts["mlp_weights"],
               parameters=conv_counts["mlp_weights"], unused_weights=0,
               biases=conv_counts["mlp_biases"] if bias else 0)
    return {"mlp": mlp, "local": local_counts, "conv": conv_counts}
