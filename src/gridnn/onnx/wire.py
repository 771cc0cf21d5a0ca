"""Where an .onnx file keeps its weights, found without reading them.

A ModelProto is protobuf: fields of (number, wire type, value). Parsing the whole file with
protobuf would hold every weight twice (the file's bytes and the parsed message) before a
single array exists. Instead the file is memory-mapped and its fields walked: everything but
the initializers' ``raw_data`` is copied into a small *skeleton* that protobuf parses, and each
``raw_data`` is remembered as (offset, length) in the file, so ``reader.tensor_array`` reads it
once, straight into the array that becomes the Parameter.

Field numbers (onnx.proto): ModelProto.graph = 7; GraphProto.initializer = 5;
TensorProto.raw_data = 9.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from pathlib import Path

GRAPH, INITIALIZER, RAW_DATA = 7, 5, 9
LENGTH_DELIMITED = 2


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _varint(buf: mmap.mmap | bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise WireError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _fields(buf: mmap.mmap | bytes, start: int, end: int
            ) -> Iterator[tuple[int, int, int, int, int]]:
    """(field number, wire type, field start, value start, value end) of each field."""
    pos = start
    while pos < end:
        first = pos
        key, pos = _varint(buf, pos, end)
        number, kind = key >> 3, key & 7
        if kind == 0:
            _, stop = _varint(buf, pos, end)
        elif kind == 1:
            stop = pos + 8
        elif kind == LENGTH_DELIMITED:
            length, pos = _varint(buf, pos, end)
            stop = pos + length
        elif kind == 5:
            stop = pos + 4
        else:
            raise WireError(f"wire type {kind} (groups) is not used by ONNX")
        if stop > end:
            raise WireError("a field runs past the end of its message")
        yield number, kind, first, pos, stop
        pos = stop


def _field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | LENGTH_DELIMITED) + _encode_varint(len(payload)) + \
        payload


def split_weights(path: Path) -> tuple[bytes, list[tuple[int, int] | None]]:
    """(skeleton: the file's ModelProto without the initializers' raw_data, one (offset,
    length) in the file per initializer in order, or None for one without raw_data)."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        if size == 0:
            return b"", []
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            skeleton, spans = bytearray(), []
            for number, kind, first, start, stop in _fields(buf, 0, size):
                if number != GRAPH or kind != LENGTH_DELIMITED:
                    skeleton += buf[first:stop]
                    continue
                graph = bytearray()
                for g_number, g_kind, g_first, g_start, g_stop in _fields(buf, start, stop):
                    if g_number != INITIALIZER or g_kind != LENGTH_DELIMITED:
                        graph += buf[g_first:g_stop]
                        continue
                    tensor, span = bytearray(), None
                    for t_number, t_kind, t_first, t_start, t_stop in _fields(buf, g_start,
                                                                                g_stop):
                        if t_number == RAW_DATA and t_kind == LENGTH_DELIMITED:
                            span = (t_start, t_stop - t_start)  # the last one counts
                        else:
                            tensor += buf[t_first:t_stop]
                    graph += _field(INITIALIZER, bytes(tensor))
                    spans.append(span)
                skeleton += _field(GRAPH, bytes(graph))
            return bytes(skeleton), spans
