"""gridnn.nn: every layer against its torch.nn twin (forward, backward, running statistics),
Module mechanics (registration, state dicts, modes, repr), Dropout statistics, initialisation
and constructor argument checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gridnn as gn
import gridnn.nn as nn
from gridnn.errors import ArgumentError, ArgumentTypeError
from needs_torch import torch
from torch_check import relative_error
from torch_twin import copy_to_torch, torch_state_as_numpy, torch_twin

RTOL = 2e-5


def _close(got: np.ndarray, want: np.ndarray, what: str, rtol: float = RTOL) -> None:
    err = relative_error(got, want)
    assert err <= rtol, f"{what}: relative error {err:.3g} > {rtol:g}"


def check_layer(layer: nn.Module, x: np.ndarray, *, training: bool = True, steps: int = 1,
                seed: int = 0) -> torch.nn.Module:
    """Give ``layer`` the weights of its freshly built torch twin (loaded from the twin's
    state_dict as NumPy arrays), then over ``steps`` forward/backward passes compare the
    output, the input gradient, every parameter gradient and finally the whole state dict."""
    torch.manual_seed(seed)
    twin = torch_twin(layer)
    layer.load_state_dict(torch_state_as_numpy(twin))
    layer.train(training)
    twin.train(training)
    rng = np.random.default_rng(seed)
    for step in range(steps):
        xs = (x + step).astype(np.float32)
        ours = gn.tensor(xs, requires_grad=True)
        theirs = torch.tensor(xs, requires_grad=True)
        out, ref = layer(ours), twin(theirs)
        _close(out.data, ref.detach().numpy(), f"{type(layer).__name__} output, step {step}")
        cot = rng.standard_normal(ref.shape).astype(np.float32)
        layer.zero_grad()
        twin.zero_grad()
        out.backward(cot)
        ref.backward(torch.from_numpy(cot))
        _close(ours.grad, theirs.grad.numpy(), f"{type(layer).__name__} input grad")
        grads = dict(twin.named_parameters())
        for name, p in layer.named_parameters():
            _close(p.grad, grads[name].grad.numpy(), f"grad of {name}")
    theirs_state = torch_state_as_numpy(twin)
    ours_state = layer.state_dict()
    assert list(ours_state) == list(theirs_state)
    for key, value in ours_state.items():
        assert value.dtype == theirs_state[key].dtype, key
        _close(value, theirs_state[key], f"state {key}")
    return twin


def _x(*shape: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---- layer parity ----------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(bias):
    check_layer(nn.Linear(7, 5, bias), _x(4, 7))
    check_layer(nn.Linear(3, 2, bias), _x(2, 6, 3))  # extra leading dims


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=3),
    dict(kernel_size=5, stride=2, padding=2),
    dict(kernel_size=3, padding="same", dilation=2),
    dict(kernel_size=3, padding="valid", bias=False),
    dict(kernel_size=3, groups=2, padding=1, padding_mode="reflect"),
    dict(kernel_size=4, stride=3, padding=2, padding_mode="circular"),
    dict(kernel_size=3, padding=1, padding_mode="replicate"),
])
def test_conv1d_matches_torch(kwargs):
    check_layer(nn.Conv1d(4, 6, **kwargs), _x(2, 4, 11))


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=3),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)),
    dict(kernel_size=3, padding="same"),
    dict(kernel_size=3, stride=2, padding=1, dilation=2, bias=False),
    dict(kernel_size=3, groups=4, padding=1),  # depthwise
    dict(kernel_size=3, padding=1, padding_mode="reflect", groups=2),
    dict(kernel_size=2, padding=1, padding_mode="circular"),
])
def test_conv2d_matches_torch(kwargs):
    check_layer(nn.Conv2d(4, 8, **kwargs), _x(2, 4, 9, 8))


@pytest.mark.usefixtures("op_path")
@pytest.mark.parametrize("layer, shape", [
    (nn.MaxPool1d(3, 2, 1), (2, 3, 10)),
    (nn.MaxPool1d(2, ceil_mode=True), (2, 3, 9)),
    (nn.MaxPool2d(2), (2, 3, 8, 6)),
    (nn.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 0)), (1, 2, 7, 5)),
    (nn.AvgPool1d(3, 2, 1, count_include_pad=False), (2, 3, 10)),
    (nn.AvgPool2d(2), (2, 3, 8, 6)),
    (nn.AvgPool2d(3, 2, 1, ceil_mode=True), (2, 2, 8, 7)),
    (nn.AdaptiveAvgPool1d(1), (2, 3, 10)),
    (nn.AdaptiveAvgPool1d(4), (2, 3, 10)),
    (nn.AdaptiveAvgPool2d(1), (2, 3, 7, 5)),
    (nn.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 5)),
    (nn.Flatten(), (2, 3, 4, 5)),
    (nn.Flatten(0, 1), (2, 3, 4)),
    (nn.ReLU(), (3, 5)),
    (nn.LeakyReLU(0.2), (3, 5)),
    (nn.Sigmoid(), (3, 5)),
    (nn.Tanh(), (3, 5)),
    (nn.Softmax(dim=1), (3, 5, 2)),
    (nn.Identity(), (3, 5)),
])
def test_parameter_free_layers_match_torch(layer, shape):
    check_layer(layer, _x(*shape))


@pytest.mark.usefixtures("op_path")
@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(momentum=None),  # cumulative average
    dict(affine=False),
    dict(bias=False),
    dict(track_running_stats=False),
    dict(eps=1e-3, momentum=0.3),
])
@pytest.mark.parametrize("cls, shape", [
    (nn.BatchNorm2d, (4, 3, 5, 6)),
    (nn.BatchNorm1d, (8, 3)),
    (nn.BatchNorm1d, (4, 3, 7)),
])
def test_batchnorm_train_then_eval_matches_torch(cls, shape, kwargs):
    """Three training steps (batch statistics; running statistics updated with the unbiased
    variance), then evaluation with the running statistics."""
    x = _x(*shape) * 2 + 0.5
    layer = cls(3, **kwargs)
    twin = check_layer(layer, x, training=True, steps=3)
    layer.eval()
    twin.eval()
    ours = gn.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    out, ref = layer(ours), twin(theirs)
    _close(out.data, ref.detach().numpy(), "eval output")
    cot = _x(*shape, seed=9)  # not a constant: with batch statistics sum() has zero gradient
    out.backward(cot)
    ref.backward(torch.from_numpy(cot))
    _close(ours.grad, theirs.grad.numpy(), "eval input grad")


@pytest.mark.usefixtures("op_path")
def test_batchnorm_running_stats_use_unbiased_variance():
    x = _x(5, 2, 3)
    bn = nn.BatchNorm1d(2, momentum=1.0)
    bn(x)
    np.testing.assert_allclose(bn.running_mean, x.mean(axis=(0, 2)), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var, x.var(axis=(0, 2), ddof=1), rtol=1e-5)
    assert int(bn.num_batches_tracked) == 1
    with gn.no_grad():  # statistics are updated without a graph too
        bn(x)
    assert int(bn.num_batches_tracked) == 2


@pytest.mark.usefixtures("op_path")
def test_batchnorm_gradcheck_float64():
    bn = nn.BatchNorm2d(3, dtype=np.float64)
    bn.weight.data[:] = [0.5, -1.0, 2.0]
    x = gn.tensor(_x(3, 3, 2, 2).astype(np.float64), requires_grad=True)
    gn.gradcheck(lambda x, w, b: (bn(x) * np.arange(36.0).reshape(3, 3, 2, 2)).sum(),
                 x, bn.weight, bn.bias)


def test_batchnorm_needs_more_than_one_value_per_channel_in_training():
    bn = nn.BatchNorm1d(4)
    with pytest.raises(ArgumentError, match="more than 1 value per channel"):
        bn(_x(1, 4))
    bn.eval()
    assert bn(_x(1, 4)).shape == (1, 4)
    with pytest.raises(ArgumentError, match=r"BatchNorm1d: expected input .* C=4"):
        bn(_x(2, 5))


def test_residual_block_matches_torch():
    for args in [(4, 4, 1), (4, 6, 2), (3, 5, 1)]:
        check_layer(nn.ResidualBlock(*args), _x(2, args[0], 6, 6), steps=2)


def test_float64_layers_keep_float64():
    conv = nn.Conv2d(2, 3, 3, dtype=np.float64)
    assert conv.weight.dtype == np.float64
    out = conv(gn.tensor(_x(1, 2, 5, 5).astype(np.float64)))
    assert out.dtype == np.float64


# ---- Dropout ---------------------------------------------------------------------------------
def test_dropout_statistics_scaling_and_seeding():
    x = np.ones((200, 500), np.float32)
    drop = nn.Dropout(0.3, rng=np.random.default_rng(7))
    t = gn.tensor(x, requires_grad=True)
    out = drop(t)
    kept = out.data != 0
    assert abs(1 - kept.mean() - 0.3) < 0.005  # 100k draws: std of the rate ~0.0015
    np.testing.assert_allclose(out.data[kept], 1 / 0.7, rtol=1e-6)
    assert abs(out.data.mean() - 1) < 0.02  # inverted dropout keeps the mean
    out.backward(np.full(x.shape, 2.0, np.float32))
    np.testing.assert_allclose(t.grad, 2.0 * kept / 0.7, rtol=1e-6)
    again = nn.Dropout(0.3, rng=np.random.default_rng(7))(gn.tensor(x))
    np.testing.assert_array_equal(again.data, out.data)
    drop.eval()
    assert drop(t) is t or np.array_equal(drop(t).data, x)


def test_dropout_edge_probabilities():
    x = gn.tensor(_x(4, 4))
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).data, x.data)
    assert not nn.Dropout(1.0)(x).data.any()


# ---- Module mechanics ------------------------------------------------------------------------
class _Net(nn.Module):
    """A nested module with a shared layer, a buffer-holding layer and a None bias."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.BatchNorm2d(2),
                                      nn.ReLU())
        self.head = nn.Linear(2, 3)
        self.tied = self.head  # shared: its parameters must be listed once
        self.scale = 2.0  # a plain attribute, not state

    def forward(self, x):
        return self.head(self.features(x).mean(axis=(2, 3))) * self.scale


