"""Named datasets: where their files are, how to get them, and ``load_dataset``.

Search order for file-based datasets (first folder holding all the files wins):
``data_dir`` (and ``data_dir/<name>``), ``$GRIDNN_DATA`` (and ``$GRIDNN_DATA/<name>``),
``<cache>/<name>`` where ``<cache>`` is ``$XDG_CACHE_HOME/gridnn`` or ``~/.cache/gridnn``, then
system folders (Debian's ``dataset-fashion-mnist`` package installs into
``/usr/share/datasets/fashion-mnist``). MNIST and Fashion-MNIST are downloaded into the cache
(checksums verified, written atomically) when found nowhere.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import io
import os
import random
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..argtypes import did_you_mean
from ..errors import ArgumentError, ArgumentTypeError, DataError
from ..fileio import atomic_write, open_regular
from ._text import brief
from .cifar import CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES, load_cifar10_arrays
from .dataset import DatasetBundle, make_bundle, stratified_split
from .idx import read_idx
from .images import load_image_folder
from .patterns import load_patterns
from .transforms import ToFloat

DIGITS_TEST_FRACTION = 0.2
DOWNLOAD_TIMEOUT_S = 30
MAX_DOWNLOAD_BYTES = 64 << 20  # the largest official file is ~26 MB
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
MNIST1D_FILE = "mnist1d.npz"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"


@dataclass(frozen=True)
class IdxSource:
    """An IDX dataset: where to download its four .gz files and their MD5 checksums."""

    url: str
    md5: tuple[str, str, str, str]  # in IDX_FILES order, of the .gz files
    class_names: tuple[str, ...]
    system_dirs: tuple[str, ...] = ()
    install_hint: str = ""


IDX_SOURCES = {
    "mnist": IdxSource(
        url="https://ossci-datasets.s3.amazonaws.com/mnist/",
        md5=("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
             "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
        class_names=tuple(str(d) for d in range(10))),
    "fashion-mnist": IdxSource(
        url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        md5=("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
             "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                     "Sneaker", "Bag", "Ankle boot"),
        system_dirs=("/usr/share/datasets/fashion-mnist",),
        install_hint="apt-get install dataset-fashion-mnist"),
}
_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
            "mnist-1d": "mnist1d", "mnist_1d": "mnist1d", "cifar-10": "cifar10",
            "cifar_10": "cifar10"}
_FOLDER_ALIASES = {"cifar10": ("cifar-10-batches-py",)}


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/gridnn``, or ``~/.cache/gridnn``: downloads and generated data."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gridnn"


def candidate_dirs(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Folders searched for dataset ``name``, in order (they need not exist)."""
    subdirs = (name, *_FOLDER_ALIASES.get(name, ()))
    found: list[Path] = []
    for root in (data_dir, os.environ.get("GRIDNN_DATA")):
        if root:
            found += [Path(root) / s for s in subdirs] + [Path(root)]
    found += [cache_dir() / s for s in subdirs]
    source = IDX_SOURCES.get(name)
    found += [Path(d) for d in (source.system_dirs if source else ())]
    return list(dict.fromkeys(found))


def _idx_files(folder: Path) -> list[Path] | None:
    """The four IDX files in ``folder`` (each .gz or raw), or None if any is missing."""
    paths = []
    for stem in IDX_FILES:
        hits = [folder / (stem + ext) for ext in (".gz", "")]
        hit = next((p for p in hits if p.is_file()), None)
        if hit is None:
            return None
        paths.append(hit)
    return paths


def _find(name: str, data_dir: str | os.PathLike | None,
          has_files: Callable[[Path], object]) -> Path | None:
    return next((d for d in candidate_dirs(name, data_dir) if d.is_dir() and has_files(d)), None)


def _has_cifar(folder: Path) -> bool:
    return all((folder / f).is_file() for f in (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE))


