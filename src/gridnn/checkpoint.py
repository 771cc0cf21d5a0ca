"""Run folders on disk: the run config, the final weights and resumable checkpoints.

Built on ``fileio``: weights and optimiser arrays are safetensors, everything else JSON, every
file written atomically, and every malformed, truncated or mismatched file raises ``DataError``
naming the file.

A run folder holds::

    config.json          model name and arguments, data, hyper-parameters, seed
    checkpoint/          state.json + the weight and optimiser files it names (for --resume)
    history.csv          one row of metrics per finished epoch (rewritten after each)
    model.safetensors    the final weights          \
    metrics.json         the final test figures      > written when the last epoch is done
    curves.png           the training curves        /

``checkpoint/state.json`` is written last and names (with SHA-256 checksums) the array files of
its checkpoint, so a crash while a checkpoint is being written leaves the previous one intact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError
from .fileio import (
    atomic_write,
    check_finite,
    check_state,
    count_field,
    is_finite_number,
    is_number,
    load_arrays,
    match_structure,
    parse_safetensors,
    read_bytes,
    read_json,
    safetensors_bytes,
    save_arrays,
    sha256,
    short,
    typed_field,
    write_json,
)
from .limits import MAX_EPOCHS, memory_budget
from .runconfig import check_config

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CHECKPOINT_DIR = "checkpoint"
HISTORY_FILE = "history.csv"
METRICS_FILE = "metrics.json"
CURVES_FILE = "curves.png"
STATE_FILE = "state.json"
FORMAT = "gridnn-run"
FORMAT_VERSION = 1


# ---- weights ---------------------------------------------------------------------------------
def save_weights(model: Any, path: str | os.PathLike) -> None:
    """Write ``model.state_dict()`` (PyTorch-style keys) as safetensors, atomically."""
    save_arrays(path, model.state_dict())


def load_weights(model: Any, path: str | os.PathLike) -> None:
    """Load a safetensors file into ``model`` after checking every name and shape."""
    path = Path(path)
    found = load_arrays(path)
    expected = model.state_dict()
    check_state(expected, found, path)
    check_finite(found, path)
    model.load_state_dict(_cast_like(expected, found))


def _cast_like(expected: dict[str, np.ndarray], found: dict[str, np.ndarray]
               ) -> dict[str, np.ndarray]:
    """``found`` (checked to match ``expected``) in the dtypes of the model's own arrays."""
    return {k: v.astype(expected[k].dtype, copy=False) for k, v in found.items()}


# ---- config.json -----------------------------------------------------------------------------
def save_config(run_dir: str | os.PathLike, config: dict[str, Any], *,
                exclusive: bool = False) -> None:
    """Write ``config.json`` (see ``load_config`` for its fields); ``exclusive``:
    FileExistsError if the folder already has one (decided atomically)."""
    write_json(Path(run_dir) / CONFIG_FILE, {"format": FORMAT, "version": FORMAT_VERSION,
                                             **config}, exclusive=exclusive)


def load_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``config.json`` of a run folder, checked field by field.

    Fields: ``model`` {name, kwargs}, ``data`` {name, input_shape, num_classes, class_names,
    mean, std}, ``train`` {epochs, batch_size, lr, optimizer, weight_decay, schedule, augment,
    seed}. DataError naming the file on any problem.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"run folder not found: {run_dir}")
    path = run_dir / CONFIG_FILE
    cfg = read_json(path, "run config")
    if cfg.get("format") != FORMAT:
        raise DataError(f"{path} is not a gridnn run config (no \"format\": \"{FORMAT}\")")
    if cfg.get("version") != FORMAT_VERSION:
        raise DataError(f"{path}: unsupported version {short(cfg.get('version'))}, "
                        f"this gridnn reads version {FORMAT_VERSION}")
    check_config(cfg, path)
    return cfg


