"""gridnn.optim against torch.optim: the same parameters and gradients, step by step; state
dicts; learning-rate schedules; hyper-parameter checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

import gridnn.nn as nn
from gridnn import optim
from gridnn.errors import ArgumentError, ArgumentTypeError
from needs_torch import torch

SHAPES = [(3, 4), (5,), (2, 3, 2)]


def _pair(seed: int = 0) -> tuple[list[nn.Parameter], list[torch.nn.Parameter]]:
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    return ([nn.Parameter(a.copy()) for a in arrays],
            [torch.nn.Parameter(torch.tensor(a)) for a in arrays])


def _run(ours_opt: optim.Optimizer, theirs_opt: torch.optim.Optimizer, ours, theirs,
         steps: int = 5, seed: int = 1, skip: int | None = None) -> None:
    """Feed both optimisers the same gradients for ``steps`` steps and compare parameters after
    each; parameter ``skip`` gets no gradient on step 2 (both must leave it alone)."""
    rng = np.random.default_rng(seed)
    for step in range(steps):
        ours_opt.zero_grad()
        theirs_opt.zero_grad()
        for i, (p, q) in enumerate(zip(ours, theirs)):
            if skip == i and step == 2:
                continue
            g = rng.standard_normal(p.shape).astype(np.float32)
            p.grad, q.grad = g, torch.tensor(g)
        ours_opt.step()
        theirs_opt.step()
        for p, q in zip(ours, theirs):
            assert p.dtype == np.float32
            np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=2e-6, atol=2e-7,
                                       err_msg=f"step {step}")


@pytest.mark.parametrize("kwargs", [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01),
    dict(lr=0.1, weight_decay=0.1),
])
def test_sgd_matches_torch_step_by_step(kwargs):
    ours, theirs = _pair()
    _run(optim.SGD(ours, **kwargs), torch.optim.SGD(theirs, **kwargs), ours, theirs, skip=1)


@pytest.mark.parametrize("cls, tname", [(optim.Adam, "Adam"), (optim.AdamW, "AdamW")])
@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.003, betas=(0.0, 0.9), weight_decay=0.0),
])
def test_adam_and_adamw_match_torch_step_by_step(cls, tname, kwargs):
    ours, theirs = _pair()
    _run(cls(ours, **kwargs), getattr(torch.optim, tname)(theirs, **kwargs), ours, theirs,
         steps=6, skip=2)


def test_parameter_groups_match_torch():
    ours, theirs = _pair()
    opt = optim.SGD([{"params": ours[:2]}, {"params": ours[2:], "lr": 0.5, "momentum": 0.5}],
                    lr=0.1, momentum=0.9)
    ref = torch.optim.SGD([{"params": theirs[:2]},
                           {"params": theirs[2:], "lr": 0.5, "momentum": 0.5}],
                          lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    _run(opt, ref, ours, theirs)


def test_updates_are_in_place_and_keep_float32():
    p = nn.Parameter(np.ones((4, 4), np.float32))
    data = p.data
    opt = optim.Adam([p], lr=0.1, weight_decay=0.1)
    p.grad = np.full((4, 4), 0.5, np.float32)
    opt.step()
    assert p.data is data and p.dtype == np.float32
    assert all(v.dtype == np.float32 for v in opt.state[p].values() if hasattr(v, "dtype"))


def test_model_parameters_train_with_backward():
    """The parameters of a Module, trained on a real loss, move towards the least-squares fit."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 0.3
    model = nn.Linear(3, 1, rng=rng)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    loss_fn = nn.MSELoss()
    for _ in range(100):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 1e-4
    np.testing.assert_allclose(model.weight.data, [[1.0, -2.0, 0.5]], atol=1e-2)


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: optim.AdamW(ps, lr=0.01),
])
def test_state_dict_round_trip_resumes_exactly(make):
    """3 steps, save, rebuild, load, 2 more steps == 5 steps in one go, bit for bit."""
    def grads(step):
        rng = np.random.default_rng(step)
        return [rng.standard_normal(s).astype(np.float32) for s in SHAPES]

    def steps(opt, params, which):
        for step in which:
            for p, g in zip(params, grads(step)):
                p.grad = g
            opt.step()

    straight, _ = _pair()
    steps(make(straight), straight, range(5))
    first, _ = _pair()
    opt = make(first)
    steps(opt, first, range(3))
    saved = opt.state_dict()
    json.dumps(saved["param_groups"])  # the groups part is JSON-serialisable
    assert sorted(saved["state"]) == [0, 1, 2]
    assert saved["param_groups"][0]["params"] == [0, 1, 2]
    resumed = [nn.Parameter(p.data.copy()) for p in first]
    opt2 = make(resumed)
    opt2.load_state_dict(json.loads(json.dumps({"param_groups": saved["param_groups"],
                                                "state": {}})) | {"state": saved["state"]})
    steps(opt2, resumed, range(3, 5))
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.data, b.data)