def _download(url: str, dest: Path, md5: str) -> None:
    """Fetch ``url`` into ``dest`` if its MD5 matches (MD5 guards against corruption here)."""
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            payload = response.read(MAX_DOWNLOAD_BYTES + 1)
    except (OSError, http.client.HTTPException, ValueError) as e:
        reason = " ".join(str(getattr(e, "reason", None) or e).split())
        raise DataError(f"download of {url} failed ({reason})") from None
    digest = hashlib.md5(payload, usedforsecurity=False).hexdigest()
    if digest != md5:
        raise DataError(f"download of {url} is corrupt: MD5 {digest}, expected {md5}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(dest, payload)


def _fetch_idx(name: str, data_dir: str | os.PathLike | None) -> list[Path]:
    """The four IDX files of ``name``: found locally, else downloaded into the cache."""
    folder = _find(name, data_dir, _idx_files)
    if folder is not None:
        return _idx_files(folder)
    source = IDX_SOURCES[name]
    target = cache_dir() / name
    print(f"gridnn: {name} not found locally; downloading it from {source.url} into {target}",
          file=sys.stderr)
    try:
        for stem, md5 in zip(IDX_FILES, source.md5):
            dest = target / f"{stem}.gz"
            if not dest.is_file():
                _download(source.url + dest.name, dest, md5)
    except DataError as e:
        places = ", ".join(str(d) for d in candidate_dirs(name, data_dir))
        hint = f", or run `{source.install_hint}`" if source.install_hint else ""
        raise DataError(f"{name}: files not found in {places}, and the {e}. Put "
                        f"{', '.join(s + '.gz' for s in IDX_FILES)} (or the unzipped files) in "
                        f"one of those folders (or pass --data-dir / set $GRIDNN_DATA){hint}"
                        ) from None
    return _idx_files(target)


def _idx_arrays(paths: list[Path], num_classes: int | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) from the four IDX files: images float32 (N, 1, H, W)
    in [0, 1], labels int64."""
    out = []
    for images_path, labels_path in ((paths[0], paths[1]), (paths[2], paths[3])):
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DataError(f"IDX file {images_path}: expected uint8 images (N, H, W), found "
                            f"{images.dtype} {images.shape}")
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DataError(f"IDX file {labels_path}: expected integer labels (N,), found "
                            f"{labels.dtype} {labels.shape}")
        if len(labels) != len(images):
            raise DataError(f"IDX files {images_path} and {labels_path}: {len(images)} images "
                            f"but {len(labels)} labels")
        limit = num_classes if num_classes is not None else 256
        if len(labels) and (labels.min() < 0 or labels.max() >= limit):
            raise DataError(f"IDX file {labels_path}: labels must be in 0..{limit - 1}, found "
                            f"{labels.min()}..{labels.max()}")
        out += [ToFloat()(images[:, None]), labels.astype(np.int64)]
    return out[0], out[1], out[2], out[3]


def _load_idx_folder(name: str, paths: list[Path], class_names: list[str] | None
                     ) -> DatasetBundle:
    x_train, y_train, x_test, y_test = _idx_arrays(
        paths, len(class_names) if class_names else None)
    if class_names is None:
        class_names = [str(c) for c in range(int(max(y_train.max(), y_test.max())) + 1)]
    return make_bundle(name, x_train, y_train, x_test, y_test, class_names)


def load_digits(seed: int = 0) -> DatasetBundle:
    """scikit-learn's bundled 8x8 digits (1797 images, no network): x / 16 as float32
    (N, 1, 8, 8), split 1437 / 360 by ``stratified_split`` with ``seed``."""
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise DataError("the digits dataset needs scikit-learn: pip install 'gridnn[data]'"
                        ) from None
    digits = sk_load_digits()
    x = (digits.images[:, None] / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    train, test = stratified_split(y, DIGITS_TEST_FRACTION, seed)
    return make_bundle("digits", x[train], y[train], x[test], y[test],
                       [str(d) for d in range(10)])


def generate_mnist1d() -> dict[str, np.ndarray]:
    """MNIST-1D made locally by the ``mnist1d`` package with its default arguments (seed 42):
    ``x_train`` float32 (4000, 1, 40), ``y_train`` int64, ``x_test`` (1000, 1, 40), ``y_test``.

    Calls ``make_dataset`` directly: ``get_dataset`` would try a download and write a pickle into
    the current folder. The package seeds NumPy's and Python's global generators, so their
    states are restored afterwards. Values are the package's (standardised, not in [0, 1]).
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise DataError("the mnist1d dataset needs the mnist1d package: pip install mnist1d"
                        ) from None
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {"x_train": data["x"][:, None].astype(np.float32),
            "y_train": data["y"].astype(np.int64),
            "x_test": data["x_test"][:, None].astype(np.float32),
            "y_test": data["y_test"].astype(np.int64)}


def _read_mnist1d(path: Path) -> dict[str, np.ndarray]:
    try:
        with open_regular(path, "MNIST-1D file") as raw, np.load(raw, allow_pickle=False) as f:
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"MNIST-1D file {path}: unreadable ({brief(e)}); delete it "
                        f"to regenerate the data") from None
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if not (x.dtype == np.float32 and x.ndim == 3 and x.shape[1] == 1 and y.dtype.kind
                in "iu" and y.shape == (len(x),) and (len(y) == 0 or 0 <= y.min() <= y.max()
                                                      < 10)):
            raise DataError(f"MNIST-1D file {path}: x_{split}/y_{split} must be float32 "
                            f"(N, 1, L) and labels 0..9, found {x.dtype} {x.shape} and "
                            f"{y.dtype} {y.shape}")
    return arrays


