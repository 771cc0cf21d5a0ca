"""The training loop: ``fit`` and ``evaluate``, per-epoch history, callbacks, checkpoints.

    history = fit(model, train_loader, test_loader, epochs=10, optimizer=Adam(model.parameters()))
    history["val_accuracy"]          # one value per epoch

A run is deterministic: each epoch's batch order and augmentation come from the loader's seed and
the epoch number (``set_epoch``), and random layers own their generators, so the same seed on the
same machine gives the same weights bit for bit, and a run resumed from a checkpoint (even one
written in the middle of an epoch) continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import csv
import io
import math
import signal
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import functional as F
from .autograd import no_grad
from .checkpoint import load_checkpoint, save_checkpoint
from .errors import ArgumentError, DataError, GridnnError
from .tensor import Tensor

LossFn = Callable[[Tensor, Any], Tensor]
TIMING_COLUMNS = ("seconds", "images_per_second")


class TrainingError(GridnnError, RuntimeError):
    """Training cannot go on (the loss became NaN or infinite)."""


class TrainingInterruptedError(GridnnError):
    """A stop was requested (SIGINT/SIGTERM); the checkpoint written before raising is current."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum


class History:
    """Per-epoch metrics: ``rows`` is a list of dicts (epoch, train_loss, train_accuracy,
    val_loss, val_accuracy, lr, seconds, images_per_second; ``fit``'s ``eval_name`` may call
    the evaluated split ``test`` instead of ``val``); ``history[name]`` is one column."""

    def __init__(self, rows: Iterable[dict[str, Any]] = ()) -> None:
        self.rows: list[dict[str, Any]] = [dict(r) for r in rows]

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(dict(row))

    def __getitem__(self, name: str) -> list[Any]:
        if not self.rows or name not in self.rows[0]:
            raise KeyError(name)
        return [r.get(name) for r in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, columns={self.columns})"

    @property
    def columns(self) -> list[str]:
        return list(self.rows[0]) if self.rows else []

    def to_csv(self) -> str:
        """The rows as CSV text, one line per epoch."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()


@dataclass
class Running:
    """Sums over the batches of the current epoch so far (saved in mid-epoch checkpoints)."""

    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    seconds: float = 0.0
    lr: float = 0.0  # the learning rate of the latest step


@dataclass
class BatchStats:
    """The current step's loss sum, image count and correct predictions (None: not labels).

    ``on_after_backward`` callbacks may replace them (with sums over processes, for instance);
    ``fit`` adds what they hold after the callbacks to the epoch's running sums."""

    loss_sum: float
    size: int
    correct: int | None


@dataclass
class TrainState:
    """What callbacks see: the objects being trained and where training stands.

    ``epoch`` is the 0-based epoch in progress and ``step`` the number of its batches done; at
    ``on_epoch_end`` the epoch is complete, so ``epoch`` is already the next one and ``step``
    is 0. A checkpoint of this state resumes exactly.
    """

    model: Any
    optimizer: Any
    scheduler: Any
    epochs: int
    epoch: int = 0
    step: int = 0
    history: History = field(default_factory=History)
    running: Running = field(default_factory=Running)
    batch: BatchStats | None = None  # the step in progress (see ``on_after_backward``)

    def progress(self) -> dict[str, Any]:
        """The JSON-able part, as stored in a checkpoint."""
        return {"epoch": self.epoch, "step": self.step, "epochs": self.epochs,
                "history": self.history.rows, "running": asdict(self.running)}


class Callback:
    """Hooks called by ``fit``; override the ones you need. Raising stops training."""

    def on_after_backward(self, state: TrainState) -> None:
        """After the backward pass, before the optimiser step (gradient averaging goes here);
        ``state.batch`` holds the step's statistics."""

    def on_step_end(self, state: TrainState) -> None:
        """After each optimiser step (``state.step`` batches of ``state.epoch`` are done)."""

    def on_epoch_end(self, state: TrainState) -> None:
        """After each epoch's validation and history row."""


class Checkpointer(Callback):
    """Writes a resumable checkpoint into ``folder`` after every epoch (and on ``save()``)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        # where the checkpoint on disk stands: completed epochs, steps into the next (or None)
        self.epoch: int | None = None
        self.step = 0

    def save(self, state: TrainState) -> None:
        save_checkpoint(self.folder, model=state.model, optimizer=state.optimizer,
                        scheduler=state.scheduler, progress=state.progress())
        self.epoch, self.step = state.epoch, state.step

    def describe(self) -> str:
        """Where the saved checkpoint stands, e.g. 'epoch 3' or 'epoch 2 + 14 steps'."""
        if self.epoch is None:
            return "none written"
        return f"epoch {self.epoch}" + (f" + {self.step} steps" if self.step else "")

    def on_epoch_end(self, state: TrainState) -> None:
        self.save(state)


class StopOnSignal(Callback):
    """Turns SIGINT/SIGTERM into a clean stop: the current step finishes, ``checkpointer``
    saves, and ``TrainingInterruptedError`` is raised. A second signal stops at once.

    Use as a context manager around ``fit`` so the previous handlers come back afterwards.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, checkpointer: Checkpointer, resume_hint: str = "") -> None:
        self.checkpointer = checkpointer
        self.resume_hint = resume_hint
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:  # asked twice: the user wants out now
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        self.signum = signum

    def __enter__(self) -> StopOnSignal:
        for s in self.SIGNALS:
            self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def _stop(self, state: TrainState) -> None:
        if self.signum is None:
            return
        if (self.checkpointer.epoch, self.checkpointer.step) != (state.epoch, state.step):
            self.checkpointer.save(state)
        where = f"epoch {state.epoch + 1}, step {state.step}" if state.step else \
            f"the end of epoch {state.epoch}"
        name = signal.Signals(self.signum).name
        raise TrainingInterruptedError(
            self.signum, f"{name}: training stopped at {where}; checkpoint saved in "
                         f"{self.checkpointer.folder}{self.resume_hint}")

    on_step_end = _stop

    def on_epoch_end(self, state: TrainState) -> None:
        self._stop(state)


