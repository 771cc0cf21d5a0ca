"""One training run of the learn page: ``train.fit`` in a worker thread, driven step by step.

The run is made exactly as ``gridnn train`` makes it (``recipes.make_loaders``,
``make_optimizer``, ``checkpoint.build_model``) and trained by ``train.fit`` itself; the page's
controls act through a ``train.Callback`` that, after a step (or, for an epoch's last step, after
the epoch's evaluation), waits while the run is paused. Nothing the callback does changes the
numbers, so a page run follows ``gridnn train`` with the same settings bit for bit.

While the worker waits it holds no lock on the model, and requests that read the model (the
backprop panel, a new sample's maps, Save run) take ``busy``, which the worker holds while it
steps. Every figure the page shows is in ``snapshot``, rebuilt a few times a second.
"""

from __future__ import annotations

import math
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import train as training
from ..checkpoint import CONFIG_FILE, build_model, rng_states, save_checkpoint, save_config
from ..fileio import atomic_write
from ..recipes import eval_loader, make_loaders, make_optimizer, validation_split
from ..runfolder import default_out, finish
from . import learn_views as views
from .http import ApiError

PUBLISH_SECONDS = 0.2  # the page's figures are rebuilt at most this often while playing
MAX_POINTS = 2000  # live curve points kept (older ones thinned by half)


class StopRequestedError(Exception):
    """Raised inside ``fit`` by the control callback to end the run (reset, shutdown)."""


class _Remember:
    """The train loader, keeping the last batch it gave (the backprop panel recomputes it)."""

    def __init__(self, loader: Any) -> None:
        self.loader, self.dataset, self.last = loader, loader.dataset, None

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def __iter__(self) -> Any:
        for batch in self.loader:
            self.last = batch
            yield batch


