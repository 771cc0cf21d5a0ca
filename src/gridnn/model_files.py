"""Where a read-only command's model comes from: a run folder written by ``gridnn train`` or
an ``.onnx`` file (loaded by the ``onnx`` room). Both give a model in eval mode and a config
whose ``data`` section says its input shape, classes and input statistics, so ``summary``,
``predict``, ``explain receptive`` and ``show`` treat them alike.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import DataError
from .fileio import read_bytes

MAX_CLASSES_FILE_BYTES = 1 << 20  # one short name a line


def is_onnx(path: str | os.PathLike) -> bool:
    """True when ``path`` names an ONNX model file (by its suffix)."""
    return Path(path).suffix.lower() == ".onnx"


def load_model(path: str | os.PathLike, *, classes: str | os.PathLike | None = None
               ) -> tuple[Any, dict[str, Any]]:
    """(model in eval mode, config) of a run folder or an ``.onnx`` file. For an ONNX model
    the config is made from the graph: ``data.input_shape`` (C, *S), ``num_classes`` and
    ``class_names`` (from ``classes``, a text file with one name a line, else '0', '1', ...);
    its inputs are normalised by the file's metadata 'mean' and 'std' where it has them."""
    from .checkpoint import load_run

    if not is_onnx(path):
        return load_run(path)
    from .onnx import load_model_file

    model, info = load_model_file(path)
    model.eval()
    n = info.num_classes
    if n == 0:
        raise DataError(f"{path}: its output has shape {info.output_shape} per sample; a "
                        f"classifier's is a vector of class scores")
    names = [str(i) for i in range(n)] if classes is None else read_class_names(classes, n)
    for key, value in (("mean", info.mean), ("std", info.std)):
        if value is not None and len(value) not in (1, info.input_shape[0]):
            raise DataError(f"{path}: metadata {key!r} has {len(value)} values for "
                            f"{info.input_shape[0]} input channels")
    data = {"name": Path(path).name, "input_shape": list(info.input_shape), "num_classes": n,
            "class_names": names,
            **{key: None if v is None else list(v) * (info.input_shape[0] // len(v))
               for key, v in (("mean", info.mean), ("std", info.std))}}
    return model, {"model": {"name": Path(path).name, "kwargs": {}}, "data": data,
                   "source": {"onnx": str(path), "producer": info.producer,
                              "opset": info.opset}}


def read_class_names(path: str | os.PathLike, count: int) -> list[str]:
    """The ``count`` class names in a text file, one a line (blank lines ignored)."""
    path = Path(path)
    if path.is_file() and path.stat().st_size > MAX_CLASSES_FILE_BYTES:
        raise DataError(f"{path}: {path.stat().st_size} bytes is more than a classes file "
                        f"holds (at most {MAX_CLASSES_FILE_BYTES})")
    raw = read_bytes(path, "classes file")
    try:
        names = [line.strip() for line in raw.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise DataError(f"{path}: a classes file is UTF-8 text, one name a line") from None
    if len(names) != count:
        raise DataError(f"{path} names {len(names)} classes but the model has {count} outputs")
    return names
