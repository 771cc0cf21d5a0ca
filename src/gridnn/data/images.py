"""Image files: one image for ``gridnn predict``, or a folder ``root/<class>/*.png|jpg`` as a
dataset. Pillow decodes PNG and JPEG; ``.npy`` arrays load without pickle."""

from __future__ import annotations

import io
import os
import struct
import tokenize
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from ..console import note
from ..errors import ArgumentError, DataError
from ._text import brief
from .dataset import DatasetBundle, make_bundle, stratified_split
from .transforms import ToFloat

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_FORMATS = ["PNG", "JPEG"]
# Refuse images above 32 Mpixel before decoding: a 20-byte header may declare 60000 x 60000.
MAX_IMAGE_PIXELS = 1 << 25
# An image cannot honestly hold more pixels than its file can encode: deflate compresses at most
# ~1032:1 and a PNG pixel takes at least 1 bit; baseline JPEG needs far more per pixel. A header
# claiming more is refused before Pillow reserves the pixel buffer.
MAX_PIXELS_PER_FILE_BYTE = 8 * 1100
MAX_IMAGE_FILE_BYTES = 256 << 20
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
# What Pillow's decoders raise on malformed input (some plugins use SyntaxError or struct.error).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError,
                  TypeError, KeyError, ZeroDivisionError)


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise DataError("reading PNG/JPEG files needs Pillow: pip install 'gridnn[data]'"
                        ) from None
    return Image


def _check_channels(channels: int) -> None:
    if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
        raise ArgumentError(f"load_image: `channels` must be a positive int, received "
                            f"channels={channels!r}")


def _check_size(size: tuple[int, ...] | None) -> tuple[int, ...] | None:
    if size is None:
        return None
    size = tuple(size)
    if not (1 <= len(size) <= 2 and all(isinstance(s, int) and s > 0 for s in size)):
        raise ArgumentError(f"load_image: `size` must be (H, W) (or (L,) for a .npy signal) of "
                            f"positive ints, received size={size!r}")
    return size


def _open(path: Path, raw: bytes | None = None):
    """Open a PNG/JPEG (header only) and refuse dimensions its file cannot hold.

    Pillow reads from an in-memory copy (``raw``, else the file read by ``read_file_bytes``).
    """
    image_mod = _pil()
    raw = read_file_bytes(path, "image") if raw is None else raw
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", image_mod.DecompressionBombWarning)
            im = image_mod.open(io.BytesIO(raw), formats=IMAGE_FORMATS)
    except (image_mod.DecompressionBombError, image_mod.DecompressionBombWarning) as e:
        raise DataError(f"image {path}: too large ({brief(e)})") from None
    except image_mod.UnidentifiedImageError:  # its message holds only the buffer's repr
        raise DataError(f"{path} is not a PNG or JPEG image") from None
    except _DECODE_ERRORS as e:
        raise DataError(f"{path} is not a PNG or JPEG image ({brief(e)})") from None
    w, h = im.size
    limit = min(MAX_IMAGE_PIXELS, MAX_PIXELS_PER_FILE_BYTE * len(raw))
    if w * h > limit or w < 1 or h < 1:
        im.close()
        raise DataError(f"image {path}: its header declares {w}x{h} pixels, outside the "
                        f"accepted range (1 to {limit} pixels for a file of {len(raw)} bytes)")
    return im


def image_header(path: str | os.PathLike,
                 raw: bytes | None = None) -> tuple[int, tuple[int, int]]:
    """(channels the file holds: 1 for grayscale modes, else 3; (H, W)) of a PNG/JPEG, read
    from its header (of ``raw``, the file's bytes, when given: an upload)."""
    with _open(Path(path), raw) as im:
        return (1 if im.mode in _GRAY_MODES else 3), (im.size[1], im.size[0])