def test_module_registration_by_attributes():
    net = _Net()
    assert [n for n, _ in net.named_modules()] == [
        "", "features", "features.0", "features.1", "features.2", "head"]
    assert [n for n, _ in net.named_children()] == ["features", "head", "tied"]
    assert [n for n, _ in net.named_parameters()] == [
        "features.0.weight", "features.1.weight", "features.1.bias", "head.weight", "head.bias"]
    assert len(list(net.parameters())) == 5
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [n for n, _ in net.named_buffers()] == [
        "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked"]


def test_state_dict_keys_and_order_match_torch():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                        nn.Linear(2 * 4 * 4, 3))
    twin = torch_twin(net)
    assert list(net.state_dict()) == list(twin.state_dict())
    assert net.state_dict()["1.num_batches_tracked"].dtype == np.int64
    sd = net.state_dict()
    sd["0.weight"][:] = 99  # a copy: editing it leaves the model alone
    assert not (net[0].weight.data == 99).any()


def test_torch_state_dict_loads_and_gives_torch_outputs():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 5))
    twin = torch_twin(net)
    twin.train()
    twin(torch.randn(8, 2, 6, 6) * 3 + 1)  # move the running statistics off their defaults
    twin.eval()
    result = net.load_state_dict(torch_state_as_numpy(twin))
    assert result.missing_keys == [] and result.unexpected_keys == []
    net.eval()
    x = _x(3, 2, 6, 6)
    _close(net(x).data, twin(torch.from_numpy(x)).detach().numpy(), "loaded model output")
    net.load_state_dict(twin.state_dict())  # torch tensors themselves are accepted too
    assert net[1].num_batches_tracked == 1


