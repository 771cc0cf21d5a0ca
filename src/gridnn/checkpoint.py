"""Run files on disk: safetensors weights, JSON metadata, atomic writes, resumable checkpoints.

Nothing here uses pickle: weights and optimiser arrays are safetensors (a JSON header plus raw
bytes, so loading a file never runs code) and everything else is JSON. Every malformed,
truncated or mismatched file raises ``DataError`` naming the file.

A run folder holds::

    config.json          model name and arguments, data, hyper-parameters, seed
    model.safetensors    the final weights
    checkpoint/          state.json + the weight and optimiser files it names (for --resume)

``checkpoint/state.json`` is written last and names (with SHA-256 checksums) the array files of
its checkpoint, so a crash while a checkpoint is being written leaves the previous one intact.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy
from safetensors import SafetensorError

from .errors import DataError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
FORMAT = "gridnn-run"
FORMAT_VERSION = 1


# ---- atomic files ----------------------------------------------------------------------------
def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one.

    The bytes go to a temporary file in the same folder (same file system, so the rename is
    atomic), are flushed and fsynced, then renamed over ``path``; the folder is fsynced so the
    rename itself survives a power cut.
    """
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else bytes(data)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, _file_mode(path))  # mkstemp makes 0600; give what open() would give
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


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


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{what} not found: {path}") from None
    except OSError as e:
        raise DataError(f"cannot read {what} {path}: {e.strerror or e}") from None


# ---- JSON ------------------------------------------------------------------------------------
def _to_json(obj: Any) -> Any:
    """NumPy scalars and arrays (from optimiser or scheduler states) as plain JSON values."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot store a {type(obj).__name__} in JSON")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write(path, json.dumps(obj, indent=2, default=_to_json) + "\n")


def read_json(path: str | os.PathLike, what: str = "JSON file") -> dict[str, Any]:
    """The JSON object in ``path``; DataError naming the file if missing or malformed."""
    path = Path(path)
    raw = _read_bytes(path, what)
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise DataError(f"{what} {path} is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise DataError(f"{what} {path} must hold a JSON object, found {type(obj).__name__}")
    return obj


# ---- safetensors -----------------------------------------------------------------------------
def save_arrays(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Write named arrays as one safetensors file, atomically."""
    contiguous = {k: np.asarray(v, order="C") for k, v in arrays.items()}
    atomic_write(path, safetensors.numpy.save(contiguous))


def load_arrays(path: str | os.PathLike, what: str = "weights file") -> dict[str, np.ndarray]:
    """The named arrays of a safetensors file; DataError naming the file if it is malformed."""
    path = Path(path)
    return _parse_safetensors(_read_bytes(path, what), path, what)


def _parse_safetensors(raw: bytes, path: Path, what: str) -> dict[str, np.ndarray]:
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


def _names(names: list[str], limit: int = 4) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def save_weights(model: Any, path: str | os.PathLike) -> None:
    """Write ``model.state_dict()`` (PyTorch-style keys) as safetensors, atomically."""
    save_arrays(path, model.state_dict())


def load_weights(model: Any, path: str | os.PathLike) -> None:
    """Load a safetensors file into ``model`` after checking every name and shape."""
    path = Path(path)
    found = load_arrays(path)
    expected = model.state_dict()
    check_state(expected, found, path)
    model.load_state_dict({k: v.astype(expected[k].dtype, copy=False) for k, v in found.items()})


