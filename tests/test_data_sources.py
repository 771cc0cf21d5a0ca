"""gridnn.data sources on small files written here in the real formats: IDX (raw and .gz), CIFAR-10
python batches (real key layout, several pickle protocols, Python-2 style), PNG/JPEG/.npy, image
folders; plus digits, MNIST-1D, the Debian Fashion-MNIST files, the offline download path and
hostile files (malicious pickles, headers declaring huge arrays)."""

import dataclasses
import gzip
import hashlib
import io
import os
import pickle
import struct
import tracemalloc
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import gridnn.data.sources as sources
from gridnn import ArgumentError, DataError
from gridnn.data import (
    available_datasets,
    load_dataset,
    load_image,
    read_cifar_batch,
    read_idx,
)

IDX_CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B,
             np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
IDX_NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte"]
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """Cache in tmp_path, no $GRIDNN_DATA, and no network: a download attempt fails the test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GRIDNN_DATA", raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(sources.urllib.request, "urlopen", no_network)


@pytest.fixture
def peak_memory():
    """Yields a function returning the peak traced allocation (bytes) since the fixture began."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    yield lambda: tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()


# ---- writers for the real formats ------------------------------------------------------------
def idx_bytes(array, code=None):
    array = np.asarray(array)
    big = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    code = IDX_CODES[big.dtype] if code is None else code
    return (bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
            + big.tobytes())


def write_idx(path, array, gz=False):
    raw = idx_bytes(array)
    Path(path).write_bytes(gzip.compress(raw) if gz else raw)
    return Path(path)


