"""``gn.onnx.load`` on the op patterns of torchvision's modern classifiers and segmenters, from
both of PyTorch's exporters (TorchScript, dynamo=False, opsets 17 and 20; dynamo=True, 18 to 20),
without torchvision: each small module below is written the way torchvision writes the family
(MobileNetV3's hardswish and squeeze-excitation, ConvNeXt's channels-last LayerNorm and exact
GELU, ShuffleNet's channel shuffle and split, an FCN/LRASPP head resized back to the input,
a transposed-convolution decoder), exported in the test and compared with ONNX Runtime on the
same file (max |diff| / max |ref| <= 1e-5, same top class)."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest

import gridnn as gn
import gridnn.onnx as gx
from gridnn import nn
from needs_torch import torch

ort = pytest.importorskip("onnxruntime")


def _modules():
    tnn, TF = torch.nn, torch.nn.functional  # noqa: N806

    class SqueezeExcite(tnn.Module):
        def __init__(self, c):
            super().__init__()
            self.fc1, self.fc2 = tnn.Conv2d(c, 4, 1), tnn.Conv2d(4, c, 1)

        def forward(self, x):
            s = TF.adaptive_avg_pool2d(x, 1)
            return x * TF.hardsigmoid(self.fc2(TF.relu(self.fc1(s))))

    class MobileNetV3ish(tnn.Module):
        def __init__(self):
            super().__init__()
            self.stem = tnn.Sequential(tnn.Conv2d(3, 8, 3, 2, 1, bias=False), tnn.BatchNorm2d(8),
                                       tnn.Hardswish())
            self.dw = tnn.Sequential(tnn.Conv2d(8, 8, 3, 1, 1, groups=8, bias=False),
                                     tnn.BatchNorm2d(8), tnn.ReLU6())
            self.se = SqueezeExcite(8)
            self.head = tnn.Sequential(tnn.Linear(8, 16), tnn.Hardswish(), tnn.Dropout(0.2),
                                       tnn.Linear(16, 10))

        def forward(self, x):
            x = self.se(self.dw(self.stem(x))) + self.stem(x)
            return self.head(torch.flatten(TF.adaptive_avg_pool2d(x, 1), 1))

    class LayerNorm2d(tnn.LayerNorm):
        def forward(self, x):
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    class ConvNeXtish(tnn.Module):
        def __init__(self):
            super().__init__()
            self.stem = tnn.Sequential(tnn.Conv2d(3, 8, 4, 4), LayerNorm2d(8, eps=1e-6))
            self.dw = tnn.Conv2d(8, 8, 7, padding=3, groups=8)
            self.norm, self.fc1, self.fc2 = tnn.LayerNorm(8, eps=1e-6), tnn.Linear(8, 32), \
                tnn.Linear(32, 8)
            self.scale = tnn.Parameter(torch.full((8, 1, 1), 0.5))
            self.head = tnn.Sequential(LayerNorm2d(8), tnn.Flatten(1), tnn.Linear(8, 10))

        def forward(self, x):
            x = self.stem(x)
            y = self.fc2(TF.gelu(self.fc1(self.norm(self.dw(x).permute(0, 2, 3, 1)))))
            x = x + self.scale * y.permute(0, 3, 1, 2)
            return self.head(TF.adaptive_avg_pool2d(x, 1))

    class ShuffleNetish(tnn.Module):
        def __init__(self):
            super().__init__()
            self.stem = tnn.Conv2d(3, 8, 3, 2, 1)
            self.branch = tnn.Sequential(tnn.Conv2d(4, 4, 1), tnn.BatchNorm2d(4), tnn.ReLU())
            self.fc = tnn.Linear(8, 10)

        def forward(self, x):
            x = self.stem(x)
            a, b = x.chunk(2, dim=1)
            x = torch.cat((a, self.branch(b)), 1)
            n, c, h, w = x.size()
            x = x.view(n, 2, c // 2, h, w).transpose(1, 2).contiguous().view(n, c, h, w)
            return self.fc(x.mean([2, 3]))

    class Segmenter(tnn.Module):
        """An FCN/LRASPP-style head: features at 1/4 size, scores resized to the input's."""

        def __init__(self, align):
            super().__init__()
            self.align = align
            self.body = tnn.Sequential(tnn.Conv2d(3, 8, 3, 2, 1), tnn.GroupNorm(2, 8),
                                       tnn.ELU(), tnn.Conv2d(8, 8, 3, 2, 1), tnn.PReLU(8))
            self.classifier = tnn.Conv2d(8, 5, 1)

        def forward(self, x):
            s = self.classifier(self.body(x))
            s = TF.interpolate(s - s.amax(1, True), scale_factor=2, mode="nearest")
            return TF.interpolate(s, size=x.shape[-2:], mode="bilinear",
                                  align_corners=self.align)

    class Decoder(tnn.Module):
        def __init__(self):
            super().__init__()
            self.down = tnn.Conv2d(3, 8, 3, 2, 1)
            self.up = tnn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
            self.out = tnn.Conv2d(4, 3, 1)

        def forward(self, x):
            return self.out(torch.sigmoid(self.up(TF.relu(self.down(x))))) + x.abs().pow(2)

    class Upscaler(tnn.Module):  # sub-pixel convolution: DepthToSpace (CRD), ReduceMax
        def __init__(self):
            super().__init__()
            self.conv, self.shuffle = tnn.Conv2d(3, 12, 3, padding=1), tnn.PixelShuffle(2)

        def forward(self, x):
            y = self.shuffle(self.conv(x))
            return y - y.amax(1, keepdim=True) + torch.sqrt(y * y + 1)

    class Smooth(tnn.Module):  # the TorchScript exporter writes Softplus; dynamo decomposes it
        def forward(self, x):
            return TF.softplus(x) * TF.elu(x, 0.5) - TF.silu(x)

    class Gates(tnn.Module):  # SiLU and Hardswish written out; a gate read twice stays alone
        def forward(self, x):
            y = x - 1
            s = torch.sigmoid(y)
            return x * torch.sigmoid(x) + TF.hardsigmoid(x) * x + y * s + s

    return {"smooth": Smooth, "upscaler": Upscaler, "gates": Gates, "mobilenet_v3": MobileNetV3ish,
            "convnext": ConvNeXtish,
            "shufflenet": ShuffleNetish, "segmenter": lambda: Segmenter(False),
            "segmenter_align_corners": lambda: Segmenter(True), "decoder": Decoder}


