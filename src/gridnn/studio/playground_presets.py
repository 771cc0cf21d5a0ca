"""Preset inputs and kernels of the convolution playground: the lecture's figures and a few
classic filters. Each preset is plain data the page loads into its editable cells."""

from __future__ import annotations

import functools

import numpy as np

# The first "3" of scikit-learn's bundled digits (raw intensities 0..16), a real 8x8 sample.
_DIGIT = 3


@functools.lru_cache(maxsize=1)
def _digit() -> list:
    from sklearn.datasets import load_digits

    digits = load_digits()
    index = int(np.flatnonzero(digits.target == _DIGIT)[0])
    return [digits.images[index].astype(int).tolist()]


def input_presets() -> dict[str, dict]:
    """{name: {"label", "dims", "data"}}: data is (C, L) for dims 1 and (C, H, W) for dims 2."""
    step = np.zeros((8, 8), int)
    step[:, 4:] = 1
    t = np.arange(32)
    return {
        "lecture": {"label": "Lecture 4x4 (1..16)", "dims": 2,
                    "data": [np.arange(1, 17).reshape(4, 4).tolist()]},
        "digit": {"label": f"Digit {_DIGIT} (8x8, scikit-learn digits)", "dims": 2,
                  "data": _digit()},
        "step": {"label": "Step edge (8x8)", "dims": 2, "data": [step.tolist()]},
        "sine": {"label": "Sine series (1-D, 32)", "dims": 1,
                 "data": [np.round(np.sin(2 * np.pi * t / 16), 3).tolist()]},
    }


def kernel_presets() -> dict[str, dict]:
    """{name: {"label", "dims", "data"}}: one kernel slice, (k,) for dims 1 and (kH, kW) for 2."""
    third = round(1 / 3, 4)
    ninth = round(1 / 9, 4)
    return {
        "identity": {"label": "Identity 3x3", "dims": 2,
                     "data": [[0, 0, 0], [0, 1, 0], [0, 0, 0]]},
        "lecture": {"label": "Lecture [[1,0],[0,-1]]", "dims": 2, "data": [[1, 0], [0, -1]]},
        "sobel_x": {"label": "Sobel x", "dims": 2,
                    "data": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]},
        "sobel_y": {"label": "Sobel y", "dims": 2,
                    "data": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]},
        "box": {"label": "Box blur 3x3", "dims": 2, "data": [[ninth] * 3] * 3},
        "identity_1d": {"label": "Identity [0,1,0]", "dims": 1, "data": [0, 1, 0]},
        "difference_1d": {"label": "Difference [1,-1]", "dims": 1, "data": [1, -1]},
        "edge_1d": {"label": "Edge [-1,0,1]", "dims": 1, "data": [-1, 0, 1]},
        "box_1d": {"label": "Box blur [1/3]x3", "dims": 1, "data": [third] * 3},
    }