def test_load_state_dict_reports_every_problem():
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    good = net.state_dict()
    bad = dict(good)
    del bad["2.bias"]
    bad["3.weight"] = np.zeros(2)
    bad["0.weight"] = np.zeros((3, 5), np.float32)
    with pytest.raises(ArgumentError) as info:
        net.load_state_dict(bad)
    msg = str(info.value)
    assert "missing keys ['2.bias']" in msg
    assert "unexpected keys ['3.weight']" in msg
    assert "shape mismatch for '0.weight': the checkpoint has (3, 5), the model has (3, 4)" in msg
    before = net[0].weight.data.copy()
    np.testing.assert_array_equal(net[0].weight.data, before)  # nothing was half-loaded
    partial = {"0.weight": np.ones((3, 4)), "9.x": np.zeros(1)}
    result = net.load_state_dict(partial, strict=False)
    assert result.missing_keys == ["0.bias", "2.weight", "2.bias"]
    assert result.unexpected_keys == ["9.x"]
    assert net[0].weight.dtype == np.float32 and (net[0].weight.data == 1).all()
    with pytest.raises(ArgumentTypeError, match="must be a mapping"):
        net.load_state_dict([1, 2])


def test_train_eval_and_zero_grad_reach_every_module():
    net = _Net()
    assert net.training and all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net(_x(2, 1, 5, 5)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_sequential_indexing_and_repr_like_torch():
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Flatten(), nn.Linear(8, 2, bias=False), nn.Conv2d(2, 2, 3, 1, "same"))
    assert repr(net) == repr(torch_twin(net))
    assert len(net) == 6 and isinstance(net[-2], nn.Linear) and net[0] is list(net)[0]
    tail = net[1:3]
    assert isinstance(tail, nn.Sequential) and [n for n, _ in tail.named_children()] == ["1", "2"]
    with pytest.raises(IndexError):
        net[6]
    block = nn.ResidualBlock(2, 4, 2)
    assert repr(block).startswith("ResidualBlock(\n  (conv1): Conv2d(2, 4, kernel_size=(3, 3)")
    assert "(downsample): Sequential(\n    (0): Conv2d(2, 4" in repr(block)
    with pytest.raises(ArgumentTypeError, match="every item must be a Module"):
        nn.Sequential(nn.ReLU(), "relu")