def write_idx_dataset(folder, n_train=12, n_test=5, size=(28, 28), gz=True, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = [rng.integers(0, 256, (n_train, *size), dtype=np.uint8),
              rng.integers(0, 10, n_train, dtype=np.uint8),
              rng.integers(0, 256, (n_test, *size), dtype=np.uint8),
              rng.integers(0, 10, n_test, dtype=np.uint8)]
    for name, array in zip(IDX_NAMES, arrays):
        write_idx(folder / (name + (".gz" if gz else "")), array, gz=gz)
    return arrays


class Py2StylePickler(pickle._Pickler):
    """Writes every str and bytes as a Python 2 ``str`` (BINSTRING), as the original CIFAR-10
    files (made by Python 2's cPickle) do; they load as bytes with encoding='bytes'."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_string(self, obj):
        data = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_string
    dispatch[bytes] = save_py2_string


def cifar_batch(n, seed=0, label_offset=0):
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"testing batch 1 of 1",
            b"labels": [int(v) for v in (rng.integers(0, 10, n) + label_offset) % 10],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"img_{i}.png".encode() for i in range(n)]}


def pickle_bytes(obj, protocol=2, py2=False):
    if py2:
        buffer = io.BytesIO()
        Py2StylePickler(buffer, protocol=2).dump(obj)
        # NumPy 1.x (and the real files) name the reconstructor numpy.core.multiarray
        return buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    return pickle.dumps(obj, protocol=protocol)


def write_cifar_folder(folder, n=4, py2=True):
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        batches[name] = cifar_batch(n if name != "test_batch" else n - 1, seed=i)
        (folder / name).write_bytes(pickle_bytes(batches[name], py2=py2))
    meta = {b"num_cases_per_batch": n, b"label_names": [b"c%d" % i for i in range(10)],
            b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle_bytes(meta, py2=py2))
    return batches


def png_bytes(array, fmt="PNG", mode=None):
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format=fmt)
    return buffer.getvalue()


# ---- IDX -------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype, shape", [("u1", (3, 4, 5)), ("u1", (7,)), ("i1", (2, 3)),
                                          (">i2", (4, 2)), (">i4", (5,)), (">f4", (2, 2, 2)),
                                          (">f8", (3,))])
def test_read_idx_round_trips_every_type(tmp_path, dtype, shape, gz):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal(shape) * 100).astype(dtype)
    out = read_idx(write_idx(tmp_path / "a.idx", array, gz=gz))
    assert out.shape == shape and out.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize("raw, text", [
    (b"\x00\x01\x08\x01\x00\x00\x00\x01\x05", "wrong magic number 0x00010801"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "wrong magic number 0x00000701"),
    (b"\x00\x00\x08", "truncated: 3 bytes, shorter than the 4-byte header"),
    (b"\x00\x00\x08\x00", "header declares 0 dimensions"),
    (b"\x00\x00\x08\x03\x00\x00\x00\x0a", "ends inside the list of sizes"),
    (idx_bytes(np.zeros((10, 28, 28), np.uint8))[:100],
     r"header promises shape \(10, 28, 28\).* \(7840 bytes of data\) but the file holds "
     r"(at most 84 bytes|only 84)"),
    (idx_bytes(np.zeros(5, np.uint8)) + b"\x00", "more bytes than its header declares"),
])
def test_read_idx_rejects_bad_files_by_name(tmp_path, raw, text):
    for gz in (False, True):
        path = tmp_path / ("bad.gz" if gz else "bad")
        path.write_bytes(gzip.compress(raw) if gz else raw)
        with pytest.raises(DataError, match=text) as info:
            read_idx(path)
        assert str(path) in str(info.value)


def test_read_idx_missing_and_corrupt_gzip(tmp_path):
    with pytest.raises(DataError, match="IDX file not found: .*nothing-here"):
        read_idx(tmp_path / "nothing-here")
    data = bytearray(gzip.compress(idx_bytes(np.arange(5000, dtype=np.uint8).reshape(50, 100))))
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "corrupt.gz").write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt.gz"):
        read_idx(tmp_path / "corrupt.gz")


def test_a_header_declaring_a_huge_array_is_refused_before_allocating(tmp_path, peak_memory):
    huge = bytes([0, 0, 0x0E, 3]) + struct.pack(">3I", 2**32 - 1, 2**32 - 1, 2**32 - 1)
    (tmp_path / "huge").write_bytes(huge + b"\x00" * 64)
    (tmp_path / "huge.gz").write_bytes(gzip.compress(huge + b"\x00" * 64))
    for name in ("huge", "huge.gz"):
        with pytest.raises(DataError, match="header promises shape"):
            read_idx(tmp_path / name)
    assert peak_memory() < 1 << 20


def test_gzip_reads_are_bounded_by_the_data_present(tmp_path, peak_memory):
    # 256 KiB of incompressible data claiming 40 MB: plausible for the gzip size, so the reader
    # must stream it and stop at the end instead of reserving the declared 40 MB.
    body = np.random.default_rng(0).integers(0, 256, 1 << 18, dtype=np.uint8).tobytes()
    header = bytes([0, 0, 0x08, 2]) + struct.pack(">2I", 40_000, 1_000)
    (tmp_path / "short.gz").write_bytes(gzip.compress(header + body))
    with pytest.raises(DataError, match=r"truncated: .*holds only 262144"):
        read_idx(tmp_path / "short.gz")
    assert peak_memory() < 8 << 20


# ---- MNIST / Fashion-MNIST: search order, checks, download -----------------------------------
def test_mnist_loads_from_data_dir_raw_or_gz(tmp_path):
    for gz in (True, False):
        folder = tmp_path / f"data{gz}" / "mnist"
        x_tr, y_tr, x_te, y_te = write_idx_dataset(folder, gz=gz)
        bundle = load_dataset("mnist", data_dir=folder.parent)
        assert bundle.train.x.shape == (12, 1, 28, 28) and bundle.test.x.shape == (5, 1, 28, 28)
        assert bundle.train.x.dtype == np.float32 and bundle.train.y.dtype == np.int64
        np.testing.assert_allclose(bundle.train.x[:, 0], x_tr / 255, rtol=1e-6)
        np.testing.assert_array_equal(bundle.test.y, y_te)
        assert bundle.num_classes == 10 and bundle.input_shape == (1, 28, 28)
        np.testing.assert_allclose(bundle.mean, [bundle.train.x.mean()], rtol=1e-5)
        np.testing.assert_allclose(bundle.std, [bundle.train.x.std()], rtol=1e-5)


def test_search_order_is_data_dir_then_env_then_cache(tmp_path, monkeypatch):
    write_idx_dataset(tmp_path / "given", n_train=3)
    write_idx_dataset(tmp_path / "env" / "mnist", n_train=4)
    write_idx_dataset(tmp_path / "cache" / "gridnn" / "mnist", n_train=6)
    monkeypatch.setenv("GRIDNN_DATA", str(tmp_path / "env"))
    assert len(load_dataset("mnist", data_dir=tmp_path / "given").train) == 3
    assert len(load_dataset("mnist").train) == 4
    monkeypatch.delenv("GRIDNN_DATA")
    assert len(load_dataset("mnist").train) == 6


def test_a_folder_of_idx_files_is_a_dataset(tmp_path):
    write_idx_dataset(tmp_path / "mine", n_train=7, size=(6, 5), gz=False)
    bundle = load_dataset(str(tmp_path / "mine"))
    assert bundle.train.x.shape == (7, 1, 6, 5) and bundle.input_shape == (1, 6, 5)


def test_idx_datasets_check_images_against_labels(tmp_path):
    folder = tmp_path / "mnist"
    write_idx_dataset(folder)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.uint8), gz=True)
    with pytest.raises(DataError, match="5 images but 4 labels"):
        load_dataset("mnist", data_dir=tmp_path)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(5, 10, np.uint8), gz=True)
    with pytest.raises(DataError, match=r"labels must be in 0..9, found 10..10"):
        load_dataset("mnist", data_dir=tmp_path)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((5, 4), np.uint8), gz=True)
    with pytest.raises(DataError, match=r"expected uint8 images \(N, H, W\)"):
        load_dataset("mnist", data_dir=tmp_path)


def test_the_debian_fashion_mnist_files_load():
    if not DEBIAN_FASHION.is_dir():
        pytest.skip("apt-get install dataset-fashion-mnist (CI installs it)")
    bundle = load_dataset("fashion-mnist")
    assert bundle.train.x.shape == (60000, 1, 28, 28) and bundle.test.x.shape == (10000, 1, 28, 28)
    assert bundle.train.x.dtype == np.float32 and bundle.train.y.dtype == np.int64
    assert 0.0 <= bundle.train.x.min() and bundle.train.x.max() <= 1.0
    assert set(np.unique(bundle.train.y)) == set(range(10)) == set(np.unique(bundle.test.y))
    assert np.bincount(bundle.train.y).tolist() == [6000] * 10  # the published class balance
    assert bundle.class_names[0] == "T-shirt/top" and bundle.class_names[9] == "Ankle boot"
    assert ("fashion-mnist", True, str(DEBIAN_FASHION)) in available_datasets()


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_offline_download_fails_with_one_line_saying_what_to_do(name, monkeypatch):
    monkeypatch.setitem(sources.IDX_SOURCES, name,
                        dataclasses.replace(sources.IDX_SOURCES[name], system_dirs=()))
    calls = []

    def offline(url, timeout=None):
        calls.append((url, timeout))
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(sources.urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as info:
        load_dataset(name)
    message = str(info.value)
    assert "\n" not in message
    assert f"{name}: files not found in" in message and "failed (" in message
    assert "train-images-idx3-ubyte.gz" in message and "--data-dir" in message
    assert ("apt-get install dataset-fashion-mnist" in message) == (name == "fashion-mnist")
    assert calls and calls[0][1] is not None  # a timeout is always set
    assert not any((Path(os.environ["XDG_CACHE_HOME"]) / "gridnn" / name).glob("*.gz"))


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_download_verifies_checksums_and_caches_atomically(tmp_path, monkeypatch):
    served = tmp_path / "served"
    arrays = write_idx_dataset(served, n_train=9, n_test=4)
    files = {p.name: p.read_bytes() for p in served.iterdir()}
    md5 = tuple(hashlib.md5(files[n + ".gz"]).hexdigest() for n in IDX_NAMES)
    monkeypatch.setitem(sources.IDX_SOURCES, "mnist",
                        dataclasses.replace(sources.IDX_SOURCES["mnist"], md5=md5))
    fetched = []

    def serve(url, timeout=None):
        fetched.append(url.rsplit("/", 1)[1])
        return FakeResponse(files[fetched[-1]])

    monkeypatch.setattr(sources.urllib.request, "urlopen", serve)
    bundle = load_dataset("mnist")
    assert sorted(fetched) == sorted(n + ".gz" for n in IDX_NAMES)
    np.testing.assert_array_equal(bundle.train.y, arrays[1])
    cached = tmp_path / "cache" / "gridnn" / "mnist"
    assert sorted(p.name for p in cached.iterdir()) == sorted(n + ".gz" for n in IDX_NAMES)
    fetched.clear()
    load_dataset("mnist")  # now from the cache
    assert fetched == []


def test_a_download_with_the_wrong_checksum_is_not_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(sources.urllib.request, "urlopen",
                        lambda url, timeout=None: FakeResponse(b"<html>captive portal</html>"))
    with pytest.raises(DataError, match="is corrupt: MD5 .*, expected f68b3c2d"):
        load_dataset("mnist")
    assert not list((tmp_path / "cache").rglob("*ubyte*"))


# ---- CIFAR-10 --------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol, py2", [(2, True), (2, False), (3, False), (4, False)])
def test_cifar_batches_load_in_every_pickle_flavour(tmp_path, protocol, py2):
    batch = cifar_batch(5, seed=1)
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle_bytes(batch, protocol=protocol, py2=py2))
    x, y = read_cifar_batch(path)
    assert x.shape == (5, 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    assert y.tolist() == batch[b"labels"]
    for n in range(5):  # each row: the red, green and blue 32x32 planes, row-major
        for c in range(3):
            np.testing.assert_array_equal(x[n, c].ravel(), batch[b"data"][n, c * 1024:
                                                                           (c + 1) * 1024])


def test_cifar10_folder_loads_with_class_names(tmp_path):
    batches = write_cifar_folder(tmp_path / "cifar-10-batches-py")
    bundle = load_dataset("cifar10", data_dir=tmp_path)
    assert bundle.train.x.shape == (20, 3, 32, 32) and bundle.test.x.shape == (3, 3, 32, 32)
    assert bundle.class_names == [f"c{i}" for i in range(10)]
    assert bundle.input_shape == (3, 32, 32) and bundle.mean.shape == (3,)
    expected = np.concatenate([batches[f"data_batch_{k}"][b"data"] for k in range(1, 6)])
    np.testing.assert_allclose(bundle.train.x.reshape(20, -1), expected / 255, rtol=1e-6)
    np.testing.assert_array_equal(bundle.test.y, batches["test_batch"][b"labels"])
    assert load_dataset(str(tmp_path / "cifar-10-batches-py")).test.x.shape == (3, 3, 32, 32)


def test_cifar10_missing_says_where_to_get_it(tmp_path):
    with pytest.raises(DataError, match=r"cifar10: data_batch_1..5 and test_batch not found in "
                                        r".*cifar-10-python.tar.gz"):
        load_dataset("cifar10", data_dir=tmp_path)


@pytest.mark.parametrize("mutate, text", [
    (lambda b: {k: v for k, v in b.items() if k != b"data"}, "missing key 'data'"),
    (lambda b: {**b, b"data": b[b"data"][:, :1000]}, r"shape \(N, 3072\), found uint8 array "
                                                     r"of shape \(3, 1000\)"),
    (lambda b: {**b, b"data": b[b"data"].astype(np.float64)}, "must be a uint8 array"),
    (lambda b: {**b, b"labels": b[b"labels"][:2]}, "3 images but 2 labels"),
    (lambda b: {**b, b"labels": [0, 1, 12]}, r"labels must be in 0..9, found 0..12"),
    (lambda b: {**b, b"labels": "abc"}, "'labels' must be a list of ints"),
    (lambda b: [b[b"data"]], "expected a dict with keys 'data' and 'labels', found a list"),
])
def test_cifar_batches_with_wrong_keys_or_sizes_are_refused(tmp_path, mutate, text):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle_bytes(mutate(cifar_batch(3))))
    with pytest.raises(DataError, match=text) as info:
        read_cifar_batch(path)
    assert str(path) in str(info.value)


def test_a_truncated_cifar_batch_is_refused(tmp_path):
    raw = pickle_bytes(cifar_batch(3), py2=True)
    for cut in (1, 40, len(raw) // 2, len(raw) - 1):
        (tmp_path / "b").write_bytes(raw[:cut])
        with pytest.raises(DataError, match="CIFAR-10 batch .*b: "):
            read_cifar_batch(tmp_path / "b")


class RunsCommand:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class WritesFile:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


class CallsEval:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (eval, (f"open({str(self.path)!r}, 'w')",))


@pytest.mark.parametrize("make_payload", [RunsCommand, WritesFile, CallsEval])
@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_a_malicious_pickle_runs_nothing(tmp_path, make_payload, protocol):
    marker = tmp_path / "pwned"
    payload = make_payload(f"touch {marker}" if make_payload is RunsCommand else marker)
    for obj in (payload, {**cifar_batch(2), b"extra": payload}):
        path = tmp_path / "data_batch_1"
        path.write_bytes(pickle.dumps(obj, protocol=protocol))
        with pytest.raises(DataError, match=r"refusing to load it: the pickle refers to "
                                            r"(posix|os|nt|builtins|__builtin__|io)\."
                                            r"(system|open|eval)"):
            read_cifar_batch(path)
        assert not marker.exists()


def test_numpy_object_arrays_and_forged_arrays_are_refused(tmp_path, peak_memory):
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({b"data": np.array([1, "x"], dtype=object), b"labels": []}))
    with pytest.raises(DataError, match="dtype 'O8' is not a plain numeric type"):
        read_cifar_batch(path)
    reconstruct = np.empty(0).__reduce__()[0]

    class Forged:  # an array whose state claims a (2**40, 2**40) shape over 3 bytes
        def __reduce__(self):
            return (reconstruct, (np.ndarray, (0,), b"b"),
                    (1, (2**40, 2**40), np.dtype("u1"), False, b"abc"))

    class BigEmpty:  # numpy's reconstructor asked for a huge empty array
        def __reduce__(self):
            return (reconstruct, (np.ndarray, (10**12,), b"b"))

    path.write_bytes(pickle.dumps({b"data": Forged(), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match=r"needs 1208925819614629174706176 bytes, the file "
                                        r"gives 3"):
        read_cifar_batch(path)
    path.write_bytes(pickle.dumps({b"data": BigEmpty(), b"labels": []}, protocol=2))
    with pytest.raises(DataError, match="unexpected arguments to numpy's array reconstructor"):
        read_cifar_batch(path)
    assert peak_memory() < 1 << 20


@pytest.mark.parametrize("raw, text", [
    (b"\x80\x05\x96" + struct.pack("<Q", 2**40) + b".", "not a valid pickle"),  # BYTEARRAY8
    (b"\x80\x04\x8e" + struct.pack("<Q", 2**40) + b".", "truncated"),           # BINBYTES8
    (b"\x80\x02K\x01r\xff\xff\xff\x7f.", "expected a dict"),                    # memo index 2**31
    (b"\x80\x04\x95" + struct.pack("<Q", 2**50) + b"K\x01.", "expected a dict"),  # FRAME
])
def test_pickle_length_fields_cannot_force_allocations(tmp_path, peak_memory, raw, text):
    (tmp_path / "b").write_bytes(raw)
    with pytest.raises(DataError, match=text):
        read_cifar_batch(tmp_path / "b")
    assert peak_memory() < 1 << 20


# ---- images ----------------------------------------------------------------------------------
def test_load_image_png_gray_and_rgb(tmp_path):
    gray = np.arange(35, dtype=np.uint8).reshape(5, 7) * 7
    (tmp_path / "g.png").write_bytes(png_bytes(gray))
    out = load_image(tmp_path / "g.png", channels=1)
    assert out.shape == (1, 5, 7) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], gray / 255, rtol=1e-6)
    rgb = np.random.default_rng(0).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    (tmp_path / "c.png").write_bytes(png_bytes(rgb))
    np.testing.assert_allclose(load_image(tmp_path / "c.png", channels=3),
                               rgb.transpose(2, 0, 1) / 255, rtol=1e-6)
    # RGB -> grayscale uses ITU-R 601 luma, as Pillow's convert("L") documents
    luma = (rgb @ np.array([299, 587, 114])) / 1000
    np.testing.assert_allclose(load_image(tmp_path / "c.png", channels=1)[0] * 255, luma,
                               atol=1.0)
    np.testing.assert_allclose(load_image(tmp_path / "g.png", channels=3),
                               np.repeat(gray[None] / 255, 3, axis=0), rtol=1e-6)


def test_load_image_16_bit_png_is_scaled_not_clipped(tmp_path):
    wide = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000)
    (tmp_path / "w.png").write_bytes(png_bytes(wide))
    np.testing.assert_allclose(load_image(tmp_path / "w.png", channels=1)[0], wide / 65535,
                               atol=0.5 / 255)


def test_load_image_jpeg_and_resize(tmp_path):
    flat = np.full((16, 16, 3), (200, 40, 90), dtype=np.uint8)
    (tmp_path / "f.JPG").write_bytes(png_bytes(flat, fmt="JPEG"))
    out = load_image(tmp_path / "f.JPG", channels=3, size=(8, 4))
    assert out.shape == (3, 8, 4)
    np.testing.assert_allclose(out.mean(axis=(1, 2)) * 255, (200, 40, 90), atol=3)


def test_load_image_npy_without_pickle(tmp_path):
    signal = np.linspace(-1, 1, 40, dtype=np.float32)
    np.save(tmp_path / "s.npy", signal)
    np.testing.assert_array_equal(load_image(tmp_path / "s.npy", channels=1, size=(40,)),
                                  signal[None])
    hwc = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    np.save(tmp_path / "hwc.npy", hwc)
    np.testing.assert_allclose(load_image(tmp_path / "hwc.npy", channels=3, size=(8, 8)),
                               hwc.transpose(2, 0, 1) / 255, rtol=1e-6)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="hold.* Python objects are not loaded"):
        load_image(tmp_path / "obj.npy", channels=1)
    with pytest.raises(DataError, match=r"array of shape \(40,\) does not fit the expected "
                                        r"shape \(1, 28, 28\)"):
        load_image(tmp_path / "s.npy", channels=1, size=(28, 28))
    np.save(tmp_path / "nan.npy", np.full((1, 4), np.nan, np.float32))
    with pytest.raises(DataError, match="NaN or infinite"):
        load_image(tmp_path / "nan.npy", channels=1)
    raw = (tmp_path / "s.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[:-8])
    with pytest.raises(DataError, match=r"declares shape \(40,\) of float32 \(160 bytes\) but "
                                        r"the file holds 152"):
        load_image(tmp_path / "cut.npy", channels=1)


def test_load_image_refuses_what_is_not_an_image(tmp_path):
    (tmp_path / "notes.png").write_text("this is not an image\n")
    with pytest.raises(DataError, match="notes.png is not a PNG or JPEG image"):
        load_image(tmp_path / "notes.png", channels=1)
    with pytest.raises(DataError, match="image not found: .*missing.png"):
        load_image(tmp_path / "missing.png", channels=1)
    raw = png_bytes(np.zeros((30, 30), np.uint8) + 128)
    (tmp_path / "cut.png").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="cut.png"):
        load_image(tmp_path / "cut.png", channels=1)
    with pytest.raises(DataError, match="4 input channels cannot read PNG/JPEG"):
        load_image(tmp_path / "notes.png", channels=4)
    with pytest.raises(ArgumentError, match="`channels` must be a positive int"):
        load_image(tmp_path / "notes.png", channels=0)
    with pytest.raises(DataError, match="signals of length 40 cannot read PNG/JPEG images"):
        load_image(tmp_path / "cut.png", channels=1, size=(40,))


def test_an_image_header_declaring_huge_dimensions_is_refused(tmp_path, peak_memory):
    raw = bytearray(png_bytes(np.zeros((2, 2), np.uint8)))
    raw[16:24] = struct.pack(">2I", 100_000, 100_000)  # IHDR width and height
    (tmp_path / "huge.png").write_bytes(bytes(raw))
    with pytest.raises(DataError, match="huge.png"):
        load_image(tmp_path / "huge.png", channels=1)
    assert peak_memory() < 4 << 20


def make_image_folder(root, classes=("cat", "ant", "bee"), per_class=5, size=(6, 5),
                      rgb=False):
    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            shape = (*size, 3) if rgb else size
            pixels = np.full(shape, 40 * k, dtype=np.uint8) + rng.integers(0, 5, shape,
                                                                             dtype=np.uint8)
            suffix = ".jpg" if i % 2 and rgb else ".png"
            (root / name / f"{i}{suffix}").write_bytes(
                png_bytes(pixels, fmt="JPEG" if suffix == ".jpg" else "PNG"))
    (root / "ant" / "README.txt").write_text("not an image, ignored")


def test_an_image_folder_is_a_dataset_with_sorted_classes(tmp_path):
    make_image_folder(tmp_path / "gray")
    bundle = load_dataset(str(tmp_path / "gray"), seed=1)
    assert bundle.class_names == ["ant", "bee", "cat"] and bundle.num_classes == 3
    assert bundle.input_shape == (1, 6, 5)
    assert len(bundle.train) == 12 and len(bundle.test) == 3
    assert sorted(bundle.test.y.tolist()) == [0, 1, 2]  # stratified: one of each
    # class k was drawn around 40 * k_in_creation_order: cat=0, ant=1, bee=2
    means = {bundle.class_names[y]: x.mean() * 255 for x, y in zip(bundle.train.x,
                                                                   bundle.train.y)}
    assert means["cat"] < 5 and 40 <= means["ant"] < 45 and 80 <= means["bee"] < 85
    again = load_dataset(str(tmp_path / "gray"), seed=1)
    np.testing.assert_array_equal(again.test.x, bundle.test.x)
    other = load_dataset(str(tmp_path / "gray"), seed=2)
    assert not np.array_equal(other.test.x, bundle.test.x)


def test_an_rgb_image_folder_with_jpegs(tmp_path):
    make_image_folder(tmp_path / "rgb", rgb=True, size=(8, 8))
    bundle = load_dataset(str(tmp_path / "rgb"))
    assert bundle.input_shape == (3, 8, 8) and bundle.mean.shape == (3,)


def test_an_image_folder_with_mixed_sizes_is_resized_with_a_note(tmp_path, capsys):
    make_image_folder(tmp_path / "mixed")
    (tmp_path / "mixed" / "bee" / "z.png").write_bytes(png_bytes(np.full((9, 9), 255, np.uint8)))
    bundle = load_dataset(str(tmp_path / "mixed"))
    assert bundle.input_shape == (1, 6, 5)  # the most common size
    assert "have 2 sizes; all are resized to 6x5, the most common (--image-size HxW" in \
        capsys.readouterr().err
    white = [x for x in (*bundle.train.x, *bundle.test.x) if x.min() == 1.0]
    assert len(white) == 1 and white[0].shape == (1, 6, 5)  # z.png, scaled down
    chosen = load_dataset(str(tmp_path / "mixed"), image_size=(4, 4))
    assert chosen.input_shape == (1, 4, 4) and capsys.readouterr().err == ""
    with pytest.raises(ArgumentError, match="an image size can be chosen only for a folder"):
        load_dataset("digits", image_size=(4, 4))
    (tmp_path / "mixed" / "bee" / "z.png").write_text("broken")
    with pytest.raises(DataError, match="z.png is not a PNG or JPEG image"):
        load_dataset(str(tmp_path / "mixed"))


def test_an_empty_or_missing_folder(tmp_path):
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="expected at least 2 class sub-folders"):
        load_dataset(str(tmp_path / "empty"))
    with pytest.raises(DataError, match="folder not found"):
        load_dataset(str(tmp_path / "nope"))


# ---- digits, MNIST-1D, names -----------------------------------------------------------------
def test_digits_split_is_fixed_and_stratified():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert (len(a.train), len(a.test)) == (1437, 360)
    assert a.train.x.shape == (1437, 1, 8, 8) and a.input_shape == (1, 8, 8)
    assert 0.0 <= a.train.x.min() and a.train.x.max() <= 1.0
    np.testing.assert_array_equal(a.test.x, b.test.x)
    np.testing.assert_array_equal(a.train.y, b.train.y)
    assert np.all(np.bincount(a.test.y) >= 35)
    other = load_dataset("digits", seed=1)
    assert not np.array_equal(other.test.y, a.test.y)


def test_mnist1d_is_generated_offline_cached_and_reread(tmp_path, monkeypatch):
    state = np.random.get_state()[1].copy()
    bundle = load_dataset("mnist1d")
    assert np.array_equal(np.random.get_state()[1], state)  # global generator untouched
    assert bundle.train.x.shape == (4000, 1, 40) and bundle.test.x.shape == (1000, 1, 40)
    assert bundle.train.y.dtype == np.int64 and set(np.unique(bundle.train.y)) == set(range(10))
    assert bundle.input_shape == (1, 40)
    cached = tmp_path / "cache" / "gridnn" / "mnist1d" / "mnist1d.npz"
    assert cached.is_file() and not list(Path.cwd().glob("mnist1d_data*.pkl"))

    def must_not_generate():
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(sources, "generate_mnist1d", must_not_generate)
    again = load_dataset("mnist-1d")
    np.testing.assert_array_equal(again.train.x, bundle.train.x)
    cached.write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(DataError, match="MNIST-1D file .*mnist1d.npz: unreadable"):
        load_dataset("mnist1d")


def test_a_name_wins_over_a_folder_of_that_name(tmp_path, monkeypatch):
    make_image_folder(tmp_path / "digits")
    monkeypatch.chdir(tmp_path)
    assert load_dataset("digits").input_shape == (1, 8, 8)          # scikit-learn's digits
    assert load_dataset("./digits").class_names == ["ant", "bee", "cat"]
    assert load_dataset(tmp_path / "digits").class_names == ["ant", "bee", "cat"]


def test_unknown_names_and_bad_arguments():
    with pytest.raises(ArgumentError, match=r"^unknown dataset 'mnits' \(did you mean 'mnist'\?\): "
                                            r"expected one of digits, mnist, fashion-mnist, "
                                            r"mnist1d, cifar10"):
        load_dataset("mnits")
    with pytest.raises(ArgumentError, match="`seed` must be a non-negative int"):
        load_dataset("digits", seed=-1)


def test_available_datasets_lists_every_name_with_a_hint(tmp_path):
    write_cifar_folder(tmp_path / "cifar10", n=2)
    rows = {name: (ok, where) for name, ok, where in available_datasets(tmp_path)}
    assert list(rows) == ["digits", "mnist", "fashion-mnist", "mnist1d", "cifar10", "patterns"]
    assert rows["cifar10"] == (True, str(tmp_path / "cifar10"))
    assert rows["mnist"][0] is False and "downloaded on first use" in rows["mnist"][1]
    assert rows["digits"][0] is True
