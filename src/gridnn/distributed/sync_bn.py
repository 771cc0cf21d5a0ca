"""SyncBatchNorm: batch normalisation with the statistics of the global batch, over all ranks.

Forward, per channel: Allreduce [sum x, M_r] -> mean over the M = sum M_r values of the global
batch; Allreduce sum (x - mean)^2 -> the biased variance (two passes, as the single-process op).
Backward: rank r's loss gradient g is of its own mean loss, which enters the global loss with
weight s_r = M_r / M (see ddp.py), so the per-channel sums the gradient needs are
    Dbias = Allreduce sum s_r * sum(g),   Dweight = Allreduce sum s_r * sum(g * xhat)
and dx = weight * invstd * (g - (Dbias + xhat * Dweight) / M_r), which is the single-process
gradient divided by s_r: the same scale as every other gradient of rank r before averaging.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ArgumentError
from ..nn import BatchNorm1d, BatchNorm2d, Module
from ..ops.norm import BatchNorm, channel_rows, row_squared_deviations, row_sums
from ..tensor import Tensor
from .comm import Communicator, world


class _SyncBatchNormOp(BatchNorm):
    """The BatchNorm op with batch statistics whose backward sums over the ranks."""

    def forward(self, x: Any, weight: Any, bias: Any, mean: Any, var: Any, eps: float,
                comm: Communicator, rows: int) -> Any:
        self.comm, self.total_rows = comm, rows
        return super().forward(x, weight, bias, mean, var, eps, True)

    def backward(self, g: Any) -> tuple[Any, ...]:
        grad = channel_rows(g)
        dbias, dweight = self.grad_sums(grad)  # this rank's
        c, m_r = dbias.shape[0], grad.shape[0]
        sums = np.concatenate([dbias, dweight]).astype(np.float64) * (m_r / self.total_rows)
        self.comm.allreduce_sum(sums, "SyncBatchNorm backward")
        dx = None
        if self.needs_grad[0]:
            dx = self.input_grad(grad, g.shape, sums[:c].astype(g.dtype),
                                 sums[c:].astype(g.dtype), m_r)
        return (dx, dweight if self.needs_grad[1] else None,
                dbias if self.needs_grad[2] else None)


class SyncBatchNorm(BatchNorm2d):
    """Batch normalisation whose training statistics are those of the global batch (all
    ranks), as PyTorch's SyncBatchNorm. With one rank it equals BatchNorm.

    Shape: (N, C, *S) with any number of spatial axes (0 to 3) -> same; statistics per C.
    Weights, buffers and state-dict keys are BatchNorm's, so checkpoints are interchangeable.
    """

    ranks = (2, 3, 4, 5)
    layout = "(N, C, *S)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *,
                 bias: bool = True, dtype: Any = None, comm: Communicator | None = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, bias=bias,
                         dtype=dtype)
        self.comm = comm or world()

    def forward(self, x: Tensor) -> Tensor:
        """Shape: (N, C, *S) -> same."""
        if (not self.training and self.track_running_stats) or self.comm.size == 1:
            return super().forward(x)
        if not isinstance(x, Tensor) or x.ndim not in self.ranks or \
                x.shape[1] != self.num_features:
            raise ArgumentError(f"SyncBatchNorm: expected input {self.layout} with "
                                f"C={self.num_features}, received shape "
                                f"{getattr(x, 'shape', type(x).__name__)}")
        data, c = x.data, self.num_features
        local = channel_rows(data)  # (M_r, C)
        sums = np.empty(c + 1, np.float64)
        sums[:c], sums[c] = row_sums(local, data.shape[0]), local.shape[0]
        self.comm.allreduce_sum(sums, "SyncBatchNorm mean")
        rows = int(sums[c])
        if rows < 2:
            raise ArgumentError(f"SyncBatchNorm: training needs more than 1 value per channel "
                                f"over all ranks, received shape {x.shape} here")
        mean = (sums[:c] / rows).astype(data.dtype)
        squares = row_squared_deviations(local, mean, data.shape[0]).astype(np.float64)
        var = (self.comm.allreduce_sum(squares, "SyncBatchNorm variance") / rows
               ).astype(data.dtype)
        if self.track_running_stats:
            self._update_running(mean, var * (rows / (rows - 1)))
        weight, bias = self._constant(self.weight, 1, x), self._constant(self.bias, 0, x)
        return _SyncBatchNormOp.apply(x, weight, bias, mean=mean, var=var, eps=self.eps,
                                      comm=self.comm, rows=rows)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module,
                               comm: Communicator | None = None) -> Module:
        """``module`` with every BatchNorm1d/BatchNorm2d replaced by a SyncBatchNorm holding
        the same parameters and running statistics (in place for children; returns the
        converted module, a new one when ``module`` itself is a BatchNorm)."""
        if isinstance(module, (BatchNorm1d, BatchNorm2d)) and not isinstance(module, cls):
            sync = cls(module.num_features, module.eps, module.momentum, module.affine,
                       module.track_running_stats, bias=module.bias is not None,
                       dtype=module.running_mean.dtype if module.running_mean is not None
                       else None, comm=comm)
            sync.load_state_dict(module.state_dict())
            for name in ("weight", "bias"):
                if getattr(module, name) is not None:
                    setattr(sync, name, getattr(module, name))
            sync.train(module.training)
            return sync
        for name, child in list(module.named_children()):
            new = cls.convert_sync_batchnorm(child, comm)
            if new is not child:
                setattr(module, name, new)
        return module


convert_sync_batchnorm = SyncBatchNorm.convert_sync_batchnorm
