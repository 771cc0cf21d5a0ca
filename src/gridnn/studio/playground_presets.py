"""Preset inputs and kernels of the convolution playground: the lecture's figures, a colour
picture whose channels differ, and named classic filters (twelve different 2x2 and 3x3 ones,
one per feature map the lecture draws). Each preset is plain data the page loads into its cells."""

from __future__ import annotations

import functools

import numpy as np

# The first "3" of scikit-learn's bundled digits (raw intensities 0..16), a real 8x8 sample.
_DIGIT = 3
_LECTURE = np.arange(1, 17).reshape(4, 4)


@functools.lru_cache(maxsize=1)
def _digit() -> list:
    from sklearn.datasets import load_digits

    digits = load_digits()
    index = int(np.flatnonzero(digits.target == _DIGIT)[0])
    return [digits.images[index].astype(int).tolist()]


def input_presets() -> dict[str, dict]:
    """{name: {"label", "dims", "data"[, "kernel", "bias"]}}: data is (C, L) for dims 1 and
    (C, H, W) for dims 2; a preset with "kernel" (C, *k) brings the kernel that goes with it."""
    step = np.zeros((8, 8), int)
    step[:, 4:] = 1
    t = np.arange(32)
    checker = (np.add.outer(np.arange(4), np.arange(4)) % 2).tolist()
    return {
        "lecture": {"label": "Lecture 4x4 (1..16)", "dims": 2, "data": [_LECTURE.tolist()]},
        "rgb": {"label": "RGB 4x4 (3 different channels)", "dims": 2,
                "data": [_LECTURE.tolist(), _LECTURE[::-1].tolist(), checker],
                "kernel": [[[1, 0], [0, -1]], [[0, 1], [1, 0]], [[1, 1], [1, 1]]], "bias": 1},
        "digit": {"label": f"Digit {_DIGIT} (8x8, scikit-learn digits)", "dims": 2,
                  "data": _digit()},
        "step": {"label": "Step edge (8x8)", "dims": 2, "data": [step.tolist()]},
        "sine": {"label": "Sine series (1-D, 32)", "dims": 1,
                 "data": [np.round(np.sin(2 * np.pi * t / 16), 3).tolist()]},
        "waves": {"label": "Three signals (1-D, 3 channels)", "dims": 1,
                  "data": [np.round(np.sin(2 * np.pi * t / 16), 3).tolist(),
                           np.round(np.cos(2 * np.pi * t / 8), 3).tolist(),
                           ((t // 4) % 2).tolist()],
                  "kernel": [[1, -1], [0.5, 0.5], [-1, 1]], "bias": 0},
    }


def channel_examples() -> dict[int, str]:
    """Per number of dims, the input preset a new channel (and kernel slice) is taken from."""
    return {1: "waves", 2: "rgb"}


def start_problem() -> dict:
    """The problem the playground opens on: the lecture's case (4x4 input holding 1..16, one
    2x2 kernel, stride 2: 64 / 16 / 4), with a kernel whose four outputs all differ (the
    lecture's [[1,0],[0,-1]] gives -5 everywhere; it is the "lecture" preset)."""
    return {"input": [_LECTURE.tolist()], "kernels": [[[[1, 2], [3, 4]]]], "bias": [0],
            "stride": 2, "padding": "valid", "dilation": 1, "input_preset": "lecture"}


def _k(label: str, data: list, bias: float = 0) -> dict:
    dims = 2 if isinstance(data[0], list) else 1
    return {"label": label, "dims": dims, "data": data, "bias": bias}


def kernel_presets() -> dict[str, dict]:
    """{name: {"label", "dims", "data", "bias"}}: one kernel slice, (k,) for dims 1 and
    (kH, kW) for 2, and the bias that goes with it."""
    third, ninth, sixteenth = round(1 / 3, 4), round(1 / 9, 4), 0.0625
    return {
        # 2x2: the lecture's size
        "count": _k("Weights 1, 2, 3, 4", [[1, 2], [3, 4]]),
        "lecture": _k("Lecture [[1,0],[0,-1]]", [[1, 0], [0, -1]]),
        "lecture_bias": _k("Lecture kernel, bias +10", [[1, 0], [0, -1]], 10),
        "roberts": _k("Roberts cross [[0,1],[-1,0]]", [[0, 1], [-1, 0]]),
        "mean_2": _k("Mean 2x2", [[0.25, 0.25], [0.25, 0.25]]),
        "diff_x": _k("Left-right difference", [[-1, 1], [-1, 1]]),
        "diff_y": _k("Top-bottom difference", [[-1, -1], [1, 1]]),
        "checker": _k("Checker [[1,-1],[-1,1]]", [[1, -1], [-1, 1]]),
        "top_left": _k("Top-left pick (subsample)", [[1, 0], [0, 0]]),
        "row_sum": _k("Top row sum", [[1, 1], [0, 0]]),
        "col_sum": _k("Left column sum", [[1, 0], [1, 0]]),
        "anti_diag": _k("Anti-diagonal sum", [[0, 1], [1, 0]]),
        "bottom_right": _k("Bottom-right pick", [[0, 0], [0, 1]]),
        # 3x3: classic image filters
        "identity": _k("Identity 3x3", [[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
        "sobel_x": _k("Sobel x", [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]),
        "sobel_y": _k("Sobel y", [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]),
        "box": _k("Box blur 3x3", [[ninth] * 3] * 3),
        "gauss": _k("Gaussian blur 3x3", [[sixteenth, 2 * sixteenth, sixteenth],
                                         [2 * sixteenth, 4 * sixteenth, 2 * sixteenth],
                                         [sixteenth, 2 * sixteenth, sixteenth]]),
        "sharpen": _k("Sharpen", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
        "laplace": _k("Laplacian", [[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
        "outline": _k("Outline", [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
        "emboss": _k("Emboss", [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
        "prewitt_x": _k("Prewitt x", [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
        "line_h": _k("Horizontal line", [[-1, -1, -1], [2, 2, 2], [-1, -1, -1]]),
        "line_v": _k("Vertical line", [[-1, 2, -1], [-1, 2, -1], [-1, 2, -1]]),
        # 1-D
        "difference_1d": _k("Difference [1,-1]", [1, -1]),
        "identity_1d": _k("Identity [0,1,0]", [0, 1, 0]),
        "edge_1d": _k("Edge [-1,0,1]", [-1, 0, 1]),
        "box_1d": _k("Box blur [1/3]x3", [third] * 3),
        "second_1d": _k("Second difference [1,-2,1]", [1, -2, 1]),
        "mean_1d": _k("Mean of 2 [0.5,0.5]", [0.5, 0.5]),
        "sum_1d": _k("Sum of 2, bias -1", [1, 1], -1),
    }
