"""``fit_distributed``: ``train.fit`` on every rank, wired for data parallelism.

It checks at start that every rank has the same settings, model, optimiser state and data;
shards the loaders; converts BatchNorm to SyncBatchNorm on request; averages gradients after
every backward pass; lets rank 0 alone write checkpoints; turns a signal on any rank into a stop
of every rank after the same step; and turns an error on one rank into a stop of all of them,
with a message naming the rank.
"""

from __future__ import annotations

import hashlib
import json
import signal
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import train
from .comm import Communicator, DistributedError, world
from .ddp import GradientAllreduce
from .sampler import ShardedLoader, shard_random_layers
from .sync_bn import convert_sync_batchnorm


def _digest(*parts: Any) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        if isinstance(part, dict):
            for key in sorted(part, key=str):
                h.update(str(key).encode())
                h.update(_digest(part[key]).encode())
        elif isinstance(part, np.ndarray):
            h.update(str((part.dtype, part.shape)).encode())
            h.update(np.ascontiguousarray(part).data)
        else:
            h.update(json.dumps(part, sort_keys=True, default=repr).encode())
    return h.hexdigest()


def _data_digest(loader: Any) -> str:
    d = loader.dataset
    arrays = [a for a in (getattr(d, "x", None), getattr(d, "y", None))
              if isinstance(a, np.ndarray)]
    return _digest(len(d), loader.batch_size, loader.shuffle, loader.drop_last, loader.seed,
                   *arrays)


def check_same_settings(comm: Communicator, **items: Any) -> None:
    """DistributedError on every rank unless all ranks pass equal ``items`` (digested: arrays,
    dicts of arrays, JSON-able values); the message names the first rank and item that differ
    from rank 0's."""
    mine = {name: _digest(value) for name, value in items.items()}
    first, *others = comm.allgather(mine, "settings check")
    for r, theirs in enumerate(others, start=1):
        for name in items:
            if theirs[name] != first[name]:
                raise DistributedError(f"{comm.describe(r)} does not start with the same {name} "
                                       f"as {comm.describe(0)}: every rank must run the same "
                                       f"command on the same data")


class RankZeroCheckpointer(train.Checkpointer):
    """A Checkpointer that writes on rank 0 only (the state is the same on every rank)."""

    def __init__(self, folder: Any, comm: Communicator | None = None) -> None:
        super().__init__(folder)
        self.comm = comm or world()

    def save(self, state: train.TrainState) -> None:
        if self.comm.rank == 0:
            super().save(state)
        self.epoch, self.step = state.epoch, state.step


class StopOnSignal(train.StopOnSignal):
    """SIGINT/SIGTERM on any rank stops every rank after the same step: the request travels
    with the next gradient Allreduce, and the stop happens once it has been shared."""

    def __init__(self, checkpointer: train.Checkpointer, reducer: GradientAllreduce,
                 resume_hint: str = "") -> None:
        super().__init__(checkpointer, resume_hint)
        self.reducer = reducer

    def _handle(self, signum: int, frame: Any) -> None:
        super()._handle(signum, frame)
        self.reducer.stop_wanted = True

    def _stop(self, state: train.TrainState) -> None:
        if not self.reducer.stop_agreed:
            return
        if self.signum is None:  # another rank was signalled
            self.signum = signal.SIGTERM
        super()._stop(state)

    on_step_end = _stop

    def on_epoch_end(self, state: train.TrainState) -> None:
        self._stop(state)


def _fit(model: Any, train_loader: Any, val_loader: Any, callbacks: list[Any],
         checkpointer: train.Checkpointer | None, stopper: train.StopOnSignal | None,
         **fit_kwargs: Any) -> train.History:
    """train.fit, with the checkpointer and the signal handler when there is a checkpointer."""
    if stopper is None:
        return train.fit(model, train_loader, val_loader, callbacks=callbacks, **fit_kwargs)
    with stopper:
        return train.fit(model, train_loader, val_loader,
                         callbacks=[*callbacks, checkpointer, stopper], **fit_kwargs)


def fit_distributed(model: Any, train_loader: Any, val_loader: Any = None, *, epochs: int,
                    optimizer: Any, checkpointer: train.Checkpointer | None = None,
                    resume_hint: str = "", sync_bn: bool = False,
                    settings: dict[str, Any] | None = None,
                    callbacks: Sequence[train.Callback] = (),
                    rank0_callbacks: Sequence[train.Callback] = (),
                    comm: Communicator | None = None, **fit_kwargs: Any) -> train.History:
    """Train ``model`` with ``train.fit`` on every rank; returns the History (the same on every
    rank). With one rank this is ``fit`` itself (with the checkpointer and signal handler).

    ``train_loader``/``val_loader``: DataLoaders of the global batch (sharded here).
    ``optimizer`` must be built on ``model``'s parameters. ``checkpointer`` (a
    RankZeroCheckpointer) saves after every epoch; with it, SIGINT/SIGTERM stop every rank after
    the same step with a checkpoint and ``TrainingInterruptedError`` (``resume_hint`` ends its
    message).
    ``sync_bn``: BatchNorm layers become SyncBatchNorm. ``settings``: JSON-able values (model
    and data names, seed, hyper-parameters) that must agree on every rank.
    ``callbacks`` run on every rank, ``rank0_callbacks`` on rank 0 only (files, printing);
    other ``fit`` keywords (scheduler, start_epoch, history, ...) pass through; ``progress``
    bars show on rank 0 only.
    """
    comm = comm or world()
    if comm.size == 1:  # exactly train.fit, as without MPI (SyncBatchNorm would be BatchNorm)
        stopper = train.StopOnSignal(checkpointer, resume_hint) if checkpointer else None
        return _fit(model, train_loader, val_loader, [*callbacks, *rank0_callbacks],
                    checkpointer, stopper, epochs=epochs, optimizer=optimizer, **fit_kwargs)
    if sync_bn:
        model = convert_sync_batchnorm(model, comm)
    check_same_settings(comm, settings=settings or {}, model=model.state_dict(),
                        optimizer=optimizer.state_dict(), train_data=_data_digest(train_loader),
                        val_data=None if val_loader is None else _data_digest(val_loader),
                        start={k: fit_kwargs.get(k) for k in ("start_epoch", "start_step")})
    shards = ShardedLoader(train_loader, comm)
    shard_random_layers(model, shards)
    val = None if val_loader is None else ShardedLoader(val_loader, comm, divisible=False)
    reducer = GradientAllreduce(model, comm)
    every: list[Any] = [reducer, *callbacks, *(rank0_callbacks if comm.rank == 0 else ())]
    if comm.rank:
        fit_kwargs["progress"] = False
    try:
        stopper = StopOnSignal(checkpointer, reducer, resume_hint) if checkpointer else None
        return _fit(model, shards, val, every, checkpointer, stopper, epochs=epochs,
                    optimizer=optimizer, **fit_kwargs)
    except train.TrainingInterruptedError:
        raise
    except Exception as e:  # any error on one rank must end all of them
        comm.abort(f"{type(e).__name__}: {e}")