def test_loads_a_torch_optimizer_state_dict():
    ours, theirs = _pair()
    ref = torch.optim.Adam(theirs, lr=0.01, betas=(0.8, 0.95))
    for _ in range(2):
        for q in theirs:
            q.grad = torch.randn(q.shape)
        ref.step()
    opt = optim.Adam(ours, lr=0.5)
    for p, q in zip(ours, theirs):
        p.data[...] = q.detach().numpy()
    opt.load_state_dict(ref.state_dict())
    assert opt.param_groups[0]["lr"] == 0.01 and opt.param_groups[0]["betas"] == (0.8, 0.95)
    assert "foreach" not in opt.param_groups[0]
    _run(opt, ref, ours, theirs, steps=2)


def test_load_state_dict_rejects_mismatches():
    ours, _ = _pair()
    opt = optim.SGD(ours, lr=0.1, momentum=0.9)
    other = optim.SGD(ours[:2], lr=0.1)
    with pytest.raises(ArgumentError, match=r"saved groups hold \[2\] parameters, this "
                                            r"optimizer's groups hold \[3\]"):
        opt.load_state_dict(other.state_dict())
    bad = {"param_groups": opt.state_dict()["param_groups"],
           "state": {0: {"momentum_buffer": np.zeros((9, 9), np.float32)}}}
    with pytest.raises(ArgumentError, match=r"state 'momentum_buffer' of parameter 0 has shape "
                                            r"\(9, 9\), the parameter has \(3, 4\)"):
        opt.load_state_dict(bad)
    with pytest.raises(ArgumentError, match="expected a dict with 'param_groups' and 'state'"):
        opt.load_state_dict({})


# ---- hyper-parameter checks ------------------------------------------------------------------
@pytest.mark.parametrize("make, error, message", [
    (lambda ps: optim.SGD(ps, lr=0), ArgumentError, "SGD: `lr` must be > 0, received lr=0"),
    (lambda ps: optim.SGD(ps, lr=-0.1), ArgumentError, "SGD: `lr` must be > 0, received lr=-0.1"),
    (lambda ps: optim.SGD(ps, lr=float("nan")), ArgumentError,
     "SGD: `lr` must be a finite number, received lr=nan"),
    (lambda ps: optim.SGD(ps, lr="0.1"), ArgumentError, "SGD: `lr` must be a finite number"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=-0.5), ArgumentError,
     "SGD: `momentum` must be >= 0, received momentum=-0.5"),
    (lambda ps: optim.SGD(ps, lr=0.1, nesterov=True), ArgumentError,
     "SGD: nesterov=True needs momentum > 0 and dampening = 0, received momentum=0.0"),
    (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     ArgumentError, "dampening=0.1"),
    (lambda ps: optim.SGD(ps, lr=0.1, weight_decay=-1), ArgumentError,
     "SGD: `weight_decay` must be >= 0"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.9)), ArgumentError,
     "Adam: `betas[0]` must be in [0, 1), received betas=(1.0, 0.9)"),
    (lambda ps: optim.AdamW(ps, betas=(0.9, -0.1)), ArgumentError, "AdamW: `betas[1]` must be in"),
    (lambda ps: optim.Adam(ps, betas=0.9), ArgumentError,
     "Adam: `betas` must be a pair (beta1, beta2), received betas=0.9"),
    (lambda ps: optim.Adam(ps, eps=-1e-8), ArgumentError, "Adam: `eps` must be >= 0"),
    (lambda ps: optim.AdamW(ps, lr=-1), ArgumentError, "AdamW: `lr` must be > 0"),
    (lambda ps: optim.SGD([], lr=0.1), ArgumentError, "SGD: `params` is empty"),
    (lambda ps: optim.SGD(ps[0], lr=0.1), ArgumentTypeError,
     "`params` must be an iterable of Parameters"),
    (lambda ps: optim.SGD([np.zeros(3)], lr=0.1), ArgumentTypeError,
     "SGD: every parameter must be a Tensor, received ndarray"),
    (lambda ps: optim.SGD([ps[0], ps[0]], lr=0.1), ArgumentError, "appears twice"),
    (lambda ps: optim.SGD([{"params": ps, "moment": 0.9}], lr=0.1), ArgumentError,
     "SGD: unknown hyper-parameter(s) ['moment']"),
])
def test_bad_hyper_parameters(make, error, message):
    ours, _ = _pair()
    with pytest.raises(error) as info:
        make(ours)
    assert message in str(info.value)