NAMES = ["mobilenet_v3", "convnext", "shufflenet", "segmenter", "segmenter_align_corners",
         "decoder", "upscaler"]
EXPORTERS = [("torchscript", 17), ("torchscript", 20), ("dynamo", 18), ("dynamo", 19),
             ("dynamo", 20)]


def test_torchscript_softplus_elu_silu(tmp_path):
    test_torch_export_loads_and_matches_onnx_runtime("smooth", "torchscript", 17, tmp_path)


def _export(model, path, exporter: str, opset: int, x) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            pytest.importorskip("onnxscript")
            torch.onnx.export(model, (x,), str(path), dynamo=True, opset_version=opset,
                              input_names=["input"], external_data=False,
                              verbose=False)
        else:
            torch.onnx.export(model, (x,), str(path), dynamo=False, opset_version=opset,
                              input_names=["input"],
                              dynamic_axes={"input": {0: "N"}})


@pytest.mark.parametrize("exporter,opset", EXPORTERS, ids=[f"{e}{o}" for e, o in EXPORTERS])
@pytest.mark.parametrize("name", NAMES)
def test_torch_export_loads_and_matches_onnx_runtime(name, exporter, opset, tmp_path):
    torch.manual_seed(0)
    model = _modules()[name]().eval()
    for m in model.modules():  # running statistics that are not the identity
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(1, 3, 32, 32)
    path = tmp_path / f"{name}.onnx"
    _export(model, path, exporter, opset, x)
    assert {o.version for o in onnx.load(path).opset_import if o.domain in ("", "ai.onnx")} \
        == {opset}
    ours = gx.load(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with gn.no_grad():
        got = ours(gn.tensor(x.numpy())).data
    err = np.abs(got - ref).max() / np.abs(ref).max()
    assert err <= 1e-5, f"{name} ({exporter}, opset {opset}): relative error {err:.2e}"
    assert (got.argmax(1) == ref.argmax(1)).all()
    # the imported model exports again, and ONNX Runtime runs that file to the same result
    again = tmp_path / "again.onnx"
    gx.export(ours, again, tuple(x.shape[1:]), opset=opset)
    session = ort.InferenceSession(str(again), providers=["CPUExecutionProvider"])
    second = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert np.abs(second - ref).max() <= 1e-5 * np.abs(ref).max()


def test_loaded_layers_are_gridnn_layers(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "m.onnx"
    _export(_modules()["mobilenet_v3"]().eval(), path, "torchscript", 17,
            torch.randn(1, 3, 32, 32))
    kinds = {type(m) for m in gx.load(path).modules()}
    assert {nn.Hardswish, nn.Hardsigmoid, nn.ReLU6} <= kinds
    path = tmp_path / "c.onnx"
    _export(_modules()["convnext"]().eval(), path, "torchscript", 17, torch.randn(1, 3, 32, 32))
    modules = list(gx.load(path).modules())
    assert {nn.LayerNorm, nn.GELU} <= {type(m) for m in modules}  # GELU fused
    linears = [m for m in modules if isinstance(m, nn.Linear)]  # MatMul + Add(bias, product)
    assert len(linears) == 3 and all(m.bias is not None for m in linears)


@pytest.mark.parametrize("exporter,opset", [("torchscript", 17), ("dynamo", 18)])
def test_input_times_its_gate_loads_as_one_layer(exporter, opset, tmp_path):
    """x * sigmoid(x) becomes one nn.SiLU and x * hardsigmoid(x) one nn.Hardswish (one pass
    over the tensor); a sigmoid whose output another node also reads stays a Sigmoid."""
    test_torch_export_loads_and_matches_onnx_runtime("gates", exporter, opset, tmp_path)
    kinds = [type(m) for m in gx.load(tmp_path / "gates.onnx").modules()]
    assert kinds.count(nn.SiLU) == 1 and kinds.count(nn.Hardswish) == 1
    assert kinds.count(nn.Sigmoid) == 1 and nn.Hardsigmoid not in kinds


@pytest.mark.parametrize("bias", [True, False])
def test_batchnorm_after_conv_is_folded_at_import(tmp_path, bias):
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, bias=bias, rng=rng), nn.BatchNorm2d(6),
                          nn.ReLU(), nn.Identity(),
                          nn.BatchNorm2d(6))
    for bn in (model[1], model[4]):
        bn.running_mean[...] = rng.uniform(-1, 1, 6)
        bn.running_var[...] = rng.uniform(0.5, 2, 6)
        bn.weight.data[...] = rng.uniform(0.5, 2, 6)
        bn.bias.data[...] = rng.uniform(-1, 1, 6)
    model.eval()
    gx.export(model, tmp_path / "m.onnx", (3, 8, 8))
    x = gn.tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
    with gn.no_grad():
        want = model(x).data
        folded, kept = gx.load(tmp_path / "m.onnx"), gx.load(tmp_path / "m.onnx",
                                                             fold_batchnorm=False)
        for loaded in (folded, kept):
            got = loaded(x).data
            assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
    kinds = [type(m) for m in folded]
    assert kinds == [nn.Conv2d, nn.ReLU, nn.BatchNorm2d]  # the second reads a ReLU: kept
    assert [type(m) for m in kept].count(nn.BatchNorm2d) == 2


