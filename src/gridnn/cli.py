"""The ``gridnn`` command: train, eval, predict, summary, datasets (and the subcommands that
``gridnn.bench`` and ``gridnn.explain`` register).

Exit codes: 0 success; 2 a user's mistake (bad argument, unknown name, missing or corrupt
file, NaN loss), reported as one line on stderr; 1 an internal error (one line, or the
traceback with ``--debug``); 128 + signal number when SIGINT/SIGTERM stopped training after
saving a checkpoint.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from ._allocator import keep_freed_memory
from .checkpoint import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    WEIGHTS_FILE,
    atomic_write,
    build_model,
    load_config,
    load_run,
    save_config,
    save_weights,
    write_json,
)
from .errors import ArgumentError, DataError, GridnnError

# Modules that add subcommands through ``register(subparsers)``.
REGISTRARS = ("gridnn.bench.cli", "gridnn.explain.cli")

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("onecycle", "cosine", "step", "none")
DEFAULT_DATA = "digits"

# Per-dataset defaults; any dataset not listed gets "*". Tuned so that a bare `gridnn train`
# reaches >= 98% on digits in well under a minute on 2 cores (see benchmarks/RESULTS.md).
DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"model": "digits_cnn", "epochs": 15, "batch_size": 32, "lr": 3e-3,
               "optimizer": "adamw", "weight_decay": 1e-4, "schedule": "onecycle",
               "augment": False},
    "mnist1d": {"model": "mnist1d_cnn", "epochs": 60, "batch_size": 64, "lr": 5e-3,
                "optimizer": "adamw", "weight_decay": 1e-4, "schedule": "onecycle",
                "augment": True},
    "fashion-mnist": {"model": "fashion_cnn", "epochs": 12, "batch_size": 128, "lr": 3e-3,
                      "optimizer": "adamw", "weight_decay": 5e-4, "schedule": "onecycle",
                      "augment": False},
    "mnist": {"model": "fashion_cnn", "epochs": 5, "batch_size": 128, "lr": 3e-3,
              "optimizer": "adamw", "weight_decay": 5e-4, "schedule": "onecycle",
              "augment": False},
    "cifar10": {"model": "resnet_small", "epochs": 30, "batch_size": 128, "lr": 3e-3,
                "optimizer": "adamw", "weight_decay": 5e-4, "schedule": "onecycle",
                "augment": True},
    "*": {"model": None, "epochs": 10, "batch_size": 64, "lr": 1e-3, "optimizer": "adam",
          "weight_decay": 0.0, "schedule": "cosine", "augment": False},
}
TRAIN_KEYS = ("epochs", "batch_size", "lr", "optimizer", "weight_decay", "schedule", "augment")


# ---- argument parsing ------------------------------------------------------------------------
class UsageError(GridnnError):
    """A command-line usage mistake found by argparse."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: raises UsageError instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive int, received {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive int, received {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, received {text!r}") \
            from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a positive number, received {text!r}")
    return value


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, received {text!r}")
    return value


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(t) for t in text.split(","))
    except ValueError:
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(
            f"expected positive ints separated by commas such as 1,28,28, received {text!r}")
    return dims


