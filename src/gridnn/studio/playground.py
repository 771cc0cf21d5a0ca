"""The convolution playground's JSON API: one convolution, computed and explained by gridnn.

A request describes an input (C, L) or (C, H, W), kernels (K, C, *k), a bias per kernel, stride,
padding, dilation and whether weights are shared (a convolution) or not (the locally connected
layer with the same windows). The answers come from ``gridnn.functional`` (the outputs),
``gridnn.nn.LocallyConnected1d/2d`` (outputs without sharing) and ``gridnn.explain`` (the dense
matrix, its weight labels, the connection counts and the window geometry); nothing here
re-derives the maths. Every limit is checked on the request before an array is allocated.
"""

from __future__ import annotations

import math

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import gridnn as gn

from ..explain import connection_counts
from ..explain.dense import LinearMap, connections, tap_indices, weight_labels
from .http import ApiError, get_int, json_body
from .playground_presets import channel_examples, input_presets, kernel_presets, start_problem
from .playground_read import (
    MAX_CHANNELS,
    MAX_DILATION,
    MAX_KERNEL_SIDE,
    MAX_KERNELS,
    MAX_LENGTH_1D,
    MAX_PADDING,
    MAX_SIDE_2D,
    MAX_STRIDE,
    MIN_LENGTH_1D,
    Problem,
    linear_map_of,
    read_problem,
    widest_kernel,
)
from .playground_text import counts_said, formula, num, padding_said, wrapped

# The dense matrix is sent (and drawn) only up to this many connections; counts always are.
MAX_MATRIX_CONNECTIONS = 20_000


def forward(p: Problem, m: LinearMap) -> np.ndarray:
    """(K, *O) outputs computed by gridnn: F.conv1d/conv2d, or a LocallyConnected layer."""
    x = gn.tensor(p.x[None])
    with gn.no_grad():
        if p.share:
            conv = gn.functional.conv1d if p.dims == 1 else gn.functional.conv2d
            y = conv(x, gn.tensor(p.kernels), gn.tensor(p.bias), stride=p.stride,
                     padding=p.padding, dilation=p.dilation)
        else:
            layer_cls = gn.nn.LocallyConnected1d if p.dims == 1 else gn.nn.LocallyConnected2d
            layer = layer_cls(p.x.shape[0], p.kernels.shape[0], p.x.shape[1:],
                              p.kernels.shape[2:], stride=p.stride, padding=p.padding,
                              dilation=p.dilation, bias_mode="channel", dtype=np.float64,
                              rng=np.random.default_rng(0))
            layer.weight.data[...] = m.weight
            layer.bias.data[...] = p.bias
            y = layer(x)
    return np.asarray(y.data)[0]


def matrix(m: LinearMap) -> dict | None:
    """The dense equivalent as sparse entries [row, col, weight index] with the weight's label
    and value (zeros, the missing connections, are left out); None if it is too large to draw."""
    rows, cols, params = connections(m)
    if rows.size > MAX_MATRIX_CONNECTIONS:
        return None
    labels = weight_labels(m)
    return {"rows": m.n_out, "cols": m.n_in, "weights": int(m.weight.size),
            "entries": np.stack([rows, cols, params], axis=1).tolist(),
            "labels": labels[rows, cols].tolist(),
            "values": m.weight.ravel()[params].tolist()}


def _texts(a: np.ndarray) -> list:
    """``a`` as nested lists of the page's number texts."""
    return np.vectorize(num, otypes=[object])(a).tolist() if a.size else []


