"""gn.summary: the Keras-style table, its totals, and its connection and parameter columns."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

import gridnn as gn
from gridnn import models, nn
from gridnn.explain import connection_counts


def lenet5():
    rng = np.random.default_rng(0)
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, rng=rng), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120, rng=rng), nn.ReLU(), nn.Linear(120, 84, rng=rng), nn.ReLU(),
        nn.Linear(84, 10, rng=rng))


def test_lenet5_table_shapes_and_totals():
    s = gn.summary(lenet5(), (1, 28, 28))
    # LeNet-5: 156 + 2,416 + 48,120 + 10,164 + 850 = 61,706 parameters.
    assert s.total_params == s.trainable_params == 61_706
    assert [r.params for r in s.rows] == [156, 0, 0, 2416, 0, 0, 0, 48120, 0, 10164, 0, 850]
    assert [r.output_shape for r in s.rows][:7] == [
        (6, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 10, 10), (16, 5, 5), (400,)]
    text = str(s)
    for piece in ("Layer (type)", "Output shape", "Param #", "Connections", "MLP weights",
                  "0 (Conv2d)", "(N, 6, 28, 28)", "Total params: 61,706",
                  "Trainable params: 61,706", "Non-trainable params: 0"):
        assert piece in text
    # Conv1 'same' on 28x28: 6 filters x 26^2-ish windows; checked against the counts helper.
    conv1 = connection_counts(nn.Conv2d(1, 6, 5, padding=2), (1, 28, 28))
    assert s.rows[0].connections == conv1["connections"] == 6 * (28 * 5 - 6) ** 2
    assert s.rows[0].mlp_weights == 784 * 6 * 784
    assert s.rows[7].connections == s.rows[7].mlp_weights == 400 * 120
    assert s.rows[1].connections is None and "-" in text.splitlines()[5]


@pytest.mark.parametrize("name", ["digits_cnn", "lenet5", "mnist1d_cnn", "resnet_small"])
def test_totals_equal_the_sum_of_parameters(name):
    model = models.build(name)
    shape = tuple(models.default_input_shape(name))
    s = gn.summary(model, shape)
    assert s.total_params == sum(p.size for p in model.parameters())
    assert sum(r.params for r in s.rows) == s.total_params
    convs = {id(m) for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))}
    assert sum(r.connections is not None for r in s.rows) == len(convs)
    assert s.total_connections == sum(r.connections or 0 for r in s.rows)
    assert f"Total params: {s.total_params:,}" in str(s)


def test_locally_connected_rows_show_what_sharing_saves():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=rng),
                          nn.LocallyConnected2d(2, 2, (6, 6), 3, rng=rng))
    s = gn.summary(model, (1, 8, 8))
    conv, local = s.rows
    assert conv.connections == 2 * 1 * 36 * 9  # filters x channels x 6x6 positions x 3x3
    assert local.connections == 2 * 2 * 16 * 9  # 4x4 positions
    assert conv.params == 2 * 9 + 2  # one shared 3x3 kernel and bias per filter
    assert local.params == 16 * 2 * 2 * 9 + 16 * 2 == 608  # a kernel and bias per position
    assert local.mlp_weights == 72 * 32


def test_shared_layer_counted_once_and_tracing_leaves_no_trace():
    rng = np.random.default_rng(0)
    conv = nn.Conv2d(2, 2, 3, padding=1, rng=rng)
    model = nn.Sequential(conv, nn.BatchNorm2d(2), conv)
    model.train()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    s = gn.summary(model, (2, 5, 5))
    assert [r.params for r in s.rows] == [conv.weight.size + 2, 4, 0]
    assert s.total_params == sum(p.size for p in model.parameters())
    assert "forward" not in vars(conv) and model.training and conv.training
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])  # BatchNorm statistics untouched


def test_summary_callable_in_any_import_order():
    model = nn.Sequential(nn.Linear(3, 2, rng=np.random.default_rng(0)))
    first, second = gn.summary(model, (3,)), gn.summary(model, (3,))
    assert first.total_params == second.total_params == 8
    module = importlib.import_module("gridnn.explain.summary")  # loading it keeps gn.summary
    assert gn.summary is module.summary


def test_html_table():
    html = gn.summary(lenet5(), (1, 28, 28)).to_html()
    assert html.startswith('<table class="summary">') and "<th>Connections</th>" in html
    assert "Total params: 61,706" in html


def test_errors_and_doctest():
    with pytest.raises(gn.ArgumentTypeError, match="`model` must be a gridnn.nn.Module"):
        gn.summary(object(), (1, 4, 4))
    with pytest.raises(gn.ArgumentError, match="`input_shape` must be positive sizes"):
        gn.summary(lenet5(), (1, 0, 28))
    assert doctest.testmod(importlib.import_module("gridnn.explain.summary")).failed == 0


def test_a_zoo_model_is_named_and_its_windows_shown():
    s = gn.summary(models.build("lenet5"), (1, 28, 28))
    text = str(s)
    assert text.startswith('Model: "lenet5"  input (N, 1, 28, 28)')
    windows = {r.name: r.window for r in s.rows}
    assert windows["0"] == "5x5 s1 p2" and windows["2"] == "2x2 s2 p0"
    assert windows["1"] == "" and windows["7"] == ""  # ReLU, Linear: no window
    assert "  5x5 s1 p2  " in text and "Window" in text.splitlines()[2]
    rng = np.random.default_rng(0)
    dilated = gn.summary(nn.Sequential(nn.Conv1d(1, 2, 3, stride=2, padding=1, dilation=2,
                                                 rng=rng)), (1, 9))
    assert str(dilated).startswith('Model: "Sequential"')  # not from the zoo: its class
    assert [r.window for r in dilated.rows] == ["3 s2 p1 d2"]
    second = nn.Sequential(nn.Conv2d(2, 2, (3, 1), stride=(1, 2), padding=(1, 0), rng=rng))
    assert [r.window for r in gn.summary(second, (2, 5, 5)).rows] == ["3x1 s1x2 p1x0"]