class LearnJob(training.Callback):
    """A page run: ``play``/``pause``/``step``/``epoch`` drive it, ``stop`` ends it."""

    def __init__(self, config: dict[str, Any], bundle: Any, job_id: int,
                 model: Any = None) -> None:
        """A paused run of ``config`` on ``bundle``; ``model``: the config's model, already
        built (else it is built here)."""
        self.id, self.config, self.bundle = job_id, config, bundle
        self.name = f"#{job_id} {config['model']['name']} on {config['data']['name']}"
        self.model = model if model is not None else build_model(config, Path(CONFIG_FILE))
        loader, test_loader = make_loaders(bundle, config)
        _, val_set = validation_split(bundle, config)
        self.test_loader = test_loader
        self.val_loader = test_loader if val_set is None else eval_loader(val_set, config)
        self.eval_name = "test" if val_set is None else "val"
        self.has_val = val_set is not None
        self.loader = _Remember(loader)
        self.optimizer, self.scheduler, self.interval = make_optimizer(
            config, self.model, len(loader))
        self.epochs = config["train"]["epochs"]
        self.steps_per_epoch = len(loader)
        self.state = training.TrainState(self.model, self.optimizer, self.scheduler, self.epochs)
        self.cond = threading.Condition()
        self.busy = threading.Lock()  # held by the worker while it steps
        self.budget = 0.0  # steps to run before pausing (inf: play)
        self.to_epoch_end = False
        self.stopping = False
        self.started = False
        self.status = "ready"  # ready, playing, paused, finished, failed, stopped
        self.error: str | None = None
        self.steps = 0
        self.sample = 0
        self.points: list[dict[str, float]] = []
        self.rates: list[tuple[float, int]] = []
        self.last_step: dict[str, Any] | None = None  # what the backprop panel recomputes
        self._before: list[np.ndarray] = views.weight_copy(self.model)
        self._rng = rng_states(self.model)
        self._published = 0.0
        self.version = 0
        self.snapshot: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run, name=f"gridnn-learn-{job_id}",
                                       daemon=True)
        with self.busy:
            self._publish()

    # ---- controls (request threads) -----------------------------------------------------
    def control(self, action: str) -> None:
        """play, pause, step (one batch) or epoch (to the end of the current epoch)."""
        with self.cond:
            if self.status in ("finished", "failed", "stopped"):
                raise ApiError(409, "action", f"run {self.name} has {self.status}; reset to "
                                              f"start another")
            if action == "pause":
                self.budget, self.to_epoch_end = 0, False
            elif action == "play":
                self.budget, self.to_epoch_end = math.inf, False
            elif action == "step":  # clicked again before the last one ran: one more
                pending = self.budget if self.budget != math.inf else 0
                self.budget, self.to_epoch_end = max(pending, 0) + 1, False
            else:
                self.budget, self.to_epoch_end = math.inf, True
            if self.budget and self.status != "playing":
                self.status = "playing"
                self.rates.clear()
                self._bump()
            self.cond.notify_all()
            if self.budget and not self.started:
                self.started = True
                self.thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """End the run at the next step boundary and wait for the worker."""
        with self.cond:
            self.stopping = True
            self.cond.notify_all()
        if self.thread.is_alive() and self.thread is not threading.current_thread():
            self.thread.join(timeout)
        if self.status not in ("finished", "failed"):
            self.status = "stopped"
        self._bump()

    def choose_sample(self, index: int) -> None:
        """Show the feature maps and prediction of test sample ``index``."""
        self.sample = index
        if self.status != "playing" and self.busy.acquire(timeout=2.0):  # else: next publish
            try:
                self._publish()
            finally:
                self.busy.release()

    @property
    def live(self) -> bool:
        return self.status in ("ready", "playing", "paused")

    # ---- the worker ---------------------------------------------------------------------
    def _run(self) -> None:
        self.busy.acquire()
        try:
            training.fit(self.model, self.loader, self.val_loader, epochs=self.epochs,
                         optimizer=self.optimizer, scheduler=self.scheduler,
                         scheduler_interval=self.interval, callbacks=[self], progress=False,
                         eval_name=self.eval_name)
            self.status = "finished"
        except StopRequestedError:
            self.status = "stopped"
        except Exception as exc:  # shown on the page; the server goes on
            self.status, self.error = "failed", str(exc)
        finally:
            self._publish()
            self.busy.release()

    def on_after_backward(self, state: training.TrainState) -> None:
        self._before = views.weight_copy(self.model)
        self._grads = [None if p.grad is None else p.grad.copy()
                       for p in self.model.parameters()]

    def on_step_end(self, state: training.TrainState) -> None:
        self.steps += 1
        self.state = state
        run = state.running
        self.last_step = {"weights": self._before, "grads": self._grads, "rng": self._rng,
                          "batch": self.loader.last, "lr": run.lr, "step": self.steps}
        self._rng = rng_states(self.model)
        self.rates.append((time.perf_counter(), self.steps))
        self.points.append({"step": self.steps, "epoch": state.epoch + state.step /
                            self.steps_per_epoch, "loss": run.loss_sum / run.seen,
                            "accuracy": run.correct / run.seen})
        if len(self.points) > MAX_POINTS:
            self.points = self.points[::2]
        with self.cond:
            self.budget -= 1
        if state.step < self.steps_per_epoch:  # else the epoch's evaluation comes first
            self._gate(epoch_end=False)

    def on_epoch_end(self, state: training.TrainState) -> None:
        self.state = state
        with self.cond:
            if self.to_epoch_end:
                self.budget, self.to_epoch_end = 0, False
        self._gate(epoch_end=True)

    def _gate(self, *, epoch_end: bool) -> None:
        """Publish when due; wait while paused; raise StopRequestedError if asked."""
        with self.cond:
            pausing = self.budget <= 0 or self.stopping
        if pausing or epoch_end or time.perf_counter() - self._published > PUBLISH_SECONDS:
            if pausing and not self.stopping and self.state.epoch < self.epochs:
                self.status = "paused"
            self._publish()
        with self.cond:
            waited = False
            while self.budget <= 0 and not self.stopping and self.state.epoch < self.epochs:
                if self.status != "paused":  # the pause came after the check above
                    self.status = "paused"
                    self._publish()
                waited = True
                self.busy.release()
                try:
                    self.cond.wait()
                finally:
                    self.busy.acquire()
            if waited:
                self.status = "playing"
            if self.stopping:
                raise StopRequestedError

    # ---- what the page sees -------------------------------------------------------------
    def steps_per_second(self) -> float:
        recent = [r for r in self.rates if r[0] > self.rates[-1][0] - 3.0] if self.rates else []
        if len(recent) < 2 or recent[-1][0] == recent[0][0]:
            return 0.0
        return (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0])

    def _publish(self) -> None:
        """Rebuild ``snapshot`` from the model (the caller holds ``busy``)."""
        self._published = time.perf_counter()
        test = self.bundle.test
        sample = min(self.sample, len(test) - 1)
        view = views.feature_maps(self.model, self._normalised(test.x[sample]),
                                  self.config["data"]["class_names"] or [])
        history = self.state.history.rows
        shape = tuple(self.config["data"]["input_shape"])
        self.snapshot = {
            "id": self.id, "name": self.name, "status": self.status, "error": self.error,
            "steps": self.steps, "epoch": self.state.epoch, "epochs": self.epochs,
            "steps_per_epoch": self.steps_per_epoch, "eval_name": self.eval_name,
            "steps_per_second": self.steps_per_second(), "history": history,
            "points": self.points[-400:] if len(self.points) > 400 else self.points,
            "last": history[-1] if history else None,
            "params": int(sum(p.data.size for p in self.model.parameters())),
            "kernels": views.kernels(self.model, shape),
            "updates": views.update_sizes(self.model, self._before) if self.steps else [],
            "sample": {"index": sample, "label": int(test.y[sample]),
                       "image": views._round(test.x[sample]), **view},
            "lr": self.state.running.lr or self.optimizer.param_groups[0]["lr"],
        }
        self._bump()

    def _bump(self) -> None:
        self.snapshot["status"] = self.status
        self.version += 1

    def _normalised(self, x: np.ndarray) -> np.ndarray:
        """A raw test sample as the model sees it (the test loader's normalisation)."""
        transform = self.test_loader.transform
        batch = x[None].astype(np.float32)
        return (transform(batch, None) if transform is not None else batch)[0]

    # ---- Save run ---------------------------------------------------------------------------
    def save(self) -> Path:
        """An ordinary run folder ./runs/<data>-<model>-<time>: config.json,
        a resumable checkpoint, history.csv, and when the run is over the final weights,
        metrics.json and curves.png. Written in a hidden folder renamed at the end, so no
        half-written run folder is ever seen. The caller holds ``busy``."""
        if self.status == "playing":
            raise ApiError(409, None, "pause the run before saving it")
        final = default_out(self.config)
        tmp = final.parent / f".{final.name}.part"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            save_config(tmp, self.config)
            save_checkpoint(tmp / "checkpoint", model=self.model, optimizer=self.optimizer,
                            scheduler=self.scheduler, progress=self.state.progress())
            if self.state.history.rows:
                atomic_write(tmp / "history.csv", self.state.history.to_csv())
            if self.status == "finished":
                finish(tmp, self.model, self.state.history,
                       self.test_loader if self.has_val else None)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final
