"""A user's own input file for a trained run: what ``gridnn predict`` and ``gridnn show
feature-maps --image`` both read, through the one function ``load_input``.

A picture is made to look like the run's training data, and each change is named in a note on
stderr: colour and grayscale are converted, the size is scaled to the model's (bilinear), and a
drawing whose background is the opposite of the training images' (a black digit on white paper
for a model trained on white digits on black) is inverted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .console import note
from .errors import DataError

# Training images whose borders average below LOW (or above 1 - LOW) have a background
# convention (MNIST, digits: dark); a picture whose border differs from it by more than FLIP is
# taken to be drawn the other way round.
LOW, FLIP = 0.2, 0.5


def border_mean(x: np.ndarray) -> float:
    """Mean of the outermost rows and columns of images ``x`` (..., H, W) in [0, 1]."""
    rows = x[..., [0, -1], :]
    cols = x[..., 1:-1, [0, -1]]
    return float((rows.sum() + cols.sum()) / (rows.size + cols.size))


def load_input(path: str | os.PathLike, data_cfg: dict[str, Any], *, resize: bool = True,
               invert: bool | None = None) -> np.ndarray:
    """One raw input (C, H, W) or (C, L) float32 for a run whose config's ``data`` section is
    ``data_cfg`` (input_shape, and ``border`` of the training images if known).

    PNG/JPEG: converted to the model's channels, resized to its input size (``resize=False``
    refuses another size instead) and, with ``invert`` None, inverted when its background is
    the opposite of the training images' (True: always, False: never). ``.npy`` arrays are
    taken as they are and must have the model's shape. DataError naming the file otherwise.
    What was changed is noted on stderr.
    """
    from .data.images import read_file_bytes

    path = Path(path)
    kind = "file" if path.suffix.lower() == ".npy" else "image"
    x, changes = read_input(read_file_bytes(path, kind), str(path), data_cfg, resize=resize,
                            invert=invert)
    if changes:
        note(f"{path}: " + "; ".join(changes))
    return x


def read_input(raw: bytes, name: str, data_cfg: dict[str, Any], *, resize: bool = True,
               invert: bool | None = None) -> tuple[np.ndarray, list[str]]:
    """``load_input`` for the bytes of a file named ``name`` (an upload to the studio): the
    same conversion, and the list of changes made ("resized from 28x28 to 8x8", "inverted,
    as ...") instead of a note on stderr."""
    from . import data

    path = Path(name)
    shape = tuple(data_cfg["input_shape"])
    if path.suffix.lower() == ".npy":
        return data.load_image_bytes(raw, name, channels=shape[0], size=shape[1:]), []
    if len(shape) != 3:
        raise DataError(f"{path}: the model takes signals of shape {shape}, not images; give a "
                        f".npy array")
    channels, size = data.image_header(path, raw)
    want = tuple(shape[1:])
    if size != want and not resize:
        raise DataError(f"{path} is {size[0]}x{size[1]} but the model takes {want[0]}x{want[1]} "
                        f"images (drop --no-resize to scale it)")
    x = data.load_image_bytes(raw, name, channels=shape[0], size=want)
    changes = []
    if channels != shape[0]:
        changes.append("converted to grayscale" if shape[0] == 1 else "converted to RGB")
    if size != want:
        changes.append(f"resized from {size[0]}x{size[1]} to {want[0]}x{want[1]}")
    trained = data_cfg.get("border")
    if invert is None and trained is not None and min(trained, 1 - trained) < LOW:
        invert = abs(border_mean(x) - trained) > FLIP
        if invert:
            changes.append(f"inverted, as its background is {_tone(border_mean(x))} and the "
                           f"training images' is {_tone(trained)} (--no-invert keeps it)")
    elif invert:
        changes.append("inverted (--invert)")
    if invert:
        x = 1.0 - x
    return x, changes


def _tone(level: float) -> str:
    return "light" if level > 0.5 else "dark"
