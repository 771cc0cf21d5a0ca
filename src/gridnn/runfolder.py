"""The life of a run folder: made for a new run (or opened to resume one), trained with a
checkpoint and history.csv after every epoch, and finished with the weights, metrics.json and
curves.png.

    config = recipes.new_config(bundle, "digits")
    run_dir = create(None, config)           # runs/digits-digits_cnn-<date-time>
    train_run(run_dir, config, bundle)       # resumable: train_run(..., resume=True)

What a run folder holds is described in ``checkpoint``; what a run is made of in ``recipes``.
Under ``mpiexec`` every rank runs these functions and trains its shard of each global batch
(``gridnn.distributed``); rank 0 alone prints and writes the folder. With one process they
are plain ``train.fit``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from . import distributed
from . import train as training
from .checkpoint import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    CURVES_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    STATE_FILE,
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

FINAL_FILES = (WEIGHTS_FILE, METRICS_FILE, CURVES_FILE)  # what ``finish`` writes


def default_out(config: dict[str, Any]) -> Path:
    """A new folder name runs/<data>-<model>-<date-time>[-n] that does not exist yet."""
    data = Path(config["data"]["name"]).name or "data"
    stem = f"{data}-{config['model']['name']}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, n = Path("runs") / stem, 1
    while out.exists():
        n += 1
        out = Path("runs") / f"{stem}-{n}"
    return out


def lead() -> bool:
    """True on the process that prints and writes: the only one, or MPI rank 0."""
    return distributed.rank() == 0


def create(run_dir: Path | None, config: dict[str, Any]) -> Path:
    """Make ``run_dir`` (None: ``default_out``, as rank 0 names it) for a new run and write its
    config; refuses a folder holding a run. The config is created exclusively, so of two
    trainings started at once with the same folder one is refused. Returns the folder."""
    comm = distributed.world()
    run_dir = Path(comm.allgather(str(run_dir or default_out(config)), "run folder")[0])
    taken = ArgumentError(f"{run_dir} already holds a run; pass another --out, or "
                          f"'--resume {run_dir}' to continue it")
    # every rank looks before rank 0 writes (the gather is the barrier between the two)
    if any(comm.allgather((run_dir / CONFIG_FILE).exists(), "run folder")):
        raise taken
    lost = False
    if comm.rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        try:
            save_config(run_dir, config, exclusive=True)
        except FileExistsError:  # another training created it since we looked
            lost = True
    if any(comm.allgather(lost, "run folder")):
        raise taken
    return run_dir


def open_to_resume(run_dir: Path) -> dict[str, Any]:
    """The config of the interrupted run in ``run_dir``. One without a checkpoint (stopped
    in its first epoch, or by a full disk before its first checkpoint) resumes from the
    start, unless it has final weights: a finished run is never trained over."""
    config = load_config(run_dir)
    if not has_checkpoint(run_dir) and (run_dir / WEIGHTS_FILE).exists():
        raise DataError(f"run folder {run_dir} has no {CHECKPOINT_DIR}/ to resume from")
    return config


def has_checkpoint(run_dir: Path) -> bool:
    """True when ``run_dir`` holds a checkpoint to resume from (its state.json, written last)."""
    return (run_dir / CHECKPOINT_DIR / STATE_FILE).is_file()


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
    comm = distributed.world()
    out = say if comm.rank == 0 else _quiet
    model = build_model(config, run_dir / CONFIG_FILE)
    train_loader, test_loader = make_loaders(bundle, config)
    _, val_set = validation_split(bundle, config)
    val_loader = test_loader if val_set is None else eval_loader(val_set, config)
    optimizer, scheduler, interval = make_optimizer(config, model, len(train_loader))
    ckpt = distributed.RankZeroCheckpointer(run_dir / CHECKPOINT_DIR, comm)
    start: dict[str, Any] = {}
    if resume and not has_checkpoint(run_dir):
        out(f"{run_dir} has no checkpoint (it stopped before its first one): starting it again "
            f"from epoch 1")
    elif resume:
        start = training.resume_state(ckpt.folder, model=model, optimizer=optimizer,
                                      scheduler=scheduler)
        ckpt.epoch, ckpt.step = start["start_epoch"], start["start_step"]
    n_params = sum(p.data.size for p in model.parameters())
    sizes = f"{len(train_loader.dataset)} train / " + \
        (f"{len(val_set)} val / " if val_set is not None else "") + f"{len(bundle.test)} test"
    if comm.size > 1:
        out(f"{comm.size} ranks: " + ", ".join(comm.describe(r) for r in range(comm.size)))
    out(f"{'resuming' if resume else 'training'} {config['model']['name']} "
        f"({n_params:,} parameters) on {config['data']['name']} ({sizes}) for "
        f"{tcfg['epochs']} epochs; run folder: {run_dir}")
    old = start.get("history")  # runs made before the split was named in the history
    eval_name = "val" if val_set is not None or old and "val_loss" in old.columns else "test"
    if start.get("start_epoch", 0) >= tcfg["epochs"]:
        if all((run_dir / f).is_file() for f in FINAL_FILES):
            out(f"{run_dir} has already finished its {tcfg['epochs']} epochs")
        elif comm.rank == 0:  # stopped between the last checkpoint and the last final file
            finish(run_dir, model, start["history"], test_loader if val_set else None)
        return
    launcher = f"mpiexec -n {comm.size} " if comm.size > 1 else ""
    hint = f"; continue with: {launcher}gridnn train --resume {run_dir}"
    try:
        # overflow warnings would break the one-line contract; fit reports a non-finite loss
        with np.errstate(all="ignore"):
            history = distributed.fit_distributed(
                model, train_loader, val_loader, epochs=tcfg["epochs"], optimizer=optimizer,
                scheduler=scheduler, scheduler_interval=interval, eval_name=eval_name,
                checkpointer=ckpt, resume_hint=hint, sync_bn=tcfg.get("sync_bn", False),
                settings=config, rank0_callbacks=[RunFiles(run_dir), EpochPrinter()],
                progress=bars, comm=comm, **start)
        if comm.rank == 0:
            finish(run_dir, model, history, test_loader if val_set else None)
    except training.TrainingError as e:
        raise training.TrainingError(f"{e}; {_kept(ckpt)}") from None
    except OSError as e:  # the disk is full, or the folder became read-only
        where = f" {e.filename}" if e.filename else ""
        again = "" if ckpt.epoch is not None else " (it starts again from epoch 1)"
        raise training.TrainingError(
            f"cannot write{where}: {e.strerror or e}; {_kept(ckpt)}; once the disk has room, "
            f"continue with: {launcher}gridnn train --resume {run_dir}{again}") from None


def _kept(ckpt: Any) -> str:
    """Which checkpoint a failed run keeps, in words."""
    return f"the last good checkpoint ({ckpt.describe()}) is kept in {ckpt.folder}" \
        if ckpt.epoch is not None else "no checkpoint was written"


def _quiet(text: str) -> None:
    """What the other ranks print: nothing (rank 0 speaks for all)."""


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
