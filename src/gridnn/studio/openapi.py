"""The studio API as an OpenAPI 3 document (served at ``/api/openapi.json``).

Complete enough for a schema-driven client or fuzzer to reach every route: each operation has
its summary and description (the endpoint docstring), its path parameters (``{id}``: one of the
ids the server was started with), its JSON request body, and the error answers it may give.
Request bodies are described here by path; a POST route with none described takes any JSON
object (its endpoint checks every field and answers 400 naming the bad one).
"""

from __future__ import annotations

import inspect
from typing import Any

from starlette.routing import BaseRoute, Route

from . import learn_settings as ls
from .playground_read import (
    MAX_CHANNELS,
    MAX_DILATION,
    MAX_KERNEL_SIDE,
    MAX_KERNELS,
    MAX_LENGTH_1D,
    MAX_PADDING,
    MAX_SIDE_2D,
    MAX_STRIDE,
    MAX_VALUE,
)

NUMBER = {"type": "number"}
INTEGER = {"type": "integer"}


def _nested(*sides: int) -> dict[str, Any]:
    """Nested lists of numbers, the outer list at most ``sides[0]`` long, and so on (the
    API's arrays: input, kernels; being rectangular is checked by the endpoint)."""
    schema: dict[str, Any] = {**NUMBER, "minimum": -MAX_VALUE, "maximum": MAX_VALUE}
    for side in reversed(sides):
        schema = {"type": "array", "items": schema, "minItems": 1, "maxItems": side}
    return schema


def _count(low: int, high: int | None = None, **extra: Any) -> dict[str, Any]:
    return {**INTEGER, "minimum": low, **({"maximum": high} if high is not None else {}),
            **extra}


_CONV = {
    "input": {"oneOf": [_nested(MAX_CHANNELS, MAX_LENGTH_1D),
                        _nested(MAX_CHANNELS, MAX_SIDE_2D, MAX_SIDE_2D)],
              "description": "(C, L) or (C, H, W)"},
    "kernels": {"oneOf": [_nested(MAX_KERNELS, MAX_CHANNELS, MAX_KERNEL_SIDE),
                          _nested(MAX_KERNELS, MAX_CHANNELS, MAX_KERNEL_SIDE, MAX_KERNEL_SIDE)],
                "description": "(K, C, *k)"},
    "bias": {**_nested(MAX_KERNELS), "description": "(K,), default zeros"},
    "stride": _count(1, MAX_STRIDE),
    "padding": {"oneOf": [{"type": "string", "enum": ["valid", "same"]},
                          _count(0, MAX_PADDING),
                          {"type": "string", "pattern": "^[0-9]+$"}]},
    "dilation": _count(1, MAX_DILATION),
    "share": {"type": "boolean"},
    "local_kernels": {"type": "array", "description": "(*out, K, C, *k): each output "
                      "position's own kernels, read only when share is false"},
}
_POSITION = {"type": "array", "items": _count(0), "minItems": 1, "maxItems": 4}
_LAYER = {"type": "object", "additionalProperties": False,
          "properties": {key: _count(lo, hi) for key, (lo, hi) in ls.STACK_FIELDS.items()}}