def test_parameter_and_module_to_dtype():
    p = nn.Parameter(np.zeros(3))
    assert p.requires_grad and p.dtype == np.float64
    assert repr(p).startswith("Parameter containing:\ntensor(")
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).to(np.float64)
    assert all(v.dtype == np.float64 for k, v in net.state_dict().items()
               if not k.endswith("num_batches_tracked"))


def test_copy_to_torch_round_trip():
    net = nn.Sequential(nn.Conv1d(1, 3, 5, stride=2, padding=2), nn.ReLU(), nn.Flatten(),
                        nn.Linear(3 * 5, 4))
    twin = torch_twin(net)
    copy_to_torch(net, twin)
    x = _x(2, 1, 10)
    _close(net(x).data, twin(torch.from_numpy(x)).detach().numpy(), "copied weights")


# ---- initialisation --------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 3), (8, 4, 3), (6, 2, 3, 5), (1, 1)])
def test_fans_match_torch(shape):
    want = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert nn.init.calculate_fan_in_and_fan_out(np.empty(shape)) == want


def test_fan_needs_two_dims():
    with pytest.raises(ArgumentError, match="at least 2 dimensions, received shape \\(4,\\)"):
        nn.init.kaiming_uniform_(np.zeros(4))


@pytest.mark.parametrize("name, param", [("linear", None), ("conv2d", None), ("sigmoid", None),
                                         ("tanh", None), ("relu", None), ("leaky_relu", None),
                                         ("leaky_relu", 0.2), ("selu", None)])
def test_calculate_gain_matches_torch(name, param):
    assert nn.init.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(name, param))


def test_calculate_gain_rejects_unknown():
    with pytest.raises(ArgumentError, match="unknown `nonlinearity` 'swish'"):
        nn.init.calculate_gain("swish")


@pytest.mark.parametrize("fn, kwargs, kind, expected", [
    ("kaiming_uniform_", dict(nonlinearity="relu"), "uniform", math.sqrt(2) * math.sqrt(3 / 200)),
    ("kaiming_uniform_", dict(a=math.sqrt(5)), "uniform", 1 / math.sqrt(200)),
    ("kaiming_normal_", dict(nonlinearity="relu"), "normal", math.sqrt(2 / 200)),
    ("kaiming_normal_", dict(mode="fan_out", nonlinearity="relu"), "normal", math.sqrt(2 / 500)),
    ("xavier_uniform_", dict(), "uniform", math.sqrt(6 / 700)),
    ("xavier_normal_", dict(gain=2.0), "normal", 2 * math.sqrt(2 / 700)),
])
def test_init_statistics(fn, kwargs, kind, expected):
    """Samples reach the documented bound (uniform) or standard deviation (normal)."""
    w = np.zeros((500, 8, 5, 5), np.float32)  # fan_in 200, fan_out 12500
    if "xavier" in fn:
        w = np.zeros((500, 200), np.float32)  # fan_in + fan_out = 700
    if kwargs.get("mode") == "fan_out":
        w = np.zeros((20, 8, 5, 5), np.float32)  # fan_out 500
    out = getattr(nn.init, fn)(w, **kwargs, rng=np.random.default_rng(0))
    assert out is w and w.dtype == np.float32
    if kind == "uniform":
        assert np.abs(w).max() <= expected * (1 + 1e-6)
        assert np.abs(w).max() > expected * 0.999
        assert w.std() == pytest.approx(expected / math.sqrt(3), rel=0.02)
    else:
        assert w.std() == pytest.approx(expected, rel=0.02)
    assert abs(w.mean()) < 0.02 * expected


def test_init_is_seeded_and_works_on_tensors():
    a, b = nn.Parameter(np.zeros((4, 3))), nn.Parameter(np.zeros((4, 3)))
    nn.init.normal_(a, 1.0, 0.5, rng=np.random.default_rng(5))
    nn.init.normal_(b, 1.0, 0.5, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.data, b.data)
    nn.init.zeros_(a)
    nn.init.ones_(b)
    assert not a.data.any() and (b.data == 1).all()
    nn.init.uniform_(a, -2, -1, rng=np.random.default_rng(0))
    assert ((a.data >= -2) & (a.data < -1)).all()
    nn.init.constant_(a, 3.5)
    assert (a.data == 3.5).all()


