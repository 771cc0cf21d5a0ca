"""What the model page shows, computed by gridnn for one registry entry: the layer table, a
prediction with every layer's output, the receptive field of one unit, the conv filters.

Feature maps travel quantised: per layer, the values are scaled to 0..255 between the layer's
minimum and maximum (both sent) and base64-encoded as bytes in C order (maps, *map_shape); at
most ``MAX_MAPS`` channels and ``MAX_SIDE`` positions per side (larger maps are sampled with a
step, also sent) keep a response small.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

from .. import functional as F
from .. import nn
from ..autograd import no_grad
from ..errors import ArgumentError
from ..explain import receptive_field
from ..explain.summary import summary
from ..nn.trace import trace
from ..tensor import Tensor
from .http import ApiError
from .registry import Entry

MAX_MAPS = 64  # feature maps sent per layer
MAX_SIDE = 32  # positions per side sent per map (larger maps are sampled)
MAX_FLAT = 1024  # values sent of a layer without spatial dims
MAX_FILTER_VALUES = 64 * 64 * 49  # weights sent per conv layer
TOP_K = 5
CONVS = (nn.Conv1d, nn.Conv2d)
# Layers whose output channel c depends only on input channel c: the kernel that made a map
# sits at the last convolution before them.
CHANNELWISE = (nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh,
               nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d,
               nn.AdaptiveAvgPool2d, nn.Dropout, nn.Identity)


def layer_calls(entry: Entry) -> list[Any]:
    """The traced layer calls of the entry's model (cached on the entry)."""
    with entry.lock:
        if entry._calls is None:
            entry._calls = trace(entry.model(), entry.input_shape)[1]
        return entry._calls


def _ints(values: Any) -> list[int]:
    return [int(v) for v in values]


def model_info(entry: Entry) -> dict[str, Any]:
    """The entry's listing plus one row per layer call (``gridnn.summary``) with its receptive
    field (``gridnn.explain.receptive_field``: size, jump, start per spatial dim; None for
    every layer, with ``receptive_field_error`` saying why, when the model's windows cannot be
    traced, e.g. through a layer that permutes its axes as ConvNeXt's LayerNorm does)."""
    with entry.lock:
        model = entry.model()
        table = summary(model, entry.input_shape)
        calls = layer_calls(entry)
        try:
            fields, rf_error = receptive_field(model, entry.input_shape).layers, None
        except ArgumentError as e:
            fields, rf_error = [None] * len(calls), str(e)
    layers = []
    for i, (row, call, rf) in enumerate(zip(table.rows, calls, fields)):
        kernel = getattr(call.module, "kernel_size", None)
        layers.append({
            "index": i, "name": row.name, "kind": row.kind,
            "output_shape": list(row.output_shape), "params": row.params,
            "connections": row.connections, "mlp_weights": row.mlp_weights,
            "kernel_size": _ints(np.atleast_1d(kernel)) if kernel is not None else None,
            "receptive_field": None if rf is None else {
                "size": _ints(rf.size), "jump": _ints(rf.jump), "start": _ints(rf.start)},
        })
    info = {**entry.listing(), "class_names": entry.class_names, "layers": layers,
            "total_params": table.total_params, "total_connections": table.total_connections,
            "total_mlp_weights": table.total_mlp_weights, "samples": 0, "metrics": {},
            "has_history": False, "dataset_error": None, "receptive_field_error": rf_error}
    if entry.kind == "run" and entry.state == "finished":
        run = entry.run()
        info.update(samples=len(run.x_test), metrics=run.metrics,
                    has_history=entry.has_history(), dataset_error=entry.dataset_error)
    return info


def encode_maps(output: np.ndarray) -> dict[str, Any]:
    """One layer's per-sample output (C, *S) or (F,), quantised (see the module docstring)."""
    # an overflowing layer's inf or NaN would make the answer invalid JSON
    out = np.nan_to_num(np.asarray(output, np.float32), nan=0.0)
    if out.ndim == 1:
        step = max(1, math.ceil(out.size / MAX_FLAT))
        shown = out[None, ::step]
    else:
        step = max(1, *(math.ceil(n / MAX_SIDE) for n in out.shape[1:]))
        shown = out[(slice(0, MAX_MAPS),) + (slice(None, None, step),) * (out.ndim - 1)]
    lo, hi = float(shown.min()), float(shown.max())
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    q = np.rint((shown - lo) * scale).astype(np.uint8)
    return {"maps": int(q.shape[0]), "map_shape": list(q.shape[1:]), "step": step,
            "lo": lo, "hi": hi, "data": base64.b64encode(q.tobytes()).decode("ascii")}


