"""Average the gradients of the ranks with one Allreduce per step over a flat buffer.

Each rank's loss is the mean over its shard of n_r rows; the global batch's mean loss is
``sum_r (n_r / N) loss_r``, so its gradient is ``sum_r n_r g_r / N``. One Allreduce sums the
buffer ``[n_r g_r (every parameter, flattened), n_r, loss_sum_r, correct_r, stop_r]``: the
gradients and the step's statistics travel together, and with them the flag that a rank was
asked to stop, so all ranks agree on the step after which they stop.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..train import BatchStats, Callback, TrainState
from .comm import Communicator, world

_STATS = 4  # rows, loss sum, correct predictions, stop requests


class GradientAllreduce(Callback):
    """The data-parallel step helper (the part of PyTorch's DistributedDataParallel that
    averages gradients): as a ``fit`` callback it runs after every backward pass; in a loop of
    your own call ``allreduce(batch_size)`` between ``loss.backward()`` and ``optimizer.step()``.

    ``model``'s parameters get the gradient of the global batch's mean loss on every rank.
    """

    def __init__(self, model: Any, comm: Communicator | None = None) -> None:
        self.comm = comm or world()
        self.params = [p for p in model.parameters() if p.requires_grad]
        dtypes = {p.data.dtype for p in self.params}
        self.dtype = np.result_type(*dtypes) if dtypes else np.dtype(np.float32)
        self.sizes = [p.data.size for p in self.params]
        self.buffer = np.zeros(sum(self.sizes) + _STATS, self.dtype)
        self.stop_wanted = False  # set on this rank (a signal); shared at the next Allreduce
        self.stop_agreed = False  # some rank wanted to stop: all stop after this step

    def allreduce(self, batch_size: int, loss_sum: float = 0.0,
                  correct: int | None = None) -> BatchStats:
        """Replace every parameter's gradient by the global batch's; returns the step's
        statistics summed over the ranks. ``batch_size``: this rank's rows (n_r)."""
        buf, n = self.buffer, batch_size
        at = 0
        for p, size in zip(self.params, self.sizes):
            if p.grad is None:
                buf[at:at + size] = 0
            else:
                np.multiply(p.grad.reshape(-1), n, out=buf[at:at + size])
            at += size
        buf[at:] = (n, loss_sum, correct or 0, self.stop_wanted)
        self.comm.allreduce_sum(buf, "gradient Allreduce")
        total = buf[at]
        buf[:at] /= total
        at = 0
        for p, size in zip(self.params, self.sizes):
            p.grad = buf[at:at + size].reshape(p.data.shape).astype(p.data.dtype)
            at += size
        self.stop_agreed = bool(buf[at + 3] > 0)
        return BatchStats(float(buf[at + 1]), int(round(total)),
                          None if correct is None else int(round(buf[at + 2])))

    def on_after_backward(self, state: TrainState) -> None:
        b = state.batch
        state.batch = self.allreduce(b.size, b.loss_sum, b.correct)