@pytest.mark.parametrize("make, fan_in", [
    (lambda rng: nn.Linear(300, 200, rng=rng), 300),
    (lambda rng: nn.Conv2d(16, 300, 3, groups=4, rng=rng), 4 * 9),
    (lambda rng: nn.Conv1d(10, 400, 5, rng=rng), 50),
])
def test_layer_default_init_as_torch(make, fan_in):
    """Weights and biases are U(-1/sqrt(fan_in), 1/sqrt(fan_in)), like torch's defaults."""
    layer = make(np.random.default_rng(0))
    bound = 1 / math.sqrt(fan_in)
    for p in (layer.weight, layer.bias):
        assert p.dtype == np.float32
        assert np.abs(p.data).max() <= bound * (1 + 1e-6)
        assert np.abs(p.data).max() > 0.9 * bound
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.03)
    again = make(np.random.default_rng(0))
    np.testing.assert_array_equal(again.weight.data, layer.weight.data)


# ---- constructor argument checks -------------------------------------------------------------
@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.Linear(0, 3), ArgumentError,
     "Linear: `in_features` must be a positive int, received in_features=0"),
    (lambda: nn.Linear(3, 2.5), ArgumentError,
     "Linear: `out_features` must be a positive int, received out_features=2.5"),
    (lambda: nn.Conv2d(3, 8, 0), ArgumentError, "Conv2d: `kernel_size` must be positive"),
    (lambda: nn.Conv2d(3, 8, (3, 3, 3)), ArgumentTypeError,
     "Conv2d: `kernel_size` must be an int or a tuple of 2 ints"),
    (lambda: nn.Conv1d(3, 8, 3, stride=0), ArgumentError, "Conv1d: `stride` must be positive"),
    (lambda: nn.Conv2d(3, 8, 3, padding=-1), ArgumentError,
     "Conv2d: `padding` must be non-negative, received padding=-1"),
    (lambda: nn.Conv2d(3, 8, 3, padding="full"), ArgumentError,
     "Conv2d: `padding` string must be 'valid' or 'same', received 'full'"),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), ArgumentError,
     "Conv2d: `groups` must divide both in_channels and out_channels, received groups=4, "
     "in_channels=4, out_channels=6"),
    (lambda: nn.Conv2d(4, 6, 3, padding_mode="mirror"), ArgumentError,
     "Conv2d: `padding_mode` must be one of"),
    (lambda: nn.Conv2d(4, 6, 3, dtype=np.int32), ArgumentTypeError,
     "Conv2d: `dtype` must be a float dtype"),
    (lambda: nn.Conv2d(4, 6, 3, rng=42), ArgumentTypeError,
     "Conv2d: `rng` must be a numpy.random.Generator or None, received int"),
    (lambda: nn.MaxPool2d(2, padding=2), ArgumentError,
     "MaxPool2d: `padding` must be at most half of kernel_size"),
    (lambda: nn.AvgPool1d(0), ArgumentError, "AvgPool1d: `kernel_size` must be positive"),
    (lambda: nn.AdaptiveAvgPool2d(0), ArgumentError,
     "AdaptiveAvgPool2d: `output_size` must be positive"),
    (lambda: nn.Dropout(1.5), ArgumentError, r"Dropout: `p` must be in \[0.0, 1.0\], "
     "received p=1.5"),
    (lambda: nn.Dropout("a"), ArgumentTypeError, "Dropout: `p` must be a number"),
    (lambda: nn.BatchNorm2d(0), ArgumentError, "BatchNorm2d: `num_features` must be a positive"),
    (lambda: nn.BatchNorm1d(3, eps=0), ArgumentError, "BatchNorm1d: `eps` must be a positive"),
    (lambda: nn.BatchNorm1d(3, momentum=2), ArgumentError, "BatchNorm1d: `momentum` must be in"),
    (lambda: nn.LeakyReLU("x"), ArgumentTypeError, "LeakyReLU: `negative_slope` must be a "),
    (lambda: nn.Softmax(1.5), ArgumentTypeError, "Softmax: `dim` must be an int"),
    (lambda: nn.ResidualBlock(3, 0), ArgumentError, "ResidualBlock: `out_channels` must be a "),
])
def test_bad_constructor_arguments(make, error, message):
    with pytest.raises(error, match=message if "\\" in message else None) as info:
        make()
    if "\\" not in message:
        assert message in str(info.value)
