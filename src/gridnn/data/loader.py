"""DataLoader: seeded, resumable batching over a Dataset."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError
from .dataset import Dataset, Transform

# Separate streams, so turning shuffling on or off does not change the augmentation draws.
_SHUFFLE_STREAM, _AUGMENT_STREAM = 0, 1


def _check_int(value: object, name: str, minimum: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise ArgumentTypeError(f"DataLoader: `{name}` must be an int, received "
                                f"{type(value).__name__}")
    if value < minimum:
        kind = "a positive int" if minimum == 1 else "a non-negative int"
        raise ArgumentError(f"DataLoader: `{name}` must be {kind}, received {name}={value}")
    return int(value)


def _check_bool(value: object, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"DataLoader: `{name}` must be a bool, received {value!r}")
    return bool(value)


class DataLoader:
    """Iterate over ``dataset`` in batches ``(xb, yb)``: float32 (B, C, ...) and int64 (B,).

    Every random choice of epoch ``e`` (the shuffle order and the ``transform`` draws) comes from
    ``numpy.random.default_rng([seed, e, stream])``, a function of ``(seed, e)`` alone, so a run
    stopped after epoch k and resumed with ``set_epoch(k + 1)`` sees exactly the batches of an
    uninterrupted run. Each iteration uses the current epoch and then advances it by one;
    ``set_epoch(e)`` chooses the epoch of the next iteration.

    ``transform(batch, rng)`` is applied to whole batches (after the dataset's own transform),
    so augmentation costs a few vectorised array operations per batch.

    ``len(loader)`` is the number of batches: ``ceil(N / batch_size)``, or ``N // batch_size``
    with ``drop_last=True`` (which drops the final short batch).
    """

    def __init__(self, dataset: Dataset, batch_size: int, shuffle: bool = False,
                 drop_last: bool = False, *, seed: int = 0,
                 transform: Transform | None = None) -> None:
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise ArgumentTypeError(f"DataLoader: `dataset` must be a Dataset (with __len__ and "
                                    f"__getitem__), received {type(dataset).__name__}")
        if transform is not None and not callable(transform):
            raise ArgumentTypeError(f"DataLoader: `transform` must be callable or None, "
                                    f"received {type(transform).__name__}")
        self.dataset = dataset
        self.batch_size = _check_int(batch_size, "batch_size", 1)
        self.shuffle = _check_bool(shuffle, "shuffle")
        self.drop_last = _check_bool(drop_last, "drop_last")
        self.seed = _check_int(seed, "seed", 0)
        self.transform = transform
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration use epoch ``epoch``'s shuffle order and augmentation."""
        self.epoch = _check_int(epoch, "epoch", 0)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        return self._batches(epoch)

    def _batches(self, epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch, _SHUFFLE_STREAM]).permutation(n)
        else:
            order = np.arange(n)
        rng = np.random.default_rng([self.seed, epoch, _AUGMENT_STREAM])
        get_batch = getattr(self.dataset, "get_batch", None)
        if get_batch is None:  # a duck-typed dataset: stack its items
            get_batch = Dataset.get_batch.__get__(self.dataset)
        for b in range(len(self)):
            xb, yb = get_batch(order[b * self.batch_size:(b + 1) * self.batch_size], rng)
            if self.transform is not None:
                xb = self.transform(xb, rng)
            yield xb, yb

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, seed={self.seed}, epoch={self.epoch})")
