"""A trained run folder as the pictures and the report need it: model, test set, predictions."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArgumentError, DataError


@dataclass
class Run:
    """A run folder loaded for inspection (``load``). ``x_test`` holds the raw test inputs
    (N, C, ...) as stored by the dataset (before normalisation), ``y_test`` their labels."""

    path: Path
    model: Any
    config: dict[str, Any]
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    _logits: np.ndarray | None = None

    def _repr_html_(self) -> str:
        """Jupyter's display: metrics, curves, confusion matrix and the model's summary."""
        from ..notebook.runs import run_html

        return run_html(self)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.config["data"]["input_shape"])

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """Raw inputs (N, C, ...) -> what the model was trained on (the stored channel stats)."""
        from ..recipes import normalizer

        norm = normalizer(self.config["data"])
        return np.asarray(x, np.float32) if norm is None else norm(x)

    def logits(self, x: np.ndarray | None = None, batch_size: int = 256) -> np.ndarray:
        """Model outputs (N, classes) for raw inputs ``x`` (default: the whole test set)."""
        from ..autograd import no_grad
        from ..tensor import Tensor

        if x is None and self._logits is not None:
            return self._logits
        data = self.x_test if x is None else x
        outs = []
        with no_grad():
            for start in range(0, len(data), batch_size):
                batch = self.normalize(data[start:start + batch_size])
                outs.append(self.model(Tensor(batch)).data)
        result = np.concatenate(outs) if outs else np.zeros((0, len(self.class_names)))
        if x is None:
            self._logits = result
        return result

    def predictions(self) -> np.ndarray:
        """Predicted class of every test sample (N,)."""
        return self.logits().argmax(axis=1)

    def confusion(self) -> np.ndarray:
        """(classes, classes) counts: row = true label, column = predicted label."""
        n = len(self.class_names)
        cm = np.zeros((n, n), dtype=np.int64)
        np.add.at(cm, (self.y_test, self.predictions()), 1)
        return cm

    def accuracy(self) -> float:
        return float((self.predictions() == self.y_test).mean()) if len(self.y_test) else 0.0

    def conv_layers(self) -> list[tuple[str, Any]]:
        """(qualified name, module) of every convolution and locally connected layer."""
        from .trained import conv_layers

        return conv_layers(self.model)

    def feature_maps(self, sample: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """(layer name, output (K, ...)) of every conv layer for one raw sample (C, ...)."""
        from ..nn.trace import trace

        convs = {id(m) for _, m in self.conv_layers()}
        _, calls = trace(self.model, self.input_shape, sample=self.normalize(sample[None])[0])
        return [(c.name, c.output.data[0]) for c in calls if id(c.module) in convs]

    def sample(self, index: int) -> tuple[np.ndarray, int]:
        """Raw test sample ``index`` and its label."""
        if not len(self.x_test):
            raise ArgumentError(f"{self.path} comes with no test set; give an input with "
                                f"--image")
        if not 0 <= index < len(self.x_test):  # -1 is refused here as at the command line
            raise ArgumentError(
                f"`--index` must be in [0, {len(self.x_test) - 1}] for the {len(self.x_test)} "
                f"test samples, received {index}"
            )
        return self.x_test[index], int(self.y_test[index])


def load(run_dir: str | os.PathLike, data_dir: str | None = None) -> Run:
    """Load a run folder written by ``gridnn train``: its model (eval mode), config, metrics and
    the test split of its dataset (looked up in ``data_dir``, else where the run found it).
    An ``.onnx`` file loads as a Run with no test set (``sample`` then asks for an image)."""
    from ..checkpoint import CONFIG_FILE, METRICS_FILE
    from ..fileio import is_finite_number, read_json
    from ..model_files import is_onnx, load_model
    from ..recipes import load_bundle

    path = Path(run_dir)
    if is_onnx(path):
        model, config = load_model(path)
        empty = np.zeros((0, *config["data"]["input_shape"]), np.float32)
        return Run(path, model, config, empty, np.zeros(0, np.int64),
                   config["data"]["class_names"])
    if not path.is_dir():
        raise DataError(f"{path}: no such run folder (make one with 'gridnn train --out DIR')")
    model, config = load_model(path)
    bundle = load_bundle(config, path / CONFIG_FILE, data_dir=data_dir)
    metrics_file = path / METRICS_FILE
    found = read_json(metrics_file, "metrics file") if metrics_file.is_file() else {}
    # someone else's file: only finite numbers are figures (a string or NaN would break the
    # report's formatting and the studio's JSON)
    metrics = {k: v for k, v in found.items() if is_finite_number(v)}
    names = list(config["data"].get("class_names") or bundle.class_names)
    return Run(path, model, config, bundle.test.x, bundle.test.y, names, metrics)
