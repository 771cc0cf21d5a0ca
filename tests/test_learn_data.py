"""What the learn page trains, usable from the command line too: the synthetic pattern task,
the ``stack`` zoo model with its conv / local / mlp switch, and ``train_size``."""

from __future__ import annotations

import numpy as np
import pytest

import gridnn as gn
from gridnn import models, recipes
from gridnn.data import load_dataset
from gridnn.data.patterns import PATTERNS, make_patterns
from gridnn.errors import ArgumentError, DataError
from gridnn.nn.trace import trace


def test_patterns_have_one_pattern_each_at_a_random_place():
    x, y = make_patterns(400, np.random.default_rng(0))
    assert x.shape == (400, 1, 12, 12) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [100] * len(PATTERNS)
    assert 0 <= x.min() and x.max() == 1.0
    shapes = np.array(list(PATTERNS.values()))
    places = set()
    for image, label in zip(x[:, 0], y):
        ones = np.argwhere(image == 1.0)  # the noise stays below 0.35: only the pattern is 1
        top, left = ones.min(axis=0)
        if shapes[label][0].sum() == 0 or shapes[label][:, 0].sum() == 0:
            top, left = top - (shapes[label][0].sum() == 0), left - (shapes[label][:, 0].sum() == 0)
        assert (image[top:top + 3, left:left + 3] == 1.0).astype(int).tolist() == \
            shapes[label].tolist()
        places.add((top, left))
    assert len(places) > 50  # positions vary


def test_patterns_dataset_is_seeded():
    a, b = load_dataset("patterns", seed=1), load_dataset("patterns", seed=1)
    assert (len(a.train), len(a.test), a.num_classes, a.input_shape) == (2000, 1000, 4,
                                                                          (1, 12, 12))
    np.testing.assert_array_equal(a.train.x, b.train.x)
    assert not np.array_equal(a.train.x, load_dataset("patterns", seed=2).train.x)


@pytest.mark.parametrize("connect", models.CONNECTS)
@pytest.mark.parametrize("shape", [(1, 8, 8), (2, 12, 10), (1, 40)])
def test_stack_switch_keeps_the_units_and_changes_the_connections(connect, shape):
    layers = [{"channels": 4, "kernel": 3, "padding": 1}, {"channels": 5, "kernel": 2,
                                                           "stride": 2, "pool": 2}]
    model = models.build("stack", in_channels=shape[0], input_size=list(shape[1:]),
                         num_classes=3, layers=layers, hidden=[7], connect=connect, seed=0)
    x = gn.tensor(np.random.default_rng(0).normal(size=(2, *shape)).astype(np.float32))
    assert model(x).shape == (2, 3)
    conv = models.build("stack", in_channels=shape[0], input_size=list(shape[1:]),
                        num_classes=3, layers=layers, hidden=[7], connect="conv", seed=0)
    shapes = [c.output_shape for c in trace(model, shape)[1]
              if type(c.module).__name__ in ("ReLU", "MaxPool2d", "MaxPool1d")]
    conv_shapes = [c.output_shape for c in trace(conv, shape)[1]
                   if type(c.module).__name__ in ("ReLU", "MaxPool2d", "MaxPool1d")]
    assert shapes == conv_shapes  # the same maps, whatever the connections


def test_stack_refuses_bad_layers():
    with pytest.raises(ArgumentError, match="leaves no output"):
        models.build("stack", input_size=[4, 4], layers=[{"channels": 2, "kernel": 7}])
    with pytest.raises(ArgumentError, match="layers\\[0\\] must be a dict"):
        models.build("stack", layers=[{"filters": 2}])
    with pytest.raises(ArgumentError, match="connect"):
        models.build("stack", connect="shared")


def test_train_size_is_a_stratified_seeded_subset_and_refused_when_bad():
    bundle = load_dataset("digits")
    config = recipes.new_config(bundle, "digits", train_size=200)
    train, _ = recipes.validation_split(bundle, config)
    assert len(train) == 200 and np.bincount(train.y).min() >= 19
    again, _ = recipes.validation_split(bundle, config)
    np.testing.assert_array_equal(train.x, again.x)
    all_of_it, _ = recipes.validation_split(bundle, {**config, "train": {
        **config["train"], "train_size": 10**6}})
    assert len(all_of_it) == len(bundle.train)
    with pytest.raises(ArgumentError, match="train_size"):
        recipes.new_config(bundle, "digits", train_size=0)
    with pytest.raises(DataError, match="train_size"):
        recipes.validation_split(bundle, {**config, "train": {**config["train"],
                                                              "train_size": "200"}})
