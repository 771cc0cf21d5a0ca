"""Datasets: indexable collections of (sample, label) pairs, and the bundle a source returns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ArgumentError, ArgumentTypeError

# A batch transform: (B, C, ...) array and a Generator in, (B, C, ...) array out.
Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


class Dataset:
    """Base class: ``len(ds)`` samples, ``ds[i] -> (x, y)`` with x float32 (C, ...), y an int.

    Subclasses implement ``__len__`` and ``__getitem__``; ``get_batch`` stacks items and may be
    overridden with a vectorised version (``ArrayDataset`` does).
    """

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def get_batch(self, indices: np.ndarray, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Samples ``indices`` as ``(xb, yb)``: float32 (B, C, ...) and int64 (B,).

        ``rng`` drives any random transform the dataset applies (none in the base class).
        """
        items = [self[int(i)] for i in indices]
        xb = np.stack([np.asarray(x, dtype=np.float32) for x, _ in items])
        yb = np.array([y for _, y in items], dtype=np.int64)
        return xb, yb


class ArrayDataset(Dataset):
    """Samples held in memory: ``x`` float32 (N, C, H, W) or (N, C, L), ``y`` int64 (N,).

    ``transform(batch, rng)``, if given, is applied to every batch the loader draws (vectorised
    over the batch). ``ds[i]`` outside a loader applies it with a generator seeded by ``i``, so
    item access is reproducible.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, transform: Transform | None = None) -> None:
        x = np.asarray(x)
        y = np.asarray(y)
        if x.dtype.kind not in "biuf":
            raise ArgumentTypeError(f"ArrayDataset: `x` must be a numeric array, received dtype "
                                    f"{x.dtype}")
        if y.dtype.kind not in "iu":
            raise ArgumentTypeError(f"ArrayDataset: `y` must hold integer labels, received dtype "
                                    f"{y.dtype}")
        if x.ndim < 3:
            raise ArgumentError(f"ArrayDataset: `x` must be (N, C, L) or (N, C, H, W), received "
                                f"shape {x.shape}")
        if y.shape != (x.shape[0],):
            raise ArgumentError(f"ArrayDataset: `y` must have shape ({x.shape[0]},) to match x "
                                f"{x.shape}, received shape {y.shape}")
        if transform is not None and not callable(transform):
            raise ArgumentTypeError(f"ArrayDataset: `transform` must be callable or None, "
                                    f"received {type(transform).__name__}")
        self.x = np.ascontiguousarray(x, dtype=np.float32)
        self.y = y.astype(np.int64, copy=False)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        n = len(self)
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise ArgumentTypeError(f"ArrayDataset: index must be an int, received "
                                    f"{type(index).__name__}")
        if not -n <= index < n:
            raise IndexError(f"ArrayDataset: index {index} is out of range for {n} samples")
        index = int(index) % n
        xb, yb = self.get_batch(np.array([index]), np.random.default_rng(index))
        return xb[0], int(yb[0])

    def get_batch(self, indices: np.ndarray, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
        """``(x[indices], y[indices])`` (copies), with ``transform`` applied to the batch."""
        xb, yb = self.x[indices], self.y[indices]
        if self.transform is not None:
            xb = self.transform(xb, rng)
        return xb, yb

    def __repr__(self) -> str:
        return f"ArrayDataset(x={self.x.shape}, y={self.y.shape}, transform={self.transform!r})"


@dataclass(eq=False)
class DatasetBundle:
    """What ``load_dataset`` returns: both splits and what a model and a report need to know."""

    name: str                      # dataset name or folder path
    train: ArrayDataset            # training split
    test: ArrayDataset             # held-out split
    num_classes: int               # labels are 0 .. num_classes - 1
    input_shape: tuple[int, ...]   # (C, H, W) or (C, L) of one sample
    class_names: list[str]         # one name per label
    mean: np.ndarray               # float32 (C,): per-channel mean of the train split
    std: np.ndarray                # float32 (C,): per-channel std of the train split (> 0)

    def __repr__(self) -> str:
        return (f"DatasetBundle(name={self.name!r}, train={len(self.train)}, "
                f"test={len(self.test)}, num_classes={self.num_classes}, "
                f"input_shape={self.input_shape})")


def make_bundle(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                y_test: np.ndarray, class_names: Sequence[str]) -> DatasetBundle:
    """Wrap float32 (N, C, ...) arrays and int labels as a bundle, with train-split statistics."""
    train, test = ArrayDataset(x_train, y_train), ArrayDataset(x_test, y_test)
    axes = (0, *range(2, train.x.ndim))
    mean = train.x.mean(axis=axes, dtype=np.float64)
    std = train.x.std(axis=axes, dtype=np.float64)
    std[std == 0] = 1.0  # a constant channel: normalising must not divide by zero
    return DatasetBundle(name=name, train=train, test=test, num_classes=len(class_names),
                         input_shape=tuple(train.x.shape[1:]), class_names=list(class_names),
                         mean=mean.astype(np.float32), std=std.astype(np.float32))


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split of sample indices into sorted (train, test) index arrays.

    The test split has ``ceil(test_fraction * N)`` samples, shared among classes in proportion
    to their sizes (largest remainders get the rounding), so every class keeps its share.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ArgumentError(f"stratified_split: `test_fraction` must be in (0, 1), received "
                            f"test_fraction={test_fraction!r}")
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    n_test = int(np.ceil(test_fraction * len(labels)))
    quota = counts * (n_test / len(labels))
    per_class = np.floor(quota).astype(np.int64)
    extra = n_test - per_class.sum()
    per_class[np.argsort(-(quota - per_class), kind="stable")[:extra]] += 1
    rng = np.random.default_rng(seed)
    test_parts = [rng.permutation(np.flatnonzero(labels == c))[:k]
                  for c, k in zip(classes, per_class)]
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[np.concatenate(test_parts)] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
