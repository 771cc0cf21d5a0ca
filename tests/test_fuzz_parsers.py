"""Fuzz the data-file parsers (IDX, CIFAR-10 batch, PNG/JPEG, .npy) with hypothesis.

Each input is a valid seed file with 1 to 4 mutations (bit flips, byte sets, 32-bit "length"
overwrites, insertions, deletions, truncation), biased towards the header and structure bytes.
The only allowed outcomes: a correct load (checked against an independent reference parser for
IDX, against format invariants otherwise) or ``DataError``. Anything else fails, as does an input
that takes over PER_INPUT_TIMEOUT_S (a hang) or makes the parser allocate over PEAK_LIMIT
(traced by tracemalloc, which NumPy reports its buffers to).

MAX_EXAMPLES sets the inputs per parser; GRIDNN_FUZZ_SCALE=10 runs ten times as many. The run is
derandomised so CI sees the same inputs every time. Total inputs at scale 1: see TOTAL_INPUTS.
"""

import gzip
import io
import math
import os
import pickle
import signal
import struct
import tracemalloc
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from gridnn import DataError
from gridnn.data import load_image, read_cifar_batch, read_idx
from gridnn.data.images import MAX_IMAGE_PIXELS

FUZZ_SCALE = float(os.environ.get("GRIDNN_FUZZ_SCALE", "1"))
MAX_EXAMPLES = {"idx": 3000, "cifar": 2500, "image": 3000, "npy": 1500}
TOTAL_INPUTS = sum(MAX_EXAMPLES.values())  # 10000 at scale 1
PER_INPUT_TIMEOUT_S = 5
PEAK_LIMIT = 32 << 20  # every seed is < 20 KB; a correct parse needs well under 1 MB
INTERESTING_INTS = [0, 1, 2, 3, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x7FFFFFFF, 0x80000000,
                    0xFFFFFFFF]
tried = {name: 0 for name in MAX_EXAMPLES}


