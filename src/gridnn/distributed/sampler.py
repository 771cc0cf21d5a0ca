"""Split every global batch of a DataLoader over the ranks, and keep random layers in step.

Each rank draws the whole global batch exactly as a single process would (same order, same
augmentation, the RNG streams advancing identically) and keeps its own rows, so the union of
the shards is the single-process batch whatever the number of ranks. Drawing the whole batch
costs each rank the data loading of all of them; it is small beside the forward and backward
passes, and it is what makes the run independent of the rank count.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ArgumentError
from .comm import Communicator, world


@dataclass
class Shard:
    """This rank's rows ``[offset, offset + size)`` of a global batch of ``total`` rows."""

    offset: int = 0
    size: int = 0
    total: int = 0


def shard_bounds(total: int, ranks: int, rank: int) -> tuple[int, int]:
    """(offset, size) of ``rank``'s rows when ``total`` rows are split over ``ranks``: the
    first ``total % ranks`` ranks get one row more, as ``numpy.array_split`` does."""
    base, extra = divmod(total, ranks)
    return rank * base + min(rank, extra), base + (rank < extra)


class ShardedLoader:
    """Yields this rank's shard ``(xb, yb)`` of each global batch of ``loader`` (a DataLoader).

    ``loader.batch_size`` is the global batch; it must be a multiple of the number of ranks
    (unless ``divisible=False``, for evaluation), and every batch (the last, smaller one
    included) needs at least one row per rank. The last batch may split unevenly: ``current``
    holds this rank's rows of the batch last yielded (random layers draw by it).
    ``len()`` and ``set_epoch`` are those of ``loader``; ``reduce_sums`` sums evaluation totals.
    """

    def __init__(self, loader: Any, comm: Communicator | None = None, *,
                 divisible: bool = True) -> None:
        self.loader = loader
        self.comm = comm or world()
        p, batch = self.comm.size, loader.batch_size
        if divisible and batch % p:
            raise ArgumentError(f"the global batch size {batch} is not divisible by the "
                                f"{p} ranks; pass a multiple of {p}")
        n = len(loader.dataset)
        last = batch if loader.drop_last or n % batch == 0 else n % batch
        if last < p:
            raise ArgumentError(f"the last batch holds {last} of the {n} images, fewer than the "
                                f"{p} ranks; choose a batch size that leaves at least {p}, or "
                                f"drop_last=True")
        self.current = Shard()

    @property
    def batch_size(self) -> int:
        """The global batch size."""
        return self.loader.batch_size

    def set_epoch(self, epoch: int) -> None:
        self.loader.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for xb, yb in self.loader:
            offset, size = shard_bounds(len(xb), self.comm.size, self.comm.rank)
            self.current = Shard(offset, size, len(xb))
            yield xb[offset:offset + size], yb[offset:offset + size]

    def reduce_sums(self, sums: np.ndarray) -> np.ndarray:
        """Sum a float64 vector of totals over the ranks (used by ``train.evaluate``)."""
        return self.comm.allreduce_sum(np.ascontiguousarray(sums, np.float64), "evaluation")


class ShardedGenerator(np.random.Generator):
    """A Generator over the same bit generator that draws a whole global batch's numbers and
    returns this rank's rows, so dropout masks are those of the single-process run and every
    rank's stream stays identical. Arrays whose first axis is not the shard are drawn whole."""

    def __init__(self, generator: np.random.Generator, shard: ShardedLoader) -> None:
        super().__init__(generator.bit_generator)
        self.loader = shard

    def random(self, size: Any = None, dtype: Any = np.float64, out: Any = None) -> Any:
        s = self.loader.current
        shape = (size,) if isinstance(size, (int, np.integer)) else size
        if out is not None or not shape or shape[0] != s.size or s.size == s.total:
            return super().random(size, dtype, out)
        return super().random((s.total, *shape[1:]), dtype)[s.offset:s.offset + s.size]


def shard_random_layers(model: Any, loader: ShardedLoader) -> int:
    """Make every Generator held by a module of ``model`` (dropout) a ``ShardedGenerator``
    following ``loader``'s shards; modules sharing one Generator keep sharing. Returns how
    many generators were replaced."""
    replaced: dict[int, ShardedGenerator] = {}
    for _, module in model.named_modules():
        for attr, value in list(vars(module).items()):
            if isinstance(value, np.random.Generator) and not isinstance(value,
                                                                         ShardedGenerator):
                if id(value) not in replaced:
                    replaced[id(value)] = ShardedGenerator(value, loader)
                setattr(module, attr, replaced[id(value)])
    return len(replaced)
