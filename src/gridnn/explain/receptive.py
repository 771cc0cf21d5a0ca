"""Receptive fields: which input elements each unit of each layer can see.

Per spatial dim, through a layer with kernel k, stride s, dilation d and low padding p, a unit's
receptive field grows by (d * (k - 1)) input jumps, its jump (effective stride, in input
elements) is multiplied by s, and the start (input coordinate of the first element that unit 0
sees, negative inside padding) moves back by p jumps:

    size' = size + d * (k - 1) * jump,   jump' = jump * s,   start' = start - p * jump

Unit i of a layer sees input coordinates start + i * jump ... start + i * jump + size - 1
(clipped to the input; a dilated kernel leaves holes inside that span). Which inputs one chosen
unit really sees is found exactly by pushing a one-hot mask back through every layer's window
table. Layers are followed along the model's data flow (recorded by a traced forward pass), so
residual branches and adds are handled; after a Flatten or Linear every unit sees everything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..argtypes import did_you_mean
from ..autograd import node_of
from ..errors import ArgumentError
from ..functional import ntuple, resolve_padding
from ..nn.trace import trace
from ..tensor import Tensor
from .dense import tap_indices

GLOBAL = "global"
IDENTITY = "identity"


@dataclass
class LayerField:
    """Receptive field of one layer call's output units, per spatial dim (jump 0: global)."""

    name: str
    kind: str
    output_shape: tuple[int, ...]  # spatial (e.g. (H, W)); () once spatial dims are gone
    size: tuple[int, ...]
    jump: tuple[int, ...]
    start: tuple[int, ...]


@dataclass
class ReceptiveField:
    """Result of ``receptive_field``: ``layers`` (one ``LayerField`` per call), the chosen
    ``output`` (layer name, spatial index) and ``mask``, a boolean array of the input's spatial
    shape that is True at every input position the chosen output unit sees."""

    input_shape: tuple[int, ...]
    layers: list[LayerField]
    output: tuple[str, tuple[int, ...]]
    mask: np.ndarray

    @property
    def inputs(self) -> list[tuple[int, ...]]:
        """Spatial input indices the chosen output sees, in C order."""
        return [tuple(int(i) for i in idx) for idx in np.argwhere(self.mask)]

    def __str__(self) -> str:
        def fmt(t: tuple[int, ...]) -> str:
            return "x".join(map(str, t)) if t else "-"

        rows = [("Layer (type)", "Output", "Size", "Jump", "Start")]
        for f in self.layers:
            global_ = not any(f.jump)
            rows.append((f"{f.name} ({f.kind})", fmt(f.output_shape), fmt(f.size),
                         "all" if global_ else fmt(f.jump),
                         "-" if global_ else ",".join(map(str, f.start))))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
        name, index = self.output
        seen = np.argwhere(self.mask)
        span = ", ".join(f"{lo}..{hi}" for lo, hi in zip(seen.min(axis=0), seen.max(axis=0))) \
            if len(seen) else "nothing"
        lines.append(f"{name}{list(index)} sees {len(seen)} of {self.mask.size} input positions "
                     f"(span {span})")
        return "\n".join(lines)


