"""The life of a run folder: made for a new run (or opened to resume one), trained with a
checkpoint and history.csv after every epoch, and finished with the weights, metrics.json and
curves.png.

    config = recipes.new_config(bundle, "digits")
    run_dir = default_out(config)
    create(run_dir, config)
    train_run(run_dir, config, bundle)       # resumable: train_run(..., resume=True)

What a run folder holds is described in ``checkpoint``; what a run is made of in ``recipes``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from . import train as training
from .checkpoint import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    CURVES_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    WEIGHTS_FILE,
    build_model,
    load_config,
    save_config,
    save_weights,
)
from .console import say
from .errors import ArgumentError, DataError
from .fileio import atomic_write, write_json
from .recipes import eval_loader, make_loaders, make_optimizer, validation_split


def default_out(config: dict[str, Any]) -> Path:
    """A new folder name runs/<data>-<model>-<date-time>[-n] that does not exist yet."""
    data = Path(config["data"]["name"]).name or "data"
    stem = f"{data}-{config['model']['name']}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, n = Path("runs") / stem, 1
    while out.exists():
        n += 1
        out = Path("runs") / f"{stem}-{n}"
    return out


def create(run_dir: Path, config: dict[str, Any]) -> None:
    """Make ``run_dir`` for a new run and write its config; refuses a folder holding a run."""
    if (run_dir / CONFIG_FILE).exists():
        raise ArgumentError(f"{run_dir} already holds a run; pass another --out, or "
                            f"'--resume {run_dir}' to continue it")
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(run_dir, config)


def open_to_resume(run_dir: Path) -> dict[str, Any]:
    """The config of the interrupted run in ``run_dir``, after checking it has a checkpoint."""
    config = load_config(run_dir)
    if not (run_dir / CHECKPOINT_DIR).is_dir():
        raise DataError(f"run folder {run_dir} has no {CHECKPOINT_DIR}/ to resume from")
    return config


class RunFiles(training.Callback):
    """Epoch-end callback: history.csv in the run folder follows training."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def on_epoch_end(self, state: training.TrainState) -> None:
        atomic_write(self.run_dir / HISTORY_FILE, state.history.to_csv())


def epoch_line(row: dict[str, Any], epochs: int) -> str:
    """One epoch's figures in under 80 columns, e.g. 'epoch 3/15  train loss 0.412 acc 87.9%
    test loss 0.301 acc 91.2%  0.3 s' (the evaluated split named as in the history row)."""
    parts = [f"epoch {row['epoch']}/{epochs}",
             f"train loss {row['train_loss']:.3f} acc {100 * row['train_accuracy']:.1f}%"]
    for split in ("val", "test"):
        if f"{split}_loss" in row:
            parts.append(f"{split} loss {row[f'{split}_loss']:.3f} "
                         f"acc {100 * row[f'{split}_accuracy']:.1f}%")
    return "  ".join([*parts, f"{row['seconds']:.1f} s"])


class EpochPrinter(training.Callback):
    """Epoch-end callback: one line per epoch on stdout (``epoch_line``), which stays in a
    terminal when the epoch's progress bar vanishes."""

    def on_epoch_end(self, state: training.TrainState) -> None:
        say(epoch_line(state.history.rows[-1], state.epochs))


