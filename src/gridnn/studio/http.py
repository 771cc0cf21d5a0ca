"""Request parsing for the studio's JSON API: one error type and checked field readers.

Every reader raises ``ApiError(400, field, message)`` naming the field and the accepted range, so
the app answers bad input with a JSON error instead of a traceback. Array sizes are checked on the
nested lists before NumPy allocates anything.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..fileio import is_finite_number, short

MAX_BODY_BYTES = 2 * 1024 * 1024  # larger request bodies get 413 (checked in the app middleware)

_MISSING = object()


class ApiError(Exception):
    """An error the app turns into ``{"error": message, "field": field}`` with ``status``."""

    def __init__(self, status: int, field: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message


async def json_body(request: Any) -> dict:
    """The request body parsed as a JSON object; ``ApiError(400)`` if it is not one."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:  # also integers past 4300 digits
        raise ApiError(400, None, f"the request body is not valid JSON ({exc})") from None
    except RecursionError:
        raise ApiError(400, None, "the request body is not valid JSON (nested too "
                                  "deeply)") from None
    if not isinstance(body, dict):
        raise ApiError(400, None, f"the request body must be a JSON object, got "
                                  f"{type(body).__name__}")
    return body


def _show(value: Any) -> str:
    """A request value for an error message: strings as repr, others as JSON, cut to 60
    characters (a value may be a 400-digit integer or a megabyte of list)."""
    if isinstance(value, str):
        return repr(value[:60]) + ("..." if len(value) > 60 else "")
    return short(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def get_int(body: dict, field: str, *, default: Any = _MISSING, lo: int, hi: int) -> int:
    """``body[field]`` as an int in ``[lo, hi]``; ``default`` when absent (required if none)."""
    if field not in body or body[field] is None:
        if default is _MISSING or default is None:
            raise ApiError(400, field, f"`{field}` is required: an integer in [{lo}, {hi}]")
        return default
    value = body[field]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not _is_int(value):
        raise ApiError(400, field, f"`{field}` must be an integer in [{lo}, {hi}], "
                                   f"got {_show(value)}")
    if not lo <= value <= hi:
        raise ApiError(400, field, f"`{field}` must be in [{lo}, {hi}], got {_show(value)}")
    return value


def get_float(body: dict, field: str, *, default: float = 0.0, limit: float = 1e6) -> float:
    """``body[field]`` as a finite float with ``|value| <= limit``; ``default`` when absent."""
    value = body.get(field, default)
    if value is None:
        value = default
    if not is_finite_number(value):
        raise ApiError(400, field, f"`{field}` must be a finite number, got {_show(value)}")
    if abs(value) > limit:
        raise ApiError(400, field, f"`{field}` must be within ±{limit:g}, got {value}")
    return float(value)


def get_bool(body: dict, field: str, *, default: bool) -> bool:
    """``body[field]`` as a JSON boolean; ``default`` when absent."""
    value = body.get(field, default)
    if not isinstance(value, bool):
        raise ApiError(400, field, f"`{field}` must be true or false, got {_show(value)}")
    return value


def get_choice(body: dict, field: str, choices: Iterable[str], *,
               default: str | None = None) -> str:
    """``body[field]`` as one of ``choices``; ``default`` when absent (required if none)."""
    options = list(choices)
    value = body.get(field, default)
    if value is None:
        raise ApiError(400, field, f"`{field}` is required: one of {options}")
    if not isinstance(value, str) or value not in options:
        raise ApiError(400, field, f"`{field}` must be one of {options}, got {_show(value)}")
    return value


def _shape(value: Any, field: str, max_size: int, max_ndim: int) -> tuple[int, ...]:
    """The shape of a rectangular nested list of numbers, read without allocating an array."""
    shape: list[int] = []
    level = value
    while isinstance(level, list):
        if len(shape) >= max_ndim:
            raise ApiError(400, field, f"`{field}` has more than {max_ndim} nesting levels")
        if not level:
            raise ApiError(400, field, f"`{field}` has an empty list")
        shape.append(len(level))
        if math.prod(shape) > max_size:
            raise ApiError(400, field, f"`{field}` has more than {max_size} values (the limit)")
        level = level[0]
    # Every list at depth d must have length shape[d] and the leaves must be finite numbers.
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth == len(shape):
            if not is_finite_number(node):
                raise ApiError(400, field, f"`{field}` must hold finite numbers, got "
                                           f"{_show(node)}")
            continue
        if not isinstance(node, list) or len(node) != shape[depth]:
            raise ApiError(400, field, f"`{field}` is not rectangular: expected a list of "
                                       f"{shape[depth]} at depth {depth}")
        stack.extend((child, depth + 1) for child in node)
    return tuple(shape)


def get_shape(body: dict, field: str, *, max_size: int, ndim: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of ``body[field]``, a rectangular nested list of finite numbers with
    ``len(shape) in ndim`` and at most ``max_size`` values, read without allocating an array
    (so a caller can check its own per-dimension limits first)."""
    if field not in body:
        raise ApiError(400, field, f"`{field}` is required: a nested list of numbers")
    value = body[field]
    if not isinstance(value, list):
        raise ApiError(400, field, f"`{field}` must be a nested list of numbers, "
                                   f"got {type(value).__name__}")
    shape = _shape(value, field, max_size, max(ndim))
    if len(shape) not in ndim:
        raise ApiError(400, field, f"`{field}` must have {' or '.join(map(str, ndim))} "
                                   f"dimensions, got shape {list(shape)}")
    return shape


def get_array(body: dict, field: str, *, max_size: int, ndim: tuple[int, ...]) -> np.ndarray:
    """``body[field]``, a nested list of numbers with ``len(shape) in ndim`` and at most
    ``max_size`` values, as a float64 array. Shape and size are checked before allocating."""
    get_shape(body, field, max_size=max_size, ndim=ndim)
    return np.asarray(body[field], dtype=np.float64)
