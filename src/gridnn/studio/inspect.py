"""The model page's JSON API, under ``/api/models/{id}/``. Models are named only by their
registry id; every field is checked (size before allocation) and a bad one gets a 400 naming it.

    GET  /api/models/{id}                  layers (name, type, output shape, parameters,
                                           connections, receptive field), classes, metrics
    POST /api/models/{id}/predict          {"input": nested list (C, *S)} | {"sample": index}
                                           | {"upload": base64, "filename": "x.png|.jpg|.npy"}
                                           -> top classes and every layer's feature maps
    POST /api/models/{id}/receptive-field  {"layer": i, "channel": c, "position": [..]}
                                           -> the input positions that unit sees, its kernel
    GET  /api/models/{id}/filters          every convolution's kernels
    GET  /api/models/{id}/curves           the run's history.csv as columns
    GET  /api/models/{id}/confusion        the run's test-set confusion matrix
"""

from __future__ import annotations

import base64
import binascii
import math
from pathlib import Path
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from ..errors import DataError
from ..inputs import read_input
from . import inspect_data
from .http import MAX_BODY_BYTES, ApiError, get_array, get_int, json_body
from .registry import Entry, Registry

UPLOAD_SUFFIXES = (".png", ".jpg", ".jpeg", ".npy")
MAX_UPLOAD_CHARS = MAX_BODY_BYTES  # base64 text of the upload, checked before decoding
MAX_INPUT_VALUE = 1e6


def _input(entry: Entry, body: dict) -> tuple[np.ndarray, int | None, list[str]]:
    """The raw sample (C, *S) a predict body names, its label when it is a test sample, and
    what was done to an uploaded picture to fit the model."""
    given = [k for k in ("input", "sample", "upload") if k in body]
    if len(given) != 1:
        raise ApiError(400, "input", f"give exactly one of `input` (an array of shape "
                                     f"{list(entry.input_shape)}), `sample` (a test index) or "
                                     f"`upload` (a base64 file); got {given or 'none'}")
    shape = entry.input_shape
    if given[0] == "input":
        x = get_array(body, "input", max_size=math.prod(shape), ndim=(len(shape),))
        if x.shape != shape:
            raise ApiError(400, "input", f"`input` must have the model's input shape "
                                         f"{list(shape)}, got {list(x.shape)}")
        if np.abs(x).max() > MAX_INPUT_VALUE:
            raise ApiError(400, "input", f"`input` values must be within ±{MAX_INPUT_VALUE:g}")
        return x, None, []
    if given[0] == "sample":
        run = entry.run()
        if not len(run.x_test):
            raise ApiError(404, "sample", f"the test set of {entry.name!r} is not available "
                                          f"here: {entry.dataset_error}")
        index = get_int(body, "sample", lo=0, hi=len(run.x_test) - 1)
        return run.x_test[index], int(run.y_test[index]), []
    return _upload(entry, body)


def _upload(entry: Entry, body: dict) -> tuple[np.ndarray, None, list[str]]:
    """An uploaded PNG/JPEG or .npy array through the conversion ``gridnn predict`` applies
    (``inputs.read_input``: channels converted, resized, a drawing whose background is the
    opposite of the training images' inverted), with the list of what was done."""
    text, name = body["upload"], body.get("filename")
    if not isinstance(name, str) or Path(name).suffix.lower() not in UPLOAD_SUFFIXES:
        raise ApiError(400, "filename", f"`filename` must be a file name ending in one of "
                                        f"{', '.join(UPLOAD_SUFFIXES)}, got {name!r}")
    if not isinstance(text, str) or len(text) > MAX_UPLOAD_CHARS:
        raise ApiError(400, "upload", f"`upload` must be base64 text of at most "
                                      f"{MAX_UPLOAD_CHARS} characters")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "upload", "`upload` is not valid base64") from None
    dcfg = (entry.config or {}).get("data") or {"input_shape": list(entry.input_shape)}
    try:
        x, changes = read_input(raw, Path(name).name, dcfg)
    except DataError as e:
        raise ApiError(400, "upload", str(e)) from None
    return x, None, changes