def build_model(config: dict[str, Any], config_path: Path,
                max_bytes: int | None = None) -> Any:
    """The model named in a checked config, built with its stored arguments; with
    ``max_bytes``, building may take at most that much memory (see ``memory_budget``)."""
    from . import models
    from .errors import GridnnError

    spec = config["model"]
    try:
        with memory_budget(max_bytes):
            return models.build(spec["name"], **spec["kwargs"])
    except (GridnnError, TypeError, ValueError, OverflowError) as e:
        # an unknown name, arguments the factory does not take, or sizes NumPy cannot allocate
        raise DataError(f"{config_path}: cannot build model {spec['name']!r} from its stored "
                        f"arguments: {e}") from None
    except MemoryError:
        raise DataError(f"{config_path}: model {spec['name']!r} with arguments "
                        f"{short(spec['kwargs'])} needs far more memory than its weights file "
                        f"holds") from None


def build_budget(run_dir: Path) -> int:
    """Memory that building the model of ``run_dir`` may take: its weights (final, else the
    checkpoint's) four times over (float64 initial draws, the copy loaded) and 512 MiB of room
    for the interpreter; a config asking for far larger layers fails at once (MemoryError)."""
    files = [run_dir / WEIGHTS_FILE, *sorted((run_dir / CHECKPOINT_DIR).glob("model-*"))]
    size = 0
    for f in files:
        try:
            size = max(size, f.stat().st_size)
        except OSError:
            pass
    return 4 * size + (512 << 20)


