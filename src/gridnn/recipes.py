"""Training recipes: what a run is made of, from a dataset name to loaders and an optimiser.

``new_config`` turns a dataset and the user's overrides into a run config (the per-dataset
defaults fill the rest); ``make_loaders`` and ``make_optimizer`` build what that config asks
for. ``gridnn train`` and ``benchmarks/accuracy.py`` both use these, so the PyTorch side of the
accuracy benchmark sees the very same batches, optimiser and schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ArgumentError, DataError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("onecycle", "cosine", "step", "none")
DEFAULT_DATA = "digits"

# Per-dataset defaults; any dataset not listed gets "*". Tuned so that a bare `gridnn train`
# meets the digits target of benchmarks/accuracy.py quickly (figures: benchmarks/RESULTS.md).
RECIPES: dict[str, dict[str, Any]] = {
    "digits": {"model": "digits_cnn", "epochs": 15, "batch_size": 32, "lr": 3e-3,
               "optimizer": "adamw", "weight_decay": 1e-4, "schedule": "onecycle",
               "augment": False},
    "mnist1d": {"model": "mnist1d_cnn", "epochs": 60, "batch_size": 64, "lr": 5e-3,
                "optimizer": "adamw", "weight_decay": 1e-4, "schedule": "onecycle",
                "augment": True},
    "fashion-mnist": {"model": "fashion_cnn", "epochs": 10, "batch_size": 128, "lr": 3e-3,
                      "optimizer": "adamw", "weight_decay": 5e-4, "schedule": "onecycle",
                      "augment": False},
    "mnist": {"model": "fashion_cnn", "epochs": 5, "batch_size": 128, "lr": 3e-3,
              "optimizer": "adamw", "weight_decay": 5e-4, "schedule": "onecycle",
              "augment": False},
    "cifar10": {"model": "resnet_small", "epochs": 30, "batch_size": 128, "lr": 3e-3,
                "optimizer": "adamw", "weight_decay": 5e-4, "schedule": "onecycle",
                "augment": True},
    "patterns": {"model": "stack", "epochs": 15, "batch_size": 32, "lr": 3e-3,
                 "optimizer": "adamw", "weight_decay": 1e-4, "schedule": "onecycle",
                 "augment": False},
    "*": {"model": None, "epochs": 10, "batch_size": 64, "lr": 1e-3, "optimizer": "adam",
          "weight_decay": 0.0, "schedule": "cosine", "augment": False},
}
TRAIN_KEYS = ("epochs", "batch_size", "lr", "optimizer", "weight_decay", "schedule", "augment")


def recipe(data: str) -> dict[str, Any]:
    """The defaults for dataset ``data`` (its spelling variants too), else the generic ones."""
    key = data.lower().replace("_", "-")
    key = {"fashion": "fashion-mnist", "fashionmnist": "fashion-mnist", "mnist-1d": "mnist1d",
           "cifar": "cifar10", "cifar-10": "cifar10"}.get(key, key)
    return RECIPES.get(key, RECIPES["*"])


# ---- the model ------------------------------------------------------------------------------
def check_model_name(name: str) -> None:
    """ArgumentError unless ``name`` is a model of the zoo."""
    from . import models

    models.factory(name)


def default_model(input_shape: Sequence[int]) -> str:
    """The zoo model for samples of ``input_shape`` (C, ...) when the dataset has no recipe
    (an image folder): ``mnist1d_cnn`` for signals; for images ``digits_cnn`` up to 16x16 (one
    channel), ``fashion_cnn`` up to 64x64, else ``resnet_small`` (global pooling: any size)."""
    channels, *size = (int(s) for s in input_shape)
    if len(size) == 1:
        return "mnist1d_cnn"
    if max(size) <= 16 and channels == 1:
        return "digits_cnn"
    return "fashion_cnn" if max(size) <= 64 else "resnet_small"


def input_kwargs(input_shape: Sequence[int]) -> dict[str, Any]:
    """The zoo factories' ``in_channels`` and ``input_size`` for samples of shape (C, ...)."""
    size = [int(s) for s in input_shape[1:]]
    return {"in_channels": int(input_shape[0]), "input_size": size[0] if len(size) == 1 else size}


