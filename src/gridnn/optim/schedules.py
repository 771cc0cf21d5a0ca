"""Learning-rate schedules (StepLR, CosineAnnealingLR, OneCycleLR) with torch.optim's rules;
see ``gridnn.optim``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .._backend import xp
from ..errors import ArgumentError, ArgumentTypeError
from ._checks import finite, non_negative, positive
from .optimizers import Optimizer


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
        self.gamma = positive(gamma, "gamma", "StepLR")
        super().__init__(optimizer, last_epoch)

    def _lr(self, base_lr: float, step: int) -> float:
        return base_lr * self.gamma ** (step // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1) -> None:
        self.T_max = _step_count(T_max, "T_max", "CosineAnnealingLR")
        self.eta_min = non_negative(eta_min, "eta_min", "CosineAnnealingLR")
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
        if not 0 <= finite(pct_start, "pct_start", name) <= 1:
            raise ArgumentError(f"{name}: `pct_start` must be in [0, 1], received {pct_start!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ArgumentError(
                f"{name}: `anneal_strategy` must be 'cos' or 'linear', "
                f"received {anneal_strategy!r}"
            )
        self.anneal_strategy = anneal_strategy
        div_factor = positive(div_factor, "div_factor", name)
        final_div_factor = positive(final_div_factor, "final_div_factor", name)
        groups = optimizer.param_groups
        max_lrs = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * len(groups)
        if len(max_lrs) != len(groups):
            raise ArgumentError(
                f"{name}: `max_lr` has {len(max_lrs)} values for {len(groups)} parameter groups"
            )
        for group, top in zip(groups, max_lrs):
            top = positive(top, "max_lr", name)
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
                    group.update(max_momentum=non_negative(max_momentum, "max_momentum", name),
                                 base_momentum=non_negative(base_momentum, "base_momentum",
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