def load_mnist1d(data_dir: str | os.PathLike | None = None) -> DatasetBundle:
    """MNIST-1D as (N, 1, 40) signals: read from ``mnist1d.npz`` if found in the search
    folders, else generated (about 2 s) and cached in ``<cache>/mnist1d/mnist1d.npz``."""
    folder = _find("mnist1d", data_dir, lambda d: (d / MNIST1D_FILE).is_file())
    if folder is not None:
        arrays = _read_mnist1d(folder / MNIST1D_FILE)
    else:
        arrays = generate_mnist1d()
        path = cache_dir() / "mnist1d" / MNIST1D_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()  # np.savez writes to a buffer, atomic_write puts it on disk
        np.savez(buffer, **arrays)
        atomic_write(path, buffer.getvalue())
    return make_bundle("mnist1d", arrays["x_train"], arrays["y_train"], arrays["x_test"],
                       arrays["y_test"], [str(d) for d in range(10)])


def load_cifar10(data_dir: str | os.PathLike | None = None) -> DatasetBundle:
    """CIFAR-10 from the python-version batches in the first search folder that has them."""
    folder = _find("cifar10", data_dir, _has_cifar)
    if folder is None:
        places = ", ".join(str(d) for d in candidate_dirs("cifar10", data_dir))
        raise DataError(f"cifar10: data_batch_1..5 and test_batch not found in {places}; "
                        f"download cifar-10-python.tar.gz from {CIFAR10_URL} and extract it "
                        f"into one of those folders (or pass --data-dir / set $GRIDNN_DATA)")
    return _cifar_bundle("cifar10", folder)


def _cifar_bundle(name: str, folder: Path) -> DatasetBundle:
    x_train, y_train, x_test, y_test, names = load_cifar10_arrays(folder)
    return make_bundle(name, x_train, y_train, x_test, y_test, names)


DATASETS: dict[str, Callable[[str | os.PathLike | None, int], DatasetBundle]] = {
    "digits": lambda data_dir, seed: load_digits(seed),
    "mnist": lambda data_dir, seed: _load_idx_folder(
        "mnist", _fetch_idx("mnist", data_dir), list(IDX_SOURCES["mnist"].class_names)),
    "fashion-mnist": lambda data_dir, seed: _load_idx_folder(
        "fashion-mnist", _fetch_idx("fashion-mnist", data_dir),
        list(IDX_SOURCES["fashion-mnist"].class_names)),
    "mnist1d": lambda data_dir, seed: load_mnist1d(data_dir),
    "cifar10": lambda data_dir, seed: load_cifar10(data_dir),
    "patterns": lambda data_dir, seed: load_patterns(seed),
}


