"""The lecture's synthetic task: small images whose class is a local pattern at a random place.

Each 12x12 image holds one 3x3 pattern (a horizontal bar, a vertical bar, a corner or a cross)
at a uniformly random position on a background of uniform noise. The class is *what* the
pattern is, never *where*: a kernel shared over positions (a convolution) has to learn each
pattern once, while a locally connected layer or an MLP must learn it at every position,
which is what the learn page's conv / local / MLP switch lets a learner see.
"""

from __future__ import annotations

import numpy as np

from .dataset import DatasetBundle, make_bundle

PATTERN_SIZE = 12       # image side
PATTERN_TRAIN = 2000    # training images
PATTERN_TEST = 1000     # test images
PATTERN_NOISE = 0.35    # background values are uniform in [0, PATTERN_NOISE)
PATTERNS = {
    "horizontal bar": [[0, 0, 0], [1, 1, 1], [0, 0, 0]],
    "vertical bar": [[0, 1, 0], [0, 1, 0], [0, 1, 0]],
    "corner": [[1, 1, 1], [1, 0, 0], [1, 0, 0]],
    "cross": [[0, 1, 0], [1, 1, 1], [0, 1, 0]],
}


def make_patterns(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images float32 (n, 1, 12, 12) in [0, 1] and their int64 labels (n,), balanced
    over the classes of ``PATTERNS`` and shuffled."""
    shapes = np.array(list(PATTERNS.values()), dtype=np.float32)  # (classes, 3, 3)
    k, side = shapes.shape[1], PATTERN_SIZE
    y = rng.permutation(np.arange(n) % len(shapes)).astype(np.int64)
    x = rng.uniform(0.0, PATTERN_NOISE, size=(n, 1, side, side)).astype(np.float32)
    rows, cols = rng.integers(0, side - k + 1, size=(2, n))
    for i in range(n):
        window = x[i, 0, rows[i]:rows[i] + k, cols[i]:cols[i] + k]
        np.maximum(window, shapes[y[i]], out=window)  # the pattern's pixels are 1
    return x, y


def load_patterns(seed: int = 0) -> DatasetBundle:
    """The synthetic pattern task: 2000 training and 1000 test images drawn with ``seed``."""
    rng = np.random.default_rng([seed, 0x9A77])
    x_train, y_train = make_patterns(PATTERN_TRAIN, rng)
    x_test, y_test = make_patterns(PATTERN_TEST, rng)
    return make_bundle("patterns", x_train, y_train, x_test, y_test, list(PATTERNS))
