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
from dataclasses import dataclass

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import gridnn as gn

from ..errors import GridnnError
from ..explain import connection_counts, conv_map, local_map
from ..explain.dense import LinearMap, connections, tap_indices, weight_labels
from .http import ApiError, get_array, get_bool, get_int, get_shape, json_body
from .playground_presets import input_presets, kernel_presets

MAX_CHANNELS, MAX_KERNELS, MAX_KERNEL_SIDE = 3, 4, 7
MIN_LENGTH_1D, MAX_LENGTH_1D, MAX_SIDE_2D = 3, 64, 32
MAX_STRIDE, MAX_DILATION, MAX_PADDING = 8, 6, 7
MAX_VALUE = 1e6
# The dense matrix is sent (and drawn) only up to this many connections; counts always are.
MAX_MATRIX_CONNECTIONS = 20_000


@dataclass(frozen=True)
class Problem:
    """A checked playground request: x (C, *S), kernels (K, C, *k), bias (K,)."""

    x: np.ndarray
    kernels: np.ndarray
    bias: np.ndarray
    stride: int
    padding: str | int
    dilation: int
    share: bool

    @property
    def dims(self) -> int:
        return self.x.ndim - 1


def _check_values(arr: np.ndarray, field: str) -> None:
    if arr.size and np.abs(arr).max() > MAX_VALUE:
        raise ApiError(400, field, f"`{field}` values must be within ±{MAX_VALUE:g}")


def _read_input(body: dict) -> np.ndarray:
    limit = MAX_CHANNELS * max(MAX_SIDE_2D ** 2, MAX_LENGTH_1D)
    shape = get_shape(body, "input", max_size=limit, ndim=(2, 3))
    if shape[0] > MAX_CHANNELS:
        raise ApiError(400, "input", f"`input` has {shape[0]} channels; the limit is "
                                     f"{MAX_CHANNELS} (shape (C, L) or (C, H, W))")
    if len(shape) == 2 and not MIN_LENGTH_1D <= shape[1] <= MAX_LENGTH_1D:
        raise ApiError(400, "input", f"a 1-D `input` must have length {MIN_LENGTH_1D}.."
                                     f"{MAX_LENGTH_1D}, got {shape[1]}")
    if len(shape) == 3 and max(shape[1:]) > MAX_SIDE_2D:
        raise ApiError(400, "input", f"a 2-D `input` must be at most {MAX_SIDE_2D}x"
                                     f"{MAX_SIDE_2D}, got {shape[1]}x{shape[2]}")
    x = get_array(body, "input", max_size=limit, ndim=(len(shape),))
    _check_values(x, "input")
    return x


