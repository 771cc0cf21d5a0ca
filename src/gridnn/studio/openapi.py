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

NUMBER = {"type": "number"}
INTEGER = {"type": "integer"}


def _nested(depth: int) -> dict[str, Any]:
    """A nested list of numbers ``depth`` levels deep (the API's arrays: input, kernels)."""
    schema: dict[str, Any] = NUMBER
    for _ in range(depth):
        schema = {"type": "array", "items": schema}
    return schema


_ARRAY = {"oneOf": [_nested(2), _nested(3)], "description": "nested lists of numbers"}
_CONV = {
    "input": {**_ARRAY, "description": "(C, L) or (C, H, W)"},
    "kernels": {"oneOf": [_nested(3), _nested(4)], "description": "(K, C, *k)"},
    "bias": {"type": "array", "items": NUMBER, "description": "(K,), default zeros"},
    "stride": INTEGER,
    "padding": {"oneOf": [{"type": "string", "enum": ["valid", "same"]}, INTEGER,
                          {"type": "string", "description": "decimal digits"}]},
    "dilation": INTEGER,
    "share": {"type": "boolean"},
}
BODIES: dict[str, dict[str, Any]] = {
    "/api/playground/conv": {"properties": _CONV, "required": ["input", "kernels"]},
    "/api/playground/window": {
        "properties": {**_CONV, "position": {"type": "array", "items": INTEGER,
                                             "description": "[kernel, *output index]"}},
        "required": ["input", "kernels", "position"]},
    "/api/models/{id}/predict": {"properties": {
        "input": {"oneOf": [_nested(2), _nested(3)], "description": "one sample (C, *S)"},
        "sample": {**INTEGER, "description": "a test-set index"},
        "upload": {"type": "string", "format": "byte", "description": "a base64 file"},
        "filename": {"type": "string", "description": "its name: .png, .jpg, .jpeg or .npy"},
    }, "description": "exactly one of input, sample or upload (with filename)"},
    "/api/models/{id}/receptive-field": {"properties": {
        "layer": INTEGER, "channel": INTEGER,
        "position": {"type": "array", "items": INTEGER, "description": "one index per "
                                                                       "spatial dim"},
    }, "required": ["layer", "channel", "position"]},
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
    if method == "post":
        body = BODIES.get(route.path, {})
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
