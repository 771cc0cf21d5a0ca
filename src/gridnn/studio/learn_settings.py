"""The learn page's settings: read and checked from a request, turned into an ordinary run
config (``recipes.new_config``, as ``gridnn train`` makes it), and sized before anything is built.

A page's run is a ``gridnn train`` run: the same config, model, loaders and optimiser, so the
same settings and seed give the same history, and a saved run resumes from the command line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .. import models, recipes
from ..errors import GridnnError
from .http import ApiError, get_choice, get_float, get_int

PAGE_DATASETS = ("digits", "patterns", "mnist1d", "fashion-mnist")
PAGE_MODELS = ("stack", "digits_cnn", "fashion_cnn", "lenet5", "mnist1d_cnn", "mlp")
MAX_LAYERS, MAX_CHANNELS, MAX_KERNEL = 4, 32, 7
MAX_STRIDE, MAX_PADDING, MAX_DILATION, MAX_POOL = 3, 3, 3, 2
MAX_HIDDEN, MAX_BATCH, MAX_EPOCHS, MAX_SEED = 256, 512, 100, 2**31 - 1
# What one page run may take: weights, gradients, optimiser slots and the copies the page
# keeps (6 x the weights) plus a batch's activations. A request past it gets 400 naming it.
MEMORY_BUDGET = 1 << 30
STACK_FIELDS = {"channels": (1, MAX_CHANNELS), "kernel": (1, MAX_KERNEL),
                "stride": (1, MAX_STRIDE), "padding": (0, MAX_PADDING),
                "dilation": (1, MAX_DILATION), "pool": (1, MAX_POOL)}
STACK_DEFAULTS = {"stride": 1, "padding": 0, "dilation": 1, "pool": 1}


@dataclass(frozen=True)
class Settings:
    """A checked learn-page request: the dataset, the model and the training settings."""

    data: str
    model: str = "stack"
    connect: str = "conv"  # stack only: conv, local or mlp
    layers: tuple[dict[str, int], ...] = models.DEFAULT_STACK
    hidden: tuple[int, ...] = ()
    dropout: float | None = None  # None: the model's own default
    seed: int = 0
    train_size: int | None = None
    val_split: float = 0.0
    train: dict[str, Any] = field(default_factory=dict)  # recipes.TRAIN_KEYS overrides


def _read_layers(body: dict) -> tuple[dict[str, int], ...]:
    layers = body.get("layers", list(models.DEFAULT_STACK))
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_LAYERS:
        raise ApiError(400, "layers", f"`layers` must be a list of 1..{MAX_LAYERS} layers, "
                                      f"got {str(layers)[:80]}")
    checked = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict) or set(layer) - set(STACK_FIELDS):
            raise ApiError(400, "layers", f"layers[{i}] must be an object with some of "
                                          f"{sorted(STACK_FIELDS)}, got {str(layer)[:80]}")
        one = {}
        for key, (lo, hi) in STACK_FIELDS.items():
            try:
                one[key] = get_int(layer, key, lo=lo, hi=hi,
                                   default=STACK_DEFAULTS.get(key, 8 if key == "channels" else 3))
            except ApiError as exc:
                raise ApiError(400, "layers", f"layers[{i}]: {exc.message}") from None
        checked.append(one)
    return tuple(checked)


def read_settings(body: dict) -> Settings:
    """Check every field of a learn request (400 ApiError naming the field)."""
    data = get_choice(body, "data", PAGE_DATASETS, default="digits")
    defaults = recipes.recipe(data)
    model = get_choice(body, "model", PAGE_MODELS, default="stack")
    hidden = get_int(body, "hidden", lo=0, hi=MAX_HIDDEN, default=0)
    size = body.get("train_size")
    train = {
        "optimizer": get_choice(body, "optimizer", recipes.OPTIMIZERS,
                                default=defaults["optimizer"]),
        "schedule": get_choice(body, "schedule", recipes.SCHEDULES,
                               default=defaults["schedule"]),
        "lr": get_float(body, "lr", default=defaults["lr"], limit=1.0),
        "weight_decay": get_float(body, "weight_decay", default=defaults["weight_decay"],
                                  limit=1.0),
        "batch_size": get_int(body, "batch_size", lo=1, hi=MAX_BATCH,
                              default=defaults["batch_size"]),
        "epochs": get_int(body, "epochs", lo=1, hi=MAX_EPOCHS, default=defaults["epochs"]),
    }
    if train["lr"] <= 0 or train["weight_decay"] < 0:
        bad = "lr" if train["lr"] <= 0 else "weight_decay"
        raise ApiError(400, bad, f"`{bad}` must be {'> 0' if bad == 'lr' else '>= 0'}, got "
                                 f"{train[bad]}")
    dropout = None if body.get("dropout") is None else get_float(body, "dropout", limit=0.9)
    val_split = get_float(body, "val_split", default=0.0, limit=0.5)
    if (dropout or 0) < 0 or val_split < 0:
        bad = "dropout" if (dropout or 0) < 0 else "val_split"
        raise ApiError(400, bad, f"`{bad}` must be >= 0")
    return Settings(
        data=data, model=model,
        connect=get_choice(body, "connect", models.CONNECTS, default="conv"),
        layers=_read_layers(body), hidden=(hidden,) if hidden else (), dropout=dropout,
        seed=get_int(body, "seed", lo=0, hi=MAX_SEED, default=0),
        train_size=None if size in (None, "all") else get_int(body, "train_size", lo=10,
                                                                hi=10**7),
        val_split=val_split, train=train)


def model_kwargs(s: Settings) -> dict[str, Any]:
    """The model factory's arguments beyond the data's shape: the stack, and the dropout
    when one was given (the zoo models that have none refuse it)."""
    extra = {} if s.dropout is None else {"dropout": s.dropout}
    if s.model == "stack":
        return {"layers": [dict(layer) for layer in s.layers], "hidden": list(s.hidden),
                "connect": s.connect, **extra}
    return extra


def make_config(s: Settings, bundle: Any) -> dict[str, Any]:
    """The run config ``gridnn train`` would write for these settings on ``bundle``."""
    try:
        return recipes.new_config(bundle, s.data, model=s.model, seed=s.seed,
                                  val_split=s.val_split, train_size=s.train_size,
                                  model_kwargs=model_kwargs(s), **s.train)
    except GridnnError as exc:
        raise ApiError(400, None, str(exc)) from None


def stack_params(s: Settings, input_shape: tuple[int, ...], num_classes: int,
                 connect: str) -> int:
    """The parameter count of ``models.stack`` for these settings, from the shapes alone (so
    a stack too large to build is refused before it is built); equals ``gn.summary``'s."""
    c, size = input_shape[0], tuple(input_shape[1:])
    total = 0
    for layer in s.layers:
        k, st, p, d = layer["kernel"], layer["stride"], layer["padding"], layer["dilation"]
        out = tuple((n + 2 * p - d * (k - 1) - 1) // st + 1 for n in size)
        if min(out) < 1 or min(n // layer["pool"] for n in out) < 1:
            raise ApiError(400, "layers", f"layer {layer} leaves no output from a "
                                          f"{'x'.join(map(str, size))} input")
        w = layer["channels"]
        positions = math.prod(out)
        if connect == "conv":
            total += w * c * k ** len(size) + w
        elif connect == "local":
            total += positions * (w * c * k ** len(size) + w)
        else:
            total += (c * math.prod(size) + 1) * w * positions
        c, size = w, tuple(n // layer["pool"] for n in out)
    features = c * math.prod(size)
    for width in s.hidden:
        total += (features + 1) * width
        features = width
    return total + (features + 1) * num_classes


def estimate_bytes(params: int, activations: int, batch_size: int) -> int:
    """Bytes a page run needs: 6 float32 copies of the weights and 4 of a batch's activations
    (forward values, gradients, the im2col columns)."""
    return 4 * (6 * params + 4 * batch_size * activations)


def check_budget(needed: int, what: str) -> None:
    """400 naming the limit when ``needed`` bytes exceed ``MEMORY_BUDGET``."""
    if needed > MEMORY_BUDGET:
        raise ApiError(400, "layers", f"{what} needs about {needed / 2**20:,.0f} MiB, over the "
                                      f"learn page's memory budget of "
                                      f"{MEMORY_BUDGET / 2**20:,.0f} MiB; make it smaller")
