"""gridnn.onnx.load on files written by PyTorch's TorchScript exporter (dynamo=False).

Each PyTorch model is exported, loaded into gridnn, and must give PyTorch's outputs within
float32 tolerance; the loaded model is made of real gridnn layers (so the explain tools see
them), its weights are Parameters, and it trains.
"""

import numpy as np
import onnx
import pytest

from needs_torch import REASON

# Every model here is built in PyTorch: without it the whole file skips (CI installs it).
torch = pytest.importorskip("torch", reason=REASON)
tnn = torch.nn

import gridnn as gn  # noqa: E402
import gridnn.onnx as gx  # noqa: E402
from gridnn import nn  # noqa: E402
from gridnn.explain import receptive_field  # noqa: E402

torch.manual_seed(0)


class LeNet5(tnn.Module):
    """LeNet-5 with average pooling and tanh, flattening by x.view(x.size(0), -1) (the
    Shape -> Gather -> Unsqueeze -> Concat -> Reshape chain the exporter writes)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = tnn.Conv2d(1, 6, 5, padding=2), tnn.Conv2d(6, 16, 5)
        self.pool = tnn.AvgPool2d(2)
        self.fc1, self.fc2, self.fc3 = tnn.Linear(400, 120), tnn.Linear(120, 84), \
            tnn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(torch.tanh(self.conv1(x)))
        x = self.pool(torch.tanh(self.conv2(x)))
        x = x.view(x.size(0), -1)
        return self.fc3(torch.tanh(self.fc2(torch.tanh(self.fc1(x)))))


class Block(tnn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = tnn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(c_out)
        self.conv2 = tnn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(c_out)
        self.short = tnn.Sequential()
        if stride != 1 or c_in != c_out:
            self.short = tnn.Sequential(tnn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                        tnn.BatchNorm2d(c_out))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.short(x))


class ResNet(tnn.Module):
    def __init__(self):
        super().__init__()
        self.stem = tnn.Sequential(tnn.Conv2d(3, 8, 3, padding=1, bias=False),
                                   tnn.BatchNorm2d(8), tnn.ReLU(), tnn.MaxPool2d(3, 2, 1))
        self.layer1, self.layer2 = Block(8, 8, 1), Block(8, 16, 2)
        self.fc = tnn.Linear(16, 5)

    def forward(self, x):
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(tnn.functional.adaptive_avg_pool2d(x, 1), 1))


def mobilenet():
    """Depthwise-separable blocks with ReLU6 (exported as Clip), ceil-mode pooling, a mean
    over the spatial axes (ReduceMean) and a softmax head."""
    def separable(c_in, c_out, stride):
        return [tnn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False),
                tnn.BatchNorm2d(c_in), tnn.ReLU6(),
                tnn.Conv2d(c_in, c_out, 1, bias=False), tnn.BatchNorm2d(c_out), tnn.ReLU6()]

    class Mean(tnn.Module):
        def forward(self, x):
            return x.mean((2, 3))

    return tnn.Sequential(tnn.Conv2d(3, 8, 3, 2, 1, bias=False), tnn.BatchNorm2d(8),
                          tnn.ReLU6(), *separable(8, 16, 1), tnn.MaxPool2d(2, ceil_mode=True),
                          *separable(16, 24, 2), Mean(), tnn.Dropout(0.2), tnn.Linear(24, 4),
                          tnn.Softmax(dim=1))


def cnn1d():
    return tnn.Sequential(tnn.Conv1d(2, 8, 5, stride=2, padding=2), tnn.BatchNorm1d(8),
                          tnn.LeakyReLU(0.1), tnn.MaxPool1d(2),
                          tnn.Conv1d(8, 8, 3, padding=1, padding_mode="reflect"), tnn.Sigmoid(),
                          tnn.AvgPool1d(3, 2, 1, ceil_mode=True), tnn.Flatten(),
                          tnn.Linear(8 * 6, 3))


TORCH_MODELS = {"lenet5": (LeNet5, (1, 28, 28)), "resnet": (ResNet, (3, 20, 20)),
                "mobilenet": (mobilenet, (3, 24, 24)), "cnn1d": (cnn1d, (2, 40))}


def exported(name, tmp_path, *, dynamic=True, fold=True, opset=None):
    """(torch model in eval mode with trained-looking statistics, ONNX path, input shape)."""
    build, shape = TORCH_MODELS[name]
    model = build()
    for m in model.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, (tnn.BatchNorm1d, tnn.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    model.eval()
    path = tmp_path / f"{name}.onnx"
    axes = {"x": {0: "batch"}, "y": {0: "batch"}} if dynamic else None
    # without torch's constant folding the BatchNorms stay (not merged into the convolutions)
    # and the shape arithmetic is left for gridnn to fold
    torch.onnx.export(model, torch.zeros(2, *shape), str(path), dynamo=False, input_names=["x"],
                      output_names=["y"], dynamic_axes=axes, do_constant_folding=fold,
                      opset_version=opset)
    return model, path, shape


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("fold", [True, False])
@pytest.mark.parametrize("name", sorted(TORCH_MODELS))
def test_pytorch_exports_load_and_match_pytorch(name, fold, tmp_path):
    model, path, shape = exported(name, tmp_path, fold=fold)
    loaded = gx.load(path)
    for batch in (1, 5):
        x = np.random.default_rng(batch).standard_normal((batch, *shape)).astype(np.float32)
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
        got = loaded(gn.tensor(x)).data
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    info = loaded.onnx_info
    assert info.input_shape == shape and info.producer.startswith("pytorch")
    assert info.num_classes == expected.shape[1]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("opset", [11, 18])
@pytest.mark.parametrize("name", sorted(TORCH_MODELS))
def test_older_and_newer_opsets_load(name, opset, tmp_path):
    """Opset 11 spells Unsqueeze/ReduceMean axes as attributes, 18 as inputs."""
    model, path, shape = exported(name, tmp_path, fold=False, opset=opset)
    x = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    loaded = gx.load(path)
    assert loaded.onnx_info.opset == opset
    np.testing.assert_allclose(loaded(gn.tensor(x)).data, expected, rtol=1e-4,
                               atol=1e-5 * np.abs(expected).max())


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_loaded_layers_are_gridnn_layers_the_explain_tools_see(tmp_path):
    _, path, shape = exported("lenet5", tmp_path)
    loaded = gx.load(path)
    assert isinstance(loaded, nn.Sequential)  # the flatten's shape arithmetic folded away
    kinds = [type(m).__name__ for m in loaded]
    assert kinds == ["Conv2d", "Tanh", "AvgPool2d", "Conv2d", "Tanh", "AvgPool2d", "Flatten",
                     "Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert [n for n, _ in loaded.named_children()] == [
        "conv1", "tanh", "pool", "conv2", "tanh_1", "pool_1", "reshape", "fc1", "tanh_2", "fc2",
        "tanh_3", "fc3"]  # from the weights' names, else the node scopes
    assert loaded.conv1.padding == (2, 2) and loaded.fc1.weight.shape == (120, 400)
    summary = gn.summary(loaded, shape)
    assert summary.total_params == 61706 and summary.rows[-1].output_shape == (10,)
    fields = receptive_field(loaded, shape)
    assert fields.layers[3].size == (14, 14)  # conv 5 -> pool 2 -> conv 5: 5 + 1 + 4 * 2


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_residual_graph_is_a_graph_module_with_gridnn_children(tmp_path):
    model, path, shape = exported("resnet", tmp_path, fold=False)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "BatchNormalization" in ops
    assert not any(isinstance(m, nn.BatchNorm2d) for m in gx.load(path).modules())  # folded
    loaded = gx.load(path, fold_batchnorm=False)
    assert isinstance(loaded, gx.GraphModule)
    children = dict(loaded.named_children())
    assert isinstance(children["layer1_conv1"], nn.Conv2d)
    assert isinstance(children["layer2_short_0"], nn.Conv2d)
    assert isinstance(children["layer2_bn2"], nn.BatchNorm2d)
    assert isinstance(children["fc"], nn.Linear)
    torch_keys = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    assert {k.replace(".", "_", k.count(".") - 1) for k in torch_keys} <= set(loaded.state_dict())
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(loaded(gn.tensor(x)).data, expected, rtol=1e-4, atol=1e-5)
    fields = receptive_field(loaded, shape)
    assert fields.layers[-3].kind == "AdaptiveAvgPool2d"
    assert fields.layers[-3].size == (41, 41)  # the global pooling sees all of the 20 x 20


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name", ["mobilenet", "resnet"])
def test_a_loaded_model_trains(name, tmp_path):
    _, path, shape = exported(name, tmp_path)
    loaded = gx.load(path).train()
    params = list(loaded.parameters())
    assert params and all(isinstance(p, nn.Parameter) for p in params)
    before = [p.data.copy() for p in params]
    opt = gn.optim.SGD(params, lr=0.1)
    x = np.random.default_rng(0).standard_normal((4, *shape)).astype(np.float32)
    loss = gn.functional.cross_entropy(loaded(gn.tensor(x)), np.array([0, 1, 2, 3]))
    loss.backward()
    opt.step()
    assert all(p.grad is not None for p in params)
    assert sum(not np.array_equal(a, p.data) for a, p in zip(before, params)) == len(params)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_static_batch_export_loads_for_any_batch(tmp_path):
    model, path, shape = exported("lenet5", tmp_path, dynamic=False)
    loaded = gx.load(path)
    x = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(loaded(gn.tensor(x)).data, expected, rtol=1e-4, atol=1e-5)


def test_load_model_file_gives_the_input_shape_and_classes(tmp_path):
    model = gn.models.build("lenet5", seed=0, num_classes=7)
    gx.export(model, tmp_path / "m.onnx", (1, 28, 28))
    loaded, info = gx.load_model_file(tmp_path / "m.onnx")
    assert info.input_shape == (1, 28, 28) and info.num_classes == 7 and info.opset == 17
    assert info.path == str(tmp_path / "m.onnx") and info.producer.startswith("gridnn")
    assert loaded.onnx_info is info and not loaded.training


def test_unsupported_operators_are_all_named_at_once(tmp_path):
    helper, tp = onnx.helper, onnx.TensorProto
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name="first"),
         helper.make_node("Hardmax", ["r"], ["h"], name="my_hardmax"),
         helper.make_node("Hardmax", ["h"], ["h2"], name="second_hardmax"),
         helper.make_node("Round", ["h2"], ["y"], name="my_round")], "g",
        [helper.make_tensor_value_info("x", tp.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("y", tp.FLOAT, ["N", 3])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              tmp_path / "m.onnx")
    with pytest.raises(gn.DataError, match=r"2 operators gridnn cannot load: Hardmax \(2 nodes, "
                                           r"first 'my_hardmax' \(Hardmax\)\); Round \(1 node, "
                                           r"first 'my_round' \(Round\)\); supported: .*Conv.*Gem"):
        gx.load(tmp_path / "m.onnx")


def test_gemm_alpha_beta_matmul_constant_and_clip_fold_correctly(tmp_path):
    helper, tp, nh = onnx.helper, onnx.TensorProto, onnx.numpy_helper
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(3).astype(
        np.float32)
    left = rng.standard_normal((2, 3)).astype(np.float32)
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["g"], alpha=0.5, beta=2.0, transB=1),
             helper.make_node("Clip", ["g", "lo", "hi"], ["c"]),
             helper.make_node("Unsqueeze", ["c", "ax"], ["u"]),
             helper.make_node("MatMul", ["left", "u"], ["m"]),
             helper.make_node("Transpose", ["m"], ["t"], perm=[0, 2, 1]),
             helper.make_node("Sub", ["t", "one"], ["y"])]
    inits = [nh.from_array(w, "w"), nh.from_array(b, "b"), nh.from_array(left, "left"),
             nh.from_array(np.float32(-0.3), "lo"), nh.from_array(np.float32(0.4), "hi"),
             nh.from_array(np.array([2], np.int64), "ax"),
             nh.from_array(np.float32(1.0), "one")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", tp.FLOAT,
                                                                         ["N", 4])],
                              [helper.make_tensor_value_info("y", tp.FLOAT, None)], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              tmp_path / "m.onnx")
    loaded = gx.load(tmp_path / "m.onnx")
    x = rng.standard_normal((5, 4)).astype(np.float32)
    g = np.clip(0.5 * x @ w.T + 2.0 * b, -0.3, 0.4)
    expected = np.transpose(left @ g[:, :, None], (0, 2, 1)) - 1.0
    np.testing.assert_allclose(loaded(gn.tensor(x)).data, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_filters_and_feature_maps_of_a_loaded_model(tmp_path):
    from gridnn.explain import draw, trained
    from gridnn.nn.trace import trace

    _, path, shape = exported("resnet", tmp_path, fold=False)
    loaded = gn.onnx.load(path)
    convs = [(n, m) for n, m in loaded.named_modules() if isinstance(m, nn.Conv2d)]
    assert [n for n, _ in convs] == ["stem_0", "layer1_conv1", "layer1_conv2", "layer2_conv1",
                                     "layer2_conv2", "layer2_short_0"]
    fig = trained.filters_figure(convs[0][0], convs[0][1].weight.data)
    assert fig._suptitle.get_text() == "layer stem_0: 8 filters of 3x3x3"  # every stem filter
    x = np.random.default_rng(0).random(shape, np.float32)
    _, calls = trace(loaded, shape, sample=x)
    maps = [(c.name, c.output.data[0]) for c in calls if isinstance(c.module, nn.Conv2d)]
    assert [n for n, _ in maps] == [n for n, _ in convs]
    assert maps[0][1].shape == (8, 20, 20) and maps[-1][1].shape == (16, 5, 5)
    assert draw.png_bytes(trained.feature_maps_figure(x, maps, "loaded")).startswith(b"\x89PNG")


@pytest.mark.parametrize("mode, value", [("constant", 0.0), ("constant", 2.5), ("edge", 0.0),
                                         ("reflect", 0.0), ("wrap", 0.0)])
def test_pad_before_conv_fuses_only_when_the_conv_can_pad_alike(mode, value, tmp_path):
    helper, nh = onnx.helper, onnx.numpy_helper
    rng = np.random.default_rng(0)
    w = rng.standard_normal((2, 3, 3, 3)).astype(np.float32)
    inits = [nh.from_array(w, "conv.weight"),
             nh.from_array(np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64), "pads"),
             nh.from_array(np.float32(value), "value")]
    nodes = [helper.make_node("Pad", ["x", "pads", "value"], ["p"], mode=mode),
             helper.make_node("Conv", ["p", "conv.weight"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", 1, ["N", 3, 6, 6])],
                              [helper.make_tensor_value_info("y", 1, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    onnx.save(model, tmp_path / "m.onnx")
    loaded = gx.load(tmp_path / "m.onnx")
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    torch_mode = {"constant": "constant", "edge": "replicate", "reflect": "reflect",
                  "wrap": "circular"}[mode]
    padded = tnn.functional.pad(torch.from_numpy(x), (2, 1, 1, 2), torch_mode, value=value) \
        if mode == "constant" else tnn.functional.pad(torch.from_numpy(x), (2, 1, 1, 2),
                                                      torch_mode)
    expected = tnn.functional.conv2d(padded, torch.from_numpy(w)).numpy()
    np.testing.assert_allclose(loaded(gn.tensor(x)).data, expected, rtol=1e-5, atol=1e-5)
    fused = not (mode == "constant" and value)
    assert [type(m).__name__ for m in loaded] == (["Conv2d"] if fused else ["Pad", "Conv2d"])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_load_runs_layers_at_one_batch_size_and_keeps_only_folded_weights(tmp_path,
                                                                           monkeypatch):
    """A layer works per sample, so the load runs it at one batch size only (at the other its
    value is a stand-in of its shape); a Conv's weight as read from the file is dropped once
    a BatchNorm is folded into it. The model still takes any batch."""
    import gc
    import importlib
    import weakref

    from gridnn.onnx import reader

    model, path, shape = exported("resnet", tmp_path, fold=False)
    calls = []
    conv_forward = nn.Conv2d.forward
    monkeypatch.setattr(nn.Conv2d, "forward",
                        lambda self, x: calls.append(x.shape[0]) or conv_forward(self, x))
    read = []
    tensor_array = reader.tensor_array
    monkeypatch.setattr(importlib.import_module("gridnn.onnx.load"), "tensor_array",
                        lambda *a, **k: read.append(tensor_array(*a, **k)) or read[-1])
    loaded = gx.load(path)
    convs = [m for m in loaded.modules() if isinstance(m, nn.Conv2d)]
    # batch 1 only: each Conv node, then each Conv with its BatchNorm folded in
    assert calls == [1] * 2 * len(convs)
    gc.collect()
    file_weights = {id(a): weakref.ref(a) for a in read if a.ndim == 4}
    read.clear()
    alive = [r for r in file_weights.values() if r() is not None]
    assert len(file_weights) == len(convs) and not alive  # every Conv2d here is folded
    x = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(loaded(gn.tensor(x)).data, expected, rtol=1e-4, atol=1e-5)
