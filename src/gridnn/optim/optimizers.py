"""Optimisers (SGD, Adam, AdamW) with torch.optim's update rules; see ``gridnn.optim``."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .._backend import xp
from ..errors import ArgumentError, ArgumentTypeError
from ..tensor import Tensor
from ._checks import betas_pair, non_negative, positive

# Group keys that LR schedules add next to the optimiser's own hyper-parameters.
_SCHEDULE_KEYS = ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum")


# ---- base class ------------------------------------------------------------------------------
class Optimizer:
    """Holds ``param_groups`` (dicts with 'params' and hyper-parameters) and per-parameter
    ``state``; subclasses define ``_check(group)`` and ``_update(p, grad, state, group)``."""

    defaults: dict[str, Any]

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        self.defaults = defaults
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise ArgumentTypeError(
                f"{name}: `params` must be an iterable of Parameters (e.g. model.parameters()),"
                f" received a single Tensor"
            )
        groups = list(params)
        if not groups:
            raise ArgumentError(f"{name}: `params` is empty; the optimizer has nothing to train")
        if not isinstance(groups[0], Mapping):
            groups = [{"params": groups}]
        seen: set[int] = set()
        for group in groups:
            self._add_group(dict(group), seen)

    def _add_group(self, group: dict[str, Any], seen: set[int]) -> None:
        name = type(self).__name__
        params = group.get("params")
        params = [params] if isinstance(params, Tensor) else list(params or [])
        for p in params:
            if not isinstance(p, Tensor):
                raise ArgumentTypeError(
                    f"{name}: every parameter must be a Tensor, received {type(p).__name__}"
                )
            if not p.requires_grad:
                raise ArgumentError(f"{name}: a parameter of shape {p.shape} does not require grad")
            if id(p) in seen:
                raise ArgumentError(
                    f"{name}: a parameter of shape {p.shape} appears twice in the parameter groups"
                )
            seen.add(id(p))
        unknown = set(group) - set(self.defaults) - {"params", *_SCHEDULE_KEYS}
        if unknown:
            raise ArgumentError(
                f"{name}: unknown hyper-parameter(s) {sorted(unknown)} in a parameter group; "
                f"known: {sorted(self.defaults)}"
            )
        full = {**self.defaults, **group, "params": params}
        self._check(full)
        self.param_groups.append(full)

    def _check(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Forget the gradients of every parameter (``grad = None``)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                self._update(p, p.grad, self.state.setdefault(p, {}), group)

    # ---- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """{'param_groups': [hyper-parameters with 'params' as indices], 'state': {index:
        {name: array copy or number}}}; the groups part is JSON-serialisable."""
        groups, state, index = [], {}, 0
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                if p in self.state:
                    state[index] = {k: (v.copy() if isinstance(v, xp.ndarray) else v)
                                    for k, v in self.state[p].items()}
                ids.append(index)
                index += 1
            hyper = {k: (list(v) if isinstance(v, tuple) else v)
                     for k, v in group.items() if k != "params"}
            groups.append({**hyper, "params": ids})
        return {"param_groups": groups, "state": state}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyper-parameters and per-parameter state saved by ``state_dict()``; the
        groups and their sizes must match. String indices (from JSON) are accepted."""
        name = type(self).__name__
        try:
            saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        except (KeyError, TypeError) as err:
            raise ArgumentError(
                f"{name}.load_state_dict: expected a dict with 'param_groups' and 'state'"
            ) from err
        sizes = [len(g["params"]) for g in self.param_groups]
        saved_sizes = [len(g.get("params", [])) for g in saved_groups]
        if sizes != saved_sizes:
            raise ArgumentError(
                f"{name}.load_state_dict: the saved groups hold {saved_sizes} parameters, this "
                f"optimizer's groups hold {sizes}"
            )
        params = [p for g in self.param_groups for p in g["params"]]
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, entry in saved_state.items():
            i = int(key)
            if not 0 <= i < len(params):
                raise ArgumentError(
                    f"{name}.load_state_dict: state index {key} is out of range for "
                    f"{len(params)} parameters"
                )
            p = params[i]
            new_state[p] = {}
            for k, v in entry.items():
                if isinstance(v, (xp.ndarray, list)) or hasattr(v, "shape"):
                    arr = xp.asarray(v.numpy() if hasattr(v, "numpy") else v)
                    if arr.ndim == 0:  # torch keeps 'step' as a 0-d tensor
                        new_state[p][k] = arr.item()
                        continue
                    if arr.shape != p.shape:
                        raise ArgumentError(
                            f"{name}.load_state_dict: state {k!r} of parameter {i} has shape "
                            f"{arr.shape}, the parameter has {p.shape}"
                        )
                    new_state[p][k] = arr.astype(p.dtype, copy=True)
                else:
                    new_state[p][k] = v
        for group, saved in zip(self.param_groups, saved_groups):
            for k, v in saved.items():
                # Only keys gridnn knows: a torch state dict also carries flags like 'foreach'.
                if k in group and k != "params" or k in _SCHEDULE_KEYS:
                    group[k] = tuple(v) if isinstance(v, list) else v
        self.state = new_state


