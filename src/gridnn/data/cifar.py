"""CIFAR-10 "python version" batches, read without running code from the file.

A batch is a pickled dict ``{b"data": uint8 (N, 3072), b"labels": [int] * N, ...}`` (rows hold
the red, green and blue 32x32 planes in turn). Pickle can call any importable function while
loading, so the batches go through ``RestrictedUnpickler``: it admits plain containers, bytes,
str and numbers, and rebuilds NumPy arrays itself from (shape, dtype, raw bytes) after checking
that the bytes match the shape. Any other global in the file (``os.system``, ``eval``, a class)
stops the load with ``DataError`` before anything is called.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..fileio import read_bytes
from ._text import brief, quote
from .transforms import ToFloat

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck"]
CIFAR10_TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR10_TEST_FILE = "test_batch"
CIFAR10_META_FILE = "batches.meta"
_ROW = 3 * 32 * 32
MAX_PICKLE_BYTES = 1 << 30  # a real batch is ~31 MB; refuse to read anything absurd


class _RefusedError(Exception):
    """Raised inside the unpickler; ``read_pickle`` turns it into a DataError naming the file."""


def _text(value: Any, what: str) -> str:
    """A str argument; Python 2 pickles read with encoding='bytes' give it as bytes."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        raise _RefusedError(f"{what} must be a string, found {type(value).__name__}")
    return value


class _DType:
    """A pickled ``numpy.dtype(spec, align, copy)`` call, restricted to plain numeric types.

    The pickle then sends the dtype's state (its byte order); a real dtype is only made from
    the validated pieces, so NumPy never sees state crafted by the file.
    """

    def __init__(self, spec: Any, align: Any = False, copy: Any = False) -> None:
        spec = _text(spec, "a dtype")
        if not re.fullmatch(r"[<>|=]?[biuf][1248]", spec):
            raise _RefusedError(f"dtype {quote(spec)!r} is not a plain numeric type")
        try:
            self.dtype = np.dtype(spec)
        except TypeError:  # e.g. 'f1': no such type
            raise _RefusedError(f"unknown dtype {spec!r}") from None

    def __setstate__(self, state: Any) -> None:
        order = _text(state[1], "a dtype byte order") if isinstance(state, tuple) and \
            len(state) > 1 else "="
        if order not in "<>|=" or len(order) != 1:
            raise _RefusedError(f"bad dtype byte order {quote(order)!r}")
        if order in "<>":
            self.dtype = self.dtype.newbyteorder(order)


class _Array:
    """An array under reconstruction: ``__setstate__`` receives (version, shape, dtype,
    fortran, raw bytes) and builds it, refusing a shape the bytes do not fill."""

    array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) == 5):
            raise _RefusedError("malformed array state")
        _, shape, dtype, fortran, raw = state
        if not (isinstance(shape, tuple) and all(type(s) is int and s >= 0 for s in shape)):
            raise _RefusedError("array shape is not a tuple of non-negative ints")
        if not isinstance(dtype, _DType):
            raise _RefusedError("array dtype is not a plain numeric dtype")
        if isinstance(raw, str):  # protocol-2 pickles from Python 3 carry bytes as latin-1 text
            raw = raw.encode("latin-1")
        if not isinstance(raw, (bytes, bytearray)):
            raise _RefusedError("array data is not a byte string")
        nbytes = math.prod(shape) * dtype.dtype.itemsize
        if nbytes != len(raw):
            raise _RefusedError(f"array of shape {shape} and dtype {dtype.dtype} needs {nbytes} "
                                f"bytes, the file gives {len(raw)}")
        self.array = np.frombuffer(raw, dtype.dtype).reshape(shape, order="F" if fortran else "C")


class _ArrayType:
    """Stands for ``numpy.ndarray`` in the file; it can only be passed to _reconstruct."""


def _reconstruct(subtype: Any, shape: Any, dtype_code: Any) -> _Array:
    if subtype is not _ArrayType or shape != (0,):
        raise _RefusedError("unexpected arguments to numpy's array reconstructor")
    return _Array()


def _scalar(dtype: Any, raw: Any = b"") -> Any:
    if not isinstance(dtype, _DType):
        raise _RefusedError("scalar dtype is not a plain numeric dtype")
    if isinstance(raw, str):
        raw = raw.encode("latin-1")
    if not isinstance(raw, bytes) or len(raw) != dtype.dtype.itemsize:
        raise _RefusedError("malformed NumPy scalar")
    return np.frombuffer(raw, dtype.dtype)[0]


