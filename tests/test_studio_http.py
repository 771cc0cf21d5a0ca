"""The studio's request readers: each bad value is a 400 ApiError naming the field and the limit,
and array sizes are refused before NumPy allocates."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from gridnn.studio.http import (
    ApiError,
    get_array,
    get_bool,
    get_choice,
    get_float,
    get_int,
    json_body,
)


def _error(call) -> ApiError:
    with pytest.raises(ApiError) as info:
        call()
    return info.value


class _Request:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    async def body(self) -> bytes:
        return self.raw


def test_json_body_parses_an_object_and_refuses_the_rest():
    assert asyncio.run(json_body(_Request(b'{"a": [1, 2]}'))) == {"a": [1, 2]}
    assert asyncio.run(json_body(_Request(b""))) == {}
    for raw in (b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"):
        err = _error(lambda raw=raw: asyncio.run(json_body(_Request(raw))))
        assert err.status == 400 and err.field is None


def test_get_int_checks_type_and_range():
    assert get_int({"stride": 2}, "stride", lo=1, hi=4) == 2
    assert get_int({"stride": 3.0}, "stride", lo=1, hi=4) == 3
    assert get_int({}, "stride", default=1, lo=1, hi=4) == 1
    for bad in (0, 5, True, "2", 2.5, [2]):
        err = _error(lambda bad=bad: get_int({"stride": bad}, "stride", lo=1, hi=4))
        assert (err.status, err.field) == (400, "stride")
        assert "[1, 4]" in err.message
    assert _error(lambda: get_int({}, "stride", lo=1, hi=4)).field == "stride"


def test_get_float_bool_choice():
    assert get_float({"bias": -1.5}, "bias") == -1.5
    assert get_float({}, "bias", default=0.25) == 0.25
    for bad in ("1", float("nan"), float("inf"), 1e9, False):
        assert _error(lambda bad=bad: get_float({"bias": bad}, "bias")).field == "bias"
    assert get_bool({"share": False}, "share", default=True) is False
    assert _error(lambda: get_bool({"share": 1}, "share", default=True)).field == "share"
    assert get_choice({"p": "same"}, "p", ["valid", "same"]) == "same"
    err = _error(lambda: get_choice({"p": "full"}, "p", ["valid", "same"]))
    assert err.field == "p" and "'valid'" in err.message and "'full'" in err.message
    assert _error(lambda: get_choice({}, "p", ["valid"])).field == "p"


def test_get_array_reads_nested_lists_as_float64():
    arr = get_array({"x": [[1, 2], [3, 4.5]]}, "x", max_size=16, ndim=(2, 3))
    assert arr.dtype == np.float64 and arr.tolist() == [[1, 2], [3, 4.5]]
    assert get_array({"x": [1, 2, 3]}, "x", max_size=3, ndim=(1,)).shape == (3,)


@pytest.mark.parametrize("value, fragment", [
    ([[1, 2], [3]], "not rectangular"),
    ([[1, 2], 3], "not rectangular"),
    ([[1, "a"]], "finite numbers"),
    ([[1, None]], "finite numbers"),
    ([[True, 1]], "finite numbers"),
    ([[1, float("nan")]], "finite numbers"),
    ([], "empty"),
    ([[]], "empty"),
    ([1, 2, 3], "dimensions"),
    ([[[[1]]]], "nesting levels"),
    ("1,2", "nested list"),
])
def test_get_array_refuses_bad_shapes_and_values(value, fragment):
    err = _error(lambda: get_array({"x": value}, "x", max_size=64, ndim=(2, 3)))
    assert (err.status, err.field) == (400, "x") and fragment in err.message


def test_get_array_counts_before_allocating(monkeypatch):
    # A row of 10**6 references to one list: the size check must fire on the lengths alone.
    row = [0.0] * 1000
    huge = [row] * 1000
    monkeypatch.setattr(np, "asarray", lambda *a, **k: pytest.fail("allocated before checking"))
    err = _error(lambda: get_array({"x": huge}, "x", max_size=32 * 32, ndim=(2,)))
    assert err.field == "x" and "1024" in err.message
    assert _error(lambda: get_array({}, "x", max_size=4, ndim=(1,))).field == "x"