_LEARN = {  # the Learn page's settings (studio/learn_settings.py checks each)
    "data": {"type": "string", "enum": list(ls.PAGE_DATASETS)},
    "model": {"type": "string", "enum": list(ls.PAGE_MODELS)},
    "connect": {"type": "string", "enum": ["conv", "local", "mlp"]},
    "layers": {"type": "array", "items": _LAYER, "minItems": 1, "maxItems": ls.MAX_LAYERS},
    "hidden": _count(0, ls.MAX_HIDDEN),
    "train_size": {"oneOf": [_count(10), {"type": "string", "enum": ["all"]}]},
    "optimizer": {"type": "string"}, "schedule": {"type": "string"},
    "lr": {**NUMBER, "minimum": 0, "maximum": 1},
    "weight_decay": {**NUMBER, "minimum": 0}, "dropout": {**NUMBER, "minimum": 0, "maximum": 0.9},
    "val_split": {**NUMBER, "minimum": 0, "maximum": 0.5},
    "batch_size": _count(1, ls.MAX_BATCH), "epochs": _count(1, ls.MAX_EPOCHS),
    "seed": _count(0, ls.MAX_SEED),
}
BODIES: dict[str, dict[str, Any] | None] = {
    "/api/playground/conv": {"properties": _CONV, "required": ["input", "kernels"]},
    "/api/playground/window": {
        "properties": {**_CONV, "position": {**_POSITION,
                                             "description": "[kernel, *output index]"}},
        "required": ["input", "kernels", "position"]},
    "/api/models/{id}/predict": {"properties": {
        "input": {"oneOf": [_nested(3, 64, 64), _nested(3, 64)],
                  "description": "one sample (C, *S)"},
        "sample": _count(0, description="a test-set index"),
        "upload": {"type": "string", "format": "byte", "description": "a base64 file"},
        "filename": {"type": "string", "description": "its name: .png, .jpg, .jpeg or .npy"},
    }, "description": "exactly one of input, sample or upload (with filename)",
        "maxProperties": 2},
    "/api/models/{id}/receptive-field": {"properties": {
        "layer": _count(0), "channel": _count(0),
        "position": {**_POSITION, "description": "one index per spatial dim"},
    }, "required": ["layer", "channel", "position"]},
    "/api/learn/params": {"properties": _LEARN},
    "/api/learn/start": {"properties": _LEARN},
    "/api/learn/control": {"properties": {"action": {"type": "string", "enum": [
        "play", "pause", "step", "epoch"]}}, "required": ["action"]},
    "/api/learn/sample": {"properties": {"index": _count(0, description="a test-set index")},
                          "required": ["index"]},
    "/api/learn/backprop": {"properties": {"index": {
        **_POSITION, "description": "[kernel, channel, *offset] of a first-layer weight"}},
        "required": ["index"]},
    "/api/learn/save": None,  # these two read no body
    "/api/learn/reset": None,
}
ERROR = {"type": "object", "required": ["error", "field"], "properties": {
    "error": {"type": "string", "description": "what is wrong, in one sentence"},
    "field": {"type": "string", "nullable": True, "description": "the request field at "
                                                                  "fault"}}}
ERRORS = {
    "400": "a field is missing or out of range (field names it)",
    "403": "the Host or Origin header is not this server's",
    "404": "no model with this id, or nothing of that kind for it",
    "405": "the path takes other methods (the Allow header lists them)",
    "409": "the model cannot answer this: an unfinished run, or files that cannot be read",
    "413": "the request body is larger than the limit",
    "422": "the input is valid but the model's answer is not finite",
    "503": "too many uploads being decoded at once; try again",
}


def _operation(route: Route, method: str, ids: list[str]) -> dict[str, Any]:
    doc = inspect.getdoc(route.endpoint) or ""
    summary, _, description = doc.partition("\n")
    error = {"description": "", "content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/Error"}}}}
    op: dict[str, Any] = {
        "summary": summary.strip(), "description": description.strip(),
        "responses": {"200": {"description": "JSON", "content": {"application/json": {
            "schema": {}}}},
            **{code: {**error, "description": text} for code, text in ERRORS.items()}},
    }
    if route.param_convertors:
        op["parameters"] = [{"name": name, "in": "path", "required": True,
                             "schema": {"type": "string", **({"enum": ids} if ids else {})},
                             "description": "a model id from GET /api/models"}
                            for name in route.param_convertors]
    body = BODIES.get(route.path, {})
    if method == "post" and body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"type": "object", **body}}}}
    return op


def openapi(routes: list[BaseRoute], server: str, ids: list[str] | None = None
            ) -> dict[str, Any]:
    """An OpenAPI 3.0 document of the /api ``routes`` served at ``server``; ``ids``: the
    model ids ``{id}`` may take."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            paths.setdefault(route.path, {})[method.lower()] = _operation(
                route, method.lower(), list(ids or []))
    return {"openapi": "3.0.3", "info": {"title": "gridnn studio", "version": "1"},
            "servers": [{"url": server}], "paths": paths,
            "components": {"schemas": {"Error": ERROR}}}