def _encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """``_codecs.encode``: how protocol-2 pickles from Python 3 spell a bytes object."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _RefusedError("unexpected arguments to _codecs.encode")
    return text.encode("latin-1")


_ALLOWED = {
    ("numpy", "ndarray"): _ArrayType,
    ("numpy", "dtype"): _DType,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,  # NumPy 1.x pickles
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # NumPy 2.x pickles
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("_codecs", "encode"): _encode,
}


class RestrictedUnpickler(pickle._Unpickler):
    """An unpickler that refuses every global except NumPy array reconstruction.

    It builds on the pure-Python unpickler: its memo is a dict and it reads byte strings with
    ``read(n)``, which returns only the bytes that exist, so a length field claiming gigabytes
    cannot make it allocate them (the C unpickler reserves such lengths up front). Opcodes that
    would pre-allocate (BYTEARRAY8) or need out-of-band buffers are removed.
    """

    dispatch = {k: v for k, v in pickle._Unpickler.dispatch.items()
                if k not in (pickle.BYTEARRAY8[0], pickle.NEXT_BUFFER[0],
                             pickle.READONLY_BUFFER[0])}

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED.get((module, name))
        if found is None:
            raise _RefusedError(f"the pickle refers to {quote(module)}.{quote(name)}, which is not "
                                f"allowed (only plain containers, bytes, str, numbers and NumPy "
                                f"arrays are)")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise _RefusedError("the pickle uses persistent ids, which are not allowed")


def _resolve(value: Any) -> Any:
    """Turn a reconstructed array placeholder into its NumPy array."""
    if isinstance(value, _Array):
        if value.array is None:
            raise _RefusedError("an array without data")
        return value.array
    return value


def read_pickle(path: str | os.PathLike, what: str = "pickle") -> Any:
    """Load a pickle through ``RestrictedUnpickler``; returns plain containers, numbers,
    str/bytes and placeholders for arrays (see ``_resolve``). Any failure is a DataError."""
    path = Path(path)
    raw = read_bytes(path, what, MAX_PICKLE_BYTES)
    try:
        return RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except _RefusedError as e:
        raise DataError(f"{what} {path}: refusing to load it: {e}") from None
    except EOFError:
        raise DataError(f"{what} {path}: truncated (the pickle ends early)") from None
    except (pickle.UnpicklingError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            OverflowError, UnicodeError, struct.error) as e:
        # Malformed opcodes surface as any of these from pickle's own code: the file is corrupt.
        raise DataError(f"{what} {path}: not a valid pickle ({brief(e)})") from None


def _field(batch: dict, key: str, path: Path) -> Any:
    for k in (key.encode(), key):
        if k in batch:
            return _resolve(batch[k])
    found = sorted(str(k) for k in batch)[:8]
    raise DataError(f"CIFAR-10 batch {path}: missing key {key!r} (found keys {found})")


def read_cifar_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch file as ``(images uint8 (N, 3, 32, 32), labels int64 (N,))``."""
    path = Path(path)
    batch = read_pickle(path, "CIFAR-10 batch")
    if not isinstance(batch, dict):
        raise DataError(f"CIFAR-10 batch {path}: expected a dict with keys 'data' and 'labels', "
                        f"found a {type(batch).__name__}")
    try:
        data = _field(batch, "data", path)
        labels = _field(batch, "labels", path)
    except _RefusedError as e:
        raise DataError(f"CIFAR-10 batch {path}: {e}") from None
    if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
            and data.shape[1] == _ROW):
        desc = (f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise DataError(f"CIFAR-10 batch {path}: 'data' must be a uint8 array of shape "
                        f"(N, {_ROW}), found {desc}")
    if isinstance(labels, np.ndarray):
        labels = labels.tolist()
    if not (isinstance(labels, list) and all(type(v) is int for v in labels)):
        raise DataError(f"CIFAR-10 batch {path}: 'labels' must be a list of ints")
    if len(labels) != len(data):
        raise DataError(f"CIFAR-10 batch {path}: {len(data)} images but {len(labels)} labels")
    y = np.array(labels, dtype=np.int64)
    if len(y) and (y.min() < 0 or y.max() >= len(CIFAR10_CLASSES)):
        raise DataError(f"CIFAR-10 batch {path}: labels must be in 0..9, found "
                        f"{y.min()}..{y.max()}")
    return data.reshape(-1, 3, 32, 32), y


def read_cifar_class_names(folder: Path) -> list[str]:
    """Class names from ``batches.meta`` if present (and sane), else the standard ten."""
    meta_path = folder / CIFAR10_META_FILE
    if not meta_path.exists():
        return list(CIFAR10_CLASSES)
    meta = read_pickle(meta_path, "CIFAR-10 meta file")
    names = None
    if isinstance(meta, dict):
        names = meta.get(b"label_names", meta.get("label_names"))
    if not (isinstance(names, list) and len(names) == len(CIFAR10_CLASSES)
            and all(isinstance(n, (bytes, str)) for n in names)):
        raise DataError(f"CIFAR-10 meta file {meta_path}: expected 'label_names', a list of 10 "
                        f"strings")
    return [n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names]


def load_cifar10_arrays(folder: str | os.PathLike
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The five training batches and the test batch of ``folder`` as float32 in [0, 1]:
    ``(x_train (50000, 3, 32, 32), y_train, x_test (10000, 3, 32, 32), y_test, class_names)``.
    """
    folder = Path(folder)
    train = [read_cifar_batch(folder / name) for name in CIFAR10_TRAIN_FILES]
    x_test, y_test = read_cifar_batch(folder / CIFAR10_TEST_FILE)
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    to_float = ToFloat()
    return (to_float(x_train), y_train, to_float(x_test), y_test,
            read_cifar_class_names(folder))
