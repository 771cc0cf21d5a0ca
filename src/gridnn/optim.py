"""Optimisers (SGD, Adam, AdamW) and learning-rate schedules, with torch.optim's update rules.

Parameters are updated in place on ``param.data`` in the parameter's own dtype (float32 stays
float32). Hyper-parameters are checked when the optimiser is built. ``state_dict()`` gives
``{'param_groups': [...JSON-able...], 'state': {index: {name: ndarray or number}}}`` where the
index counts parameters across groups in order, as PyTorch does.

    opt = SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = OneCycleLR(opt, max_lr=0.1, total_steps=epochs * len(loader))
    for x, y in loader:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        sched.step()
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from ._backend import xp
from .errors import ArgumentError, ArgumentTypeError
from .tensor import Tensor

__all__ = [
    "SGD", "Adam", "AdamW", "CosineAnnealingLR", "LRScheduler", "OneCycleLR", "Optimizer",
    "StepLR",
]


# ---- hyper-parameter checks ------------------------------------------------------------------
def _number(value: Any, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ArgumentError(f"{owner}: `{name}` must be a finite number, received {name}={value!r}")
    return float(value)


def _positive(value: Any, name: str, owner: str) -> float:
    if _number(value, name, owner) <= 0:
        raise ArgumentError(f"{owner}: `{name}` must be > 0, received {name}={value!r}")
    return float(value)


def _non_negative(value: Any, name: str, owner: str) -> float:
    if _number(value, name, owner) < 0:
        raise ArgumentError(f"{owner}: `{name}` must be >= 0, received {name}={value!r}")
    return float(value)


def _betas(betas: Any, owner: str) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ArgumentError(
            f"{owner}: `betas` must be a pair (beta1, beta2), received betas={betas!r}"
        )
    for i, b in enumerate(betas):
        if not 0.0 <= _number(b, f"betas[{i}]", owner) < 1.0:
            raise ArgumentError(
                f"{owner}: `betas[{i}]` must be in [0, 1), received betas={tuple(betas)!r}"
            )
    return float(betas[0]), float(betas[1])


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
        group["lr"] = _positive(group["lr"], "lr", "SGD")
        group["momentum"] = _non_negative(group["momentum"], "momentum", "SGD")
        group["dampening"] = _non_negative(group["dampening"], "dampening", "SGD")
        group["weight_decay"] = _non_negative(group["weight_decay"], "weight_decay", "SGD")
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
        group["lr"] = _positive(group["lr"], "lr", name)
        group["betas"] = _betas(group["betas"], name)
        group["eps"] = _non_negative(group["eps"], "eps", name)
        group["weight_decay"] = _non_negative(group["weight_decay"], "weight_decay", name)

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


# ---- learning-rate schedules -----------------------------------------------------------------
class LRScheduler:
    """Sets each group's 'lr' from the step count. Building one sets the step-0 rate; call
    ``step()`` after each ``optimizer.step()`` (per epoch or per batch, as the schedule means).
    Subclasses define ``_lr(base_lr, step)`` (or override ``_values``)."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise ArgumentTypeError(
                f"{type(self).__name__}: `optimizer` must be a gridnn.optim Optimizer, "
                f"received {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def _lr(self, base_lr: float, step: int) -> float:
        raise NotImplementedError

    def _values(self) -> list[dict[str, Any]]:
        """The group keys to set at ``last_epoch`` (only 'lr' for most schedules)."""
        return [{"lr": self._lr(base, self.last_epoch)} for base in self.base_lrs]

    def step(self) -> None:
        self.last_epoch += 1
        for group, values in zip(self.optimizer.param_groups, self._values()):
            group.update(values)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group after the latest ``step()``."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer, JSON-serialisable."""
        return {k: (list(v) if isinstance(v, tuple) else v)
                for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        unknown = set(state_dict) - set(vars(self))
        if unknown:
            raise ArgumentError(
                f"{type(self).__name__}.load_state_dict: unknown keys {sorted(unknown)}"
            )
        self.__dict__.update(dict(state_dict))


def _step_count(value: Any, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, xp.integer)) or value < 1:
        raise ArgumentError(f"{owner}: `{name}` must be a positive int, received {name}={value!r}")
    return int(value)


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (step // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.step_size = _step_count(step_size, "step_size", "StepLR")
        self.gamma = _positive(gamma, "gamma", "StepLR")
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, step: int) -> float:
        return base_lr * self.gamma ** (step // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1) -> None:
        self.T_max = _step_count(T_max, "T_max", "CosineAnnealingLR")
        self.eta_min = _non_negative(eta_min, "eta_min", "CosineAnnealingLR")
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, step: int) -> float:
        cos = math.cos(math.pi * step / self.T_max)
        return self.eta_min + (base_lr - self.eta_min) * (1 + cos) / 2


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin), stepped once per batch, as torch's OneCycleLR.

    The lr rises from max_lr / div_factor to max_lr over the first pct_start of total_steps, then
    anneals to max_lr / (div_factor * final_div_factor) (with ``three_phase``: back down to the
    start over an equal span, then to the minimum). With ``cycle_momentum`` the momentum (SGD)
    or beta1 (Adam) moves the opposite way between max_momentum and base_momentum.
    ``anneal_strategy``: 'cos' or 'linear'. Stepping past total_steps raises ArgumentError.
    """

    def __init__(self, optimizer: Optimizer, max_lr: float | list[float], total_steps: int,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum: float = 0.85,
                 max_momentum: float = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        name = "OneCycleLR"
        if not isinstance(optimizer, Optimizer):
            raise ArgumentTypeError(
                f"{name}: `optimizer` must be a gridnn.optim Optimizer, "
                f"received {type(optimizer).__name__}"
            )
        self.total_steps = _step_count(total_steps, "total_steps", name)
        if not 0 <= _number(pct_start, "pct_start", name) <= 1:
            raise ArgumentError(f"{name}: `pct_start` must be in [0, 1], received {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ArgumentError(
                f"{name}: `anneal_strategy` must be 'cos' or 'linear', "
                f"received {anneal_strategy!r}"
            )
        self.anneal_strategy = anneal_strategy
        div_factor = _positive(div_factor, "div_factor", name)
        final_div_factor = _positive(final_div_factor, "final_div_factor", name)
        groups = optimizer.param_groups
        max_lrs = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * len(groups)
        if len(max_lrs) != len(groups):
            raise ArgumentError(
                f"{name}: `max_lr` has {len(max_lrs)} values for {len(groups)} parameter groups"
            )
        for group, top in zip(groups, max_lrs):
            top = _positive(top, "max_lr", name)
            if last_epoch == -1:
                group.update(initial_lr=top / div_factor, max_lr=top,
                             min_lr=top / div_factor / final_div_factor)
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            if not any(k in groups[0] for k in ("momentum", "betas")):
                raise ArgumentError(
                    f"{name}: cycle_momentum=True needs an optimizer with `momentum` or `betas`;"
                    f" pass cycle_momentum=False"
                )
            self.use_beta1 = "betas" in groups[0]
            for group in groups:
                if last_epoch == -1:
                    group.update(max_momentum=_non_negative(max_momentum, "max_momentum", name),
                                 base_momentum=_non_negative(base_momentum, "base_momentum",
                                                             name))
        end = float(pct_start * self.total_steps) - 1
        if three_phase:
            self._phases = [(end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (2 * end, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                            (self.total_steps - 1, "initial_lr", "min_lr", "max_momentum",
                             "max_momentum")]
        else:
            self._phases = [(end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (self.total_steps - 1, "max_lr", "min_lr", "base_momentum",
                             "max_momentum")]
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _values(self) -> list[dict[str, Any]]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ArgumentError(
                f"OneCycleLR: stepped {step} times but total_steps={self.total_steps}; "
                f"make total_steps = epochs * batches per epoch"
            )
        out = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, (end_step, lr0, lr1, mom0, mom1) in enumerate(self._phases):
                if step <= end_step or i == len(self._phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    values: dict[str, Any] = {"lr": self._anneal(group[lr0], group[lr1], pct)}
                    if self.cycle_momentum:
                        mom = self._anneal(group[mom0], group[mom1], pct)
                        if self.use_beta1:
                            values["betas"] = (mom, group["betas"][1])
                        else:
                            values["momentum"] = mom
                    break
                start_step = end_step
            out.append(values)
        return out
