"""Batch normalisation as one op: normalise per channel, then scale and shift.

x (N, C, *S); statistics per channel over the M = N * prod(S) values of axes (0, 2, 3, ...):
    xhat = (x - mean) / sqrt(var + eps),   y = weight * xhat + bias
    dbias = sum(dy),   dweight = sum(dy * xhat)                (sums per channel)
With batch statistics (training) mean and var depend on x, and the gradient is
    dx = weight * invstd * (dy - (dbias + xhat * dweight) / M)
With running statistics they are constants: dx = dy * weight * invstd.

How it is fast: everything works on the (M, C) matrix of the channels-last memory that the
convolutions hand over (a view; other layouts are copied into it once). A per-channel sum is
then a vector of ones times that matrix (one BLAS product, far faster than a NumPy reduction
over axes (0, 2, 3)), through ``np.dot``, which lets go of the GIL where ``np.matmul`` keeps
it for so small a result (the threads then took turns). Every pass goes over cache-sized
pieces of rows (``workspace.chunks``), so the few ufuncs a formula needs find their piece in
cache; row slices run in threads (``workspace.parallel_slices``). Nothing of size M x C is
kept for backward but the input itself: x - mean is recomputed piece by piece, which costs
less than storing and rereading it. With Numba each formula is instead one compiled loop over
the piece (``ops/kernels/``), its sums kept in float64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._backend import xp
from ..autograd import Function
from .compiled import kernels
from .workspace import chunks, parallel_slices, scratch

Array = Any


def channel_rows(a: Array) -> Array:
    """(N, C, *S) -> the (M, C) matrix of its values, channels last: a view when the memory is
    channels-last (as convolutions leave it) or (N, C) contiguous, else a copy."""
    rows = xp.moveaxis(a, 1, -1)
    if not rows.flags.c_contiguous:
        rows = xp.ascontiguousarray(rows)
    return rows.reshape(-1, a.shape[1])


def _from_rows(rows: Array, shape: tuple[int, ...]) -> Array:
    """The (M, C) matrix back as an (N, C, *S) view of the same memory."""
    return xp.moveaxis(rows.reshape((shape[0], *shape[2:], shape[1])), -1, 1)


def _pieces(rows: Array, each: Callable[[int, int], Any], samples: int) -> list[Any]:
    """``each(start, stop)`` on cache-sized pieces of the rows of ``rows`` (the values of
    ``samples`` samples), row slices in threads; the results in row order."""
    item = rows.shape[1] * rows.itemsize
    return parallel_slices(rows.shape[0], rows.size, lambda lo, hi: [
        each(s, e) for s, e in chunks(lo, hi, item)], samples)


def _total(parts: list[list[Array]], shape: tuple[int, ...], dtype: Any) -> Array:
    """The sum of every piece's partial result, in row order."""
    out = xp.zeros(shape, dtype)
    for part in parts:
        for v in part:
            out += v
    return out


def _compiled_sums(rows: Array, samples: int, shape: tuple[int, ...],
                   kernel: Callable[..., None], *args: Array) -> Array:
    """The float64 sums (``shape``) that ``kernel(rows piece, *args, out)`` adds into ``out``,
    over every piece of the rows; each of ``args`` is an (M, C) array, cut like ``rows``, or a
    (C,) vector, passed whole."""
    def part(s: int, e: int) -> Array:
        out = xp.zeros(shape, xp.float64)
        kernel(rows[s:e], *(a[s:e] if a.ndim == 2 else a for a in args), out)
        return out

    return _total(_pieces(rows, part, samples), shape, xp.float64)


def row_sums(rows: Array, samples: int) -> Array:
    """Per-channel sums (C,) of the (M, C) matrix ``rows`` (``channel_rows`` of ``samples``
    samples)."""
    dt = rows.dtype
    k = kernels()
    if k is not None:
        return _compiled_sums(rows, samples, (rows.shape[1],), k.channel_sums).astype(dt)

    def total(s: int, e: int) -> Array:
        return xp.dot(scratch().ones(e - s, dt), rows[s:e])

    return _total(_pieces(rows, total, samples), (rows.shape[1],), dt)


def row_squared_deviations(rows: Array, mean: Array, samples: int) -> Array:
    """Per-channel sums (C,) of (x - mean)^2 over the (M, C) matrix ``rows``, squared piece by
    piece (no cancellation as in E[x^2] - mean^2)."""
    c, dt = rows.shape[1], rows.dtype
    k = kernels()
    if k is not None:
        return _compiled_sums(rows, samples, (c,), k.channel_squared_deviations,
                              mean.astype(xp.float64)).astype(dt)

    def squares(s: int, e: int) -> Array:
        pool = scratch()
        buf = pool.take((e - s, c), dt)
        xp.subtract(rows[s:e], mean, out=buf)
        buf *= buf
        out = xp.dot(pool.ones(e - s, dt), buf)
        pool.give(buf)
        return out

    return _total(_pieces(rows, squares, samples), (c,), dt)


