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
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from . import __version__, argtypes, recipes, runfolder
from ._allocator import keep_freed_memory
from .checkpoint import CONFIG_FILE, load_run
from .console import detach_stdout
from .errors import ArgumentError, GridnnError
from .inputs import load_input
from .model_files import is_onnx, load_model

# Modules whose ``register(subparsers)`` adds their subcommands; a new room adds its module here.
REGISTRARS = ("gridnn.bench.cli", "gridnn.explain.cli", "gridnn.studio.cli", "gridnn.onnx.cli")


# ---- argument parsing ------------------------------------------------------------------------
class UsageError(GridnnError):
    """A command-line usage mistake found by argparse."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: raises UsageError instead of printing usage and exiting.
    Subcommand parsers are of this class too (argparse makes them of the parent's class)."""

    def error(self, message: str) -> NoReturn:
        choice = re.match(r"argument .*: invalid choice: '(.*)' \(choose from (.*)\)$",
                          message)
        if choice:
            hint = argtypes.did_you_mean(choice[1], re.findall(r"'([^']*)'", choice[2]))
            message = message.replace(" (choose from", f"{hint} (choose from", 1)
        raise UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        """Unknown flags are reported by the (sub)parser that met them, with the nearest
        flag it takes and its own help."""
        namespace, extras = super().parse_known_args(args, namespace)
        if not hasattr(namespace, "help_prog"):  # the innermost (sub)command's parser sets it
            namespace.help_prog = self.prog
        if extras:
            flags = [s for s in self._option_string_actions if s.startswith("--")]
            first = extras[0].split("=")[0]
            hint = argtypes.did_you_mean(first, flags) if first.startswith("-") else ""
            self.error(f"unrecognized arguments: {' '.join(extras)}{hint}")
        return namespace, extras


