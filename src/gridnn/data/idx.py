"""IDX files (the MNIST / Fashion-MNIST format), raw or gzip-compressed.

Layout: two zero bytes, a type code, the number of dimensions ``ndim``, then ``ndim``
big-endian uint32 sizes, then the values in big-endian row-major order. The declared size is
checked against what the file can hold before anything is allocated, so a corrupt or hostile
header cannot make the reader reserve gigabytes.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import DataError
from ..fileio import open_regular
from ._text import brief

IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
GZIP_MAGIC = b"\x1f\x8b"
# Deflate cannot expand data by more than about 1032:1, so a gzip file of n bytes holds at most
# ~1032 n bytes: a bound on what a header may honestly declare, known before decompressing.
GZIP_MAX_RATIO = 1100
_CHUNK = 1 << 20


def _read_upto(stream: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes, in chunks, so memory grows with the data present, not with ``n``."""
    chunks, left = [], n
    while left > 0:
        chunk = stream.read(min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _parse(stream: BinaryIO, capacity: int, label: str) -> np.ndarray:
    """Parse one IDX stream that can hold at most ``capacity`` bytes (header included);
    ``label`` names the file in messages."""
    head = _read_upto(stream, 4)
    if len(head) < 4:
        raise DataError(f"{label}: truncated: {len(head)} bytes, shorter than "
                        f"the 4-byte header")
    if head[:2] != b"\x00\x00" or head[2] not in IDX_DTYPES:
        raise DataError(f"{label}: wrong magic number 0x{head.hex()} (expected "
                        f"00 00, a type code in {{08, 09, 0B, 0C, 0D, 0E}} and ndim)")
    ndim = head[3]
    if ndim == 0:
        raise DataError(f"{label}: header declares 0 dimensions")
    dims_raw = _read_upto(stream, 4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DataError(f"{label}: truncated: the header declares {ndim} "
                        f"dimensions but the file ends inside the list of sizes")
    shape = struct.unpack(f">{ndim}I", dims_raw)
    dtype = np.dtype(IDX_DTYPES[head[2]])
    nbytes = math.prod(shape) * dtype.itemsize
    header = 4 + 4 * ndim
    if nbytes > capacity - header:
        raise DataError(f"{label}: header promises shape {shape} of {dtype.name} "
                        f"({nbytes} bytes of data) but the file holds at most "
                        f"{capacity - header} bytes")
    data = _read_upto(stream, nbytes)
    if len(data) < nbytes:
        raise DataError(f"{label}: truncated: header promises shape {shape} "
                        f"({nbytes} bytes of data) but the file holds only {len(data)}")
    if stream.read(1):
        raise DataError(f"{label}: more bytes than its header declares "
                        f"(shape {shape}, {nbytes} bytes of data)")
    return np.frombuffer(data, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or .gz, detected from its first bytes) as a native-endian array.

    Returns an array of the declared shape, e.g. uint8 (N, 28, 28) for MNIST images or uint8
    (N,) for labels. Raises ``DataError`` naming the file for a missing or unreadable file, a
    wrong magic number, a header that promises more bytes than the file holds, truncated or
    trailing data, and corrupt gzip data.
    """
    path = Path(path)
    try:
        with open_regular(path, "IDX file") as f:
            size = os.fstat(f.fileno()).st_size
            if f.read(2) == GZIP_MAGIC:
                f.seek(0)
                with gzip.GzipFile(fileobj=f) as gz:
                    return _parse(gz, size * GZIP_MAX_RATIO,
                                  f"IDX file {path} (gzip, {size} bytes compressed)")
            f.seek(0)
            return _parse(f, size, f"IDX file {path}")
    except FileNotFoundError:
        raise DataError(f"IDX file not found: {path}") from None
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataError(f"IDX file {path}: corrupt or unreadable ({brief(e)})") from None
