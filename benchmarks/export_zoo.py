"""Export the torchvision models of issue 22 to ONNX, for the zoo check (onnx_zoo_check.py).

Runs with a Python that has torchvision (not gridnn's test environment, whose torch 2.13.0 has
no matching torchvision wheel), e.g. a separate venv:

    python -m venv /work/venv-tv
    /work/venv-tv/bin/pip install torch==2.14.1 torchvision==0.29.1 onnx onnxruntime onnxscript
    /work/venv-tv/bin/python benchmarks/export_zoo.py /work/onnx-zoo

Every model has random weights (torch.manual_seed(0), no download), is in eval mode and takes
one 1x3x224x224 image. Each is written twice: ``NAME.onnx`` by the TorchScript exporter
(dynamo=False, opset 17) and ``NAME.dynamo.onnx`` by the dynamo exporter (dynamo=True, opset
18, the lowest it writes), weights inside the file. A file that exists is kept; a failure is
reported and the rest go on. ``DONE`` is touched at the end.
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

import torch
import torchvision

# One of each family torchvision ships (14 classifiers), and three segmentation models.
CLASSIFIERS = [
    "resnet18", "resnet50", "densenet121", "mobilenet_v2", "mobilenet_v3_small",
    "mobilenet_v3_large", "efficientnet_b0", "mnasnet0_5", "squeezenet1_0", "vgg11_bn",
    "convnext_tiny", "shufflenet_v2_x0_5", "regnet_y_400mf", "googlenet",
]
SEGMENTERS = ["fcn_resnet50", "lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large"]


class _Logits(torch.nn.Module):
    """A segmenter's dict output {'out': ...} as one tensor (ONNX graphs have named outputs)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


def build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if name in SEGMENTERS:
        model = torchvision.models.get_model(name, weights=None, weights_backbone=None,
                                             aux_loss=False)
        return _Logits(model).eval()
    kwargs = {"init_weights": True, "aux_logits": False} if name == "googlenet" else {}
    return torchvision.models.get_model(name, weights=None, **kwargs).eval()


def export(model: torch.nn.Module, path: Path, dynamo: bool) -> None:
    x = torch.randn(1, 3, 224, 224)
    tmp = path.with_suffix(".tmp")
    kwargs = dict(input_names=["input"], output_names=["output"])
    if dynamo:
        program = torch.onnx.export(model, (x,), dynamo=True, opset_version=18, **kwargs)
        program.save(str(tmp), external_data=False)
    else:
        torch.onnx.export(model, (x,), str(tmp), dynamo=False, opset_version=17, **kwargs)
    tmp.replace(path)


def main(folder: str) -> int:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    failures = []
    for name in CLASSIFIERS + SEGMENTERS:
        model = None
        for dynamo in (False, True):
            path = out / f"{name}{'.dynamo' if dynamo else ''}.onnx"
            if path.exists():
                continue
            model = model or build(name)
            start = time.perf_counter()
            try:
                with torch.no_grad():
                    export(model, path, dynamo)
                print(f"{path.name}: {path.stat().st_size / 2**20:.1f} MiB in "
                      f"{time.perf_counter() - start:.0f} s", flush=True)
            except Exception as e:  # noqa: BLE001 - report and go on with the next model
                failures.append(path.name)
                print(f"{path.name}: FAILED {type(e).__name__}: {e}", flush=True)
                traceback.print_exc()
    (out / "DONE").write_text("failed: " + " ".join(failures) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/work/onnx-zoo"))
