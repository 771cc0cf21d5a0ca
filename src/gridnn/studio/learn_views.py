"""What the learn page shows of a model in training, computed by gridnn: the first layer's
kernels, the feature maps and prediction of one sample, each layer's relative update size,
and one kernel weight's gradient written out as the lecture's sum (by ``ops/conv_plain``).

Every function here reads the model between two training steps and leaves its state (modes,
weights, random generators) as it found it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

import gridnn as gn

from .. import functional as F
from .. import nn
from ..tensor import Tensor
from .http import ApiError

MAX_KERNELS = 16   # kernels of the first layer sent to the page
MAX_MAPS = 8       # feature maps per layer sent to the page
WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.LocallyConnected1d, nn.LocallyConnected2d, nn.Linear)


def _round(a: np.ndarray) -> list:
    return np.round(np.asarray(a, dtype=np.float64), 5).tolist()


def _layers(model: Any) -> list[tuple[str, Any]]:
    """The (name, module) pairs a sample runs through: a Sequential's children, in order."""
    if isinstance(model, nn.Sequential):
        return list(model.named_children()) if hasattr(model, "named_children") else \
            [(str(i), m) for i, m in enumerate(model.children())]
    return [("model", model)]


@contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """The model in eval mode without gradients; every module's mode restored after (the
    training loop sets train mode only at an epoch's start)."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with gn.no_grad():
            yield
    finally:
        for module, training in flags:
            module.training = training


def first_layer(model: Any) -> tuple[str, Any] | None:
    """(name, module) of the first layer with weights: a conv, locally connected or Linear."""
    for name, module in model.named_modules():
        if isinstance(module, WEIGHTED):
            return name, module
    return None


def kernels(model: Any, input_shape: tuple[int, ...]) -> dict[str, Any] | None:
    """The first weighted layer's kernels as arrays (K, C, *k): a conv's kernels; a locally
    connected layer's kernels at its centre position; a Linear layer's first units, each
    unit's weights laid out as the input (C, *S) it sees."""
    found = first_layer(model)
    if found is None:
        return None
    name, layer = found
    w = layer.weight.data
    if isinstance(layer, (nn.LocallyConnected1d, nn.LocallyConnected2d)):
        nd = len(input_shape) - 1
        centre = tuple(n // 2 for n in w.shape[:nd])
        w, note = w[centre], f"the kernels at output position {list(centre)} (each position " \
                             f"has its own)"
    elif isinstance(layer, nn.Linear):
        units = min(w.shape[0], MAX_KERNELS)
        if w.shape[1] != int(np.prod(input_shape)):
            return None
        w, note = w[:units].reshape(units, *input_shape), "each unit's weights over the whole " \
                                                          "input"
    else:
        note = "one kernel shared by every position"
    w = w[:MAX_KERNELS]
    return {"layer": name, "type": type(layer).__name__, "note": note,
            "shape": list(w.shape), "kernels": _round(w),
            "scale": float(np.abs(w).max()) if w.size else 0.0}


def feature_maps(model: Any, sample: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """One sample (C, *S) through every layer: up to ``MAX_MAPS`` maps of each layer whose
    output has channels and positions, and the prediction (class probabilities)."""
    maps = []
    x = Tensor(sample[None])
    with eval_mode(model):
        for name, layer in _layers(model):
            x = layer(x)
            if x.ndim >= 3:
                maps.append({"layer": name, "type": type(layer).__name__,
                             "shape": list(x.shape[1:]), "maps": _round(x.data[0, :MAX_MAPS])})
        probs = F.softmax(x, dim=1).data[0] if x.ndim == 2 else np.zeros(0)
    order = np.argsort(-probs)[:3]
    return {"maps": maps, "probs": _round(probs),
            "top": [{"label": class_names[int(i)] if i < len(class_names) else str(i),
                     "index": int(i), "p": float(probs[i])} for i in order]}


def weight_copy(model: Any) -> list[np.ndarray]:
    """Copies of every parameter's values (the weights before a step)."""
    return [p.data.copy() for p in model.parameters()]


def update_sizes(model: Any, before: list[np.ndarray]) -> list[dict[str, Any]]:
    """Per weighted layer, |w_after - w_before| / |w_before| of its weight (Frobenius norms)."""
    index = {id(p): i for i, p in enumerate(model.parameters())}
    rows = []
    for name, module in model.named_modules():
        if isinstance(module, WEIGHTED) and id(module.weight) in index:
            old = before[index[id(module.weight)]]
            norm = float(np.linalg.norm(old))
            change = float(np.linalg.norm(module.weight.data - old))
            rows.append({"layer": name, "type": type(module).__name__,
                         "relative": change / norm if norm else 0.0})
    return rows


def backprop(model: Any, weights: list[np.ndarray], rng_states: dict[str, Any], batch: tuple,
             index: tuple[int, ...]) -> dict[str, Any]:
    """The gradient of one weight ``index`` = (k, c, *tap) of the model's first conv layer at
    the last step, as the lecture writes it: the sum over every sample n and output position
    p of (input value under the weight at p) x (output gradient at p).

    The step is recomputed on a copy of the model with the weights and dropout generators it
    had before the step, through ``ops/conv_plain`` (``gn.plain_ops``), whose columns are the
    inputs under each weight; the output gradient comes from autograd. Returns the terms,
    their sum and autograd's gradient of that weight."""
    found = first_layer(model)
    if found is None or not isinstance(found[1], (nn.Conv1d, nn.Conv2d)):
        raise ApiError(400, "index", "the backprop panel explains a shared kernel: the "
                                     "model's first weighted layer must be a convolution "
                                     "(switch to conv)")
    name, conv = found
    shape = conv.weight.shape
    if conv.groups != 1:
        raise ApiError(400, "index", "the backprop panel needs a convolution without groups")
    if len(index) != len(shape) or any(not 0 <= i < n for i, n in zip(index, shape)):
        raise ApiError(400, "index", f"`index` must be (kernel, channel, *tap) inside the "
                                     f"weight of shape {list(shape)}, got {list(index)}")
    twin = copy.deepcopy(model)
    for p, w in zip(twin.parameters(), weights):
        p.data[...] = w
        p.grad = None  # the copy came with the step's gradients; autograd fills them anew
    from ..checkpoint import set_rng_states

    set_rng_states(twin, rng_states, "the page's last step")
    twin_conv = dict(twin.named_modules())[name]
    xb, yb = batch
    caught: dict[str, Any] = {}
    forward = twin_conv.forward

    def keep(x: Tensor) -> Tensor:
        y = forward(x)
        leaf = Tensor(y.data, requires_grad=True)  # its .grad will be dL/d(output)
        caught.update(y=y, leaf=leaf)
        return leaf

    twin_conv.forward = keep  # one instance attribute for this one pass (as nn.trace does)
    twin.train()
    with gn.plain_ops():
        loss = F.cross_entropy(twin(Tensor(xb)), yb)
        loss.backward()
        cols = caught["y"]._fn.cols  # (N, G, C/G, P, J): the input under every weight
        caught["y"].backward(caught["leaf"].grad)
    grad_out = caught["leaf"].grad  # (N, K, *O)
    k, c, *tap = index
    j = int(np.ravel_multi_index(tap, shape[2:]))
    n, p = cols.shape[0], cols.shape[3]
    inputs = cols[:, 0, c, :, j]  # (N, P)
    outgrad = grad_out[:, k].reshape(n, p)  # (N, P)
    products = inputs.astype(np.float64) * outgrad
    out_size = grad_out.shape[2:]
    where = np.flatnonzero(products.ravel())
    terms = [{"sample": int(i // p),
              "position": [int(v) for v in np.unravel_index(i % p, out_size)],
              "input": float(inputs.ravel()[i]), "grad": float(outgrad.ravel()[i]),
              "product": float(products.ravel()[i])} for i in where]
    return {"layer": name, "index": list(index), "weight_shape": [int(v) for v in shape],
            "batch": int(n), "positions": int(p), "out_size": [int(v) for v in out_size],
            "zero_terms": int(products.size - len(where)), "terms": terms,
            "total": float(products.sum()),
            "autograd": float(twin_conv.weight.grad[tuple(index)]),
            "loss": float(loss.item())}