def build_parser() -> Parser:
    """The ``gridnn`` argument parser with every subcommand."""
    parser = Parser(prog="gridnn", description="Train and inspect CNNs written from scratch "
                                               "on NumPy.")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of errors (may also follow the subcommand)")
    parser.add_argument("--version", action="version", version=f"gridnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    register(sub)
    for name in REGISTRARS:
        importlib.import_module(name).register(sub)
    return parser


def register(sub: Any) -> None:
    """Add the core subcommands: train, eval, predict, summary, datasets."""
    p = sub.add_parser("train", help="train a model and write a run folder",
                       description="Train a model. With no arguments: the default CNN on the "
                                   "embedded digits data (under a minute).")
    p.add_argument("--data", help=f"dataset name or folder (default {recipes.DEFAULT_DATA}; see "
                                  f"'gridnn datasets')")
    p.add_argument("--data-dir", help="folder to look for dataset files in")
    p.add_argument("--model", help="model name (default: the dataset's default model)")
    p.add_argument("--epochs", type=argtypes.positive_int)
    p.add_argument("--batch-size", type=argtypes.positive_int)
    p.add_argument("--lr", type=argtypes.positive_float, help="(peak) learning rate")
    p.add_argument("--optimizer", choices=recipes.OPTIMIZERS)
    p.add_argument("--weight-decay", type=argtypes.nonnegative_float)
    p.add_argument("--schedule", choices=recipes.SCHEDULES, help="learning-rate schedule")
    p.add_argument("--seed", type=argtypes.nonnegative_int,
                   help="seed of the weights, the split and the batch order (default 0)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction,
                   help="random shifts (and flips for colour images) while training (default: "
                        "on for mnist1d, off for the others)")
    p.add_argument("--val-split", type=argtypes.fraction, metavar="F",
                   help="hold out a stratified, seeded share F of the training data and "
                        "evaluate it after every epoch (default 0: the test split is evaluated "
                        "after every epoch, and the output says 'test')")
    p.add_argument("--train-size", type=argtypes.positive_int, metavar="N",
                   help="train on a stratified, seeded N of the training images (default: all)")
    p.add_argument("--image-size", metavar="HxW",
                   help="resize the images of a --data folder to HxW (default: their size, or "
                        "the most common one when sizes differ)")
    p.add_argument("--out", help="run folder to write (default runs/<data>-<model>-<time>)")
    p.add_argument("--resume", metavar="DIR", help="continue the interrupted run in DIR "
                                                   "with its saved settings")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--sync-bn", action="store_true", default=None,
                   help="under mpiexec: BatchNorm statistics of the whole global batch "
                        "(SyncBatchNorm), which makes p ranks train as one process")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="test accuracy of a trained run")
    p.add_argument("run", help="run folder written by 'gridnn train'")
    p.add_argument("--data", help="dataset to evaluate on (default: the run's)")
    p.add_argument("--data-dir", help="folder to look for dataset files in")
    p.add_argument("--batch-size", type=argtypes.positive_int, default=256)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("predict", help="top-3 classes of images or .npy arrays")
    p.add_argument("run", help="run folder written by 'gridnn train', or an .onnx file")
    p.add_argument("files", nargs="+", metavar="FILE", help="PNG/JPEG image or .npy array")
    p.add_argument("--classes", metavar="FILE",
                   help="for an .onnx model: a text file of class names, one a line")
    p.add_argument("--top", type=argtypes.positive_int, default=3,
                   help="classes to show (default 3)")
    p.add_argument("--mean", type=argtypes.floats, metavar="M[,M...]",
                   help="for an .onnx model: per-channel mean subtracted from the [0, 1] pixels "
                        "(e.g. 0.485,0.456,0.406 for ImageNet; default: the file's metadata "
                        "'mean', else none)")
    p.add_argument("--std", type=argtypes.floats, metavar="S[,S...]",
                   help="for an .onnx model: per-channel std the pixels are divided by (e.g. "
                        "0.229,0.224,0.225; default: the file's metadata 'std', else none)")
    p.add_argument("--resize", action=argparse.BooleanOptionalAction, default=True,
                   help="scale images to the model's input size (default; --no-resize refuses "
                        "other sizes)")
    p.add_argument("--invert", action=argparse.BooleanOptionalAction,
                   help="invert images (default: when the background is the opposite of the "
                        "training images', with a note)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("summary", help="layer table of a model: output shapes and parameters")
    p.add_argument("model", nargs="?", help="model name (see 'gridnn summary --list'), a run "
                                            "folder or an .onnx file")
    p.add_argument("--input-shape", type=argtypes.shape, metavar="C,H,W",
                   help="input shape without the batch dim (default: the model's)")
    p.add_argument("--num-classes", type=argtypes.positive_int)
    p.add_argument("--list", action="store_true", help="list the model names")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("datasets", help="datasets available here, and how to get the others")
    p.add_argument("--data-dir", help="folder to look for dataset files in")
    p.set_defaults(func=cmd_datasets)


# ---- training --------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from . import data, train

    if args.resume:
        given = [f"--{k.replace('_', '-')}" for k in ("data", "model", "seed", "out", "val_split",
                                                      "train_size", "image_size", "sync_bn",
                                                      *recipes.TRAIN_KEYS)
                 if getattr(args, k) is not None]
        if given:
            raise ArgumentError(f"--resume continues a run with its saved settings; remove "
                                f"{', '.join(given)}")
        run_dir = Path(args.resume)
        config = runfolder.open_to_resume(run_dir)
        bundle = recipes.load_bundle(config, run_dir / CONFIG_FILE, data_dir=args.data_dir)
    else:
        train.check_hyperparameters(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr)
        seed = 0 if args.seed is None else args.seed
        data_name = args.data or recipes.DEFAULT_DATA
        size = None if args.image_size is None else \
            argtypes.sizes(args.image_size, "--image-size", exactly=2)
        bundle = data.load_dataset(data_name, data_dir=args.data_dir, seed=seed, image_size=size)
        config = recipes.new_config(bundle, data_name, data_dir=args.data_dir, model=args.model,
                                    seed=args.seed, val_split=args.val_split or 0.0,
                                    image_size=size, sync_bn=bool(args.sync_bn),
                                    train_size=args.train_size,
                                    **{k: getattr(args, k) for k in recipes.TRAIN_KEYS})
        run_dir = runfolder.create(Path(args.out) if args.out else None, config)
    bars = not args.no_progress and sys.stderr.isatty()
    try:
        runfolder.train_run(run_dir, config, bundle, resume=bool(args.resume), bars=bars)
    except train.TrainingInterruptedError as e:
        if runfolder.lead():
            print(f"gridnn: {e}", file=sys.stderr)
        return 128 + e.signum
    return 0


# ---- using a trained run ---------------------------------------------------------------------
def cmd_eval(args: argparse.Namespace) -> int:
    from . import train

    run_dir = Path(args.run)
    model, config = load_run(run_dir)
    name = args.data or config["data"]["name"]
    bundle = recipes.load_bundle(config, run_dir / CONFIG_FILE, name, args.data_dir)
    _, test_loader = recipes.make_loaders(bundle, config, batch_size=args.batch_size)
    result = train.evaluate(model, test_loader)
    print(f"{name} test: accuracy {100 * result['accuracy']:.2f}%  loss {result['loss']:.4f}  "
          f"({len(bundle.test)} samples)")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from . import functional as F
    from . import limits
    from .autograd import no_grad
    from .tensor import Tensor

    if args.classes is not None and not is_onnx(args.run):
        raise ArgumentError("--classes names the classes of an .onnx model; a run folder has "
                            "its own")
    if (args.mean is not None or args.std is not None) and not is_onnx(args.run):
        raise ArgumentError("--mean/--std normalise the inputs of an .onnx model; a run "
                            "folder has its own statistics")
    model, config = load_model(args.run, classes=args.classes)
    dcfg = config["data"]
    channels = dcfg["input_shape"][0]
    for flag in ("mean", "std"):
        value = getattr(args, flag)
        if value is not None:
            if len(value) not in (1, channels):
                raise ArgumentError(f"--{flag} gives {len(value)} values; the model takes "
                                    f"{channels} channel{'s' * (channels != 1)} (give 1 or "
                                    f"{channels})")
            if flag == "std" and min(value) <= 0:
                raise ArgumentError(f"--std must be positive, received {value}")
            dcfg[flag] = list(value) * (channels // len(value))
    if (dcfg.get("mean") is None) != (dcfg.get("std") is None):
        dcfg["mean"] = dcfg.get("mean") or [0.0] * channels
        dcfg["std"] = dcfg.get("std") or [1.0] * channels
    norm = recipes.normalizer(dcfg)
    names = dcfg.get("class_names") or [str(i) for i in range(dcfg["num_classes"])]
    batch = np.stack([load_input(f, dcfg, resize=args.resize, invert=args.invert)
                      for f in args.files])
    if norm is not None:
        batch = norm(batch)
    with no_grad(), limits.bounded(f"predicting with {args.run}", "give fewer files"):
        probs = F.softmax(model(Tensor(batch)), dim=1).data
    k = min(args.top, probs.shape[1])
    for f, p in zip(args.files, probs):
        top = np.argsort(-p, kind="stable")[:k]
        print(f"{f}: " + "  ".join(f"{names[i]} {p[i]:.3f}" for i in top))
    return 0


# ---- information -----------------------------------------------------------------------------
def cmd_summary(args: argparse.Namespace) -> int:
    from . import limits, models
    from .explain.summary import summary

    if args.list or args.model is None:
        print("models: " + ", ".join(sorted(models.MODELS)))
        return 0
    if Path(args.model).is_dir() or is_onnx(args.model):  # a trained model (or a broken one)
        if args.input_shape is not None or args.num_classes is not None:
            raise ArgumentError("a trained model has its own input shape and classes; remove "
                                "--input-shape and --num-classes")
        model, config = load_model(args.model)
        with limits.bounded(f"the summary of {args.model}"):
            print(summary(model, tuple(config["data"]["input_shape"])))
        return 0
    recipes.check_model_name(args.model)
    shape = args.input_shape
    kwargs = recipes.input_kwargs(shape) if shape is not None else {}
    if args.num_classes is not None:
        kwargs["num_classes"] = args.num_classes
    what = f"the summary of {args.model}" + (f" on input {'x'.join(map(str, shape))}"
                                             if shape else "")
    with limits.bounded(what, "use a smaller --input-shape"):  # weights and activations grow
        model = models.build(args.model, **kwargs)
        if shape is None:
            shape = tuple(models.default_input_shape(args.model, **kwargs))
        print(summary(model, shape))
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
    args = None
    try:
        keep_freed_memory()  # this process is ours: let malloc reuse freed activations
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except GridnnError as e:
        if debug:
            traceback.print_exc()
        # a bad argument found by the command itself: point to that command's help
        see = f" (see '{args.help_prog} --help')" if isinstance(e, ArgumentError) and args \
            else ""
        print(e if isinstance(e, UsageError) else f"gridnn: error: {e}{see}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `gridnn eval ... | head`: the reader left; nothing to report
        detach_stdout()  # Python flushes stdout again at exit: that flush must not fail
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
