"""The fields of a run's ``config.json``, checked one by one against ``limits`` before any is
used: every number is typed and bounded (a 100000x100000 input shape, 250,000 classes or a
400-digit learning rate are refused with the field named), so no command allocates by a
number someone else wrote. ``checkpoint.load_config`` reads the file and calls ``check_config``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .errors import DataError
from .fileio import count_field, is_number, short, typed_field
from .limits import MAX_BATCH_SIZE, MAX_CLASSES, MAX_EPOCHS, MAX_SAMPLE_VALUES

MAX_RATE = 1e6  # learning rates and weight decays past this are not a setting but a typo


def check_config(cfg: dict[str, Any], path: Path) -> None:
    """DataError naming ``path`` and the field unless ``cfg`` (a run config) has every field
    of the right type and within its bounds (see ``checkpoint.load_config``)."""
    model = typed_field(cfg, "model", dict, path)
    typed_field(model, "name", str, path, "model.")
    typed_field(model, "kwargs", dict, path, "model.")
    data = typed_field(cfg, "data", dict, path)
    typed_field(data, "name", str, path, "data.")
    shape = typed_field(data, "input_shape", list, path, "data.")
    if not 2 <= len(shape) <= 4 or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 < s <= MAX_SAMPLE_VALUES
            for s in shape) or math.prod(shape) > MAX_SAMPLE_VALUES:
        raise DataError(f"{path}: data.input_shape should be (C, *S): 2 to 4 positive ints "
                        f"with at most {MAX_SAMPLE_VALUES} values in all, found {short(shape)}")
    classes = count_field(data, "num_classes", path, "data.", minimum=1, maximum=MAX_CLASSES)
    names = data.get("class_names")
    if names is not None and (not isinstance(names, list) or len(names) != classes
                              or not all(isinstance(n, str) and len(n) <= 256 for n in names)):
        raise DataError(f"{path}: data.class_names should be {classes} strings (of at most "
                        f"256 characters), "
                        f"found {short(names)}")
    for key, low in (("mean", -MAX_RATE), ("std", 0.0)):
        stat = data.get(key)
        if stat is not None and not (isinstance(stat, list) and len(stat) == shape[0] and all(
                is_number(v) and low < v <= MAX_RATE for v in stat)):
            raise DataError(f"{path}: data.{key} should be {shape[0]} finite numbers (one "
                            f"per channel{', positive' if low == 0 else ''}, |x| <= {MAX_RATE:g}), "
                            f"found {short(stat)}")
    train = typed_field(cfg, "train", dict, path)
    count_field(train, "epochs", path, "train.", minimum=1, maximum=MAX_EPOCHS)
    count_field(train, "batch_size", path, "train.", minimum=1, maximum=MAX_BATCH_SIZE)
    count_field(train, "seed", path, "train.", maximum=(1 << 64) - 1)
    for key, low in (("lr", 0.0), ("weight_decay", -1e-300)):
        value = typed_field(train, key, (int, float), path, "train.")
        if not low < value <= MAX_RATE:
            raise DataError(f"{path}: train.{key} should be a finite number "
                            f"{'> 0' if low == 0 else '>= 0'} (at most {MAX_RATE:g}), found "
                            f"{short(value)}")
    for key in ("optimizer", "schedule"):
        typed_field(train, key, str, path, "train.")
    typed_field(train, "augment", bool, path, "train.")
    if not isinstance(train.get("sync_bn", False), bool):  # absent in runs made before MPI
        raise DataError(f"{path}: train.sync_bn should be true or false, found "
                        f"{short(train['sync_bn'])}")
    border = data.get("border")
    if border is not None and not (is_number(border) and 0 <= border <= 1):
        raise DataError(f"{path}: data.border should be a number in [0, 1], found "
                        f"{short(border)}")
    share = train.get("val_split", 0.0)  # absent in runs made before --val-split
    if not (is_number(share) and 0 <= share < 1):
        raise DataError(f"{path}: train.val_split should be a number in [0, 1), found "
                        f"{short(share)}")
    size = data.get("image_size")
    if size is not None and not (isinstance(size, list) and len(size) == 2 and all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in size)
            and math.prod(size) <= MAX_SAMPLE_VALUES):
        raise DataError(f"{path}: data.image_size should be [H, W] of positive ints with "
                        f"H*W <= {MAX_SAMPLE_VALUES}, found {short(size)}")