async def _info(entry: Entry, request: Request) -> JSONResponse:
    """The model: its layers, classes, test samples and metrics.

    One row per layer call: name, type, output shape, parameters, connections (and the weights
    an MLP layer would need), receptive field size/jump/start."""
    return JSONResponse(await run_in_threadpool(inspect_data.model_info, entry))


async def _predict(entry: Entry, request: Request) -> JSONResponse:
    """Top classes and every layer's feature maps for one input.

    Body: exactly one of ``input`` (nested list of the input shape), ``sample`` (test-set
    index) or ``upload`` (base64 PNG/JPEG/.npy with ``filename``). Returns the top classes with
    probabilities, the input used, its label and whether the top class is it (``right``, for
    test samples), what was done to an upload to fit the
    model (``changes``: "resized from 28x28 to 8x8", "inverted, as ...") and every layer's
    feature maps."""
    body = await json_body(request)

    def work() -> dict[str, Any]:
        x, label, changes = _input(entry, body)
        answer = inspect_data.predict(entry, x)
        right = None if label is None else answer["top"][0]["class"] == label
        return {**answer, "label": label, "right": right, "changes": changes}

    return JSONResponse(await run_in_threadpool(work))


async def _receptive(entry: Entry, request: Request) -> JSONResponse:
    """The input positions one feature-map unit sees, and the kernel behind its map.

    Body: ``layer`` (call index), ``channel``, ``position`` (one index per spatial dim).
    Returns the input positions that unit sees (mask, bounding box lo..hi, count), the layer's
    receptive-field size/jump/start, and the conv kernel that produced the channel."""
    body = await json_body(request)
    calls = await run_in_threadpool(inspect_data.layer_calls, entry)
    layer = get_int(body, "layer", lo=0, hi=len(calls) - 1)
    channel = get_int(body, "channel", lo=0, hi=1 << 20)
    position = get_array(body, "position", max_size=len(entry.input_shape) - 1, ndim=(1,))
    if not np.all(position == np.round(position)):
        raise ApiError(400, "position", "`position` must hold integers")
    return JSONResponse(await run_in_threadpool(
        inspect_data.receptive, entry, layer, channel, [int(p) for p in position]))


async def _filters(entry: Entry, request: Request) -> JSONResponse:
    """Every convolution's kernels (C_out, C_in/groups, *k), with layer index and name."""
    return JSONResponse({"filters": await run_in_threadpool(inspect_data.filters, entry)})


async def _curves(entry: Entry, request: Request) -> JSONResponse:
    """The run's per-epoch history (history.csv) as columns; 404 when it has none."""
    columns = await run_in_threadpool(entry.history)
    if columns is None:
        raise ApiError(404, "id", f"{entry.name!r} has no training history")
    return JSONResponse({"columns": columns})


async def _confusion(entry: Entry, request: Request) -> JSONResponse:
    """The run's test-set confusion matrix: rows true class, columns predicted class."""
    return JSONResponse(await run_in_threadpool(inspect_data.confusion, entry))


def routes(registry: Registry) -> list[BaseRoute]:
    """The model page's routes, bound to ``registry`` (ids only, never paths)."""
    def bind(endpoint: Any) -> Any:
        async def handler(request: Request) -> JSONResponse:
            return await endpoint(registry.get(request.path_params["id"]), request)
        handler.__doc__ = endpoint.__doc__
        return handler

    return [
        Route("/api/models/{id}", bind(_info), methods=["GET"]),
        Route("/api/models/{id}/predict", bind(_predict), methods=["POST"]),
        Route("/api/models/{id}/receptive-field", bind(_receptive), methods=["POST"]),
        Route("/api/models/{id}/filters", bind(_filters), methods=["GET"]),
        Route("/api/models/{id}/curves", bind(_curves), methods=["GET"]),
        Route("/api/models/{id}/confusion", bind(_confusion), methods=["GET"]),
    ]