def batch_stats(x: Array) -> tuple[Array, Array]:
    """Per-channel mean and biased variance (C,) of x (N, C, *S), in two passes."""
    rows = channel_rows(x)
    m = rows.dtype.type(rows.shape[0])
    mean = row_sums(rows, x.shape[0]) / m
    return mean, row_squared_deviations(rows, mean, x.shape[0]) / m


class BatchNorm(Function):
    """Inputs: x (N, C, *S), weight (C,), bias (C,) (ones and zeros without ``affine``).
    ``mean``/``var`` (C,): the statistics to normalise with; ``from_batch`` says they were
    computed from x (so the gradient flows through them) rather than being running averages.
    The output has the memory layout of ``channel_rows(x)`` (channels last)."""

    def forward(self, x: Array, weight: Array, bias: Array, mean: Array, var: Array, eps: float,
                from_batch: bool) -> Array:
        rows = channel_rows(x)
        dt = rows.dtype
        self.mean = mean.astype(dt, copy=False)
        self.invstd = (1.0 / xp.sqrt(var + eps)).astype(dt, copy=False)
        self.rows, self.weight, self.from_batch = rows, weight, from_batch
        self.samples = x.shape[0]
        scale = (weight * self.invstd).astype(dt, copy=False)
        out = xp.empty_like(rows)

        # (x - mean) * scale + bias as x * scale + (bias - mean * scale): two passes, not three
        shift = (bias - self.mean * scale).astype(dt, copy=False)
        k = kernels()

        def normalise(s: int, e: int) -> None:
            o = out[s:e]
            if k is not None:
                k.scale_shift(rows[s:e], scale, shift, o)
                return
            xp.multiply(rows[s:e], scale, out=o)
            o += shift

        _pieces(rows, normalise, x.shape[0])
        return _from_rows(out, x.shape)

    def backward(self, g: Array) -> tuple[Array | None, ...]:
        grad = channel_rows(g)
        dbias, dweight = self.grad_sums(grad)
        dx = self.input_grad(grad, g.shape, dbias, dweight, self.rows.shape[0]) \
            if self.needs_grad[0] else None
        return (dx, dweight if self.needs_grad[1] else None,
                dbias if self.needs_grad[2] else None)

    def grad_sums(self, grad: Array) -> tuple[Array, Array]:
        """dbias = sum(dy) and dweight = sum(dy * xhat), per channel (C,), of the (M, C)
        matrix ``grad`` of the output gradient."""
        rows, mean = self.rows, self.mean
        c, dt = rows.shape[1], rows.dtype
        k = kernels()
        if k is not None:
            both = _compiled_sums(rows, self.samples, (2, c), k.channel_grad_sums, grad,
                                  mean.astype(xp.float64)).astype(dt)
            return both[0], both[1] * self.invstd

        def sums(s: int, e: int) -> Array:
            pool = scratch()
            buf = pool.take((e - s, c), dt)
            xp.subtract(rows[s:e], mean, out=buf)
            buf *= grad[s:e]
            ones = pool.ones(e - s, dt)
            out = xp.stack([xp.dot(ones, grad[s:e]), xp.dot(ones, buf)])
            pool.give(buf)
            return out

        both = _total(_pieces(rows, sums, self.samples), (2, c), dt)
        return both[0], both[1] * self.invstd

    def input_grad(self, grad: Array, shape: tuple[int, ...], dbias: Array, dweight: Array,
                   m: int) -> Array:
        """dx (N, C, *S) from the (M, C) output gradient and the sums ``grad_sums`` gives, over
        ``m`` values per channel (SyncBatchNorm passes the sums of every rank, scaled)."""
        rows, mean = self.rows, self.mean
        c, dt = rows.shape[1], rows.dtype
        scale = (self.weight * self.invstd).astype(dt, copy=False)
        out = xp.empty_like(grad)
        if self.from_batch:
            # dx = scale * g - (x - mean) * slope - scale * dbias / M
            #    = scale * g - x * slope + (mean * slope - scale * dbias / M)
            slope = scale * self.invstd * dweight / dt.type(m)
            shift = mean * slope - scale * dbias / dt.type(m)
            k = kernels()

            def each(s: int, e: int) -> None:
                if k is not None:
                    k.batch_norm_input_grad(grad[s:e], rows[s:e], scale, slope, shift, out[s:e])
                    return
                pool = scratch()
                o, buf = out[s:e], pool.take((e - s, c), dt)
                xp.multiply(rows[s:e], slope, out=o)
                xp.multiply(grad[s:e], scale, out=buf)
                xp.subtract(buf, o, out=o)
                o += shift
                pool.give(buf)
        else:
            def each(s: int, e: int) -> None:
                xp.multiply(grad[s:e], scale, out=out[s:e])

        _pieces(grad, each, shape[0])
        return _from_rows(out, shape)
