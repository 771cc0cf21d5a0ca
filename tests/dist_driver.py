"""Train digits under mpiexec (or alone) and dump the final weights: the end-to-end check of
gridnn.distributed used by tests/test_distributed_mpi.py.

    mpiexec -n 4 python tests/dist_driver.py --out w4.npz      # 4 ranks
    python tests/dist_driver.py --plain --out w1.npz           # plain train.fit, one process

Rank 0 prints one line per rank ('rank R pid P') first, then writes ``--out`` (weights) and
``--out``.json (history). ``--signal-at S`` makes rank 0 send itself SIGTERM after global step
S; ``--fail-rank R --fail-at S`` raises on rank R at step S; ``--hang-at S`` makes rank 1
sleep for an hour at step S; ``--odd-seed`` gives rank 1 another seed; ``--step-delay`` slows
each step so a test can act in the middle of an epoch (rank 0 prints 'training' after step 1).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

from gridnn import data, models, optim, train
from gridnn import distributed as dist


class _Actions(train.Callback):
    """The test's interventions, at given global steps (counted over all epochs)."""

    def __init__(self, args: argparse.Namespace, rank: int, steps_per_epoch: int) -> None:
        self.args, self.rank, self.per_epoch = args, rank, steps_per_epoch

    def on_step_end(self, state: train.TrainState) -> None:
        step = state.epoch * self.per_epoch + state.step
        a = self.args
        if a.step_delay:
            time.sleep(a.step_delay)
            if self.rank == 0 and step == 1:  # every rank has passed one Allreduce
                print("training", flush=True)
        if step == a.signal_at and self.rank == 0:
            os.kill(os.getpid(), signal.SIGTERM)
        if step == a.fail_at and self.rank == a.fail_rank:
            raise RuntimeError(f"injected failure at step {step}")
        if step == a.hang_at and self.rank == 1:
            time.sleep(3600)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mlp", choices=["mlp", "digits_cnn"])
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sync-bn", action="store_true")
    p.add_argument("--plain", action="store_true", help="plain train.fit (the reference)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--checkpoint", type=Path)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--signal-at", type=int, default=-1)
    p.add_argument("--fail-rank", type=int, default=-1)
    p.add_argument("--fail-at", type=int, default=-1)
    p.add_argument("--step-delay", type=float, default=0.0)
    p.add_argument("--hang-at", type=int, default=-1, help="rank 1 stops answering at this step")
    p.add_argument("--odd-seed", type=int, help="rank 1 uses this seed (a mismatch)")
    a = p.parse_args()

    comm = dist.world(timeout=a.timeout)
    if a.odd_seed is not None and comm.rank == 1:
        a.seed = a.odd_seed
    if comm.rank == 0:
        print("\n".join(f"rank {r} pid {pid}" for r, (_, pid) in enumerate(comm.places)),
              flush=True)
    bundle = data.load_digits(seed=a.seed)
    train_loader = data.DataLoader(bundle.train, a.batch_size, shuffle=True, seed=a.seed)
    test_loader = data.DataLoader(bundle.test, 64, seed=a.seed)
    model = (models.mlp(input_size=(8, 8), hidden=(64, 64), dropout=0.2, seed=a.seed)
             if a.model == "mlp" else models.digits_cnn(widths=(8, 16), seed=a.seed))
    opt = optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    callbacks = [_Actions(a, comm.rank, len(train_loader))]
    if a.plain:
        history = train.fit(model, train_loader, test_loader, epochs=a.epochs, optimizer=opt,
                            callbacks=callbacks, progress=False)
    else:
        ckpt = dist.RankZeroCheckpointer(a.checkpoint, comm) if a.checkpoint else None
        start = {}
        if a.resume:
            start = train.resume_state(a.checkpoint, model=model, optimizer=opt)
            ckpt.epoch, ckpt.step = start["start_epoch"], start["start_step"]
        try:
            history = dist.fit_distributed(
                model, train_loader, test_loader, epochs=a.epochs, optimizer=opt,
                checkpointer=ckpt, sync_bn=a.sync_bn, comm=comm, progress=False,
                settings={"model": a.model, "seed": a.seed, "batch": a.batch_size},
                callbacks=callbacks, **start)
        except train.TrainingInterruptedError as e:
            if comm.rank == 0:
                print(f"gridnn: {e}", file=sys.stderr, flush=True)
            return 128 + e.signum
    if comm.rank == 0:
        np.savez(a.out, **{k: np.asarray(v) for k, v in model.state_dict().items()})
        a.out.with_suffix(".json").write_text(json.dumps(history.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
