"""gridnn.models: every factory builds, gives the right output shape, exchanges weights with a
PyTorch model of the same layers (same outputs), is seeded, and rejects bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

import gridnn as gn
from gridnn import models
from gridnn.errors import ArgumentError, ArgumentTypeError
from needs_torch import torch
from torch_check import relative_error
from torch_twin import torch_state_as_numpy, torch_twin

# Parameter counts of the default models: the figures the README quotes.
DEFAULT_PARAMETERS = {
    "digits_cnn": 29_162,
    "fashion_cnn": 421_738,
    "lenet5": 61_706,
    "mlp": 15_210,
    "mnist1d_cnn": 44_874,
    "resnet_small": 78_042,
    "stack": 9_930,
}


def _input(shape: tuple[int, ...], n: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


def test_registry_lists_every_factory():
    assert sorted(models.MODELS) == sorted(DEFAULT_PARAMETERS)
    assert all(callable(f) for f in models.MODELS.values())


@pytest.mark.parametrize("name", sorted(DEFAULT_PARAMETERS))
def test_default_models_build_and_give_class_scores(name):
    model = models.build(name, seed=0)
    shape = models.default_input_shape(name)
    assert model(_input(shape)).shape == (3, 10)
    assert sum(p.size for p in model.parameters()) == DEFAULT_PARAMETERS[name]


@pytest.mark.parametrize("name, kwargs, shape", [
    ("mlp", dict(in_channels=1, input_size=(28, 28), num_classes=10), (1, 28, 28)),
    ("mlp", dict(input_size=64, hidden=[32], dropout=0.2), (64,)),
    ("mnist1d_cnn", dict(input_size=60, num_classes=4), (1, 60)),
    ("mnist1d_cnn", dict(channels=25, batch_norm=False, dropout=0.0), (1, 40)),
    ("lenet5", dict(), (1, 28, 28)),
    ("lenet5", dict(input_size=32, in_channels=3, activation="tanh", pool="avg"), (3, 32, 32)),
    ("lenet5", dict(input_size=8), (1, 8, 8)),
    ("lenet5", dict(input_size=(20, 12)), (1, 20, 12)),
    ("fashion_cnn", dict(num_classes=5, widths=[16, 32, 64], hidden=32), (1, 28, 28)),
    ("fashion_cnn", dict(in_channels=3, input_size=32), (3, 32, 32)),
    ("digits_cnn", dict(input_size=(8, 6)), (1, 8, 6)),
    ("resnet_small", dict(in_channels=1, input_size=16, blocks=2, num_classes=7), (1, 16, 16)),
])
def test_models_adapt_to_input_size_and_channels(name, kwargs, shape):
    model = models.build(name, seed=1, **kwargs)
    assert model(_input(shape, n=2)).shape == (2, kwargs.get("num_classes", 10))
    if "input_size" in kwargs or "in_channels" in kwargs:
        want = shape if name != "mlp" or len(shape) > 1 else (1, *shape)
        assert models.default_input_shape(name, **kwargs) == want


def test_mlp_takes_flat_features_too():
    assert models.mlp(seed=0)(_input((40,))).shape == (3, 10)


@pytest.mark.parametrize("name", sorted(DEFAULT_PARAMETERS))
def test_torch_weights_load_and_give_the_same_outputs(name):
    """The torch.nn model with the same layers, with PyTorch's own initial weights (and moved
    running statistics), loads into the gridnn model; evaluation outputs then agree."""
    model = models.build(name, seed=0)
    torch.manual_seed(0)
    twin = torch_twin(model)
    shape = models.default_input_shape(name)
    twin.train()
    with torch.no_grad():
        twin(torch.from_numpy(_input(shape, n=8, seed=1)) * 2 + 1)  # BatchNorm statistics
    twin.eval()
    model.load_state_dict(torch_state_as_numpy(twin))
    model.eval()
    x = _input(shape, n=4, seed=2)
    err = relative_error(model(x).data, twin(torch.from_numpy(x)).detach().numpy())
    assert err < 1e-5


def test_resnet_training_step_matches_torch():
    """Forward and backward in training mode (batch statistics through every block)."""
    model = models.resnet_small(seed=0, widths=[4, 8], in_channels=3)
    torch.manual_seed(0)
    twin = torch_twin(model)
    model.load_state_dict(torch_state_as_numpy(twin))
    x = _input((3, 8, 8), n=4)
    ours, theirs = gn.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = model(ours), twin(theirs)
    assert relative_error(out.data, ref.detach().numpy()) < 1e-5
    target = np.array([0, 3, 9, 1])
    gn.functional.cross_entropy(out, target).backward()
    torch.nn.functional.cross_entropy(ref, torch.from_numpy(target)).backward()
    assert relative_error(ours.grad, theirs.grad.numpy()) < 1e-4
    grads = dict(twin.named_parameters())
    for key, p in model.named_parameters():
        assert relative_error(p.grad, grads[key].grad.numpy()) < 1e-4, key
    state = torch_state_as_numpy(twin)
    for key, value in model.state_dict().items():
        assert relative_error(value, state[key]) < 1e-5, key


def test_seeds_make_models_reproducible():
    a, b = models.build("fashion_cnn", seed=3), models.build("fashion_cnn", seed=3)
    c = models.build("fashion_cnn", seed=4)
    for key, value in a.state_dict().items():
        np.testing.assert_array_equal(value, b.state_dict()[key])
    assert not np.array_equal(a.state_dict()["0.weight"], c.state_dict()["0.weight"])
    d = models.mnist1d_cnn(rng=np.random.default_rng(3))
    e = models.mnist1d_cnn(rng=np.random.default_rng(3))
    np.testing.assert_array_equal(d[0].weight.data, e[0].weight.data)


@pytest.mark.parametrize("call, error, message", [
    (lambda: models.build("vgg16"), ArgumentError,
     "unknown model 'vgg16'; known models: digits_cnn, fashion_cnn, lenet5, mlp, mnist1d_cnn, "
     "resnet_small"),
    (lambda: models.default_input_shape("nope"), ArgumentError, "unknown model 'nope'"),
    (lambda: models.build("mlp", widht=3), ArgumentError,
     "model 'mlp' has no argument(s) ['widht']; it takes in_channels, input_size"),
    (lambda: models.build("mlp", num_classes=0), ArgumentError,
     "mlp: `num_classes` must be a positive int, received num_classes=0"),
    (lambda: models.build("lenet5", input_size=3), ArgumentError,
     "lenet5: `input_size` must be at least 4x4, received (3, 3)"),
    (lambda: models.build("lenet5", input_size=(28, 28, 3)), ArgumentError,
     "lenet5: `input_size` must be a positive int or 2 positive ints, "
     "received input_size=(28, 28, 3)"),
    (lambda: models.build("lenet5", activation="gelu"), ArgumentError,
     "lenet5: `activation` must be 'relu' or 'tanh', received 'gelu'"),
    (lambda: models.build("lenet5", pool="min"), ArgumentError, "`pool` must be 'max' or 'avg'"),
    (lambda: models.build("fashion_cnn", input_size=4, widths=[8, 8, 8]), ArgumentError,
     "fashion_cnn: input_size=4 is too small for 3 poolings"),
    (lambda: models.build("fashion_cnn", dropout=1.0), ArgumentError,
     "fashion_cnn: `dropout` must be in [0.0, 1.0), received dropout=1.0"),
    (lambda: models.build("digits_cnn", widths=[8]), ArgumentError,
     "digits_cnn: `widths` must be 2 positive ints, received widths=[8]"),
    (lambda: models.build("resnet_small", widths=[]), ArgumentError,
     "resnet_small: `widths` must hold at least one width"),
    (lambda: models.build("mnist1d_cnn", seed=-1), ArgumentError,
     "mnist1d_cnn: `seed` must be a non-negative int, received seed=-1"),
    (lambda: models.build("mnist1d_cnn", seed=1, rng=np.random.default_rng()), ArgumentError,
     "mnist1d_cnn: pass `seed` or `rng`, not both"),
    (lambda: models.build("mlp", rng=5), ArgumentTypeError,
     "mlp: `rng` must be a numpy.random.Generator, received int"),
])
def test_bad_model_arguments(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)