def solve(p: Problem) -> dict:
    """Everything the page draws for one problem, except the per-window details."""
    m = linear_map_of(p)
    counts = connection_counts(m)
    dense = matrix(m)
    y = forward(p, m)
    _, placed = _taps(m)
    answer = {
        "dims": p.dims, "share": p.share, "input_shape": list(m.in_shape),
        "output_shape": list(m.out_shape), "stride": list(m.stride),
        "dilation": list(m.dilation), "pads": [list(pair) for pair in m.pads],
        "output": y.tolist(), "output_text": _texts(y), "counts": counts,
        "say": counts_said(m, counts), "formula": formula(m),
        "padding_note": padding_said(m, p.padding, counts),
        "kernel_fits": list(widest_kernel(p)),  # the page offers no kernel side beyond these
        # Per spatial dim and output index: the window's first, last and middle cell on the
        # padded grid (0 = the first padding cell), so the page can put y under its window.
        "windows": [[[int(t[o, 0] + lo), int(t[o, -1] + lo), int((t[o, 0] + t[o, -1]) // 2 + lo)]
                     for o in range(t.shape[0])] for t, (lo, _) in zip(placed, m.pads)],
        "matrix": dense,
        "matrix_note": None if dense else (
            f"{counts['connections']} connections: too many to draw "
            f"(the limit is {MAX_MATRIX_CONNECTIONS}); the counts above are exact"),
    }
    if not p.share:  # each position's own kernels, for the page to edit one by one
        answer["local_kernels"] = m.weight.tolist()
    return answer


def _taps(m: LinearMap) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per spatial dim, (O, k) tables of the input index each tap reads (-1 in zero padding)
    and of its coordinate on the padded grid measured from the input's first cell."""
    read, placed = [], []
    for n, k, s, d, (lo, hi) in zip(m.in_shape[1:], m.kernel, m.stride, m.dilation, m.pads):
        read.append(tap_indices(n, k, s, d, (lo, hi), m.mode))
        placed.append(tap_indices(n + lo + hi, k, s, d, (0, 0), m.mode) - lo)
    return read, placed


def window(p: Problem, position: list[int]) -> dict:
    """The window of output (kernel, *o): its cells, the products, the sum of each channel's
    slice, their total, then + b, with the dense matrix's labels, and y as gridnn computes it."""
    m = linear_map_of(p)
    out = m.out_shape
    k, pos = position[0], tuple(position[1:])
    read, placed = _taps(m)
    spatial, c_in = m.in_shape[1:], m.in_shape[0]
    row = k * math.prod(out[1:]) + int(np.ravel_multi_index(pos, out[1:]))
    cells, partials, sums, names, numbers = [], [], [], [], []
    for c in range(c_in):
        terms, values, total = [], [], 0.0
        for tap in np.ndindex(*m.kernel):
            idx = tuple(int(t[o, j]) for t, o, j in zip(read, pos, tap))
            where = [int(t[o, j]) for t, o, j in zip(placed, pos, tap)]
            w_index = (k, c, *tap) if m.kind == "conv" else (*pos, k, c, *tap)
            w_flat = int(np.ravel_multi_index(w_index, m.weight.shape))
            w = float(m.weight.ravel()[w_flat])
            cell = {"channel": c, "tap": list(tap), "at": where, "w": w,
                    "w_label": f"w{w_flat + 1}", "padding": min(idx) < 0}
            if cell["padding"]:
                cell.update(input=None, x=0.0, x_label=None, product=0.0,
                            text=f"{num(w)} × pad")
            else:
                col = c * math.prod(spatial) + int(np.ravel_multi_index(idx, spatial))
                x = float(p.x[(c, *idx)])
                cell.update(input=list(idx), x=x, x_label=f"x{col + 1}", product=w * x,
                            text=f"{num(w)} × {num(x)}")
                terms.append(f"{cell['w_label']}·{cell['x_label']}")
                values.append(f"{wrapped(w)}·{wrapped(x)}")
                total += w * x
            cell["product_text"] = num(cell["product"])
            cells.append(cell)
        sums.append(total)
        names.extend(terms)
        numbers.extend(values)
        if c_in > 1:
            partials.append(f"channel {c + 1}: " + (" + ".join(values) if values else
                            "(only padding)") + f" = {num(total)}")
    b_label = "b" if out[0] == 1 else f"b{k + 1}"
    y = float(forward(p, m)[(k, *pos)])
    bias, total = float(p.bias[k]), float(sum(sums))
    added = (" + ".join(numbers) or "0") if c_in == 1 else " + ".join(map(wrapped, sums))
    at = ", ".join(str(i + 1) for i in pos)
    return {"position": [k, *pos], "row": row, "cells": cells, "sums": sums, "sum": total,
            "bias": bias, "y": y, "partials": partials,
            "equation": f"y{row + 1} = " + " + ".join([*names, b_label]),
            "numeric": f"sum = {added} = {num(total)}, + {b_label} = {num(total)} + "
                       f"{wrapped(bias)} = {num(y)}",
            "where": f"output y{row + 1} of {math.prod(out)}: map {k + 1}, "
                     f"{'position' if p.dims == 1 else 'row, column'} {at} (counted from 1), "
                     f"value {num(y)}"}


def _read_position(body: dict, p: Problem, m: LinearMap) -> list[int]:
    value = body.get("position")
    out = m.out_shape
    if not isinstance(value, list) or len(value) != len(out):
        raise ApiError(400, "position", f"`position` must be [kernel, {', '.join('ij'[:p.dims])}]"
                                        f" within output shape {list(out)}, got {value!r}")
    probe = {f"position[{i}]": v for i, v in enumerate(value)}
    return [get_int(probe, f"position[{i}]", lo=0, hi=n - 1) for i, n in enumerate(out)]


async def conv_endpoint(request: Request) -> JSONResponse:
    """Run one convolution and explain it.

    Body: {input: (C, L) or (C, H, W) nested lists, kernels: (K, C, *k), bias: (K,),
    stride, padding: 'valid' | 'same' | int, dilation, share: bool}. Answer: the outputs
    (K, *O) computed by gridnn, the pads, the connection counts, and the dense MLP matrix as
    sparse entries [row, col, weight index] with labels and values (null when too large).
    """
    return JSONResponse(solve(read_problem(await json_body(request))))


async def window_endpoint(request: Request) -> JSONResponse:
    """One output position's window, products and equation.

    Body: the conv body plus position: [kernel, *o]. Answer: the window's cells (input index
    or padding, w, x, w·x, labels), the labelled equation, the same with numbers, and y.
    """
    body = await json_body(request)
    p = read_problem(body)
    return JSONResponse(window(p, _read_position(body, p, linear_map_of(p))))


async def presets_endpoint(request: Request) -> JSONResponse:
    """Preset inputs and kernels, and the size limits.

    Answer: {inputs: {name: {label, dims, data, kernel?, bias?}}, kernels: {name: {label,
    dims, data, bias?}}, channel_example: {dims: input preset whose channels and kernel slices
    differ}, start: the problem the page opens on (the lecture's case), limits: {channels,
    kernels, kernel_side, length_1d, side_2d, stride, dilation, padding}}.
    """
    limits = {"channels": MAX_CHANNELS, "kernels": MAX_KERNELS, "kernel_side": MAX_KERNEL_SIDE,
              "length_1d": [MIN_LENGTH_1D, MAX_LENGTH_1D], "side_2d": MAX_SIDE_2D,
              "stride": MAX_STRIDE, "dilation": MAX_DILATION, "padding": MAX_PADDING}
    return JSONResponse({"inputs": input_presets(), "kernels": kernel_presets(),
                         "channel_example": channel_examples(), "start": start_problem(),
                         "limits": limits})


def routes() -> list[Route]:
    """The playground's routes under /api/playground/."""
    return [Route("/api/playground/presets", presets_endpoint, methods=["GET"]),
            Route("/api/playground/conv", conv_endpoint, methods=["POST"]),
            Route("/api/playground/window", window_endpoint, methods=["POST"])]