def predict(entry: Entry, raw: np.ndarray) -> dict[str, Any]:
    """Top classes with probabilities and every layer's output for one raw sample (C, *S)."""
    x = entry.normalize(np.asarray(raw, np.float32)[None])
    with entry.lock:
        model = entry.model()
        _, calls = trace(model, entry.input_shape, sample=x[0])
        with no_grad():
            # a Sequential ending in a leaf layer returns that layer's output: no second pass
            last = isinstance(model, nn.Sequential) and calls and calls[-1].module is model[-1]
            logits = calls[-1].output if last else model(Tensor(x))
            probs = F.softmax(logits, dim=1).data[0]
    if not np.isfinite(probs).all():
        raise ApiError(422, "input", "the model's output for this input is not finite (NaN or "
                                     "infinite): its values overflow float32")
    top = np.argsort(-probs, kind="stable")[:TOP_K]
    return {
        "top": [{"class": int(i), "name": entry.class_names[i], "p": float(probs[i])}
                for i in top],
        "input": np.round(np.asarray(raw, np.float64), 4).tolist(),
        "layers": [{"index": i, "name": c.name, **encode_maps(c.output.data[0])}
                   for i, c in enumerate(calls)],
    }


def producing_kernel(calls: list[Any], layer: int, channel: int) -> dict[str, Any] | None:
    """The conv kernel (C_in/groups, *k) that produced channel ``channel`` of call ``layer``:
    that call's own if it is a convolution, else the last convolution before a run of
    channel-wise layers; None when a layer in between mixes channels."""
    for j in range(layer, -1, -1):
        module = calls[j].module
        if isinstance(module, CONVS):
            weight = module.weight.data[channel]
            bias = None if module.bias is None else float(module.bias.data[channel])
            return {"layer": j, "name": calls[j].name, "shape": list(weight.shape),
                    "weight": np.round(weight.astype(np.float64), 5).tolist(), "bias": bias}
        if not isinstance(module, CHANNELWISE):
            return None
    return None


def receptive(entry: Entry, layer: int, channel: int, position: list[int]) -> dict[str, Any]:
    """The input positions unit ``position`` of call ``layer`` sees (``receptive_field``'s
    exact mask and its bounding box), and the kernel that produced that channel."""
    calls = layer_calls(entry)
    out_shape = calls[layer].output_shape[1:]
    spatial = out_shape[1:] if len(out_shape) == len(entry.input_shape) else ()
    if not spatial:
        raise ApiError(400, "layer", f"layer {layer} ({calls[layer].name}) has no spatial "
                                     f"positions: each of its units sees the whole input")
    if channel >= out_shape[0]:
        raise ApiError(400, "channel", f"`channel` must be in [0, {out_shape[0] - 1}] for layer "
                                       f"{layer}, got {channel}")
    if len(position) != len(spatial) or any(not 0 <= p < n for p, n in zip(position, spatial)):
        raise ApiError(400, "position", f"`position` must be {len(spatial)} indices within "
                                        f"{list(spatial)} for layer {layer}, got {position}")
    name = calls[layer].name
    # receptive_field names a layer by module name; a module called twice (a ResNet block's
    # ReLU) is answered for its last call, and the answer says so
    used = max(i for i, c in enumerate(calls) if c.name == name)
    with entry.lock:
        try:
            rf = receptive_field(entry.model(), entry.input_shape, tuple(position), layer=name)
        except ArgumentError as e:
            raise ApiError(409, "layer", f"the receptive fields of this model cannot be "
                                         f"traced: {e}") from None
        kernel = producing_kernel(calls, layer, channel)
    seen = np.argwhere(rf.mask)
    field = rf.layers[used]
    note = None if used == layer else (f"module {name} runs more than once; this is the "
                                       f"receptive field of its last call (layer {used + 1})")
    return {
        "layer": layer, "field_of": used, "note": note, "position": position,
        "count": int(len(seen)),
        "lo": seen.min(axis=0).tolist(), "hi": seen.max(axis=0).tolist(),
        "size": _ints(field.size), "jump": _ints(field.jump), "start": _ints(field.start),
        "mask": rf.mask.astype(np.uint8).tolist(), "kernel": kernel,
    }


def filters(entry: Entry) -> list[dict[str, Any]]:
    """Every convolution's weights (C_out, C_in/groups, *k), the first ``MAX_FILTER_VALUES``
    of them per layer (whole kernels), with the layer's index and name."""
    result = []
    with entry.lock:
        calls = layer_calls(entry)
        seen: set[int] = set()
        for i, call in enumerate(calls):
            module = call.module
            if not isinstance(module, CONVS) or id(module) in seen:
                continue
            seen.add(id(module))
            w = module.weight.data
            per_out = int(np.prod(w.shape[1:]))
            keep = max(1, min(w.shape[0], MAX_FILTER_VALUES // per_out))
            result.append({"layer": i, "name": call.name, "shape": list(w.shape),
                           "shown": keep, "lo": float(w.min()), "hi": float(w.max()),
                           "weight": np.round(w[:keep].astype(np.float64), 5).tolist()})
    return result


def confusion(entry: Entry) -> dict[str, Any]:
    """The run's test-set confusion matrix (rows: true class, columns: predicted)."""
    with entry.lock:
        run = entry.run()
        if not len(run.y_test):
            raise ApiError(404, "id", f"the test set of {entry.name!r} is not available here: "
                                      f"{entry.dataset_error}")
        matrix = run.confusion()
        accuracy = run.accuracy()
    return {"class_names": entry.class_names, "matrix": matrix.tolist(), "accuracy": accuracy}