def check_hyperparameters(*, epochs: int | None = None, batch_size: int | None = None,
                          lr: float | None = None) -> None:
    """ArgumentError unless each given value is positive (and finite, for ``lr``)."""
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if value is not None and (not isinstance(value, (int, np.integer)) or
                                  isinstance(value, bool) or value <= 0):
            raise ArgumentError(f"`{name}` must be a positive int, received {name}={value!r}")
    if lr is not None and not (isinstance(lr, (int, float)) and 0 < lr < math.inf):
        raise ArgumentError(f"`lr` must be a positive finite number, received lr={lr!r}")


def _accuracy_count(logits: Tensor, target: Any) -> int | None:
    """Correct top-1 predictions, or None when the target is not a vector of class labels."""
    y = np.asarray(target)
    if logits.ndim != 2 or y.ndim != 1 or y.dtype.kind not in "iu":
        return None
    return int((logits.data.argmax(axis=1) == y).sum())


def _set_epoch(loader: Any, epoch: int) -> None:
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)


def _lr(optimizer: Any) -> float:
    return float(optimizer.param_groups[0]["lr"])


def evaluate(model: Any, loader: Iterable[tuple[Any, Any]],
             loss: LossFn = F.cross_entropy) -> dict[str, float]:
    """Mean loss and top-1 accuracy of ``model`` over ``loader`` (eval mode, no gradients).

    ``loader`` yields (inputs (N, ...), targets (N,)); ``loss`` must average over the batch.
    A loader that holds one shard of the data has ``reduce_sums(array) -> array``, which sums
    the [loss, correct, seen, unlabelled] totals over the shards.
    Returns {'loss': float, 'accuracy': float in [0, 1] (NaN if targets are not labels)}.
    The model's train/eval mode is restored afterwards.
    """
    was_training = getattr(model, "training", False)
    model.eval()
    total, correct, seen, labelled = 0.0, 0, 0, True
    try:
        with no_grad():
            for xb, yb in loader:
                out = model(Tensor(xb))
                n = len(xb)
                total += float(loss(out, yb).item()) * n
                hits = _accuracy_count(out, yb)
                labelled = labelled and hits is not None
                correct += hits or 0
                seen += n
    finally:
        model.train(was_training)
    if hasattr(loader, "reduce_sums"):
        sums = loader.reduce_sums(np.array([total, correct, seen, not labelled], np.float64))
        total, correct, seen, labelled = float(sums[0]), int(sums[1]), int(sums[2]), not sums[3]
    if seen == 0:
        raise ArgumentError("evaluate: `loader` yielded no batches")
    return {"loss": total / seen, "accuracy": correct / seen if labelled else math.nan}