# ---- the run config ---------------------------------------------------------------------------
def new_config(bundle: Any, data_name: str, *, data_dir: str | None = None,
               model: str | None = None, seed: int | None = None, val_split: float = 0.0,
               image_size: Sequence[int] | None = None, sync_bn: bool = False,
               train_size: int | None = None, model_kwargs: dict[str, Any] | None = None,
               **overrides: Any) -> dict[str, Any]:
    """The config of a new run on ``bundle`` (a loaded dataset named ``data_name``): the model
    (default: the recipe's, else ``default_model`` for the input shape), the hyper-parameters
    in ``overrides`` (``TRAIN_KEYS``; None means the recipe's value), the rest from the
    dataset's recipe. ``val_split``: the share of the training split held out for validation
    (0: the test split is evaluated after every epoch). ``image_size``: (H, W) the images of
    a folder were resized to. ``sync_bn``: under MPI, BatchNorm statistics of the global batch
    (SyncBatchNorm). ``train_size``: train on that many of the training images (a seeded
    stratified subset; None: all). ``model_kwargs``: more arguments for the model factory (the
    layers of a ``stack``). Stored as config.json (see ``checkpoint.load_config``).
    """
    unknown = sorted(set(overrides) - set(TRAIN_KEYS))
    if unknown:
        raise ArgumentError(f"new_config: unknown settings {unknown}; expected some of "
                            f"{', '.join(TRAIN_KEYS)}")
    if not 0.0 <= val_split < 1.0:
        raise ArgumentError(f"`val_split` must be in [0, 1), received val_split={val_split!r}")
    _check_train_size(train_size, ArgumentError)
    defaults = recipe(bundle.name)
    model_name = model or defaults["model"] or default_model(bundle.input_shape)
    check_model_name(model_name)
    seed = 0 if seed is None else seed
    hp = {k: overrides[k] if overrides.get(k) is not None else defaults[k] for k in TRAIN_KEYS}
    if hp["optimizer"] not in OPTIMIZERS:
        raise ArgumentError(f"unknown optimizer {hp['optimizer']!r}; expected one of "
                            f"{', '.join(OPTIMIZERS)}")
    shape = [int(s) for s in bundle.input_shape]
    given = input_kwargs(shape)
    kwargs = {"in_channels": given["in_channels"], "num_classes": int(bundle.num_classes),
              "input_size": given["input_size"], "seed": int(seed), **(model_kwargs or {})}
    return {
        "model": {"name": model_name, "kwargs": kwargs},
        "data": {"name": data_name, "data_dir": data_dir, "input_shape": shape,
                 "image_size": None if image_size is None else [int(s) for s in image_size],
                 "num_classes": int(bundle.num_classes),
                 "class_names": [str(c) for c in bundle.class_names]
                 if bundle.class_names is not None else None,
                 "mean": _floats(bundle.mean), "std": _floats(bundle.std),
                 "border": _border(bundle.train.x)},
        "train": {**hp, "seed": seed, "val_split": float(val_split), "sync_bn": bool(sync_bn),
                  **({"train_size": int(train_size)} if train_size is not None else {})},
    }


def _check_train_size(value: Any, error: type[Exception]) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or
                              value < 1):
        raise error(f"`train_size` must be a positive int (a number of training images) or "
                    f"absent, received train_size={value!r}")


def _border(x: np.ndarray) -> float | None:
    """The training images' mean border pixel (their background), for ``inputs.load_input``;
    None for signals and for data outside [0, 1]."""
    from .inputs import border_mean

    if x.ndim != 4 or x.size == 0 or x.min() < 0 or x.max() > 1:
        return None
    return border_mean(x)


def _floats(values: Any) -> list[float] | None:
    return None if values is None else [float(x) for x in np.ravel(values)]


def load_bundle(config: dict[str, Any], config_path: Path, name: str | None = None,
                data_dir: str | None = None) -> Any:
    """The dataset a run was trained on (or ``name``, from ``data_dir`` if given), checked to
    have the inputs and classes the run's model takes."""
    from . import data

    dcfg = config["data"]
    bundle = data.load_dataset(name or dcfg["name"], data_dir=data_dir or dcfg.get("data_dir"),
                               seed=config["train"]["seed"], image_size=dcfg.get("image_size"))
    shape = [int(s) for s in bundle.input_shape]
    if shape != dcfg["input_shape"] or int(bundle.num_classes) != dcfg["num_classes"]:
        raise DataError(f"dataset {bundle.name!r} has inputs {tuple(shape)} and "
                        f"{bundle.num_classes} classes, but the model in {config_path} expects "
                        f"{tuple(dcfg['input_shape'])} and {dcfg['num_classes']}")
    return bundle


# ---- data loaders ---------------------------------------------------------------------------
def normalizer(data_cfg: dict[str, Any]) -> Any:
    """The per-channel ``Normalize`` of the stored statistics, or None without them."""
    from . import data

    if data_cfg.get("mean") is None:
        return None
    return data.Normalize(data_cfg["mean"], data_cfg["std"])


