"""The models the studio serves: run folders and zoo models, fixed when the server starts.

``Registry.from_sources`` resolves every source once: run folders named on the command line,
the run folders under ``runs_dir``, and zoo model names. Each gets an opaque id (a slug of its
name plus its index); requests name models only by that id, so no path from a request is ever
opened. A source that is a symlink leaving its parent folder (or a ``runs_dir`` entry whose
target lies outside ``runs_dir``), or a run whose files link outside their folder, is refused
at start. A run with a checkpoint but no final weights is listed as unfinished.
"""

from __future__ import annotations

import csv
import inspect
import io
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import data, models
from ..checkpoint import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    WEIGHTS_FILE,
    build_budget,
    build_model,
    load_config,
    load_run,
)
from ..errors import ArgumentError, DataError
from ..fileio import read_bytes
from .http import ApiError

log = logging.getLogger("gridnn.studio")

MAX_HISTORY_BYTES = 1 << 20  # history.csv holds one short line per epoch
RUN_FILES = (CONFIG_FILE, WEIGHTS_FILE, HISTORY_FILE, METRICS_FILE, CHECKPOINT_DIR)
ZOO_SEED = 0


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "model"


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@dataclass
class Entry:
    """One servable model. ``kind`` is 'run', 'zoo' or 'onnx'; ``state`` is 'finished',
    'unfinished' (a checkpoint but no final weights), 'untrained' (a zoo model with seed-0
    weights) or 'imported' (an .onnx file, loaded once at start).
    ``input_shape`` is one sample's (C, *S). The model and the run's test set load on first use
    and are cached; ``lock`` serialises every use of the model (tracing patches its layers)."""

    id: str
    name: str
    kind: str
    state: str
    input_shape: tuple[int, ...]
    class_names: list[str]
    config: dict[str, Any] | None = None
    _folder: Path | None = field(default=None, repr=False)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    dataset_error: str | None = None
    _model: Any = field(default=None, repr=False)
    _run: Any = field(default=None, repr=False)
    _calls: Any = field(default=None, repr=False)  # traced layer calls (inspect_data)

    def listing(self) -> dict[str, Any]:
        """What GET /api/models shows for this entry (no paths)."""
        return {"id": self.id, "name": self.name, "kind": self.kind, "state": self.state,
                "input_shape": list(self.input_shape), "classes": len(self.class_names)}

    def model(self) -> Any:
        """The model in eval mode: the run's final weights, or the zoo factory's seed-0 ones."""
        with self.lock:
            if self._model is None:
                if self.kind == "zoo":
                    self._model = models.build(self.name, seed=ZOO_SEED)
                    self._model.eval()
                else:
                    self._model = self.run().model
            return self._model

    def run(self) -> Any:
        """The run as ``gridnn.explain.runs.Run`` with its test set (an empty one when the
        dataset cannot be loaded here: ``dataset_error`` says why); 404 for zoo models."""
        from ..explain import runs

        if self.kind != "run":
            what = "a zoo model" if self.kind == "zoo" else "an imported ONNX model"
            raise ApiError(404, "id", f"{self.name!r} is {what}: it has no dataset, training "
                                      f"curves or confusion matrix")
        if self.state != "finished":
            raise ApiError(409, "id", f"run {self.name!r} is unfinished (a checkpoint but no "
                                      f"final weights); finish it with 'gridnn train --resume'")
        with self.lock:
            if self._run is None:
                try:
                    self._check_dataset_is_here()
                    self._run = runs.load(self._folder)
                except (DataError, ArgumentError) as e:
                    self.dataset_error = str(e)
                    try:
                        model, config = load_run(self._folder)
                    except (DataError, MemoryError) as err:  # its files changed since start
                        raise ApiError(409, "id", f"cannot load {self.name!r}: {err}") from None
                    empty = np.zeros((0, *self.input_shape), np.float32)
                    self._run = runs.Run(self._folder, model, config, empty,
                                         np.zeros(0, np.int64), self.class_names)
            return self._run

    def _check_dataset_is_here(self) -> None:
        """DataError unless the run's named dataset is on this machine: the studio never
        downloads (a folder given as the dataset is read as it is)."""
        dcfg = self.config["data"]
        key = data.dataset_key(dcfg["name"])
        if key is None:
            return
        rows = {name: (here, where) for name, here, where in
                data.available_datasets(dcfg.get("data_dir"))}
        here, where = rows[key]
        if not here:
            raise DataError(f"dataset {dcfg['name']!r} is not on this machine ({where}); the "
                            f"studio downloads nothing")

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """Raw inputs (N, C, ...) -> what the model takes (a run's stored channel statistics;
        zoo models take inputs as they are)."""
        if self.kind != "run":
            return np.asarray(x, np.float32)
        return self.run().normalize(x)

    def has_history(self) -> bool:
        """True when the run has a history.csv (readable or not: ``history`` says)."""
        path = self._folder / HISTORY_FILE if self.kind == "run" and self._folder else None
        return path is not None and (path.exists() or path.is_symlink())

    def history(self) -> dict[str, list[float | None]] | None:
        """history.csv as columns of numbers, or None when the run has none; ApiError(409)
        saying why when it cannot be read (not a regular file, too large, not UTF-8 CSV)."""
        if not self.has_history():
            return None
        path = self._folder / HISTORY_FILE
        try:
            text = read_bytes(path, HISTORY_FILE, MAX_HISTORY_BYTES).decode("utf-8")
            rows = list(csv.DictReader(io.StringIO(text)))
        except DataError as e:
            raise ApiError(409, "id", f"the training curves could not be read: {e}") from None
        except (UnicodeDecodeError, csv.Error) as e:
            raise ApiError(409, "id", f"the training curves could not be read: "
                                      f"{HISTORY_FILE} of {self.name!r} is not UTF-8 CSV "
                                      f"({type(e).__name__})") from None
        columns: dict[str, list[float | None]] = {}
        for row in rows:
            for key, value in row.items():
                columns.setdefault(str(key), []).append(_number(value))
        return columns


