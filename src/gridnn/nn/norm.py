"""Batch normalisation layers with running statistics, matching PyTorch's train/eval rules.

``bias=False`` (keyword-only, as in PyTorch 2.13) keeps the scale but drops the shift.
Training: normalise with the batch's mean and biased variance, and update
    running = (1 - momentum) * running + momentum * batch      (momentum=None: cumulative mean)
using the batch's unbiased variance (times M / (M - 1)) for running_var. Eval: normalise with
the running statistics. Without ``track_running_stats`` the batch statistics are always used.
"""

from __future__ import annotations

from typing import Any

from .._backend import xp
from ..errors import ArgumentError
from ..functional import as_float_tensor
from ..ops.norm import BatchNorm, batch_stats
from ..tensor import Tensor
from ._checks import float_dtype, number_in, positive_int, positive_number
from .module import Module, Parameter


class _BatchNorm(Module):
    ranks: tuple[int, ...] = ()
    layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *,
                 bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_features = positive_int(num_features, "num_features", name)
        self.eps = positive_number(eps, "eps", name)
        self.momentum = (None if momentum is None
                         else number_in(momentum, "momentum", name, 0.0, 1.0))
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        dt = float_dtype(dtype, name)
        self.weight = Parameter(xp.ones(num_features, dt)) if affine else None
        self.bias = Parameter(xp.zeros(num_features, dt)) if affine and bias else None
        tracked = self.track_running_stats
        self.register_buffer("running_mean", xp.zeros(num_features, dt) if tracked else None)
        self.register_buffer("running_var", xp.ones(num_features, dt) if tracked else None)
        self.register_buffer("num_batches_tracked",
                             xp.array(0, dtype=xp.int64) if tracked else None)

    def forward(self, x: Tensor) -> Tensor:
        """Shape: (N, C, *S) -> same; statistics per channel C."""
        name = type(self).__name__
        x = as_float_tensor(x, "input", name)
        if x.ndim not in self.ranks or x.shape[1] != self.num_features:
            raise ArgumentError(
                f"{name}: expected input {self.layout} with C={self.num_features}, "
                f"received shape {x.shape}"
            )
        affine = (self._constant(self.weight, 1, x), self._constant(self.bias, 0, x))
        if not self.training and self.track_running_stats:
            return BatchNorm.apply(x, *affine, mean=self.running_mean, var=self.running_var,
                                   eps=self.eps, from_batch=False)
        m = x.size // x.shape[1]
        if m < 2:
            raise ArgumentError(
                f"{name}: training needs more than 1 value per channel, received shape {x.shape}"
            )
        mean, var = batch_stats(x.data)
        if self.training and self.track_running_stats:
            self._update_running(mean, var * (m / (m - 1)))
        return BatchNorm.apply(x, *affine, mean=mean, var=var, eps=self.eps, from_batch=True)

    def _constant(self, p: Parameter | None, value: float, x: Tensor) -> Tensor:
        """The parameter, or a constant stand-in (scale 1, shift 0) without ``affine``."""
        return p if p is not None else Tensor._wrap(xp.full(self.num_features, value, x.dtype),
                                                    False)

    def _update_running(self, mean: Any, unbiased_var: Any) -> None:
        """Fold one batch's statistics into the running averages, in place."""
        self.num_batches_tracked += 1
        if self.momentum is None:  # cumulative moving average
            factor = 1.0 / float(self.num_batches_tracked)
        else:
            factor = self.momentum
        self.running_mean *= 1 - factor
        self.running_mean += factor * mean
        self.running_var *= 1 - factor
        self.running_var += factor * unbiased_var

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) features or (N, C, L) sequences, per channel C.

    Shape: (N, C) or (N, C, L) -> same. weight, bias, running_mean, running_var: (C,).
    """

    ranks = (2, 3)
    layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of images, per channel C.

    Shape: (N, C, H, W) -> same. weight, bias, running_mean, running_var: (C,).
    """

    ranks = (4,)
    layout = "(N, C, H, W)"