def train_transform(data_cfg: dict[str, Any], augment: bool) -> Any:
    """Random shifts (and mirror flips for colour images) if ``augment``, then normalisation."""
    from . import data

    norm = normalizer(data_cfg)
    if not augment:
        return norm
    shape = data_cfg["input_shape"]
    steps = [data.RandomShift(max(1, max(shape[1:]) // 8))]
    if len(shape) == 3 and shape[0] == 3:  # natural colour images: mirror-symmetric
        steps.append(data.RandomHorizontalFlip())
    return data.Compose([*steps, norm] if norm else steps)


def validation_split(bundle: Any, config: dict[str, Any]) -> tuple[Any, Any]:
    """(samples to train on, validation samples or None): with ``train.val_split`` F > 0, a
    stratified share F of the training split (seeded by the run's seed) is held out; with
    ``train.train_size`` n, a stratified n of the rest (all when fewer) are trained on."""
    from . import data

    share = config["train"].get("val_split") or 0.0
    size = config["train"].get("train_size")
    _check_train_size(size, DataError)
    train, held_out = bundle.train, None
    if share:
        keep, held = data.stratified_split(train.y, share, config["train"]["seed"])
        train, held_out = data.ArrayDataset(train.x[keep], train.y[keep]), \
            data.ArrayDataset(train.x[held], train.y[held])
    if size is not None and size < len(train):
        # ceil((size - 0.5) / N * N) is size whatever the float rounding
        _, subset = data.stratified_split(train.y, (size - 0.5) / len(train),
                                          config["train"]["seed"])
        train = data.ArrayDataset(train.x[subset], train.y[subset])
    return train, held_out


def make_loaders(bundle: Any, config: dict[str, Any], batch_size: int | None = None) -> tuple:
    """(train loader, test loader) of ``bundle`` as the config describes (the train loader
    without the validation share, see ``validation_split``); the test loader's batches hold
    ``batch_size`` samples (default: the larger of 256 and the training batch)."""
    from . import data

    tcfg = config["train"]
    train_set, _ = validation_split(bundle, config)
    train = data.DataLoader(train_set, tcfg["batch_size"], shuffle=True, drop_last=False,
                            seed=tcfg["seed"],
                            transform=train_transform(config["data"], tcfg["augment"]))
    return train, eval_loader(bundle.test, config, batch_size)


def eval_loader(dataset: Any, config: dict[str, Any], batch_size: int | None = None) -> Any:
    """An in-order loader of ``dataset`` normalised as the config says, ``batch_size``
    samples a batch (default: the larger of 256 and the training batch)."""
    from . import data

    tcfg = config["train"]
    return data.DataLoader(dataset, batch_size or max(256, tcfg["batch_size"]), shuffle=False,
                           drop_last=False, seed=tcfg["seed"],
                           transform=normalizer(config["data"]))


# ---- optimiser and schedule -------------------------------------------------------------------
@dataclass(frozen=True)
class OptimizerRecipe:
    """The optimiser and schedule a config asks for, named as in both ``gridnn.optim`` and
    ``torch.optim`` (the classes share names and keyword arguments)."""

    optimizer: str  # SGD, Adam or AdamW
    optimizer_kwargs: dict[str, Any]
    scheduler: str | None  # OneCycleLR, CosineAnnealingLR, StepLR, or None for a constant lr
    scheduler_kwargs: dict[str, Any]
    interval: str  # 'step': the scheduler steps after every batch; 'epoch': after every epoch


def optimizer_recipe(config: dict[str, Any], steps_per_epoch: int) -> OptimizerRecipe:
    """The config's optimiser and schedule. SGD uses Nesterov momentum 0.9; 'onecycle' steps per
    batch, the others per epoch."""
    t = config["train"]
    name, lr, wd = t["optimizer"], t["lr"], t["weight_decay"]
    if name == "sgd":
        opt, opt_kwargs = "SGD", {"lr": lr, "momentum": 0.9, "nesterov": True, "weight_decay": wd}
    elif name in ("adam", "adamw"):
        opt, opt_kwargs = {"adam": "Adam", "adamw": "AdamW"}[name], {"lr": lr, "weight_decay": wd}
    else:
        raise ArgumentError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    epochs, schedule = t["epochs"], t["schedule"]
    if schedule == "onecycle":
        return OptimizerRecipe(opt, opt_kwargs, "OneCycleLR",
                               {"max_lr": lr, "total_steps": epochs * steps_per_epoch}, "step")
    if schedule == "cosine":
        return OptimizerRecipe(opt, opt_kwargs, "CosineAnnealingLR", {"T_max": epochs}, "epoch")
    if schedule == "step":
        return OptimizerRecipe(opt, opt_kwargs, "StepLR",
                               {"step_size": max(1, epochs // 3), "gamma": 0.1}, "epoch")
    if schedule == "none":
        return OptimizerRecipe(opt, opt_kwargs, None, {}, "epoch")
    raise ArgumentError(f"unknown schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}")


def make_optimizer(config: dict[str, Any], model: Any,
                   steps_per_epoch: int) -> tuple[Any, Any, str]:
    """(optimizer, scheduler or None, scheduler interval) for ``model`` from the config."""
    from . import optim

    r = optimizer_recipe(config, steps_per_epoch)
    opt = getattr(optim, r.optimizer)(list(model.parameters()), **r.optimizer_kwargs)
    sched = getattr(optim, r.scheduler)(opt, **r.scheduler_kwargs) if r.scheduler else None
    return opt, sched, r.interval