# ---- structure checks for untrusted JSON -----------------------------------------------------
def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def match_structure(template: Any, value: Any, where: str, path: Path) -> None:
    """DataError unless ``value`` has the shape of ``template``: same dict keys, same list
    lengths, numbers where numbers are, strings where strings are (None in the template admits
    any scalar, since a fresh state may hold None where a used one holds a number)."""
    def fail(expected: str) -> None:
        raise DataError(f"{path}: {where} should be {expected}, found {_short(value)}")

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
    elif _is_number(template) or isinstance(template, np.generic):
        if not _is_number(value):
            fail("a number")
    elif isinstance(template, str):
        if not isinstance(value, str):
            fail("a string")
    elif template is None:
        if not (value is None or _is_number(value) or isinstance(value, (str, bool))):
            fail("a number or null")


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _get(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path,
         where: str = "") -> Any:
    """``obj[key]`` if present and of type ``kind`` (bools are not ints), else DataError."""
    name = f"{where}{key}"
    if key not in obj:
        raise DataError(f"{path}: missing field {name!r}")
    value = obj[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise DataError(f"{path}: field {name!r} should be {names}, found {_short(value)}")
    return value


def _count(obj: dict[str, Any], key: str, path: Path, where: str = "", minimum: int = 0) -> int:
    value = _get(obj, key, int, path, where)
    if value < minimum:
        raise DataError(f"{path}: field {where + key!r} should be >= {minimum}, found {value}")
    return value


# ---- config.json -----------------------------------------------------------------------------
def save_config(run_dir: str | os.PathLike, config: dict[str, Any]) -> None:
    """Write ``config.json`` (see ``load_config`` for its fields)."""
    write_json(Path(run_dir) / CONFIG_FILE, {"format": FORMAT, "version": FORMAT_VERSION,
                                             **config})


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
        raise DataError(f"{path}: unsupported version {_short(cfg.get('version'))}, "
                        f"this gridnn reads version {FORMAT_VERSION}")
    model = _get(cfg, "model", dict, path)
    _get(model, "name", str, path, "model.")
    _get(model, "kwargs", dict, path, "model.")
    data = _get(cfg, "data", dict, path)
    _get(data, "name", str, path, "data.")
    shape = _get(data, "input_shape", list, path, "data.")
    if not shape or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                            for s in shape):
        raise DataError(f"{path}: data.input_shape should be a list of positive ints, "
                        f"found {_short(shape)}")
    classes = _count(data, "num_classes", path, "data.", minimum=1)
    names = data.get("class_names")
    if names is not None and (not isinstance(names, list) or len(names) != classes
                              or not all(isinstance(n, str) for n in names)):
        raise DataError(f"{path}: data.class_names should be {classes} strings, "
                        f"found {_short(names)}")
    for key, low in (("mean", -math.inf), ("std", 0.0)):
        stat = data.get(key)
        if stat is not None and not (isinstance(stat, list) and len(stat) == shape[0] and all(
                _is_number(v) and low < v < math.inf for v in stat)):
            raise DataError(f"{path}: data.{key} should be {shape[0]} finite numbers (one per "
                            f"channel{', positive' if low == 0 else ''}), found {_short(stat)}")
    train = _get(cfg, "train", dict, path)
    for key in ("epochs", "batch_size"):
        _count(train, key, path, "train.", minimum=1)
    _count(train, "seed", path, "train.")
    for key, low in (("lr", 0.0), ("weight_decay", -1e-300)):
        value = _get(train, key, (int, float), path, "train.")
        if not low < value < math.inf:
            raise DataError(f"{path}: train.{key} should be a finite number "
                            f"{'> 0' if low == 0 else '>= 0'}, found {_short(value)}")
    for key in ("optimizer", "schedule"):
        _get(train, key, str, path, "train.")
    _get(train, "augment", bool, path, "train.")
    return cfg