def load_dataset(name_or_path: str | os.PathLike, *, data_dir: str | os.PathLike | None = None,
                 seed: int = 0, image_size: tuple[int, int] | None = None) -> DatasetBundle:
    """Load a dataset by name (``digits``, ``mnist``, ``fashion-mnist``, ``mnist1d``,
    ``cifar10``, ``patterns``) or from a folder: CIFAR-10 batches, four IDX files, or
    ``<class>/*.png|jpg`` images. Samples are float32 (N, C, H, W) or (N, C, L), labels int64;
    ``seed`` fixes the train/test split of datasets that have none (digits, image folders; 0
    gives the standard split) and draws the generated ``patterns``.

    ``image_size`` (H, W) resizes the images of a folder (by default they keep their size, or
    take the most common one when sizes differ); named datasets refuse it.

    Image-type data is scaled to [0, 1]; MNIST-1D keeps the mnist1d package's standardised
    values. ``bundle.mean``/``bundle.std`` (per channel, train split) feed ``Normalize``.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise ArgumentTypeError(f"load_dataset: `name_or_path` must be a str or path, received "
                                f"{type(name_or_path).__name__}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ArgumentError(f"load_dataset: `seed` must be a non-negative int, received "
                            f"seed={seed!r}")
    key = dataset_key(name_or_path) if isinstance(name_or_path, str) else None
    if key is not None:  # a name wins; "./mnist" is a folder
        if image_size is not None:
            raise ArgumentError(f"dataset {key!r} has images of one size; an image size can be "
                                f"chosen only for a folder of images")
        return DATASETS[key](data_dir, seed)
    path = Path(name_or_path)
    if path.is_dir():
        if _has_cifar(path):
            return _cifar_bundle(str(path), path)
        idx = _idx_files(path)
        if idx is not None:
            return _load_idx_folder(str(path), idx, None)
        return load_image_folder(path, seed=seed,
                                 size=None if image_size is None else tuple(image_size))
    if image_size is not None:
        raise ArgumentError("an image size can be chosen only for a folder of images")
    if path.exists():
        raise DataError(f"{path} is a file; expected a dataset name or a folder")
    if os.sep in str(name_or_path) or "/" in str(name_or_path):
        raise DataError(f"dataset folder not found: {path}")
    raise ArgumentError(f"unknown dataset {str(name_or_path)!r}"
                        f"{did_you_mean(str(name_or_path).lower(), [*DATASETS, *_ALIASES])}: "
                        f"expected one of "
                        f"{', '.join(DATASETS)}, or a folder of images <folder>/<class>/*.png")


def dataset_key(name: str) -> str | None:
    """The named dataset ``name`` stands for ('Fashion_MNIST' -> 'fashion-mnist'), or None when
    it names none (``load_dataset`` then reads it as a folder)."""
    key = name.lower()
    key = _ALIASES.get(key, key)
    return key if key in DATASETS else None


def available_datasets(data_dir: str | os.PathLike | None = None
                       ) -> list[tuple[str, bool, str]]:
    """``(name, available locally, where it is or how to get it)`` for every named dataset."""
    rows: list[tuple[str, bool, str]] = []
    if importlib.util.find_spec("sklearn") is not None:
        rows.append(("digits", True, "bundled with scikit-learn"))
    else:
        rows.append(("digits", False, "pip install scikit-learn"))
    for name, source in IDX_SOURCES.items():
        folder = _find(name, data_dir, _idx_files)
        if folder is not None:
            rows.append((name, True, str(folder)))
        else:
            hint = f"run `{source.install_hint}`, or " if source.install_hint else ""
            rows.append((name, False, f"{hint}downloaded on first use from {source.url} into "
                                      f"{cache_dir() / name}"))
    folder = _find("mnist1d", data_dir, lambda d: (d / MNIST1D_FILE).is_file())
    if folder is not None:
        rows.append(("mnist1d", True, str(folder / MNIST1D_FILE)))
    elif importlib.util.find_spec("mnist1d") is not None:
        rows.append(("mnist1d", True, f"generated on first use by the mnist1d package (cached "
                                      f"in {cache_dir() / 'mnist1d'})"))
    else:
        rows.append(("mnist1d", False, "pip install mnist1d"))
    folder = _find("cifar10", data_dir, _has_cifar)
    if folder is not None:
        rows.append(("cifar10", True, str(folder)))
    else:
        rows.append(("cifar10", False, f"download cifar-10-python.tar.gz from {CIFAR10_URL} "
                                       f"and extract it into {cache_dir()}"))
    rows.append(("patterns", True, "generated (a local pattern at a random position)"))
    return rows
