"""The model zoo: factories that build ``nn.Sequential`` models from JSON-serialisable arguments.

Every factory takes keyword arguments only: ``in_channels``, ``num_classes``, ``input_size``
(an int or a tuple: the length of a signal or the height and width of an image, for layers whose
size depends on it), ``seed`` (an int, for the initial weights) or ``rng`` (a numpy Generator),
plus a few architecture knobs. ``build(name, **kwargs)`` looks a factory up in ``MODELS``, so a
run's config (model name and arguments) rebuilds the same model.

    model = gridnn.models.build("fashion_cnn", seed=0)   # (N, 1, 28, 28) -> (N, 10)

Being flat ``Sequential`` models (ResNet aside), their state-dict keys are '0.weight', ...: a
``torch.nn.Sequential`` of the same layers exchanges weights with them.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

from ._backend import xp
from .argtypes import did_you_mean
from .errors import ArgumentError, ArgumentTypeError
from .nn import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    Dropout,
    Flatten,
    Linear,
    LocallyConnected1d,
    LocallyConnected2d,
    MaxPool1d,
    MaxPool2d,
    Module,
    ReLU,
    ResidualBlock,
    Sequential,
    Tanh,
)
from .nn._checks import number_in, one_of, positive_int

__all__ = ["MODELS", "build", "default_input_shape", "digits_cnn", "fashion_cnn", "lenet5",
           "mlp", "mnist1d_cnn", "resnet_small", "stack"]

Rng = xp.random.Generator


# ---- argument helpers ------------------------------------------------------------------------
def _generator(seed: int | None, rng: Rng | None, owner: str) -> Rng:
    """The Generator for the initial weights: ``rng``, or a new one from ``seed``."""
    if rng is not None and seed is not None:
        raise ArgumentError(f"{owner}: pass `seed` or `rng`, not both")
    if rng is not None:
        if not isinstance(rng, Rng):
            raise ArgumentTypeError(
                f"{owner}: `rng` must be a numpy.random.Generator, received {type(rng).__name__}"
            )
        return rng
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ArgumentError(f"{owner}: `seed` must be a non-negative int, received seed={seed!r}")
    return xp.random.default_rng(seed)


def _size(input_size: int | Sequence[int], nd: int, owner: str) -> tuple[int, ...]:
    """``input_size`` as nd positive ints (an int means the same size along every axis)."""
    if isinstance(input_size, int) and not isinstance(input_size, bool):
        input_size = (input_size,) * nd
    if (not isinstance(input_size, (tuple, list)) or len(input_size) != nd
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                       for v in input_size)):
        raise ArgumentError(
            f"{owner}: `input_size` must be a positive int or {nd} positive ints, "
            f"received input_size={input_size!r}"
        )
    return tuple(input_size)


def _widths(widths: Sequence[int], count: int, name: str, owner: str) -> tuple[int, ...]:
    if not isinstance(widths, (tuple, list)) or (count and len(widths) != count):
        want = f"{count} positive ints" if count else "a list of positive ints"
        raise ArgumentError(f"{owner}: `{name}` must be {want}, received {name}={widths!r}")
    return tuple(positive_int(w, name, owner) for w in widths)


def _pooled(n: int, k: int = 2) -> int:
    """Size after a k x k max pool with stride k (floor)."""
    return n // k


# ---- factories -------------------------------------------------------------------------------
def mlp(*, in_channels: int = 1, input_size: int | Sequence[int] = 40, num_classes: int = 10,
        hidden: Sequence[int] = (100, 100), dropout: float = 0.0, seed: int | None = None,
        rng: Rng | None = None) -> Sequential:
    """Flatten -> [Linear -> ReLU (-> Dropout)] per hidden width -> Linear.

    The MNIST-1D baseline with the defaults (40 -> 100 -> 100 -> 10, about 15k parameters).
    ``input_size`` is the signal length or image size: input (N, in_channels, *input_size),
    or (N, features) with in_channels * prod(input_size) features -> (N, num_classes).
    """
    rng = _generator(seed, rng, "mlp")
    features = positive_int(in_channels, "in_channels", "mlp")
    size = input_size if isinstance(input_size, (tuple, list)) else (input_size,)
    features *= math.prod(_size(size, len(size), "mlp"))
    p = number_in(dropout, "dropout", "mlp", 0.0, 1.0, high_open=True)
    layers: list[Module] = [Flatten()]
    for width in _widths(hidden, 0, "hidden", "mlp"):
        layers += [Linear(features, width, rng=rng), ReLU()]
        if p:
            layers.append(Dropout(p, rng=rng))
        features = width
    layers.append(Linear(features, positive_int(num_classes, "num_classes", "mlp"), rng=rng))
    return Sequential(*layers)


def mnist1d_cnn(*, in_channels: int = 1, input_size: int = 40, num_classes: int = 10,
                channels: int = 64, batch_norm: bool = True, dropout: float = 0.3,
                seed: int | None = None, rng: Rng | None = None) -> Sequential:
    """A 1-D CNN for MNIST-1D after the paper's: three Conv1d(kernel 5, stride 2, padding 2),
    each followed by BatchNorm1d (``batch_norm``) and ReLU, then Flatten -> Dropout -> Linear.

    ``channels=25, batch_norm=False, dropout=0`` is the paper's plain CNN; the defaults, with
    BatchNorm and dropout, are what ``gridnn train --data mnist1d`` trains (its accuracy is in
    benchmarks/RESULTS.md). Input (N, in_channels, L) -> (N, num_classes); the length halves
    (rounding up) at each conv: 40 -> 20 -> 10 -> 5.
    """
    owner = "mnist1d_cnn"
    rng = _generator(seed, rng, owner)
    (length,) = _size(input_size, 1, owner)
    c_in = positive_int(in_channels, "in_channels", owner)
    c = positive_int(channels, "channels", owner)
    p = number_in(dropout, "dropout", owner, 0.0, 1.0, high_open=True)
    layers: list[Module] = []
    for i in range(3):
        # With BatchNorm the conv bias is redundant (the BatchNorm shift replaces it).
        layers.append(Conv1d(c_in if i == 0 else c, c, 5, stride=2, padding=2,
                             bias=not batch_norm, rng=rng))
        layers += [BatchNorm1d(c), ReLU()] if batch_norm else [ReLU()]
        length = (length - 1) // 2 + 1
    layers.append(Flatten())
    if p:
        layers.append(Dropout(p, rng=rng))
    layers.append(Linear(c * length, positive_int(num_classes, "num_classes", owner), rng=rng))
    return Sequential(*layers)


def lenet5(*, in_channels: int = 1, input_size: int | Sequence[int] = 28, num_classes: int = 10,
           activation: str = "relu", pool: str = "max", seed: int | None = None,
           rng: Rng | None = None) -> Sequential:
    """LeNet-5 (LeCun et al. 1998): conv 6@5x5 -> pool -> conv 16@5x5 -> pool -> 120 -> 84 ->
    classes. ``activation='tanh', pool='avg'`` is the original; ReLU and max pooling train faster.

    A 32x32 input needs no padding (the original); smaller inputs get padding 2 on the first
    conv (28x28 MNIST then follows the 32x32 path: 16 * 5 * 5 features), and on the second when
    the map is smaller than 10 (8x8 digits: 16 * 2 * 2). Input (N, in_channels, H, W), H, W >= 4.
    """
    owner = "lenet5"
    rng = _generator(seed, rng, owner)
    h, w = _size(input_size, 2, owner)
    if min(h, w) < 4:
        raise ArgumentError(f"{owner}: `input_size` must be at least 4x4, received {(h, w)}")
    acts = {"relu": ReLU, "tanh": Tanh}
    pools = {"max": MaxPool2d, "avg": AvgPool2d}
    if activation not in acts:
        raise ArgumentError(f"{owner}: `activation` must be 'relu' or 'tanh', "
                            f"received {activation!r}")
    if pool not in pools:
        raise ArgumentError(f"{owner}: `pool` must be 'max' or 'avg', received {pool!r}")
    act, pool_cls = acts[activation], pools[pool]
    pad1 = 0 if min(h, w) >= 32 else 2
    h, w = _pooled(h + 2 * pad1 - 4), _pooled(w + 2 * pad1 - 4)
    pad2 = 0 if min(h, w) >= 10 else 2
    h, w = _pooled(h + 2 * pad2 - 4), _pooled(w + 2 * pad2 - 4)
    return Sequential(
        Conv2d(positive_int(in_channels, "in_channels", owner), 6, 5, padding=pad1, rng=rng),
        act(), pool_cls(2),
        Conv2d(6, 16, 5, padding=pad2, rng=rng), act(), pool_cls(2),
        Flatten(),
        Linear(16 * h * w, 120, rng=rng), act(),
        Linear(120, 84, rng=rng), act(),
        Linear(84, positive_int(num_classes, "num_classes", owner), rng=rng),
    )


def _conv_bn_relu(c_in: int, c_out: int, rng: Rng) -> list[Module]:
    """3x3 'same' conv without bias (the BatchNorm's shift replaces it), BatchNorm, ReLU."""
    return [Conv2d(c_in, c_out, 3, padding=1, bias=False, rng=rng), BatchNorm2d(c_out), ReLU()]


def fashion_cnn(*, in_channels: int = 1, input_size: int | Sequence[int] = 28,
                num_classes: int = 10, widths: Sequence[int] = (32, 64), hidden: int = 128,
                dropout: float = 0.25, seed: int | None = None,
                rng: Rng | None = None) -> Sequential:
    """A small modern CNN for 28x28 Fashion-MNIST: per width, conv3x3-BN-ReLU then 2x2 max
    pool; then Flatten -> Dropout -> Linear(hidden) -> ReLU -> Dropout -> Linear.

    Input (N, in_channels, H, W) -> (N, num_classes); H and W halve (floor) per width.
    ``gridnn train --data fashion-mnist`` trains it (AdamW lr 3e-3, weight decay 5e-4, OneCycle,
    batch 128, 10 epochs); its accuracy and time are in benchmarks/RESULTS.md.
    """
    owner = "fashion_cnn"
    rng = _generator(seed, rng, owner)
    h, w = _size(input_size, 2, owner)
    p = number_in(dropout, "dropout", owner, 0.0, 1.0, high_open=True)
    layers: list[Module] = []
    c = positive_int(in_channels, "in_channels", owner)
    for width in _widths(widths, 0, "widths", owner):
        if min(h, w) < 2:
            raise ArgumentError(
                f"{owner}: input_size={input_size!r} is too small for {len(widths)} poolings"
            )
        layers += [*_conv_bn_relu(c, width, rng), MaxPool2d(2)]
        c, h, w = width, _pooled(h), _pooled(w)
    hidden = positive_int(hidden, "hidden", owner)
    layers += [Flatten(), Dropout(p, rng=rng), Linear(c * h * w, hidden, rng=rng), ReLU(),
               Dropout(p, rng=rng),
               Linear(hidden, positive_int(num_classes, "num_classes", owner), rng=rng)]
    return Sequential(*layers)


def digits_cnn(*, in_channels: int = 1, input_size: int | Sequence[int] = 8,
               num_classes: int = 10, widths: Sequence[int] = (32, 64), dropout: float = 0.25,
               seed: int | None = None, rng: Rng | None = None) -> Sequential:
    """The default model for scikit-learn's 8x8 digits: two conv3x3-BN-ReLU blocks, one 2x2
    max pool, Dropout, Linear. Input (N, in_channels, 8, 8) -> (N, num_classes).
    ``gridnn train`` trains it by default (AdamW lr 3e-3, OneCycle, batch 32); its accuracy
    and time are in benchmarks/RESULTS.md."""
    owner = "digits_cnn"
    rng = _generator(seed, rng, owner)
    h, w = _size(input_size, 2, owner)
    if min(h, w) < 2:
        raise ArgumentError(f"{owner}: `input_size` must be at least 2x2, received {(h, w)}")
    c1, c2 = _widths(widths, 2, "widths", owner)
    p = number_in(dropout, "dropout", owner, 0.0, 1.0, high_open=True)
    return Sequential(
        *_conv_bn_relu(positive_int(in_channels, "in_channels", owner), c1, rng),
        *_conv_bn_relu(c1, c2, rng),
        MaxPool2d(2),
        Flatten(),
        Dropout(p, rng=rng),
        Linear(c2 * _pooled(h) * _pooled(w), positive_int(num_classes, "num_classes", owner),
               rng=rng),
    )


def resnet_small(*, in_channels: int = 3, input_size: int | Sequence[int] = 32,
                 num_classes: int = 10, widths: Sequence[int] = (16, 32, 64),
                 blocks: int = 1, seed: int | None = None,
                 rng: Rng | None = None) -> Sequential:
    """A small ResNet for 32x32 colour images: conv3x3-BN-ReLU stem of widths[0] filters, then
    per width ``blocks`` ResidualBlocks (the first of each later stage with stride 2), global
    average pooling and Linear. Input (N, in_channels, H, W) -> (N, num_classes); any H, W >= 1
    works (the global pooling removes the size), ``input_size`` only checks it.
    """
    owner = "resnet_small"
    rng = _generator(seed, rng, owner)
    _size(input_size, 2, owner)
    widths = _widths(widths, 0, "widths", owner)
    if not widths:
        raise ArgumentError(f"{owner}: `widths` must hold at least one width, received []")
    blocks = positive_int(blocks, "blocks", owner)
    c = widths[0]
    layers: list[Module] = [
        Conv2d(positive_int(in_channels, "in_channels", owner), c, 3, padding=1, bias=False,
               rng=rng),
        BatchNorm2d(c), ReLU(),
    ]
    for stage, width in enumerate(widths):
        for b in range(blocks):
            stride = 2 if stage > 0 and b == 0 else 1
            layers.append(ResidualBlock(c, width, stride, rng=rng))
            c = width
    layers += [AdaptiveAvgPool2d(1), Flatten(),
               Linear(c, positive_int(num_classes, "num_classes", owner), rng=rng)]
    return Sequential(*layers)


class _Maps(Module):
    """(N, C * prod(S)) -> (N, C, *S): a dense layer's units laid out as a conv layer's maps."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: Any) -> Any:
        return x.reshape(x.shape[0], *self.shape)


CONNECTS = ("conv", "local", "mlp")
STACK_KEYS = ("channels", "kernel", "stride", "padding", "dilation", "pool")
DEFAULT_STACK = ({"channels": 16, "kernel": 3, "padding": 1},
                 {"channels": 32, "kernel": 3, "padding": 1, "pool": 2})


def stack(*, in_channels: int = 1, input_size: int | Sequence[int] = (8, 8),
          num_classes: int = 10, layers: Sequence[dict[str, int]] = DEFAULT_STACK,
          hidden: Sequence[int] = (),
          connect: str = "conv", dropout: float = 0.0, seed: int | None = None,
          rng: Rng | None = None) -> Sequential:
    """The learn page's editable stack: per entry of ``layers`` ({channels, kernel, stride=1,
    padding=0, dilation=1, pool=1}) a layer of ``channels`` maps, ReLU and a pool x pool max
    pool (1: none); then Flatten, Linear(h) -> ReLU per ``hidden`` width, Dropout, Linear.

    ``connect`` says how each layer's output units see its input: 'conv' shares one kernel over
    all windows (Conv1d/2d), 'local' keeps the windows but gives every position its own kernel
    (LocallyConnected1d/2d), 'mlp' connects every input to every output unit (Linear, its
    outputs laid out as the same maps): the lecture's three-way comparison on one stack.
    Input (N, in_channels, *input_size) -> (N, num_classes); an int ``input_size`` is the
    length of a signal, a pair the height and width of an image.
    """
    owner = "stack"
    rng = _generator(seed, rng, owner)
    one_of(connect, CONNECTS, "connect", owner)
    nd = len(input_size) if isinstance(input_size, (tuple, list)) else 1
    size = _size(input_size, nd, owner)
    c = positive_int(in_channels, "in_channels", owner)
    p = number_in(dropout, "dropout", owner, 0.0, 1.0, high_open=True)
    conv, local, pool = (Conv1d, LocallyConnected1d, MaxPool1d) if nd == 1 else \
        (Conv2d, LocallyConnected2d, MaxPool2d)
    out: list[Module] = []
    for i, spec in enumerate(layers):
        if not isinstance(spec, dict) or set(spec) - set(STACK_KEYS) or "channels" not in spec:
            raise ArgumentError(f"{owner}: layers[{i}] must be a dict with `channels` and some "
                                f"of {STACK_KEYS[1:]}, received {spec!r}")
        k, s, d, pl = (positive_int(spec.get(key, 1), f"layers[{i}].{key}", owner)
                       for key in ("kernel", "stride", "dilation", "pool"))
        pad = spec.get("padding", 0)
        width = positive_int(spec["channels"], f"layers[{i}].channels", owner)
        new = tuple((n + 2 * pad - d * (k - 1) - 1) // s + 1 for n in size) \
            if isinstance(pad, int) and pad >= 0 else (0,)
        if min(new) < 1 or min(n // pl for n in new) < 1:
            raise ArgumentError(f"{owner}: layers[{i}] ({spec}) leaves no output from a "
                                f"{'x'.join(map(str, size))} input (padding must be an int >= 0)")
        geometry = {"stride": s, "padding": pad, "dilation": d, "rng": rng}
        if connect == "conv":
            out.append(conv(c, width, k, **geometry))
        elif connect == "local":
            out.append(local(c, width, size, k, **geometry))
        else:
            out += [Flatten(), Linear(c * math.prod(size), width * math.prod(new), rng=rng),
                    _Maps((width, *new))]
        out.append(ReLU())
        if pl > 1:
            out.append(pool(pl))
        c, size = width, tuple(n // pl for n in new)
    features = c * math.prod(size)
    out.append(Flatten())
    for width in _widths(hidden, 0, "hidden", owner):
        out += [Linear(features, width, rng=rng), ReLU()]
        features = width
    if p:
        out.append(Dropout(p, rng=rng))
    out.append(Linear(features, positive_int(num_classes, "num_classes", owner), rng=rng))
    return Sequential(*out)


# ---- registry --------------------------------------------------------------------------------
MODELS: dict[str, Callable[..., Module]] = {
    "digits_cnn": digits_cnn,
    "fashion_cnn": fashion_cnn,
    "lenet5": lenet5,
    "mlp": mlp,
    "mnist1d_cnn": mnist1d_cnn,
    "resnet_small": resnet_small,
    "stack": stack,
}


def factory(name: str) -> Callable[..., Module]:
    """``MODELS[name]``; ArgumentError naming the nearest model for an unknown name."""
    if name not in MODELS:
        raise ArgumentError(f"unknown model {name!r}{did_you_mean(name, MODELS)}; known models: "
                            f"{', '.join(sorted(MODELS))}")
    return MODELS[name]


def build(name: str, **kwargs: Any) -> Module:
    """The model ``MODELS[name](**kwargs)``; ArgumentError for an unknown name or argument."""
    make = factory(name)
    accepted = inspect.signature(make).parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ArgumentError(
            f"model {name!r} has no argument(s) {unknown}; it takes {', '.join(accepted)}"
        )
    model = make(**kwargs)
    model.zoo_name = name  # what gn.summary and the report call the model
    return model


def default_input_shape(name: str, **kwargs: Any) -> tuple[int, ...]:
    """(C, *input_size) of one sample for ``build(name, **kwargs)``, from the factory's
    defaults overridden by ``kwargs``; e.g. (1, 28, 28) for 'fashion_cnn'."""
    params = inspect.signature(factory(name)).parameters
    channels = kwargs.get("in_channels", params["in_channels"].default)
    size = kwargs.get("input_size", params["input_size"].default)
    if isinstance(size, int):
        size = (size,) if name in ("mlp", "mnist1d_cnn", "stack") else (size, size)
    return (channels, *size)