def _vm_bytes() -> int | None:
    """This process's virtual memory size (Linux), or None where /proc is not there."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@contextmanager
def memory_budget(extra_bytes: int | None) -> Iterator[None]:
    """Let the process grow by at most ``extra_bytes`` of address space inside the block.

    A config from someone else's run folder can ask for a model of any size (widths of 10^5),
    and building it would fill the machine's memory before the weights are even compared. With
    the cap an oversized allocation fails at once with MemoryError. Linux only (RLIMIT_AS);
    elsewhere, or with ``extra_bytes=None``, the block runs unchanged.
    """
    try:
        import resource
    except ImportError:
        resource = None
    vm = _vm_bytes() if resource is not None and extra_bytes is not None else None
    if vm is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm + extra_bytes
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if soft != resource.RLIM_INFINITY and soft <= cap:  # already stricter than ours
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


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
                        f"{_short(spec['kwargs'])} needs far more memory than its weights file "
                        f"holds") from None


def load_run(run_dir: str | os.PathLike) -> tuple[Any, dict[str, Any]]:
    """(model with the run's final weights, in eval mode; config) of a run folder."""
    run_dir = Path(run_dir)
    config = load_config(run_dir)
    weights = run_dir / WEIGHTS_FILE
    try:
        size = weights.stat().st_size
    except OSError:
        raise DataError(f"weights file not found: {weights}") from None
    # the weights once, float64 initial draws, and room for the interpreter's own growth
    model = build_model(config, run_dir / CONFIG_FILE, max_bytes=4 * size + (512 << 20))
    load_weights(model, weights)
    model.eval()
    return model, config


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


def set_rng_states(model: Any, states: Any, path: Path) -> None:
    """Restore ``rng_states`` output; DataError naming ``path`` if it does not fit the model."""
    gens = _generators(model)
    if not isinstance(states, dict) or set(states) != set(gens):
        raise DataError(f"{path}: rng states {_short(states)} do not match the model's random "
                        f"generators {sorted(gens)}")
    for name, g in gens.items():
        match_structure(g.bit_generator.state, states[name], f"rng.{name}", path)
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
        if not isinstance(values, dict) or not all(_is_number(v) or v is None or isinstance(
                v, bool) for v in values.values()):
            raise DataError(f"{path}: optimizer.scalars[{idx_text!r}] should map names to "
                            f"numbers, found {_short(values)}")
        for name, value in values.items():
            slot(idx_text, name)[name] = value
    return {"param_groups": rest.get("param_groups"), "state": state}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
        blob = safetensors.numpy.save({k: np.asarray(v, order="C") for k, v in arrays.items()})
        if old.get(kind, {}).get("file") == name:  # same tag rewritten: keep the old one valid
            name = f"{kind}-{tag}-{_sha256(blob)[:8]}.safetensors"
        atomic_write(folder / name, blob)
        files[kind] = {"file": name, "sha256": _sha256(blob)}
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
        files = json.loads((folder / STATE_FILE).read_text()).get("files", {})
        return files if isinstance(files, dict) else {}
    except (OSError, ValueError, AttributeError):
        return {}


def _check_progress(progress: dict[str, Any], path: Path) -> dict[str, Any]:
    """Epoch and step counts, a history of per-epoch rows of numbers, running sums."""
    _count(progress, "epoch", path, "progress.")
    _count(progress, "step", path, "progress.")
    rows = _get(progress, "history", list, path, "progress.")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not all(_is_number(v) or v is None
                                                for v in row.values()):
            raise DataError(f"{path}: progress.history[{i}] should map names to numbers, "
                            f"found {_short(row)}")
    running = _get(progress, "running", dict, path, "progress.")
    if not all(_is_number(v) for v in running.values()):
        raise DataError(f"{path}: progress.running should hold numbers, found {_short(running)}")
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
    files = _get(state, "files", dict, path)
    loaded = {}
    for kind in ("model", "optimizer"):
        entry = _get(files, kind, dict, path, "files.")
        name = _get(entry, "file", str, path, f"files.{kind}.")
        if Path(name).name != name or not name.endswith(".safetensors"):
            raise DataError(f"{path}: files.{kind}.file must be a .safetensors file name in "
                            f"the same folder, found {_short(name)}")
        raw = _read_bytes(folder / name, f"checkpoint {kind} file")
        if _sha256(raw) != _get(entry, "sha256", str, path, f"files.{kind}."):
            raise DataError(f"{folder / name} does not match its checksum in {path} "
                            f"(corrupt or partly written)")
        loaded[kind] = _parse_safetensors(raw, folder / name, f"checkpoint {kind} file")

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
    progress = _check_progress(_get(state, "progress", dict, path), path)

    gens = _generators(model)
    rng = state.get("rng")
    if not isinstance(rng, dict) or set(rng) != set(gens):
        raise DataError(f"{path}: rng states do not match the model's random generators")
    for name, g in gens.items():
        match_structure(g.bit_generator.state, rng[name], f"rng.{name}", path)

    model.load_state_dict({k: v.astype(expected[k].dtype, copy=False)
                           for k, v in loaded["model"].items()})
    optimizer.load_state_dict(opt)
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    set_rng_states(model, rng, path)
    return progress
