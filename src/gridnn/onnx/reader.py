"""Reading an untrusted .onnx file: every check happens before anything large is allocated.

The file is parsed by protobuf (a data format: parsing never runs code), then checked: the
opset is one gridnn understands, every tensor's declared size is under ``LIMITS.tensor_bytes`` and
matches the bytes that hold it, external data files stay inside the model's folder, and the
nodes form an acyclic graph whose every input exists. Each problem is one ``DataError`` line
that names the file and the problem.
"""

from __future__ import annotations

import heapq
import math
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .wire import split_weights

MIN_OPSET = 11  # Pad and Clip take their sizes as inputs from 11 on; older graphs are rare


@dataclass
class Limits:
    """What one load may allocate or compute (tests lower them to fuzz cheaply)."""

    file_bytes: int = 2 << 30  # protobuf's own message limit
    tensor_bytes: int = 1 << 30  # one weight, constant, or value for a batch of two samples
    total_bytes: int = 2 << 30  # all weights together
    layer_work: int = 1 << 34  # multiply-adds of one convolution on one sample


LIMITS = Limits()

# ONNX TensorProto data type -> (NumPy dtype, the TensorProto field that holds it when not raw)
DTYPES = {
    1: (np.float32, "float_data"), 2: (np.uint8, "int32_data"), 3: (np.int8, "int32_data"),
    5: (np.int16, "int32_data"), 6: (np.int32, "int32_data"), 7: (np.int64, "int64_data"),
    9: (np.bool_, "int32_data"), 10: (np.float16, "int32_data"), 11: (np.float64, "double_data"),
}


def onnx_module() -> Any:
    """The ``onnx`` package, or a DataError saying how to install it."""
    try:
        import onnx
    except ImportError:
        raise DataError("reading or writing .onnx files needs the onnx package: "
                        "pip install 'gridnn[onnx]'") from None
    return onnx


@dataclass
class Model:
    """A checked ModelProto with where it came from."""

    proto: Any
    path: Path
    opset: int
    spans: list[tuple[int, int] | None]  # where each initializer's raw_data lies in the file

    @property
    def graph(self) -> Any:
        return self.proto.graph


def read_model(path: str | os.PathLike) -> Model:
    """Parse and check an .onnx file (see the module docstring); raises DataError."""
    onnx = onnx_module()
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise DataError(f"{path}: not a file")
    except OSError as e:
        raise DataError(f"{path}: cannot read the ONNX file ({e.strerror})") from None
    if size > LIMITS.file_bytes:
        raise DataError(f"{path}: {size} bytes is over the {LIMITS.file_bytes}-byte limit of an "
                        f"ONNX file")
    proto = onnx.ModelProto()
    try:
        skeleton, spans = split_weights(path)  # the weights stay in the file until read
        proto.ParseFromString(skeleton)
    except OSError as e:
        raise DataError(f"{path}: cannot read the ONNX file ({e.strerror})") from None
    except Exception as e:  # protobuf's DecodeError and friends: the bytes are not a model
        raise DataError(f"{path}: not a valid ONNX file (truncated or corrupt: "
                        f"{type(e).__name__})") from None
    if len(spans) != len(proto.graph.initializer):
        raise DataError(f"{path}: not a valid ONNX file (its initializers do not parse)")
    if not proto.HasField("graph") or not proto.graph.node:
        raise DataError(f"{path}: not a valid ONNX file (no graph nodes)")
    opset = _check_opsets(proto, path, onnx.defs.onnx_opset_version())
    return Model(proto, path, opset, spans)


def _check_opsets(proto: Any, path: Path, newest: int) -> int:
    versions = {o.domain: o.version for o in proto.opset_import}
    opset = versions.get("", versions.get("ai.onnx"))
    if opset is None:
        raise DataError(f"{path}: the model imports no version of the standard ONNX operators")
    if not MIN_OPSET <= opset <= newest:
        raise DataError(f"{path}: opset {opset} is not supported (gridnn reads opsets "
                        f"{MIN_OPSET} to {newest})")
    return int(opset)