# ---- SGD -------------------------------------------------------------------------------------
class SGD(Optimizer):
    """Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay.

    Per step (torch.optim.SGD): g = grad + weight_decay * p; with momentum,
    buf = g (first step) else momentum * buf + (1 - dampening) * g, and g = g + momentum * buf
    (nesterov) or g = buf; then p -= lr * g.
    """

    def __init__(self, params: Iterable[Any], lr: float, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov})

    def _check(self, group: dict[str, Any]) -> None:
        group["lr"] = positive(group["lr"], "lr", "SGD")
        group["momentum"] = non_negative(group["momentum"], "momentum", "SGD")
        group["dampening"] = non_negative(group["dampening"], "dampening", "SGD")
        group["weight_decay"] = non_negative(group["weight_decay"], "weight_decay", "SGD")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ArgumentError(
                f"SGD: nesterov=True needs momentum > 0 and dampening = 0, received "
                f"momentum={group['momentum']}, dampening={group['dampening']}"
            )

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        g = grad + wd * p.data if wd else grad
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        p.data -= lr * g


# ---- Adam and AdamW --------------------------------------------------------------------------
class Adam(Optimizer):
    """Adam (Kingma & Ba) with L2 weight decay added to the gradient (torch.optim.Adam).

    Per step t: g = grad + weight_decay * p; m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g^2; p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
    """

    decoupled = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay})

    def _check(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        group["lr"] = positive(group["lr"], "lr", name)
        group["betas"] = betas_pair(group["betas"], name)
        group["eps"] = non_negative(group["eps"], "eps", name)
        group["weight_decay"] = non_negative(group["weight_decay"], "weight_decay", name)

    def _update(self, p: Tensor, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state.update(step=0, exp_avg=xp.zeros_like(p.data), exp_avg_sq=xp.zeros_like(p.data))
        state["step"] += 1
        t = state["step"]
        if wd and self.decoupled:
            p.data *= 1 - lr * wd
        elif wd:
            grad = grad + wd * p.data
        m, v = state["exp_avg"], state["exp_avg_sq"]
        # In place through one scratch array: the update is a dozen passes over every
        # parameter, and fresh temporaries for each doubled its cost on the large layers.
        buf = xp.subtract(grad, m, dtype=m.dtype)
        buf *= 1 - b1
        m += buf  # m = b1 * m + (1 - b1) * g, as torch's lerp
        v *= b2
        xp.multiply(grad, grad, out=buf)
        buf *= 1 - b2
        v += buf
        # lr / (1 - b1^t) * m / (sqrt(v) / c + eps) with c = sqrt(1 - b2^t)
        c = math.sqrt(1 - b2**t)
        xp.sqrt(v, out=buf)
        buf /= c
        buf += eps
        xp.divide(m, buf, out=buf)
        buf *= lr / (1 - b1**t)
        p.data -= buf


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p *= 1 - lr * weight_decay before
    the Adam step, instead of adding weight_decay * p to the gradient (torch.optim.AdamW)."""

    decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