def _progress_bar(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    # the bar vanishes when its epoch ends: the epoch's summary line takes its place
    return tqdm(total=total, desc=desc, unit="batch", file=sys.stderr, disable=not enabled,
                leave=False, dynamic_ncols=True)


def fit(model: Any, train_loader: Any, val_loader: Any = None, *, epochs: int, optimizer: Any,
        loss: LossFn = F.cross_entropy, scheduler: Any = None, scheduler_interval: str = "epoch",
        callbacks: Sequence[Callback] = (), start_epoch: int = 0, start_step: int = 0,
        history: History | None = None, running: Running | None = None,
        progress: bool = True, eval_name: str = "val") -> History:
    """Train ``model`` for ``epochs`` epochs (counting from 0; starts at ``start_epoch``).

    ``train_loader`` yields (inputs (N, ...) float array, targets (N,) int64 labels, or any
    target ``loss`` accepts); ``val_loader`` (optional) is evaluated after every epoch, its
    figures named ``{eval_name}_loss`` and ``{eval_name}_accuracy`` ('test' says that the
    loader holds the test split).
    ``scheduler.step()`` runs after every epoch (``scheduler_interval='epoch'``) or every
    batch ('step'). ``callbacks`` see a ``TrainState`` after each step and epoch.

    Resuming: pass ``start_epoch``/``start_step`` (batches of that epoch already done, which
    are drawn again from the loader and skipped, so augmentation stays in step), the
    ``history`` so far and the epoch's ``running`` sums, as stored by ``Checkpointer``.

    Returns the History: per epoch train_loss, train_accuracy, [val_loss, val_accuracy], lr,
    seconds, images_per_second. Raises TrainingError naming the epoch and step if the loss
    becomes NaN or infinite (before that step's update, so the weights stay finite).
    """
    check_hyperparameters(epochs=epochs)
    if scheduler_interval not in ("epoch", "step"):
        raise ArgumentError(f"fit: `scheduler_interval` must be 'epoch' or 'step', received "
                            f"{scheduler_interval!r}")
    if eval_name not in ("val", "test"):
        raise ArgumentError(f"fit: `eval_name` must be 'val' or 'test', received {eval_name!r}")
    if not 0 <= start_epoch <= epochs or start_step < 0:
        raise ArgumentError(f"fit: cannot start at epoch {start_epoch}, step {start_step} of a "
                            f"{epochs}-epoch run")
    state = TrainState(model, optimizer, scheduler, epochs, start_epoch, start_step,
                       history if history is not None else History(), running or Running())
    steps = len(train_loader) if hasattr(train_loader, "__len__") else None
    for epoch in range(start_epoch, epochs):
        state.epoch = epoch
        skip, state.step = state.step, 0
        if not skip:
            state.running = Running()
        run = state.running
        model.train()
        _set_epoch(train_loader, epoch)
        bar = _progress_bar(steps or 0, f"epoch {epoch + 1}/{epochs}", progress)
        bar.update(skip)
        start = time.perf_counter() - run.seconds
        for xb, yb in train_loader:
            if state.step < skip:  # drawn (for the loader's RNG) but done before the resume
                state.step += 1
                continue
            out = model(Tensor(xb))
            batch_loss = loss(out, yb)
            value = float(batch_loss.item())
            if not math.isfinite(value):
                bar.close()
                raise TrainingError(
                    f"the training loss became {value} at epoch {epoch + 1}, step "
                    f"{state.step + 1}: training stopped before this step's update (try a "
                    f"smaller learning rate)")
            n = len(xb)
            state.batch = BatchStats(value * n, n, _accuracy_count(out, yb))
            optimizer.zero_grad()
            batch_loss.backward()
            for cb in callbacks:  # callbacks may be duck-typed with only the two older hooks
                if hasattr(cb, "on_after_backward"):
                    cb.on_after_backward(state)
            run.lr = _lr(optimizer)
            optimizer.step()
            if scheduler is not None and scheduler_interval == "step":
                scheduler.step()
            hits = state.batch.correct
            run.loss_sum += state.batch.loss_sum
            run.correct += hits or 0
            run.seen += state.batch.size
            run.seconds = time.perf_counter() - start
            state.step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{run.loss_sum / run.seen:.4f}",
                            acc=f"{run.correct / run.seen:.4f}" if hits is not None else "-",
                            img_s=f"{run.seen / max(run.seconds, 1e-9):.0f}", refresh=False)
            for cb in callbacks:
                cb.on_step_end(state)
        if run.seen == 0:
            bar.close()
            raise ArgumentError("fit: `train_loader` yielded no batches")
        row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": run.loss_sum / run.seen,
                               "train_accuracy": run.correct / run.seen}
        if val_loader is not None:
            val = evaluate(model, val_loader, loss)
            row.update({f"{eval_name}_loss": val["loss"],
                        f"{eval_name}_accuracy": val["accuracy"]})
        bar.close()
        seconds = time.perf_counter() - start
        # seconds: the whole epoch with validation; images/s: the training steps alone
        row.update(lr=run.lr, seconds=seconds,
                   images_per_second=run.seen / max(run.seconds, 1e-9))
        if scheduler is not None and scheduler_interval == "epoch":
            scheduler.step()
        state.history.append(row)
        state.epoch, state.step, state.running = epoch + 1, 0, Running()
        for cb in callbacks:
            cb.on_epoch_end(state)
    return state.history


def resume_state(folder: str | Path, *, model: Any, optimizer: Any,
                 scheduler: Any = None) -> dict[str, Any]:
    """Load a ``Checkpointer`` folder into the objects and return ``fit`` keyword arguments
    (start_epoch, start_step, history, running) that continue the run exactly."""
    progress = load_checkpoint(folder, model=model, optimizer=optimizer, scheduler=scheduler)
    running = progress["running"]
    fields = set(Running.__dataclass_fields__)
    if set(running) != fields:
        raise DataError(f"{Path(folder) / 'state.json'}: progress.running should have the "
                        f"fields {sorted(fields)}, found {sorted(running)}")
    return {"start_epoch": progress["epoch"], "start_step": progress["step"],
            "history": History(progress["history"]),
            "running": Running(loss_sum=float(running["loss_sum"]),
                               correct=int(running["correct"]), seen=int(running["seen"]),
                               seconds=float(running["seconds"]), lr=float(running["lr"]))}