def _number(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


class Registry:
    """The fixed set of servable models, by opaque id (see the module docstring)."""

    def __init__(self, entries: list[Entry], refused: list[str] | None = None) -> None:
        self._entries = {e.id: e for e in entries}
        self.refused = list(refused or [])  # one line per runs_dir entry skipped at start

    @classmethod
    def from_sources(cls, sources: list[str], runs_dir: Path | None = Path("runs")) -> Registry:
        """Resolve ``sources`` (run folders or zoo model names) and the run folders directly
        under ``runs_dir`` (when it exists). A bad source raises ArgumentError/DataError naming
        it; a bad entry under ``runs_dir`` is skipped and noted in ``refused``."""
        entries: list[Entry] = []
        for source in sources:
            path = Path(source)
            if source in models.MODELS and not path.exists():
                entries.append(_zoo_entry(len(entries), source))
            elif path.suffix == ".onnx" and path.is_file():
                entries.append(_onnx_entry(len(entries), path))
            elif path.is_dir():
                entries.append(_run_entry(len(entries), path.name or source,
                                          _resolve_source(path)))
            else:
                raise ArgumentError(f"{source!r} is neither a run folder, an .onnx file nor a "
                                    f"zoo model (one of {', '.join(sorted(models.MODELS))})")
        refused: list[str] = []
        if runs_dir is not None and Path(runs_dir).is_dir():
            base = Path(runs_dir).resolve()
            served = {e._folder for e in entries}
            for child in sorted(Path(runs_dir).iterdir()):
                target = child.resolve()
                if not _inside(target, base) or target == base:
                    refused.append(f"{child}: a symlink leading outside {runs_dir}")
                elif target.is_dir() and target not in served and (
                        (target / CONFIG_FILE).exists() or (target / CONFIG_FILE).is_symlink()):
                    try:
                        entries.append(_run_entry(len(entries), child.name, target))
                        served.add(target)
                    except (ArgumentError, DataError) as e:
                        refused.append(f"{child}: {e}")
        for line in refused:
            log.warning("studio: not serving %s", line)
        return cls(entries, refused)

    def entries(self) -> list[dict[str, Any]]:
        """One listing dict per model, in start order."""
        return [e.listing() for e in self._entries.values()]

    def get(self, run_id: str) -> Entry:
        """The entry with this id; ApiError(404, 'id') if there is none."""
        entry = self._entries.get(run_id) if isinstance(run_id, str) else None
        if entry is None:
            raise ApiError(404, "id", f"no model with id {run_id!r}; GET /api/models lists them")
        return entry


def _resolve_source(path: Path) -> Path:
    """A command-line run folder, resolved; refused if it is a symlink leaving its parent."""
    if path.is_symlink():
        parent = path.absolute().parent.resolve()
        if not _inside(path.resolve(), parent):
            raise ArgumentError(f"{path} is a symlink to {path.resolve()}, outside its folder "
                                f"{parent}; give the real folder")
    return path.resolve()


def _run_entry(index: int, name: str, folder: Path) -> Entry:
    """An Entry for the run in ``folder`` (resolved), after checking its files stay inside."""
    for item in RUN_FILES:
        candidate = folder / item
        if candidate.is_symlink() and not _inside(candidate.resolve(), folder):
            raise DataError(f"{candidate} is a symlink leading outside its run folder")
    config = load_config(folder)
    if (folder / WEIGHTS_FILE).is_file():
        state = "finished"
    elif (folder / CHECKPOINT_DIR).is_dir():
        state = "unfinished"
    else:
        raise DataError(f"{folder} has neither {WEIGHTS_FILE} nor a {CHECKPOINT_DIR}/")
    data = config["data"]
    names = data.get("class_names") or [str(i) for i in range(data["num_classes"])]
    # an unknown model or argument fails at start, and one asking for far more memory than
    # its weights hold fails at once
    build_model(config, folder / CONFIG_FILE, max_bytes=build_budget(folder))
    return Entry(f"r{index}-{_slug(name)}", name, "run", state, tuple(data["input_shape"]),
                 list(names), config, folder)


def _zoo_entry(index: int, name: str) -> Entry:
    classes = inspect.signature(models.MODELS[name]).parameters["num_classes"].default
    return Entry(f"z{index}-{_slug(name)}", name, "zoo", "untrained",
                 models.default_input_shape(name), [str(i) for i in range(classes)])



def _onnx_entry(index: int, path: Path) -> Entry:
    """An Entry for an .onnx classifier, loaded (and checked) at start as every read-only
    command loads one; its inputs are taken as they are, as for zoo models."""
    from ..model_files import load_model

    model, config = load_model(_resolve_source(path))
    return Entry(f"o{index}-{_slug(path.stem)}", path.name, "onnx", "imported",
                 tuple(config["data"]["input_shape"]), config["data"]["class_names"],
                 _model=model)