# ---- tensors ---------------------------------------------------------------------------------
def tensor_array(tensor: Any, model: Model, what: str,
                 span: tuple[int, int] | None = None) -> np.ndarray:
    """A TensorProto's contents as a NumPy array, after checking its declared size against the
    limit and against the bytes (inline, in an external file, or at ``span`` = (offset, length)
    of the model file: an initializer's raw_data, see ``wire``) that hold it."""
    path = model.path
    name = f"{what} {tensor.name!r}" if tensor.name else what
    if tensor.data_type not in DTYPES:
        raise DataError(f"{path}: {name} has data type {tensor.data_type}, which gridnn does "
                        f"not read")
    dtype, field = DTYPES[tensor.data_type]
    dims = tuple(int(d) for d in tensor.dims)
    if any(d < 0 for d in dims):
        raise DataError(f"{path}: {name} declares a negative size {dims}")
    count = math.prod(dims)
    nbytes = count * np.dtype(dtype).itemsize
    if nbytes > LIMITS.tensor_bytes:
        raise DataError(f"{path}: {name} declares shape {dims} ({nbytes} bytes), over the "
                        f"{LIMITS.tensor_bytes}-byte limit of one tensor")
    if span is not None:
        if span[1] != nbytes:
            raise DataError(f"{path}: {name} declares shape {dims} ({nbytes} bytes) but holds "
                            f"{span[1]} bytes")
        return _read_into(path, span[0], nbytes, dtype, dims)
    if tensor.data_location == 1:  # EXTERNAL
        raw = _external_bytes(tensor, model, name, nbytes)
    elif tensor.HasField("raw_data"):
        raw = tensor.raw_data
    else:
        values = getattr(tensor, field)
        if len(values) != count:
            raise DataError(f"{path}: {name} declares shape {dims} ({count} values) but holds "
                            f"{len(values)}")
        if tensor.data_type == 10:  # float16 bit patterns stored in int32_data
            return np.array(values, np.uint16).view(np.float16).reshape(dims)
        return np.array(values, dtype).reshape(dims)
    if len(raw) != nbytes:
        raise DataError(f"{path}: {name} declares shape {dims} ({nbytes} bytes) but holds "
                        f"{len(raw)} bytes")
    return np.frombuffer(raw, np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(dims)


def _external_bytes(tensor: Any, model: Model, name: str, nbytes: int) -> bytes:
    """The bytes of an external-data tensor, from a file that must lie inside the model's
    folder (no absolute paths, no '..', no symlink out) and hold offset + length bytes."""
    path = model.path
    info = {e.key: e.value for e in tensor.external_data}
    location = info.get("location", "")
    try:
        offset, length = int(info.get("offset", 0)), int(info.get("length", nbytes))
    except ValueError:
        raise DataError(f"{path}: {name} has a non-numeric external data offset or "
                        f"length") from None
    if not isinstance(location, str):  # protobuf hands back bytes that are not UTF-8
        raise DataError(f"{path}: {name} has an external data location that is not text")
    folder = path.parent.resolve()
    try:
        target = (folder / location).resolve()
    except (ValueError, OSError, RuntimeError):  # a NUL byte, a symlink loop
        target = Path("/")
    if (not location or os.path.isabs(location) or ".." in Path(location).parts
            or not target.is_relative_to(folder)):
        raise DataError(f"{path}: {name} points to external data {location!r} outside the "
                        f"model's folder")
    if length != nbytes or offset < 0:
        raise DataError(f"{path}: {name} declares {nbytes} bytes but its external data entry "
                        f"says offset {offset}, length {length}")
    try:
        # O_NONBLOCK: opening a FIFO (or a device) for reading would wait for a writer forever
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise DataError(f"{path}: external data {location!r} of {name} is not a regular "
                                f"file")
            if offset + length > info.st_size:
                raise DataError(f"{path}: {name} needs bytes {offset}..{offset + length} of "
                                f"{location!r}, which has {info.st_size}")
            f.seek(offset)
            return f.read(length)
    except OSError as e:
        raise DataError(f"{path}: cannot read external data {location!r} of {name} "
                        f"({e.strerror})") from None


def _read_into(path: Path, offset: int, nbytes: int, dtype: Any, dims: tuple[int, ...]
               ) -> np.ndarray:
    """Bytes offset..offset+nbytes of a file read straight into a new array (little-endian in
    the file, as ONNX stores raw data)."""
    array = np.empty(dims, dtype)
    with open(path, "rb") as f:
        f.seek(offset)
        got = f.readinto(memoryview(array.reshape(-1)).cast("B")) if nbytes else 0
    if got != nbytes:
        raise DataError(f"{path}: the file ended inside a tensor's data")
    if sys.byteorder == "big" and array.dtype.itemsize > 1:
        array.byteswap(inplace=True)
    return array


# ---- graph structure -------------------------------------------------------------------------
def topological_nodes(model: Model, known: set[str]) -> list[Any]:
    """The graph's nodes in an order where each node's inputs are ready before it runs.

    ``known`` holds the names available from the start (graph input, initializers). Raises
    DataError for an input no node produces, a name produced twice, or a cycle.
    """
    path, nodes = model.path, list(model.graph.node)
    producer: dict[str, int] = {}
    for i, node in enumerate(nodes):
        if node.domain not in ("", "ai.onnx"):
            raise DataError(f"{path}: node {node_label(node)} is from operator domain "
                            f"{node.domain!r}; gridnn reads the standard domain only")
        for out in node.output:
            if out and (out in producer or out in known):
                raise DataError(f"{path}: value {out!r} is produced twice "
                                f"(node {node_label(node)})")
            if out:
                producer[out] = i
    waiting = [0] * len(nodes)
    users: dict[int, list[int]] = {}
    for i, node in enumerate(nodes):
        for name in dict.fromkeys(n for n in node.input if n):
            if name in producer:
                waiting[i] += 1
                users.setdefault(producer[name], []).append(i)
            elif name not in known:
                raise DataError(f"{path}: input {name!r} of node {node_label(node)} is missing "
                                f"(no node, initializer or graph input has that name)")
    # Kahn's algorithm, lowest index first: a file already in order keeps its order.
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for j in users.get(i, []):
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, j)
    if len(order) != len(nodes):
        stuck = next(nodes[i] for i, w in enumerate(waiting) if w)
        raise DataError(f"{path}: the graph has a cycle through node {node_label(stuck)}")
    return [nodes[i] for i in order]


def node_label(node: Any) -> str:
    return f"{node.name!r} ({node.op_type})" if node.name else f"({node.op_type})"