def build_parser() -> Parser:
    """The ``gridnn`` argument parser with every subcommand."""
    parser = Parser(prog="gridnn", description="Train and inspect CNNs written from scratch "
                                               "on NumPy.")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of errors (may also follow the subcommand)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("train", help="train a model and write a run folder",
                       description="Train a model. With no arguments: the default CNN on the "
                                   "embedded digits data (under a minute).")
    p.add_argument("--data", help=f"dataset name or folder (default {DEFAULT_DATA}; see "
                                  f"'gridnn datasets')")
    p.add_argument("--data-dir", help="folder to look for dataset files in")
    p.add_argument("--model", help="model name (default: the dataset's default model)")
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--lr", type=_positive_float, help="(peak) learning rate")
    p.add_argument("--optimizer", choices=OPTIMIZERS)
    p.add_argument("--weight-decay", type=_nonnegative_float)
    p.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule")
    p.add_argument("--seed", type=int, help="seed of the weights, the split and the batch "
                                            "order (default 0)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction,
                   help="random shifts (and flips for colour images) while training (default: "
                        "on for mnist1d, off for the others)")
    p.add_argument("--out", help="run folder to write (default runs/<data>-<model>-<time>)")
    p.add_argument("--resume", metavar="DIR", help="continue the interrupted run in DIR "
                                                   "with its saved settings")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="test accuracy of a trained run")
    p.add_argument("run", help="run folder written by 'gridnn train'")
    p.add_argument("--data", help="dataset to evaluate on (default: the run's)")
    p.add_argument("--data-dir", help="folder to look for dataset files in")
    p.add_argument("--batch-size", type=_positive_int, default=256)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("predict", help="top-3 classes of images or .npy arrays")
    p.add_argument("run", help="run folder written by 'gridnn train'")
    p.add_argument("files", nargs="+", metavar="FILE", help="PNG/JPEG image or .npy array")
    p.add_argument("--top", type=_positive_int, default=3, help="classes to show (default 3)")
    p.add_argument("--resize", action="store_true",
                   help="scale images to the model's input size (default: refuse other sizes)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("summary", help="layer table of a model: output shapes and parameters")
    p.add_argument("model", help="model name (see 'gridnn summary --list')", nargs="?")
    p.add_argument("--input-shape", type=_shape, metavar="C,H,W",
                   help="input shape without the batch dim (default: the model's)")
    p.add_argument("--num-classes", type=_positive_int)
    p.add_argument("--list", action="store_true", help="list the model names")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("datasets", help="datasets available here, and how to get the others")
    p.add_argument("--data-dir", help="folder to look for dataset files in")
    p.set_defaults(func=cmd_datasets)

    for name in REGISTRARS:
        importlib.import_module(name).register(sub)
    return parser


# ---- training --------------------------------------------------------------------------------
def _defaults(data: str) -> dict[str, Any]:
    key = data.lower().replace("_", "-")
    key = {"fashion": "fashion-mnist", "fashionmnist": "fashion-mnist", "mnist-1d": "mnist1d",
           "cifar": "cifar10", "cifar-10": "cifar10"}.get(key, key)
    return DEFAULTS.get(key, DEFAULTS["*"])


def _model_kwargs(input_shape: Sequence[int], num_classes: int, seed: int) -> dict:
    """JSON-able factory arguments for a model on data of ``input_shape`` (C, ...)."""
    size = list(input_shape[1:])
    return {"in_channels": int(input_shape[0]), "num_classes": int(num_classes),
            "input_size": size[0] if len(size) == 1 else size, "seed": int(seed)}


def _transforms(data_cfg: dict[str, Any], augment: bool) -> tuple[Any, Any]:
    """(training transform, evaluation transform) from the stored per-channel statistics."""
    from . import data

    shape = data_cfg["input_shape"]
    norm = data.Normalize(data_cfg["mean"], data_cfg["std"]) \
        if data_cfg.get("mean") is not None else None
    steps = []
    if augment:
        size = max(shape[1:])
        steps.append(data.RandomShift(max(1, size // 8)))
        if len(shape) == 3 and shape[0] == 3:  # natural colour images: mirror-symmetric
            steps.append(data.RandomHorizontalFlip())
    train = data.Compose([*steps, norm] if norm else steps) if steps else norm
    return train, norm


def make_loaders(bundle: Any, config: dict[str, Any], batch_size: int | None = None) -> tuple:
    """(train loader, test loader) as the config describes (also used by
    benchmarks/accuracy.py, so PyTorch sees the very same batches)."""
    from . import data

    tcfg = config["train"]
    train_tf, test_tf = _transforms(config["data"], tcfg["augment"])
    seed = tcfg["seed"]
    train = data.DataLoader(bundle.train, tcfg["batch_size"], shuffle=True, drop_last=False,
                            seed=seed, transform=train_tf)
    test = data.DataLoader(bundle.test, batch_size or max(256, tcfg["batch_size"]),
                           shuffle=False, drop_last=False, seed=seed, transform=test_tf)
    return train, test


def make_optimizer(config: dict[str, Any], model: Any,
                   steps_per_epoch: int) -> tuple[Any, Any, str]:
    """(optimizer, scheduler or None, scheduler interval) from the config's hyper-parameters.

    SGD uses Nesterov momentum 0.9; 'onecycle' steps per batch, the others per epoch."""
    from . import optim

    t = config["train"]
    params = list(model.parameters())
    name, lr, wd = t["optimizer"], t["lr"], t["weight_decay"]
    if name == "sgd":
        opt = optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd)
    elif name == "adam":
        opt = optim.Adam(params, lr=lr, weight_decay=wd)
    elif name == "adamw":
        opt = optim.AdamW(params, lr=lr, weight_decay=wd)
    else:
        raise ArgumentError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    epochs, schedule = t["epochs"], t["schedule"]
    if schedule == "onecycle":
        return opt, optim.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch), \
            "step"
    if schedule == "cosine":
        return opt, optim.CosineAnnealingLR(opt, T_max=epochs), "epoch"
    if schedule == "step":
        return opt, optim.StepLR(opt, step_size=max(1, epochs // 3), gamma=0.1), "epoch"
    if schedule == "none":
        return opt, None, "epoch"
    raise ArgumentError(f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")


def _new_config(args: argparse.Namespace, bundle: Any) -> dict[str, Any]:
    from . import models

    data_name = args.data or DEFAULT_DATA
    defaults = _defaults(bundle.name)
    model_name = args.model or defaults["model"]
    if model_name is None:
        raise ArgumentError(f"no default model for dataset {bundle.name!r}; pass --model "
                            f"(one of {', '.join(sorted(models.MODELS))})")
    if model_name not in models.MODELS:
        raise ArgumentError(f"unknown model {model_name!r}; expected one of "
                            f"{', '.join(sorted(models.MODELS))}")
    seed = 0 if args.seed is None else args.seed
    hp = {k: getattr(args, k) if getattr(args, k) is not None else defaults[k]
          for k in TRAIN_KEYS}
    if hp["optimizer"] not in OPTIMIZERS:
        raise ArgumentError(f"unknown optimizer {hp['optimizer']!r}; expected one of "
                            f"{', '.join(OPTIMIZERS)}")
    shape = [int(s) for s in bundle.input_shape]
    return {
        "model": {"name": model_name,
                  "kwargs": _model_kwargs(shape, bundle.num_classes, seed)},
        "data": {"name": data_name, "data_dir": args.data_dir, "input_shape": shape,
                 "num_classes": int(bundle.num_classes),
                 "class_names": [str(c) for c in bundle.class_names]
                 if bundle.class_names is not None else None,
                 "mean": _floats(bundle.mean), "std": _floats(bundle.std)},
        "train": {**hp, "seed": seed},
    }


def _floats(values: Any) -> list[float] | None:
    return None if values is None else [float(x) for x in np.ravel(values)]


def _default_out(config: dict[str, Any]) -> Path:
    data = Path(config["data"]["name"]).name or "data"
    stem = f"{data}-{config['model']['name']}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, n = Path("runs") / stem, 1
    while out.exists():
        n += 1
        out = Path("runs") / f"{stem}-{n}"
    return out


class _RunFiles:
    """Epoch-end callback: history.csv in the run folder follows training."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def on_step_end(self, state: Any) -> None:
        pass

    def on_epoch_end(self, state: Any) -> None:
        atomic_write(self.run_dir / "history.csv", state.history.to_csv())


class _EpochPrinter:
    """Epoch-end callback: one line per epoch on stdout (used when bars are off)."""

    def on_step_end(self, state: Any) -> None:
        pass

    def on_epoch_end(self, state: Any) -> None:
        r = state.history.rows[-1]
        val = f"  val_loss {r['val_loss']:.4f}  val_acc {r['val_accuracy']:.4f}" \
            if "val_loss" in r else ""
        print(f"epoch {r['epoch']}/{state.epochs}  loss {r['train_loss']:.4f}  "
              f"acc {r['train_accuracy']:.4f}{val}  lr {r['lr']:.2e}  {r['seconds']:.1f} s",
              flush=True)


def cmd_train(args: argparse.Namespace) -> int:
    from . import data, train

    if args.resume:
        given = [f"--{k.replace('_', '-')}" for k in ("data", "model", "seed", "out", *TRAIN_KEYS)
                 if getattr(args, k) is not None]
        if given:
            raise ArgumentError(f"--resume continues a run with its saved settings; remove "
                                f"{', '.join(given)}")
        run_dir = Path(args.resume)
        config = load_config(run_dir)
        if not (run_dir / CHECKPOINT_DIR).is_dir():
            raise DataError(f"run folder {run_dir} has no {CHECKPOINT_DIR}/ to resume from")
        dcfg = config["data"]
        bundle = data.load_dataset(dcfg["name"], data_dir=args.data_dir or dcfg.get("data_dir"),
                                   seed=config["train"]["seed"])
        _check_bundle(bundle, dcfg, run_dir / CONFIG_FILE)
    else:
        check = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr}
        train.check_hyperparameters(**check)
        seed = 0 if args.seed is None else args.seed
        bundle = data.load_dataset(args.data or DEFAULT_DATA, data_dir=args.data_dir, seed=seed)
        config = _new_config(args, bundle)
        run_dir = Path(args.out) if args.out else _default_out(config)
        if (run_dir / CONFIG_FILE).exists():
            raise ArgumentError(f"{run_dir} already holds a run; pass another --out, or "
                                f"'--resume {run_dir}' to continue it")
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(run_dir, config)
    tcfg = config["train"]
    train.check_hyperparameters(epochs=tcfg["epochs"], batch_size=tcfg["batch_size"],
                                lr=tcfg["lr"])
    model = build_model(config, run_dir / CONFIG_FILE)
    train_loader, test_loader = make_loaders(bundle, config)
    optimizer, scheduler, interval = make_optimizer(config, model, len(train_loader))
    ckpt = train.Checkpointer(run_dir / CHECKPOINT_DIR)
    start: dict[str, Any] = {}
    if args.resume:
        start = train.resume_state(ckpt.folder, model=model, optimizer=optimizer,
                                   scheduler=scheduler)
        ckpt.epoch, ckpt.step = start["start_epoch"], start["start_step"]
    n_params = sum(p.data.size for p in model.parameters())
    print(f"{'resuming' if args.resume else 'training'} {config['model']['name']} "
          f"({n_params:,} parameters) on {config['data']['name']} "
          f"({len(bundle.train)} train / {len(bundle.test)} test) for {tcfg['epochs']} epochs; "
          f"run folder: {run_dir}", flush=True)
    if start.get("start_epoch", 0) >= tcfg["epochs"]:
        if (run_dir / WEIGHTS_FILE).is_file():
            print(f"{run_dir} has already finished its {tcfg['epochs']} epochs")
        else:  # stopped between the last checkpoint and the final files
            _finish_run(run_dir, model, start["history"])
        return 0
    bars = not args.no_progress and sys.stderr.isatty()
    callbacks: list[Any] = [ckpt, _RunFiles(run_dir)] + ([] if bars else [_EpochPrinter()])
    hint = f"; continue with: gridnn train --resume {run_dir}"
    try:
        # overflow warnings would break the one-line contract; fit reports a non-finite loss
        with train.StopOnSignal(ckpt, resume_hint=hint) as stopper, np.errstate(all="ignore"):
            history = train.fit(model, train_loader, test_loader, epochs=tcfg["epochs"],
                                optimizer=optimizer, scheduler=scheduler,
                                scheduler_interval=interval, callbacks=[*callbacks, stopper],
                                progress=bars, **start)
    except train.TrainingInterruptedError as e:
        print(f"gridnn: {e}", file=sys.stderr)
        return 128 + e.signum
    except train.TrainingError as e:
        kept = f"the last good checkpoint ({ckpt.describe()}) is kept in {ckpt.folder}" \
            if ckpt.epoch is not None else "no checkpoint was written"
        raise train.TrainingError(f"{e}; {kept}") from None
    _finish_run(run_dir, model, history)
    return 0


def _check_bundle(bundle: Any, dcfg: dict[str, Any], config_path: Path) -> None:
    shape = [int(s) for s in bundle.input_shape]
    if shape != dcfg["input_shape"] or int(bundle.num_classes) != dcfg["num_classes"]:
        raise DataError(f"dataset {bundle.name!r} has inputs {tuple(shape)} and "
                        f"{bundle.num_classes} classes, but the model in {config_path} expects "
                        f"{tuple(dcfg['input_shape'])} and {dcfg['num_classes']}")


def _finish_run(run_dir: Path, model: Any, history: Any) -> None:
    """Final weights, metrics.json, history.csv, curves.png; print the test accuracy."""
    from .plots import plot_curves

    last = history.rows[-1]
    seconds = sum(history["seconds"])
    metrics = {"test_accuracy": last["val_accuracy"], "test_loss": last["val_loss"],
               "epochs": len(history), "train_seconds": seconds,
               "images_per_second": float(np.mean(history["images_per_second"]))}
    save_weights(model, run_dir / WEIGHTS_FILE)
    atomic_write(run_dir / "history.csv", history.to_csv())
    write_json(run_dir / "metrics.json", metrics)
    note = ""
    try:
        plot_curves(history, run_dir / "curves.png")
    except ImportError:
        note = " (curves.png skipped: pip install 'gridnn[plot]' for matplotlib)"
    print(f"test accuracy {100 * last['val_accuracy']:.2f}% (test loss {last['val_loss']:.4f}) "
          f"after {len(history)} epochs in {seconds:.1f} s; "
          f"wrote {run_dir}{note}", flush=True)


# ---- using a trained run ---------------------------------------------------------------------
def cmd_eval(args: argparse.Namespace) -> int:
    from . import data, train

    run_dir = Path(args.run)
    model, config = load_run(run_dir)
    dcfg = config["data"]
    name = args.data or dcfg["name"]
    bundle = data.load_dataset(name, data_dir=args.data_dir or dcfg.get("data_dir"),
                               seed=config["train"]["seed"])
    _check_bundle(bundle, dcfg, run_dir / CONFIG_FILE)
    _, test_loader = make_loaders(bundle, config, batch_size=args.batch_size)
    result = train.evaluate(model, test_loader)
    print(f"{name} test: accuracy {100 * result['accuracy']:.2f}%  loss {result['loss']:.4f}  "
          f"({len(bundle.test)} samples)")
    return 0


def _load_input(path: Path, dcfg: dict[str, Any], resize: bool) -> np.ndarray:
    """One input (C, ...) from an image or .npy file, checked against the model's input."""
    from . import data

    shape = tuple(dcfg["input_shape"])
    is_npy = path.suffix.lower() == ".npy"
    if not is_npy and len(shape) != 3:
        raise DataError(f"{path}: the model takes signals of shape {shape}, not images; "
                        f"give a .npy array")
    x = data.load_image(path, channels=shape[0],
                        size=shape[1:] if is_npy or resize else None)
    if tuple(x.shape) != shape:
        raise DataError(f"{path} is {'x'.join(map(str, x.shape[1:]))} with {x.shape[0]} "
                        f"channel(s) but the model takes {'x'.join(map(str, shape[1:]))} with "
                        f"{shape[0]} (pass --resize to scale images)")
    return x


def cmd_predict(args: argparse.Namespace) -> int:
    from . import functional as F
    from .autograd import no_grad
    from .tensor import Tensor

    model, config = load_run(Path(args.run))
    dcfg = config["data"]
    _, norm = _transforms(dcfg, augment=False)
    names = dcfg.get("class_names") or [str(i) for i in range(dcfg["num_classes"])]
    batch = np.stack([_load_input(Path(f), dcfg, args.resize) for f in args.files])
    if norm is not None:
        batch = norm(batch)
    with no_grad():
        probs = F.softmax(model(Tensor(batch)), dim=1).data
    k = min(args.top, probs.shape[1])
    for f, p in zip(args.files, probs):
        top = np.argsort(-p, kind="stable")[:k]
        print(f"{f}: " + "  ".join(f"{names[i]} {p[i]:.3f}" for i in top))
    return 0


# ---- information -----------------------------------------------------------------------------
def cmd_summary(args: argparse.Namespace) -> int:
    import gridnn

    from . import models

    if args.list or args.model is None:
        print("models: " + ", ".join(sorted(models.MODELS)))
        return 0
    if args.model not in models.MODELS:
        raise ArgumentError(f"unknown model {args.model!r}; expected one of "
                            f"{', '.join(sorted(models.MODELS))}")
    kwargs: dict[str, Any] = {}
    shape = args.input_shape
    if shape is not None:
        kwargs.update(in_channels=shape[0],
                      input_size=shape[1] if len(shape) == 2 else list(shape[1:]))
    if args.num_classes is not None:
        kwargs["num_classes"] = args.num_classes
    model = models.build(args.model, **kwargs)
    if shape is None:
        shape = tuple(models.default_input_shape(args.model, **kwargs))
    print(gridnn.summary(model, shape))
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from . import data

    rows = data.available_datasets(args.data_dir)
    width = max(len(name) for name, _, _ in rows)
    for name, here, where in rows:
        print(f"{name:<{width}}  {'available' if here else 'missing  '}  {where}")
    print("also: --data PATH for a folder of images (PATH/<class>/*.png)")
    return 0


# ---- entry point -----------------------------------------------------------------------------
def _hoist_debug(argv: list[str]) -> list[str]:
    """Move ``--debug`` in front of the subcommand so it works in either position."""
    end = argv.index("--") if "--" in argv else len(argv)
    head = [a for a in argv[:end] if a != "--debug"]
    return (["--debug"] if len(head) < end else []) + head + argv[end:]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``gridnn`` command; returns the exit code (see the module docstring)."""
    argv = _hoist_debug(list(sys.argv[1:] if argv is None else argv))
    debug = bool(argv) and argv[0] == "--debug"
    try:
        keep_freed_memory()  # this process is ours: let malloc reuse freed activations
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except GridnnError as e:
        if debug:
            traceback.print_exc()
        print(e if isinstance(e, UsageError) else f"gridnn: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `gridnn ... | head`: the reader left; nothing to report
        # Python flushes stdout again at exit; point it at devnull so that flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:  # the file system refused (permissions, disk full): not a bug
        if debug:
            traceback.print_exc()
        print(f"gridnn: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gridnn: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # an internal bug: keep it to one line unless asked for details
        if debug:
            traceback.print_exc()
        else:
            print(f"gridnn: internal error: {type(e).__name__}: {e} (run with --debug for the "
                  f"traceback)", file=sys.stderr)
        return 1