def train_run(run_dir: Path, config: dict[str, Any], bundle: Any, *, resume: bool = False,
          bars: bool = False) -> None:
    """Train the run in ``run_dir`` (made by ``create``, or with ``resume`` continued from its
    checkpoint) on ``bundle`` to its last epoch, then ``finish`` it. Prints a line when it
    starts and one per epoch on stdout (a closed stdout silences them; training goes on);
    ``bars``: a progress bar per epoch on stderr as well.

    After every epoch the validation share (``train.val_split``) is evaluated, or without one
    the test split, and the history names it so; with a validation share the test split is
    evaluated once, at the end.

    SIGINT/SIGTERM save a checkpoint and raise ``train.TrainingInterruptedError`` (its message
    gives the resume command); a non-finite loss raises ``train.TrainingError`` saying which
    checkpoint is kept.
    """
    tcfg = config["train"]
    training.check_hyperparameters(epochs=tcfg["epochs"], batch_size=tcfg["batch_size"],
                                   lr=tcfg["lr"])
    model = build_model(config, run_dir / CONFIG_FILE)
    train_loader, test_loader = make_loaders(bundle, config)
    _, val_set = validation_split(bundle, config)
    val_loader = test_loader if val_set is None else eval_loader(val_set, config)
    optimizer, scheduler, interval = make_optimizer(config, model, len(train_loader))
    ckpt = training.Checkpointer(run_dir / CHECKPOINT_DIR)
    start: dict[str, Any] = {}
    if resume:
        start = training.resume_state(ckpt.folder, model=model, optimizer=optimizer,
                                      scheduler=scheduler)
        ckpt.epoch, ckpt.step = start["start_epoch"], start["start_step"]
    n_params = sum(p.data.size for p in model.parameters())
    sizes = f"{len(train_loader.dataset)} train / " + \
        (f"{len(val_set)} val / " if val_set is not None else "") + f"{len(bundle.test)} test"
    say(f"{'resuming' if resume else 'training'} {config['model']['name']} "
        f"({n_params:,} parameters) on {config['data']['name']} ({sizes}) for "
        f"{tcfg['epochs']} epochs; run folder: {run_dir}")
    old = start.get("history")  # runs made before the split was named in the history
    eval_name = "val" if val_set is not None or old and "val_loss" in old.columns else "test"
    if start.get("start_epoch", 0) >= tcfg["epochs"]:
        if (run_dir / WEIGHTS_FILE).is_file():
            say(f"{run_dir} has already finished its {tcfg['epochs']} epochs")
        else:  # stopped between the last checkpoint and the final files
            finish(run_dir, model, start["history"], test_loader if val_set else None)
        return
    callbacks: list[Any] = [ckpt, RunFiles(run_dir), EpochPrinter()]
    hint = f"; continue with: gridnn train --resume {run_dir}"
    try:
        # overflow warnings would break the one-line contract; fit reports a non-finite loss
        with training.StopOnSignal(ckpt, resume_hint=hint) as stopper, \
                np.errstate(all="ignore"):
            history = training.fit(model, train_loader, val_loader, epochs=tcfg["epochs"],
                                   optimizer=optimizer, scheduler=scheduler,
                                   scheduler_interval=interval, eval_name=eval_name,
                                   callbacks=[*callbacks, stopper], progress=bars, **start)
    except training.TrainingError as e:
        kept = f"the last good checkpoint ({ckpt.describe()}) is kept in {ckpt.folder}" \
            if ckpt.epoch is not None else "no checkpoint was written"
        raise training.TrainingError(f"{e}; {kept}") from None
    finish(run_dir, model, history, test_loader if val_set else None)


def finish(run_dir: Path, model: Any, history: training.History,
           test_loader: Any = None) -> None:
    """Final weights, metrics.json, history.csv, curves.png; print the test accuracy: that of
    ``test_loader`` when given (a run with a validation share), else the last epoch's."""
    from .plots import plot_curves

    last = history.rows[-1]
    seconds = sum(history["seconds"])
    split = "test" if "test_loss" in last else "val"
    test = training.evaluate(model, test_loader) if test_loader is not None else \
        {"accuracy": last[f"{split}_accuracy"], "loss": last[f"{split}_loss"]}
    metrics = {"test_accuracy": test["accuracy"], "test_loss": test["loss"],
               "epochs": len(history), "train_seconds": seconds,
               "images_per_second": float(np.mean(history["images_per_second"]))}
    if test_loader is not None:
        metrics.update(val_accuracy=last["val_accuracy"], val_loss=last["val_loss"])
    save_weights(model, run_dir / WEIGHTS_FILE)
    atomic_write(run_dir / HISTORY_FILE, history.to_csv())
    write_json(run_dir / METRICS_FILE, metrics)
    note = ""
    try:
        plot_curves(history, run_dir / CURVES_FILE)
    except ImportError:
        note = f" ({CURVES_FILE} skipped: pip install 'gridnn[plot]' for matplotlib)"
    say(f"test accuracy {100 * test['accuracy']:.2f}% (test loss {test['loss']:.4f}) after "
        f"{len(history)} epochs in {seconds:.1f} s; wrote {run_dir}{note}")
