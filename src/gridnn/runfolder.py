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
from .errors import ArgumentError, DataError
from .fileio import atomic_write, write_json
from .recipes import make_loaders, make_optimizer


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


class EpochPrinter(training.Callback):
    """Epoch-end callback: one line per epoch on stdout (used when progress bars are off)."""

    def on_epoch_end(self, state: training.TrainState) -> None:
        r = state.history.rows[-1]
        val = f"  val_loss {r['val_loss']:.4f}  val_acc {r['val_accuracy']:.4f}" \
            if "val_loss" in r else ""
        print(f"epoch {r['epoch']}/{state.epochs}  loss {r['train_loss']:.4f}  "
              f"acc {r['train_accuracy']:.4f}{val}  lr {r['lr']:.2e}  {r['seconds']:.1f} s",
              flush=True)


def train_run(run_dir: Path, config: dict[str, Any], bundle: Any, *, resume: bool = False,
          bars: bool = False) -> None:
    """Train the run in ``run_dir`` (made by ``create``, or with ``resume`` continued from its
    checkpoint) on ``bundle`` to its last epoch, then ``finish`` it. Prints a line when it
    starts; ``bars``: progress bars on stderr, else one line per epoch on stdout.

    SIGINT/SIGTERM save a checkpoint and raise ``train.TrainingInterruptedError`` (its message
    gives the resume command); a non-finite loss raises ``train.TrainingError`` saying which
    checkpoint is kept.
    """
    tcfg = config["train"]
    training.check_hyperparameters(epochs=tcfg["epochs"], batch_size=tcfg["batch_size"],
                                   lr=tcfg["lr"])
    model = build_model(config, run_dir / CONFIG_FILE)
    train_loader, test_loader = make_loaders(bundle, config)
    optimizer, scheduler, interval = make_optimizer(config, model, len(train_loader))
    ckpt = training.Checkpointer(run_dir / CHECKPOINT_DIR)
    start: dict[str, Any] = {}
    if resume:
        start = training.resume_state(ckpt.folder, model=model, optimizer=optimizer,
                                      scheduler=scheduler)
        ckpt.epoch, ckpt.step = start["start_epoch"], start["start_step"]
    n_params = sum(p.data.size for p in model.parameters())
    print(f"{'resuming' if resume else 'training'} {config['model']['name']} "
          f"({n_params:,} parameters) on {config['data']['name']} "
          f"({len(bundle.train)} train / {len(bundle.test)} test) for {tcfg['epochs']} epochs; "
          f"run folder: {run_dir}", flush=True)
    if start.get("start_epoch", 0) >= tcfg["epochs"]:
        if (run_dir / WEIGHTS_FILE).is_file():
            print(f"{run_dir} has already finished its {tcfg['epochs']} epochs")
        else:  # stopped between the last checkpoint and the final files
            finish(run_dir, model, start["history"])
        return
    callbacks: list[Any] = [ckpt, RunFiles(run_dir)] + ([] if bars else [EpochPrinter()])
    hint = f"; continue with: gridnn train --resume {run_dir}"
    try:
        # overflow warnings would break the one-line contract; fit reports a non-finite loss
        with training.StopOnSignal(ckpt, resume_hint=hint) as stopper, \
                np.errstate(all="ignore"):
            history = training.fit(model, train_loader, test_loader, epochs=tcfg["epochs"],
                                   optimizer=optimizer, scheduler=scheduler,
                                   scheduler_interval=interval,
                                   callbacks=[*callbacks, stopper], progress=bars, **start)
    except training.TrainingError as e:
        kept = f"the last good checkpoint ({ckpt.describe()}) is kept in {ckpt.folder}" \
            if ckpt.epoch is not None else "no checkpoint was written"
        raise training.TrainingError(f"{e}; {kept}") from None
    finish(run_dir, model, history)


def finish(run_dir: Path, model: Any, history: training.History) -> None:
    """Final weights, metrics.json, history.csv, curves.png; print the test accuracy."""
    from .plots import plot_curves

    last = history.rows[-1]
    seconds = sum(history["seconds"])
    metrics = {"test_accuracy": last["val_accuracy"], "test_loss": last["val_loss"],
               "epochs": len(history), "train_seconds": seconds,
               "images_per_second": float(np.mean(history["images_per_second"]))}
    save_weights(model, run_dir / WEIGHTS_FILE)
    atomic_write(run_dir / HISTORY_FILE, history.to_csv())
    write_json(run_dir / METRICS_FILE, metrics)
    note = ""
    try:
        plot_curves(history, run_dir / CURVES_FILE)
    except ImportError:
        note = f" ({CURVES_FILE} skipped: pip install 'gridnn[plot]' for matplotlib)"
    print(f"test accuracy {100 * last['val_accuracy']:.2f}% (test loss {last['val_loss']:.4f}) "
          f"after {len(history)} epochs in {seconds:.1f} s; "
          f"wrote {run_dir}{note}", flush=True)