# ---- schedules -------------------------------------------------------------------------------
def _schedules_agree(make_opt, make_torch_opt, make_sched, make_torch_sched, steps: int,
                     keys=("lr",)) -> None:
    ours, theirs = _pair()
    opt, ref = make_opt(ours), make_torch_opt(theirs)
    sched, tsched = make_sched(opt), make_torch_sched(ref)
    for step in range(steps):
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12, abs=1e-15)
        for key in keys:
            got = [g[key] for g in opt.param_groups]
            want = [g[key] for g in ref.param_groups]
            assert np.allclose(np.array(got, float), np.array(want, float), rtol=1e-12,
                               atol=1e-15), (step, key, got, want)
        opt.step()
        ref.step()
        sched.step()
        tsched.step()


def _sgd(ps):
    return optim.SGD(ps, lr=0.1, momentum=0.9)


def _tsgd(ps):
    return torch.optim.SGD(ps, lr=0.1, momentum=0.9)


def test_step_lr_matches_torch():
    _schedules_agree(_sgd, _tsgd, lambda o: optim.StepLR(o, 3, gamma=0.5),
                     lambda o: torch.optim.lr_scheduler.StepLR(o, 3, gamma=0.5), 12)


def test_cosine_matches_torch_over_two_periods():
    _schedules_agree(_sgd, _tsgd, lambda o: optim.CosineAnnealingLR(o, 10, eta_min=0.001),
                     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 10, eta_min=0.001),
                     21)


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(pct_start=0.25, anneal_strategy="linear", div_factor=10.0, final_div_factor=100.0),
    dict(three_phase=True),
    dict(cycle_momentum=False),
])
def test_one_cycle_matches_torch_with_sgd_momentum(kwargs):
    _schedules_agree(_sgd, _tsgd, lambda o: optim.OneCycleLR(o, 0.5, 20, **kwargs),
                     lambda o: torch.optim.lr_scheduler.OneCycleLR(o, 0.5, 20, **kwargs), 20,
                     keys=("lr", "momentum"))


def test_one_cycle_matches_torch_with_adam_betas():
    _schedules_agree(lambda ps: optim.AdamW(ps, lr=0.01), lambda ps: torch.optim.AdamW(ps, lr=0.01),
                     lambda o: optim.OneCycleLR(o, 0.01, 15),
                     lambda o: torch.optim.lr_scheduler.OneCycleLR(o, 0.01, 15), 15,
                     keys=("lr", "betas"))


def test_one_cycle_past_total_steps_raises():
    sched = optim.OneCycleLR(_sgd(_pair()[0]), 0.1, total_steps=3)
    for _ in range(3):
        sched.step()
    with pytest.raises(ArgumentError, match="stepped 4 times but total_steps=3"):
        sched.step()


def test_scheduler_state_dict_round_trip():
    opt = _sgd(_pair()[0])
    sched = optim.OneCycleLR(opt, 0.5, 30)
    for _ in range(7):
        sched.step()
    saved = json.loads(json.dumps(sched.state_dict()))
    opt2 = _sgd(_pair()[0])  # resume as with torch: build both, then load both
    sched2 = optim.OneCycleLR(opt2, 0.5, 30)
    groups = json.loads(json.dumps(opt.state_dict()["param_groups"]))
    opt2.load_state_dict({"param_groups": groups, "state": {}})
    sched2.load_state_dict(saved)
    for _ in range(5):
        sched.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
        assert opt2.param_groups[0]["momentum"] == opt.param_groups[0]["momentum"]
    with pytest.raises(ArgumentError, match=r"unknown keys \['bogus'\]"):
        sched2.load_state_dict({"bogus": 1})


@pytest.mark.parametrize("make, message", [
    (lambda o: optim.StepLR(o, 0), "StepLR: `step_size` must be a positive int, received "
                                   "step_size=0"),
    (lambda o: optim.StepLR(o, 2, gamma=0), "StepLR: `gamma` must be > 0"),
    (lambda o: optim.CosineAnnealingLR(o, 0), "CosineAnnealingLR: `T_max` must be a positive"),
    (lambda o: optim.CosineAnnealingLR(o, 5, eta_min=-1), "`eta_min` must be >= 0"),
    (lambda o: optim.OneCycleLR(o, 0.1, 0), "OneCycleLR: `total_steps` must be a positive int"),
    (lambda o: optim.OneCycleLR(o, -0.1, 10), "OneCycleLR: `max_lr` must be > 0"),
    (lambda o: optim.OneCycleLR(o, 0.1, 10, pct_start=1.5), "`pct_start` must be in [0, 1]"),
    (lambda o: optim.OneCycleLR(o, 0.1, 10, anneal_strategy="exp"),
     "`anneal_strategy` must be 'cos' or 'linear'"),
    (lambda o: optim.OneCycleLR(o, [0.1, 0.2], 10), "`max_lr` has 2 values for 1 parameter"),
    (lambda o: optim.StepLR(None, 2), "StepLR: `optimizer` must be a gridnn.optim Optimizer"),
])
def test_bad_scheduler_arguments(make, message):
    with pytest.raises((ArgumentError, ArgumentTypeError)) as info:
        make(_sgd(_pair()[0]))
    assert message in str(info.value)