def fuzz_settings(name):
    return settings(max_examples=max(1, int(MAX_EXAMPLES[name] * FUZZ_SCALE)), deadline=None,
                    derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


# ---- seeds -----------------------------------------------------------------------------------
def idx_bytes(array, code):
    big = array.astype(array.dtype.newbyteorder(">"))
    return bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + \
        big.tobytes()


def _idx_seeds():
    rng = np.random.default_rng(0)
    plain = {
        "images_u1": idx_bytes(rng.integers(0, 256, (3, 5, 4), dtype=np.uint8), 0x08),
        "labels_u1": idx_bytes(rng.integers(0, 10, 9, dtype=np.uint8), 0x08),
        "i2": idx_bytes(rng.integers(-999, 999, (4, 3)).astype(np.int16), 0x0B),
        "f4": idx_bytes(rng.standard_normal((2, 2, 2)).astype(np.float32), 0x0D),
        "f8": idx_bytes(rng.standard_normal(5), 0x0E),
    }
    seeds = dict(plain)
    seeds.update({k + ".gz": gzip.compress(v, mtime=0) for k, v in plain.items()})
    return seeds


SEED_PIXELS = {}  # CIFAR seed length -> its pixel bytes (to find the structure around them)


def _cifar_batch_bytes(protocol, n=1):
    rng = np.random.default_rng(protocol + n)
    pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    batch = {b"batch_label": b"fuzz", b"labels": [int(v) for v in rng.integers(0, 10, n)],
             b"data": pixels, b"filenames": [b"a.png"] * n}
    raw = pickle.dumps(batch, protocol=protocol)
    # protocol 2 spells bytes as latin-1 text (UTF-8 encoded): look for that form
    SEED_PIXELS[len(raw)] = pixels.tobytes() if protocol > 2 else \
        pixels.tobytes().decode("latin-1").encode("utf-8")
    return raw


def _cifar_seeds():
    seeds = {f"batch_p{p}": _cifar_batch_bytes(p) for p in (2, 3, 4)}
    seeds["batch_p2_n2"] = _cifar_batch_bytes(2, n=2)
    return seeds


def _image_bytes(array, fmt, mode=None, **options):
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _image_seeds():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    rgb = rng.integers(0, 256, (6, 4, 3), dtype=np.uint8)
    rgba = rng.integers(0, 256, (3, 3, 4), dtype=np.uint8)
    palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG")
    return {
        "gray.png": _image_bytes(gray, "PNG"),
        "rgb.png": _image_bytes(rgb, "PNG"),
        "rgba.png": _image_bytes(rgba, "PNG"),
        "palette.png": buffer.getvalue(),
        "gray16.png": _image_bytes((gray.astype(np.uint16) * 200), "PNG"),
        "gray.jpg": _image_bytes(gray, "JPEG", quality=90),
        "rgb.jpg": _image_bytes(np.repeat(np.repeat(rgb, 2, 0), 2, 1), "JPEG"),
        "progressive.jpg": _image_bytes(rgb, "JPEG", progressive=True),
    }


def _npy_seeds():
    seeds = {}
    for name, array in {"f4_1x8": np.linspace(0, 1, 8, dtype=np.float32)[None],
                        "u1_hwc": np.arange(12, dtype=np.uint8).reshape(2, 2, 3),
                        "f8_fortran": np.asfortranarray(np.eye(3)),
                        "i2_chw": np.arange(18, dtype=">i2").reshape(2, 3, 3)}.items():
        buffer = io.BytesIO()
        np.save(buffer, array)
        seeds[name + ".npy"] = buffer.getvalue()
    return seeds


SEEDS = {"idx": _idx_seeds(), "cifar": _cifar_seeds(), "image": _image_seeds(),
         "npy": _npy_seeds()}


def _structure(parser, raw):
    """Byte ranges holding a seed's structure (headers, pickle opcodes around the pixel rows):
    half the mutations land there, the rest anywhere."""
    if parser == "cifar":
        rows = SEED_PIXELS[len(raw)]
        start = raw.find(rows)
        return [(0, start), (start + len(rows), len(raw))]
    return [(0, min(len(raw), 96))]


# ---- mutations -------------------------------------------------------------------------------
def mutate(seed, regions, rng):
    """1 to 4 random mutations of ``seed``; half their positions fall inside ``regions``."""
    data = bytearray(seed)
    for _ in range(rng.integers(1, 5)):
        if not data:
            break
        if rng.random() < 0.5:
            start, end = regions[rng.integers(len(regions))]
            position = int(rng.integers(start, max(start + 1, end)))
        else:
            position = int(rng.integers(len(seed)))
        position = min(position, len(data) - 1)
        op = rng.integers(6)
        if op == 0:    # flip one bit
            data[position] ^= 1 << int(rng.integers(8))
        elif op == 1:  # set a byte, often to a boundary value
            data[position] = int(rng.choice([0x00, 0x01, 0x7F, 0x80, 0xFF, rng.integers(256)]))
        elif op == 2:  # overwrite what may be a length or size field
            value = int(rng.choice(INTERESTING_INTS + [int(rng.integers(2**32))]))
            data[position:position + 4] = struct.pack("<>"[rng.integers(2)] + "I", value)
        elif op == 3:  # insert random bytes
            data[position:position] = rng.bytes(int(rng.integers(1, 17)))
        elif op == 4:  # delete a few bytes
            del data[position:position + int(rng.integers(1, 17))]
        else:          # truncate
            del data[position:]
    return bytes(data)


def mutated(parser):
    """Hypothesis draws a seed file and a mutation seed; NumPy applies the mutations (cheap to
    generate, and a failure reports the exact (file, seed) pair that reproduces it)."""
    def build(name, mutation_seed):
        seed = SEEDS[parser][name]
        regions = _structure(parser, seed)
        return name, mutate(seed, regions, np.random.default_rng(mutation_seed))

    return st.builds(build, st.sampled_from(sorted(SEEDS[parser])),
                     st.integers(0, 2**64 - 1))


@contextmanager
def time_limit(seconds):
    def expire(signum, frame):
        raise TimeoutError(f"parser still running after {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    yield tmp_path_factory.mktemp("fuzz")
    total = sum(tried.values())
    print(f"\nfuzzed data parsers: {tried} = {total} inputs")


def run_one(parser, fuzz_dir, name, data, parse):
    """Parse one mutated file; returns the result, or None after a DataError."""
    tried[parser] += 1
    path = fuzz_dir / name
    path.write_bytes(data)
    tracemalloc.start()  # traced only while parsing, so hypothesis itself runs at full speed
    try:
        with time_limit(PER_INPUT_TIMEOUT_S):
            return parse(path)
    except DataError as e:
        assert str(path) in str(e) or path.name in str(e), f"message does not name the file: {e}"
        return None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < PEAK_LIMIT, f"{name}: peak allocation {peak} bytes for {len(data)} bytes"


# ---- IDX: reference parser -------------------------------------------------------------------
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def reference_idx(raw):
    """The IDX format as the spec reads, for inputs known to be small; None if invalid."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except Exception:  # whatever gzip raises, the input is invalid
            return None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES or raw[3] == 0:
        return None
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        return None
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dtype = np.dtype(IDX_TYPES[raw[2]])
    if len(raw) != 4 + 4 * ndim + math.prod(shape) * dtype.itemsize:
        return None
    return np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(shape)


def test_fuzz_idx(fuzz_dir):
    @fuzz_settings("idx")
    @given(mutated("idx"))
    def check(case):
        name, data = case
        out = run_one("idx", fuzz_dir, name, data, read_idx)
        expected = reference_idx(data)
        if expected is None:
            assert out is None, f"{name}: loaded an input the reference rejects"
        else:
            assert out is not None, f"{name}: rejected a valid input"
            assert out.shape == expected.shape and out.dtype == expected.dtype.newbyteorder("=")
            np.testing.assert_array_equal(out, expected)

    check()
    assert tried["idx"] >= MAX_EXAMPLES["idx"] * FUZZ_SCALE * 0.9


def test_fuzz_cifar_batch(fuzz_dir):
    @fuzz_settings("cifar")
    @given(mutated("cifar"))
    def check(case):
        name, data = case
        out = run_one("cifar", fuzz_dir, name, data, read_cifar_batch)
        if out is not None:
            x, y = out
            assert x.dtype == np.uint8 and x.ndim == 4 and x.shape[1:] == (3, 32, 32)
            assert y.dtype == np.int64 and y.shape == (len(x),)
            assert len(y) == 0 or (y.min() >= 0 and y.max() <= 9)

    check()
    assert tried["cifar"] >= MAX_EXAMPLES["cifar"] * FUZZ_SCALE * 0.9


def test_fuzz_images(fuzz_dir):
    @fuzz_settings("image")
    @given(mutated("image"), st.sampled_from([1, 3]), st.sampled_from([None, (4, 4)]))
    def check(case, channels, size):
        name, data = case
        out = run_one("image", fuzz_dir, name, data,
                      lambda p: load_image(p, channels=channels, size=size))
        if out is not None:
            assert out.dtype == np.float32 and out.ndim == 3 and out.shape[0] == channels
            assert size is None or out.shape[1:] == size
            assert out.shape[1] * out.shape[2] <= MAX_IMAGE_PIXELS
            assert np.all(out >= 0) and np.all(out <= 1)

    check()
    assert tried["image"] >= MAX_EXAMPLES["image"] * FUZZ_SCALE * 0.9


def test_fuzz_npy(fuzz_dir):
    @fuzz_settings("npy")
    @given(mutated("npy"), st.sampled_from([1, 2, 3]))
    def check(case, channels):
        name, data = case
        out = run_one("npy", fuzz_dir, name, data, lambda p: load_image(p, channels=channels))
        if out is not None:
            assert out.dtype == np.float32 and out.shape[0] == channels
            assert np.all(np.isfinite(out))

    check()
    assert tried["npy"] >= MAX_EXAMPLES["npy"] * FUZZ_SCALE * 0.9