def load_run(run_dir: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """(model with the run's final weights, in eval mode; config) of a run folder."""
    run_dir = Path(run_dir)
    config = load_config(run_dir)
    weights = run_dir / WEIGHTS_FILE
    if not weights.exists():
        raise DataError(_unfinished(run_dir, config))
    model = build_model(config, run_dir / CONFIG_FILE, max_bytes=build_budget(run_dir))
    load_weights(model, weights)
    model.eval()
    return model, config


def _unfinished(run_dir: Path, config: dict[str, Any]) -> str:
    """Why a run folder without final weights cannot be used, and what to do about it."""
    state = run_dir / CHECKPOINT_DIR / STATE_FILE
    if not state.is_file():
        return (f"{run_dir} is an unfinished run with no {WEIGHTS_FILE} and no checkpoint "
                f"(training stopped in its first epoch): start it again with: gridnn train "
                f"--resume {run_dir}")
    try:
        done = f" after epoch {int(read_json(state, 'checkpoint')['progress']['epoch'])} of " \
            f"{config['train']['epochs']}"
    except (DataError, KeyError, TypeError, ValueError):  # the resume will say what is wrong
        done = ""
    return (f"{run_dir} is an unfinished run (stopped{done}; it has no {WEIGHTS_FILE} yet): "
            f"continue it with: gridnn train --resume {run_dir}")


# ---- random generators inside a model --------------------------------------------------------
def _generators(model: Any) -> dict[str, np.random.Generator]:
    """Every NumPy Generator a module of ``model`` holds (dropout masks), by module path."""
    found: dict[str, np.random.Generator] = {}
    for prefix, module in model.named_modules():
        for attr, value in vars(module).items():
            if isinstance(value, np.random.Generator):
                found[f"{prefix}.{attr}" if prefix else attr] = value
    return found


def rng_states(model: Any) -> dict[str, Any]:
    """The JSON-able bit-generator state of every Generator in ``model``."""
    return {name: g.bit_generator.state for name, g in _generators(model).items()}


def _check_rng_states(model: Any, states: Any, path: Path) -> dict[str, np.random.Generator]:
    """The model's generators, after checking ``states`` (from ``path``) fits every one."""
    gens = _generators(model)
    if not isinstance(states, dict) or set(states) != set(gens):
        raise DataError(f"{path}: rng states {short(states)} do not match the model's random "
                        f"generators {sorted(gens)}")
    for name, g in gens.items():
        match_structure(g.bit_generator.state, states[name], f"rng.{name}", path)
    return gens


def set_rng_states(model: Any, states: Any, path: Path) -> None:
    """Restore ``rng_states`` output; DataError naming ``path`` if it does not fit the model."""
    for name, g in _check_rng_states(model, states, path).items():
        try:
            g.bit_generator.state = states[name]
        except (ValueError, TypeError, OverflowError) as e:
            raise DataError(f"{path}: bad rng state for {name!r}: {e}") from None


# ---- resumable checkpoint --------------------------------------------------------------------
def _split_optimizer_state(state: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict]:
    """Optimiser state -> (arrays for safetensors, JSON rest)."""
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, slots in state["state"].items():
        for name, value in slots.items():
            if isinstance(value, np.ndarray):
                arrays[f"{idx}.{name}"] = value
            else:
                scalars.setdefault(str(idx), {})[name] = value
    return arrays, {"param_groups": state["param_groups"], "scalars": scalars}


def _join_optimizer_state(arrays: dict[str, np.ndarray], rest: Any, n_params: int,
                          path: Path) -> dict[str, Any]:
    if not isinstance(rest, dict) or not isinstance(rest.get("scalars"), dict):
        raise DataError(f"{path}: field 'optimizer.scalars' should be an object")
    state: dict[int, dict[str, Any]] = {}

    def slot(idx_text: str, name: str) -> dict[str, Any]:
        if not idx_text.isdigit() or int(idx_text) >= n_params:
            raise DataError(f"{path}: optimizer state names parameter {idx_text!r}, the model "
                            f"has {n_params}")
        return state.setdefault(int(idx_text), {})

    for key, arr in arrays.items():
        idx_text, _, name = key.partition(".")
        slot(idx_text, name)[name] = arr
    for idx_text, values in rest["scalars"].items():
        if not isinstance(values, dict) or not all(is_number(v) or v is None or isinstance(
                v, bool) for v in values.values()):
            raise DataError(f"{path}: optimizer.scalars[{idx_text!r}] should map names to "
                            f"numbers, found {short(values)}")
        for name, value in values.items():
            slot(idx_text, name)[name] = value
    return {"param_groups": rest.get("param_groups"), "state": state}


def save_checkpoint(folder: str | os.PathLike, *, model: Any, optimizer: Any,
                    scheduler: Any = None, progress: dict[str, Any]) -> None:
    """Write a resumable checkpoint into ``folder`` (created if needed).

    ``progress`` is JSON-able training progress (epoch, step, history, running sums). The array
    files get a new name each time and ``state.json``, written last, names them: until it is
    renamed into place the previous checkpoint stays the valid one.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    old = _read_index(folder)
    tag = f"{progress.get('epoch', 0):05d}-{progress.get('step', 0):06d}"
    opt_arrays, opt_rest = _split_optimizer_state(optimizer.state_dict())
    files = {}
    for kind, arrays in (("model", model.state_dict()), ("optimizer", opt_arrays)):
        name = f"{kind}-{tag}.safetensors"
        blob = safetensors_bytes(arrays)
        if old.get(kind, {}).get("file") == name:  # same tag rewritten: keep the old one valid
            name = f"{kind}-{tag}-{sha256(blob)[:8]}.safetensors"
        atomic_write(folder / name, blob)
        files[kind] = {"file": name, "sha256": sha256(blob)}
    state = {"format": FORMAT, "version": FORMAT_VERSION, "files": files,
             "optimizer": opt_rest,
             "scheduler": scheduler.state_dict() if scheduler is not None else None,
             "rng": rng_states(model), "progress": progress}
    write_json(folder / STATE_FILE, state)
    keep = {f["file"] for f in files.values()} | {STATE_FILE}
    for stale in folder.glob("*.safetensors"):
        if stale.name not in keep:
            stale.unlink(missing_ok=True)


def _read_index(folder: Path) -> dict[str, Any]:
    """The 'files' entry of an existing state.json, or {} (used only to avoid name clashes)."""
    try:
        files = read_json(folder / STATE_FILE, "checkpoint state").get("files", {})
    except DataError:
        return {}
    return files if isinstance(files, dict) else {}


def _float_like(value: Any) -> bool:
    """A float (NaN included: a diverged validation loss is history), or an int a float can
    hold (not one of 400 digits)."""
    return isinstance(value, float) or is_finite_number(value)


def _check_progress(progress: dict[str, Any], path: Path) -> dict[str, Any]:
    """Epoch and step counts, a history of per-epoch rows of numbers, running sums."""
    count_field(progress, "epoch", path, "progress.", maximum=MAX_EPOCHS)
    count_field(progress, "step", path, "progress.", maximum=1 << 62)
    rows = typed_field(progress, "history", list, path, "progress.")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not all(_float_like(v) or v is None
                                                for v in row.values()):
            raise DataError(f"{path}: progress.history[{i}] should map names to numbers, "
                            f"found {short(row)}")
    running = typed_field(progress, "running", dict, path, "progress.")
    if not all(_float_like(v) for v in running.values()):
        raise DataError(f"{path}: progress.running should hold numbers, found {short(running)}")
    return progress


def load_checkpoint(folder: str | os.PathLike, *, model: Any, optimizer: Any,
                    scheduler: Any = None) -> dict[str, Any]:
    """Restore model, optimiser, scheduler and RNG states from ``folder``; return progress.

    Every file is checked (checksums, names, shapes, structure) before anything is loaded, so
    a bad checkpoint raises DataError naming the file and leaves the objects untouched.
    """
    folder = Path(folder)
    path = folder / STATE_FILE
    state = read_json(path, "checkpoint state")
    if state.get("format") != FORMAT or state.get("version") != FORMAT_VERSION:
        raise DataError(f"{path} is not a gridnn checkpoint of version {FORMAT_VERSION}")
    files = typed_field(state, "files", dict, path)
    loaded = {}
    for kind in ("model", "optimizer"):
        entry = typed_field(files, kind, dict, path, "files.")
        name = typed_field(entry, "file", str, path, f"files.{kind}.")
        if Path(name).name != name or not name.endswith(".safetensors"):
            raise DataError(f"{path}: files.{kind}.file must be a .safetensors file name in "
                            f"the same folder, found {short(name)}")
        raw = read_bytes(folder / name, f"checkpoint {kind} file")
        if sha256(raw) != typed_field(entry, "sha256", str, path, f"files.{kind}."):
            raise DataError(f"{folder / name} does not match its checksum in {path} "
                            f"(corrupt or partly written)")
        loaded[kind] = parse_safetensors(raw, folder / name, f"checkpoint {kind} file")

    expected = model.state_dict()
    check_state(expected, loaded["model"], folder / files["model"]["file"])
    params = list(model.parameters())
    opt = _join_optimizer_state(loaded["optimizer"], state.get("optimizer"), len(params), path)
    current = optimizer.state_dict()
    match_structure(current["param_groups"], opt["param_groups"], "optimizer.param_groups", path)
    for idx, slots in opt["state"].items():
        for name, value in slots.items():
            if isinstance(value, np.ndarray) and value.shape != params[idx].data.shape:
                raise DataError(f"{folder / files['optimizer']['file']}: state {idx}.{name} has "
                                f"shape {value.shape}, parameter {idx} has "
                                f"{params[idx].data.shape}")
    if scheduler is not None:
        match_structure(scheduler.state_dict(), state.get("scheduler"), "scheduler", path)
    progress = _check_progress(typed_field(state, "progress", dict, path), path)

    rng = state.get("rng")
    _check_rng_states(model, rng, path)

    model.load_state_dict(_cast_like(expected, loaded["model"]))
    optimizer.load_state_dict(opt)
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    set_rng_states(model, rng, path)
    return progress