def _bins(n: int, out: int) -> np.ndarray:
    """(out, max_len) tap table of adaptive pooling bins floor(i*n/out) .. ceil((i+1)*n/out)."""
    starts = [i * n // out for i in range(out)]
    stops = [-(-(i + 1) * n // out) for i in range(out)]
    width = max(b - a for a, b in zip(starts, stops))
    table = np.full((out, width), -1)
    for i, (a, b) in enumerate(zip(starts, stops)):
        table[i, :b - a] = np.arange(a, b)
    return table


def _window_geometry(module: Any, in_sp: tuple[int, ...], out_sp: tuple[int, ...]
                     ) -> str | tuple[list[np.ndarray], list[tuple[int, int, int, int]]]:
    """Per spatial dim, the tap table (O, k) and (kernel, stride, dilation, low pad) of a
    windowed layer; IDENTITY for layers that keep positions; GLOBAL when positions are mixed."""
    from .. import nn

    nd = len(in_sp)
    windowed = (nn.Conv1d, nn.Conv2d, nn.LocallyConnected1d, nn.LocallyConnected2d)
    pools = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)
    adaptive = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)
    if nd == 0 or len(out_sp) != nd:
        return GLOBAL
    name = type(module).__name__
    if isinstance(module, windowed):
        kernel, stride, dilation = module.kernel_size, module.stride, module.dilation
        pads = resolve_padding(module.padding, in_sp, kernel, stride, dilation, name)
        mode = module.padding_mode
    elif isinstance(module, pools):
        kernel = ntuple(module.kernel_size, nd, "kernel_size", name)
        stride = ntuple(module.stride, nd, "stride", name)
        lo = ntuple(module.padding, nd, "padding", name, minimum=0)
        dilation, mode = (1,) * nd, "zeros"
        # ceil_mode may add a window past the high padding: pad enough for every output.
        pads = tuple((p, max((o - 1) * s + k - n - p, 0))
                     for p, o, s, k, n in zip(lo, out_sp, stride, kernel, in_sp))
    elif isinstance(module, adaptive):
        tables = [_bins(n, o) for n, o in zip(in_sp, out_sp)]
        geometry = [(t.shape[1], max(n // o, 1), 1, 0) for t, n, o in zip(tables, in_sp, out_sp)]
        return tables, geometry
    elif in_sp == out_sp:
        return IDENTITY
    else:
        raise ArgumentError(
            f"layer {name} changes the spatial shape {in_sp} -> {out_sp} and "
            f"is not a convolution, locally connected or pooling layer; its windows are unknown"
        )
    tables = [tap_indices(n, k, s, d, p, mode)[:o]
              for n, k, s, d, p, o in zip(in_sp, kernel, stride, dilation, pads, out_sp)]
    return tables, [(k, s, d, p[0]) for k, s, d, p in zip(kernel, stride, dilation, pads)]


def _connectivity(table: np.ndarray, n: int) -> np.ndarray:
    """(O, n) boolean: output o reads input i along one dim."""
    a = np.zeros((table.shape[0], n), dtype=bool)
    rows = np.repeat(np.arange(table.shape[0]), table.shape[1])
    valid = table.ravel() >= 0
    a[rows[valid], table.ravel()[valid]] = True
    return a


def _parents(calls: list[Any], x: Any) -> list[list[int]]:
    """For each call, the earlier calls (or -1 for the model input) whose outputs reach its
    input, following the autograd graph through the adds and reshapes between modules."""
    made_by: dict[int, list[int]] = {}
    for i, call in enumerate(calls):
        made_by.setdefault(id(node_of(call.output)), []).append(i)
    result = []
    for i, call in enumerate(calls):
        found: set[int] = set()
        stack, seen = [node_of(call.input)], set()
        while stack:
            node = stack.pop()
            if node is None or id(node) in seen:
                continue
            seen.add(id(node))
            earlier = [j for j in made_by.get(id(node), []) if j < i]
            if earlier:
                found.add(max(earlier))
            elif node is x:
                found.add(-1)
            elif not isinstance(node, Tensor):  # a Function: follow its inputs' nodes
                stack.extend(node.parents)
        result.append(sorted(found))
    return result


def receptive_field(model: Any, input_shape: tuple[int, ...],
                    output_index: tuple[int, ...] | None = None,
                    layer: str | None = None) -> ReceptiveField:
    """Receptive field size, jump and start of every layer of ``model`` for one sample of
    ``input_shape`` (C, *S), and the exact set of input positions that one output unit sees.

    The unit is ``output_index`` (a spatial index, e.g. (row, col)) of the output of ``layer``
    (a qualified module name; default: the last layer whose output still has spatial dims);
    the default index is the centre unit.
    """
    x, calls = trace(model, input_shape, record_graph=True)
    in_sp = tuple(x.shape[2:])
    nd = len(in_sp)

    def spatial(shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(shape[2:]) if len(shape) == nd + 2 else ()

    parents = _parents(calls, x)
    geometry = [_window_geometry(c.module, spatial(c.input_shape), spatial(c.output_shape))
                for c in calls]
    fields: list[LayerField] = []
    base = ((1,) * nd, (1,) * nd, (0,) * nd)
    for call, geo, ps in zip(calls, geometry, parents):
        # Where branches meet (residual adds), the widest branch bounds the field.
        ins = [base if p < 0 else (fields[p].size, fields[p].jump, fields[p].start) for p in ps]
        size, jump, start = max(ins or [base], key=lambda f: math.prod(f[0]))
        if geo == GLOBAL or not any(jump):
            size, jump, start = in_sp, (0,) * nd, (0,) * nd
        elif geo != IDENTITY:
            _, geom = geo
            size = tuple(r + d * (k - 1) * j for r, j, (k, s, d, p) in zip(size, jump, geom))
            start = tuple(st - p * j for st, j, (k, s, d, p) in zip(start, jump, geom))
            jump = tuple(j * s for j, (k, s, d, p) in zip(jump, geom))
        fields.append(LayerField(call.name, type(call.module).__name__,
                                 spatial(call.output_shape), size, jump, start))
    chosen, index = _choose(calls, fields, layer, output_index)
    return ReceptiveField(tuple(int(n) for n in input_shape), fields,
                          (calls[chosen].name, index),
                          _input_mask(calls, geometry, parents, chosen, index, in_sp, spatial))


def _choose(calls: list[Any], fields: list[LayerField], layer: str | None,
            output_index: tuple[int, ...] | None) -> tuple[int, tuple[int, ...]]:
    if not calls:
        raise ArgumentError("the model ran no layers: it has no receptive field to follow")
    if layer is not None:
        matches = [i for i, c in enumerate(calls) if c.name == layer]
        if not matches:
            raise ArgumentError(
                f"no layer named {layer!r}"
                f"{did_you_mean(layer, [c.name for c in calls])}; layers are "
                f"{', '.join(dict.fromkeys(c.name for c in calls))}"
            )
        chosen = matches[-1]
    else:
        spatial_calls = [i for i, f in enumerate(fields) if f.output_shape]
        chosen = spatial_calls[-1] if spatial_calls else len(calls) - 1
    out_sp = fields[chosen].output_shape
    if output_index is None:
        return chosen, tuple(n // 2 for n in out_sp)
    index = tuple(int(i) for i in np.atleast_1d(output_index))
    if len(index) != len(out_sp) or any(not 0 <= i < n for i, n in zip(index, out_sp)):
        raise ArgumentError(
            f"the unit's index must be {len(out_sp)} ints within the spatial output "
            f"{'x'.join(map(str, out_sp))} of layer {calls[chosen].name!r}, received "
            f"{'x'.join(map(str, np.atleast_1d(output_index)))}"
        )
    return chosen, index


def _input_mask(calls: list[Any], geometry: list[Any], parents: list[list[int]], chosen: int,
                index: tuple[int, ...], in_sp: tuple[int, ...], spatial: Any) -> np.ndarray:
    """Push a one-hot mask on the chosen unit back through the layers to the input."""
    masks: dict[int, np.ndarray] = {chosen: np.zeros(spatial(calls[chosen].output_shape), bool)}
    masks[chosen][index] = True
    result = np.zeros(in_sp, dtype=bool)
    for i in range(chosen, -1, -1):
        if i not in masks:
            continue
        mask, geo = masks.pop(i), geometry[i]
        sp_in = spatial(calls[i].input_shape)
        if geo == IDENTITY:
            back = mask
        elif geo == GLOBAL:
            back = np.full(sp_in, mask.any())
        else:
            back = mask.astype(np.int64)
            for d, (table, n) in enumerate(zip(geo[0], sp_in)):
                a = _connectivity(table, n).astype(np.int64)
                back = np.moveaxis(np.tensordot(back, a, axes=([d], [0])), -1, d)
            back = back > 0
        for p in parents[i]:
            target_shape = in_sp if p < 0 else spatial(calls[p].output_shape)
            part = back if back.shape == target_shape else np.full(target_shape, back.any())
            if p < 0:
                result |= part
            else:
                masks[p] = masks[p] | part if p in masks else part
    return result