def _read_kernels(body: dict, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nd = x.ndim - 1
    limit = MAX_KERNELS * MAX_CHANNELS * MAX_KERNEL_SIDE ** nd
    k, c, *size = get_shape(body, "kernels", max_size=limit, ndim=(nd + 2,))
    if k > MAX_KERNELS:
        raise ApiError(400, "kernels", f"`kernels` holds {k} kernels; the limit is "
                                       f"{MAX_KERNELS}")
    if c != x.shape[0]:
        raise ApiError(400, "kernels", f"`kernels` must be (K, C, *k) with C = {x.shape[0]} "
                                       f"input channels, got shape {[k, c, *size]}")
    if max(size) > MAX_KERNEL_SIDE:
        raise ApiError(400, "kernels", f"kernel sides must be 1..{MAX_KERNEL_SIDE}, got "
                                       f"{'x'.join(map(str, size))}")
    kernels = get_array(body, "kernels", max_size=limit, ndim=(nd + 2,))
    _check_values(kernels, "kernels")
    if body.get("bias") is None:
        return kernels, np.zeros(k)
    bias = get_array(body, "bias", max_size=MAX_KERNELS, ndim=(1,))
    if bias.shape != (k,):
        raise ApiError(400, "bias", f"`bias` must hold one number per kernel ({k}), "
                                    f"got {bias.size}")
    _check_values(bias, "bias")
    return kernels, bias


def _read_padding(body: dict) -> str | int:
    value = body.get("padding", "valid")
    if value in ("valid", "same"):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        digits = value.strip().lstrip("0") or "0"  # ASCII only: '²' and '③' pass isdigit
        value = int(digits) if len(digits) <= 12 else value
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_PADDING:
        raise ApiError(400, "padding", f"`padding` must be 'valid', 'same' or an integer in "
                                       f"[0, {MAX_PADDING}], got {value!r}")
    return value


def read_problem(body: dict) -> Problem:
    """Check every field of a playground request (400 ApiError naming the field)."""
    x = _read_input(body)
    kernels, bias = _read_kernels(body, x)
    return Problem(x, kernels, bias, get_int(body, "stride", default=1, lo=1, hi=MAX_STRIDE),
                   _read_padding(body),
                   get_int(body, "dilation", default=1, lo=1, hi=MAX_DILATION),
                   get_bool(body, "share", default=True))


def linear_map_of(p: Problem) -> LinearMap:
    """The layer as gridnn.explain sees it: a conv map, or without sharing the locally
    connected map whose kernel at every position is a copy of the shared one."""
    try:
        if p.share:
            return conv_map(p.kernels, p.bias, p.x.shape, stride=p.stride, padding=p.padding,
                            dilation=p.dilation)
        out = conv_map(p.kernels, None, p.x.shape, stride=p.stride, padding=p.padding,
                       dilation=p.dilation).out_shape[1:]
        weight = np.broadcast_to(p.kernels, (*out, *p.kernels.shape))
        return local_map(weight, p.bias, p.x.shape, stride=p.stride, padding=p.padding,
                         dilation=p.dilation)
    except GridnnError as exc:  # e.g. a dilated kernel larger than the padded input
        raise ApiError(400, "kernels", str(exc)) from None


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


def solve(p: Problem) -> dict:
    """Everything the page draws for one problem, except the per-window details."""
    m = linear_map_of(p)
    counts = connection_counts(m)
    dense = matrix(m)
    return {
        "dims": p.dims, "share": p.share, "input_shape": list(m.in_shape),
        "output_shape": list(m.out_shape), "stride": list(m.stride),
        "dilation": list(m.dilation), "pads": [list(pair) for pair in m.pads],
        "output": forward(p, m).tolist(), "counts": counts, "matrix": dense,
        "matrix_note": None if dense else (
            f"{counts['connections']} connections: too many to draw "
            f"(the limit is {MAX_MATRIX_CONNECTIONS}); the counts above are exact"),
    }


def _taps(m: LinearMap) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per spatial dim, (O, k) tables of the input index each tap reads (-1 in zero padding)
    and of its coordinate on the padded grid measured from the input's first cell."""
    read, placed = [], []
    for n, k, s, d, (lo, hi) in zip(m.in_shape[1:], m.kernel, m.stride, m.dilation, m.pads):
        read.append(tap_indices(n, k, s, d, (lo, hi), m.mode))
        placed.append(tap_indices(n + lo + hi, k, s, d, (0, 0), m.mode) - lo)
    return read, placed


def _fmt(v: float, *, wrap: bool = False) -> str:
    """A number as the equation shows it; negatives in parentheses inside a sum."""
    text = f"{v:.4g}"
    text = "0" if text == "-0" else text
    return f"({text})" if wrap and text.startswith("-") else text


def window(p: Problem, position: list[int]) -> dict:
    """The window of output (kernel, *o): its cells, the products, the equation y = Σ w·x + b
    with the weight labels of the dense matrix, and y as gridnn computes it."""
    m = linear_map_of(p)
    out = m.out_shape
    k, pos = position[0], tuple(position[1:])
    read, placed = _taps(m)
    spatial, c_in = m.in_shape[1:], m.in_shape[0]
    row = k * math.prod(out[1:]) + int(np.ravel_multi_index(pos, out[1:]))
    cells, terms, numbers, total = [], [], [], 0.0
    for c in range(c_in):
        for tap in np.ndindex(*m.kernel):
            idx = tuple(int(t[o, j]) for t, o, j in zip(read, pos, tap))
            where = [int(t[o, j]) for t, o, j in zip(placed, pos, tap)]
            w_index = (k, c, *tap) if m.kind == "conv" else (*pos, k, c, *tap)
            w_flat = int(np.ravel_multi_index(w_index, m.weight.shape))
            w = float(m.weight.ravel()[w_flat])
            cell = {"channel": c, "tap": list(tap), "at": where, "w": w,
                    "w_label": f"w{w_flat + 1}", "padding": min(idx) < 0}
            if cell["padding"]:
                cell.update(input=None, x=0.0, x_label=None, product=0.0)
            else:
                col = c * math.prod(spatial) + int(np.ravel_multi_index(idx, spatial))
                x = float(p.x[(c, *idx)])
                cell.update(input=list(idx), x=x, x_label=f"x{col + 1}", product=w * x)
                terms.append(f"{cell['w_label']}·{cell['x_label']}")
                numbers.append(f"{_fmt(w, wrap=True)}·{_fmt(x, wrap=True)}")
                total += w * x
            cells.append(cell)
    b_label = "b" if out[0] == 1 else f"b{k + 1}"
    y = float(forward(p, m)[(k, *pos)])
    bias = float(p.bias[k])
    return {"position": [k, *pos], "row": row, "cells": cells, "sum": total, "bias": bias,
            "y": y, "equation": f"y{row + 1} = " + " + ".join([*terms, b_label]),
            "numeric": f"{_fmt(y)} = " + " + ".join([*numbers, _fmt(bias, wrap=True)])}


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

    Answer: {inputs: {name: {label, dims, data}}, kernels: {name: {label, dims, data}},
    limits: {channels, kernels, kernel_side, length_1d, side_2d, stride, dilation, padding}}.
    """
    limits = {"channels": MAX_CHANNELS, "kernels": MAX_KERNELS, "kernel_side": MAX_KERNEL_SIDE,
              "length_1d": [MIN_LENGTH_1D, MAX_LENGTH_1D], "side_2d": MAX_SIDE_2D,
              "stride": MAX_STRIDE, "dilation": MAX_DILATION, "padding": MAX_PADDING}
    return JSONResponse({"inputs": input_presets(), "kernels": kernel_presets(),
                         "limits": limits})


def routes() -> list[Route]:
    """The playground's routes under /api/playground/."""
    return [Route("/api/playground/presets", presets_endpoint, methods=["GET"]),
            Route("/api/playground/conv", conv_endpoint, methods=["POST"]),
            Route("/api/playground/window", window_endpoint, methods=["POST"])]