@pytest.mark.parametrize("name", ["mobilenet_v3", "convnext"])
def test_summary_and_predict_take_the_export(name, tmp_path, capsys):
    from gridnn import cli

    torch.manual_seed(0)
    path = tmp_path / f"{name}.onnx"
    _export(_modules()[name]().eval(), path, "dynamo", 18, torch.randn(1, 3, 32, 32))
    assert cli.main(["summary", str(path)]) == 0
    out = capsys.readouterr().out
    assert "Total params" in out and ("Hardswish" in out or "GELU" in out)
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((3, 32, 32), np.float32))
    argv = ["predict", str(path), str(tmp_path / "x.npy"), "--mean", "0.485,0.456,0.406",
            "--std", "0.229,0.224,0.225", "--top", "2"]
    assert cli.main(argv) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(str(tmp_path / "x.npy")) and len(line.split()) == 5


@pytest.mark.parametrize("name", ["mobilenet_v3", "convnext"])
def test_studio_opens_the_export(name, tmp_path):
    """The model page's API on both families: ConvNeXt's axis permutations leave receptive
    fields untraceable, which the page is told (not a 500); predictions and filters work."""
    from gridnn.studio import inspect_data
    from gridnn.studio.registry import Registry

    torch.manual_seed(0)
    path = tmp_path / f"{name}.onnx"
    _export(_modules()[name]().eval(), path, "dynamo", 18, torch.randn(1, 3, 32, 32))
    entry = Registry.from_sources([str(path)], runs_dir=None).get("o0-" + name.replace("_", "-"))
    info = inspect_data.model_info(entry)
    traced = [layer["receptive_field"] is not None for layer in info["layers"]]
    if name == "convnext":
        assert not any(traced) and "spatial shape" in info["receptive_field_error"]
    else:
        assert all(traced) and info["receptive_field_error"] is None
    x = np.random.default_rng(0).random((3, 32, 32), np.float32)
    answer = inspect_data.predict(entry, x)
    assert answer["top"] and sum(c["p"] for c in answer["top"]) <= 1 + 1e-6
    assert len(answer["layers"]) == len(info["layers"])
    assert inspect_data.filters(entry)
