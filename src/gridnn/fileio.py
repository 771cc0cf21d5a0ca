"""Files that survive crashes and refuse bad input: atomic writes, checked JSON, safetensors.

Nothing here uses pickle: arrays are safetensors (a JSON header plus raw bytes, so loading a
file never runs code) and everything else is JSON. Every malformed, truncated or mismatched
file raises ``DataError`` naming the file. ``checkpoint`` builds run folders on these pieces.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import safetensors.numpy
from safetensors import SafetensorError

from .errors import DataError


# ---- atomic files ----------------------------------------------------------------------------
def atomic_write(path: str | os.PathLike, data: bytes | str, *, exclusive: bool = False
                 ) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one.

    The bytes go to a temporary file in the same folder (same file system, so the rename is
    atomic), are flushed and fsynced, then renamed over ``path``; the folder is fsynced so the
    rename itself survives a power cut. An OSError names ``path``, never the temporary file.
    ``exclusive``: FileExistsError if ``path`` exists, decided atomically (the file is
    hard-linked into place), so of two processes creating it at once exactly one succeeds.
    """
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else bytes(data)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise _naming(e, path) from None
    try:
        os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600; give what open() would give
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)  # fails with FileExistsError when another got there first
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except FileExistsError:
        Path(tmp).unlink(missing_ok=True)
        raise
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise _naming(e, path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _naming(error: OSError, path: Path) -> OSError:
    """``error`` as an OSError about ``path`` (not the temporary file), keeping its reason."""
    return OSError(error.errno, error.strerror or str(error), str(path))


def _file_mode(path: Path) -> int:
    """The existing file's permissions, else the default for a new file (0666 less umask)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms (Windows) cannot open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


MAX_FILE_BYTES = 4 << 30  # most any one file is read to (weights); callers pass tighter bounds
MAX_JSON_BYTES = 64 << 20  # run configs, checkpoint states, metrics


def _kind(mode: int) -> str:
    """What a non-regular file is, in words ('a named pipe (FIFO)', 'a device', ...)."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str | os.PathLike, what: str) -> BinaryIO:
    """``path`` opened for reading in binary, after checking it is a regular file (a FIFO
    would block forever, /dev/zero never ends, and devices report size 0, so the type is
    checked, not the size); DataError naming ``what`` and the file otherwise.

    The type is checked before opening (opening some devices has effects) and again on the
    open file, opened non-blocking so that a FIFO swapped in between cannot hang.
    """
    path = Path(path)
    try:
        before = os.stat(path)
        if not stat.S_ISREG(before.st_mode):
            raise DataError(f"{what} {path} is {_kind(before.st_mode)}, not a regular file")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_CLOEXEC", 0))
        f = os.fdopen(fd, "rb")
        opened = os.fstat(fd)
    except FileNotFoundError:
        raise DataError(f"{what} not found: {path}") from None
    except OSError as e:
        raise DataError(f"cannot read {what} {path}: {e.strerror or e}") from None
    if not stat.S_ISREG(opened.st_mode):
        f.close()
        raise DataError(f"{what} {path} is {_kind(opened.st_mode)}, not a regular file")
    return f


def read_bytes(path: str | os.PathLike, what: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file ``path`` (``open_regular``), at most ``limit`` of them;
    DataError naming ``what`` and the file otherwise. Only the size the file had when opened
    is read (``read(n)`` reserves n bytes first), and a file that grew meanwhile is refused."""
    with open_regular(path, what) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise DataError(f"{what} {path}: {size} bytes, more than the {limit} accepted")
        try:
            raw, more = f.read(size), f.read(1)
        except OSError as e:
            raise DataError(f"cannot read {what} {path}: {e.strerror or e}") from None
    if more:
        raise DataError(f"{what} {path} changed while it was read; try again")
    return raw


def sha256(data: bytes) -> str:
    """Hex SHA-256 digest of ``data`` (checkpoints name their array files with it)."""
    return hashlib.sha256(data).hexdigest()


# ---- JSON ------------------------------------------------------------------------------------
def _to_json(obj: Any) -> Any:
    """NumPy scalars and arrays (from optimiser or scheduler states) as plain JSON values."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot store a {type(obj).__name__} in JSON")


def write_json(path: str | os.PathLike, obj: Any, *, exclusive: bool = False) -> None:
    """Write ``obj`` as indented JSON, atomically (``exclusive``: see ``atomic_write``)."""
    atomic_write(path, json.dumps(obj, indent=2, default=_to_json) + "\n", exclusive=exclusive)


def read_json(path: str | os.PathLike, what: str = "JSON file") -> dict[str, Any]:
    """The JSON object in ``path``; DataError naming the file if missing or malformed."""
    path = Path(path)
    raw = read_bytes(path, what, MAX_JSON_BYTES)
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        # ValueError: also an integer of more than 4300 digits (int's conversion limit)
        raise DataError(f"{what} {path} is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise DataError(f"{what} {path} must hold a JSON object, found {type(obj).__name__}")
    return obj


# ---- structure checks for untrusted JSON -----------------------------------------------------
def is_number(x: Any) -> bool:
    """An int or float that is not a bool (JSON's true/false load as bools)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def is_finite_number(x: Any) -> bool:
    """A number (``is_number``) within float range and not NaN or infinite; safe for JSON's
    integers of hundreds of digits, on which ``math.isfinite`` raises OverflowError."""
    if not is_number(x):
        return False
    if isinstance(x, int):
        return abs(x) <= 1 << 1023
    return math.isfinite(x)


def short(value: Any) -> str:
    """``value`` as JSON cut to 60 characters, for error messages about untrusted files."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def typed_field(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path,
          where: str = "") -> Any:
    """``obj[key]`` if present and of type ``kind`` (bools are not ints), else DataError
    naming ``path`` and the field as ``where + key``."""
    name = f"{where}{key}"
    if key not in obj:
        raise DataError(f"{path}: missing field {name!r}")
    value = obj[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise DataError(f"{path}: field {name!r} should be {names}, found {short(value)}")
    return value


def count_field(obj: dict[str, Any], key: str, path: Path, where: str = "",
                minimum: int = 0, maximum: int = (1 << 63) - 1) -> int:
    """``typed_field(obj, key, int, ...)`` that is also in ``[minimum, maximum]``."""
    value = typed_field(obj, key, int, path, where)
    if not minimum <= value <= maximum:
        bound = f">= {minimum}" if value < minimum else f"<= {maximum}"
        raise DataError(f"{path}: field {where + key!r} should be {bound}, found {short(value)}")
    return value


def match_structure(template: Any, value: Any, where: str, path: Path) -> None:
    """DataError unless ``value`` has the shape of ``template``: same dict keys, same list
    lengths, numbers where numbers are, strings where strings are (None in the template admits
    any scalar, since a fresh state may hold None where a used one holds a number)."""
    def fail(expected: str) -> None:
        raise DataError(f"{path}: {where} should be {expected}, found {short(value)}")

    if isinstance(template, Mapping):
        if not isinstance(value, dict):
            fail("an object")
        if set(map(str, template)) != set(value):
            fail(f"an object with keys {sorted(map(str, template))}")
        for k, t in template.items():
            match_structure(t, value[str(k)], f"{where}.{k}", path)
    elif isinstance(template, (list, tuple)):
        if not isinstance(value, list) or len(value) != len(template):
            fail(f"a list of {len(template)} items")
        for i, (t, v) in enumerate(zip(template, value)):
            match_structure(t, v, f"{where}[{i}]", path)
    elif isinstance(template, bool):
        if not isinstance(value, bool):
            fail("true or false")
    elif is_number(template) or isinstance(template, np.generic):
        if not is_number(value):
            fail("a number")
    elif isinstance(template, str):
        if not isinstance(value, str):
            fail("a string")
    elif template is None:
        if not (value is None or is_number(value) or isinstance(value, (str, bool))):
            fail("a number or null")


# ---- safetensors -----------------------------------------------------------------------------
def safetensors_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Named arrays as the bytes of one safetensors file (C order, as the format needs)."""
    return safetensors.numpy.save({k: np.asarray(v, order="C") for k, v in arrays.items()})


def save_arrays(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Write named arrays as one safetensors file, atomically."""
    atomic_write(path, safetensors_bytes(arrays))


def load_arrays(path: str | os.PathLike, what: str = "weights file") -> dict[str, np.ndarray]:
    """The named arrays of a safetensors file; DataError naming the file if it is malformed."""
    path = Path(path)
    return parse_safetensors(read_bytes(path, what), path, what)


def parse_safetensors(raw: bytes, path: Path, what: str) -> dict[str, np.ndarray]:
    """The named arrays in ``raw`` (the bytes of ``path``); DataError if they are malformed."""
    try:
        arrays = safetensors.numpy.load(raw)
    except (SafetensorError, KeyError, ValueError, TypeError) as e:
        # KeyError: a dtype NumPy lacks (BF16); the others: a bad header or byte range.
        raise DataError(f"{what} {path} is not a valid safetensors file: {e}") from None
    return dict(arrays)


def check_state(expected: Mapping[str, np.ndarray], found: Mapping[str, np.ndarray],
                path: Path, what: str = "weights file") -> None:
    """DataError unless ``found`` has exactly the names and shapes of ``expected``."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {_names(missing)}")
        if extra:
            parts.append(f"unexpected {_names(extra)}")
        raise DataError(f"{what} {path} does not match the model: {'; '.join(parts)}")
    for name, ref in expected.items():
        arr = found[name]
        if tuple(arr.shape) != tuple(ref.shape):
            raise DataError(
                f"{what} {path} does not match the model: {name!r} has shape "
                f"{tuple(arr.shape)}, the model expects {tuple(ref.shape)}"
            )
        if arr.dtype.kind not in "fiub" or (arr.dtype.kind == "f") != (ref.dtype.kind == "f"):
            raise DataError(
                f"{what} {path}: {name!r} has dtype {arr.dtype}, the model expects {ref.dtype}"
            )


def check_finite(arrays: Mapping[str, np.ndarray], path: Path | str,
                 what: str = "weights file") -> None:
    """DataError naming the first array of ``arrays`` (from ``path``) holding NaN or an
    infinity: a model with such weights answers NaN for every input."""
    for name, arr in arrays.items():
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            raise DataError(f"{what} {path}: {name!r} holds NaN or infinite values; the weights "
                            f"are not finite (training diverged, or the file is damaged)")


def _names(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