def _decode(raw: bytes, path: Path, channels: int, size: tuple[int, int] | None) -> np.ndarray:
    """Decode, convert to ``channels`` (1: grayscale, 3: RGB) and resize to ``size`` (H, W)."""
    image_mod = _pil()
    if channels not in (1, 3):
        raise DataError(f"image {path}: a model with {channels} input channels cannot read "
                        f"PNG/JPEG images (1 = grayscale or 3 = RGB); give a .npy array")
    im = _open(path, raw)
    try:
        with im, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # palette/transparency notes from convert()
            im.load()
            if im.mode.startswith("I;16"):  # convert() would clip 16-bit values at 255
                wide = np.asarray(im, dtype=np.float64)
                im = image_mod.fromarray(np.round(wide / 257).astype(np.uint8))
            im = im.convert("L" if channels == 1 else "RGB")
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), image_mod.Resampling.BILINEAR)
            pixels = np.asarray(im, dtype=np.uint8)
    except _DECODE_ERRORS as e:
        raise DataError(f"image {path}: corrupt or truncated ({brief(e)})") from None
    pixels = pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)  # (C, H, W)
    return ToFloat()(pixels)


def read_file_bytes(path: Path, what: str) -> bytes:
    """The whole file (``what``, e.g. "image", names it in errors), refused above
    MAX_IMAGE_FILE_BYTES. Parsers then read from memory, where a length field claiming
    gigabytes gets only the bytes that exist (``read(n)`` on a file object reserves n bytes
    first)."""
    try:
        size = path.stat().st_size
        if size > MAX_IMAGE_FILE_BYTES:
            raise DataError(f"{what} {path}: {size} bytes is larger than the "
                            f"{MAX_IMAGE_FILE_BYTES} accepted")
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{what} not found: {path}") from None
    except OSError as e:
        raise DataError(f"cannot read {what} {path}: {e.strerror or e}") from None


def _read_npy(raw: bytes, path: Path) -> np.ndarray:
    """A .npy array, never unpickled; the header's shape is checked against the file size."""
    fmt = np.lib.format
    f = io.BytesIO(raw)
    try:
        with warnings.catch_warnings():  # a mangled header draws syntax/Python 2 warnings
            warnings.simplefilter("ignore")
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(f)
            else:
                raise DataError(f"{path}: unsupported .npy format version {version}")
    except DataError:
        raise
    except (ValueError, SyntaxError, TypeError, tokenize.TokenError,
            RecursionError) as e:  # the header is parsed as a Python literal
        raise DataError(f"{path} is not a valid .npy file ({brief(e)})") from None
    if dtype.hasobject:
        raise DataError(f"{path}: .npy files holding Python objects are not loaded (they would "
                        f"need pickle)")
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    left = len(raw) - f.tell()
    if nbytes != left:
        raise DataError(f"{path}: the .npy header declares shape {shape} of {dtype} "
                        f"({nbytes} bytes) but the file holds {left} bytes of data")
    return np.frombuffer(raw, dtype, offset=f.tell()).reshape(shape,
                                                              order="F" if fortran else "C")


def _npy_sample(raw: bytes, path: Path, channels: int,
                size: tuple[int, ...] | None) -> np.ndarray:
    """A .npy sample as float32 (C, *size): (C, ...) as is, (...) when C = 1, (H, W, C)
    transposed. Integer arrays are scaled to [0, 1]; float arrays are taken as they are."""
    arr = _read_npy(raw, path)
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{path}: expected a numeric array, found dtype {arr.dtype}")
    spatial = len(size) if size is not None else None
    if arr.ndim >= 2 and arr.shape[0] == channels and spatial in (None, arr.ndim - 1):
        sample = arr
    elif channels == 1 and arr.ndim >= 1 and spatial in (None, arr.ndim):
        sample = arr[None]
    elif arr.ndim == 3 and arr.shape[-1] == channels and spatial in (None, 2):
        sample = arr.transpose(2, 0, 1)
    else:
        want = f"({channels}, {', '.join(map(str, size))})" if size else f"({channels}, ...)"
        raise DataError(f"{path}: array of shape {arr.shape} does not fit the expected shape "
                        f"{want}")
    if size is not None and sample.shape[1:] != size:
        raise DataError(f"{path}: array of shape {arr.shape} does not fit the expected shape "
                        f"{(channels, *size)} (arrays are not resized)")
    sample = ToFloat()(np.ascontiguousarray(sample))
    if not np.all(np.isfinite(sample)):
        raise DataError(f"{path}: the array holds NaN or infinite values")
    return sample


def load_image(path: str | os.PathLike, *, channels: int,
               size: tuple[int, ...] | None = None) -> np.ndarray:
    """One sample from a PNG/JPEG image or a ``.npy`` array, as float32 (C, H, W) (or (C, L)).

    Images are converted to grayscale (``channels=1``) or RGB (``channels=3``), scaled to
    [0, 1], and resized bilinearly to ``size`` = (H, W) when given and different. ``.npy``
    arrays are loaded without pickle and must already have the right shape (they are not
    resized). Raises ``DataError`` naming the file when it is missing, not an image, corrupt,
    or does not fit.
    """
    path = Path(path)
    raw = read_file_bytes(path, "file" if path.suffix.lower() == ".npy" else "image")
    return load_image_bytes(raw, str(path), channels=channels, size=size)


def load_image_bytes(raw: bytes, name: str, *, channels: int,
                     size: tuple[int, ...] | None = None) -> np.ndarray:
    """``load_image`` for the bytes of a file named ``name`` (an upload): the same checks and
    result; the name's suffix picks ``.npy`` or PNG/JPEG and names the file in errors."""
    _check_channels(channels)
    size = _check_size(size)
    path = Path(name)
    if path.suffix.lower() == ".npy":
        return _npy_sample(raw, path, channels, size)
    if size is not None and len(size) != 2:
        raise DataError(f"image {path}: a model taking 1-D signals of length {size[0]} cannot "
                        f"read PNG/JPEG images; give a .npy array")
    return _decode(raw, path, channels, size)


def _image_files(root: Path) -> tuple[list[Path], list[int], list[str]]:
    classes = sorted(d.name for d in root.iterdir()
                     if d.is_dir() and not d.name.startswith("."))
    files, labels, names = [], [], []
    for name in classes:
        found = sorted(p for p in (root / name).iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if found:
            files += found
            labels += [len(names)] * len(found)
            names.append(name)
    return files, labels, names


def load_image_folder(root: str | os.PathLike, *, size: tuple[int, int] | None = None,
                      channels: int | None = None, test_fraction: float = 0.2,
                      seed: int = 0) -> DatasetBundle:
    """A dataset from ``root/<class>/*.png|jpg``: class names sorted, labels 0..K-1.

    ``channels`` defaults to 1 when every image is grayscale, else 3. ``size`` = (H, W) resizes
    every image; by default images keep their size, and when sizes differ all are resized
    (bilinear) to the most common one, with a note on stderr. The split into train and test is
    stratified and seeded (``test_fraction`` of each class goes to test).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder not found: {root}")
    files, labels, names = _image_files(root)
    if len(names) < 2 or len(files) < 4:
        raise DataError(f"image folder {root}: expected at least 2 class sub-folders holding "
                        f"PNG/JPEG images (root/<class>/*.png), found {len(names)} classes and "
                        f"{len(files)} images")
    if channels is None or size is None:
        headers = [image_header(p) for p in files]
        sizes = [s for _, s in headers]
        if channels is None:
            channels = max(c for c, _ in headers)
        if size is None:
            counts = Counter(sizes)
            size = counts.most_common(1)[0][0]
            if len(counts) > 1:
                note(f"the images in {root} have {len(counts)} sizes; all are resized to "
                     f"{size[0]}x{size[1]}, the most common (--image-size HxW chooses another)")
    x = np.stack([load_image(p, channels=channels, size=size) for p in files])
    y = np.array(labels, dtype=np.int64)
    train, test = stratified_split(y, test_fraction, seed)
    return make_bundle(str(root), x[train], y[train], x[test], y[test], names)
