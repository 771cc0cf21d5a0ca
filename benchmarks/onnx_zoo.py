"""Inference speed of torchvision classifiers through ONNX (issue 22): gridnn against ONNX
Runtime and PyTorch eager, each library in a fresh process per measurement, alternating.

    python benchmarks/onnx_zoo.py                      # the 14 models, batch 1 and 8, 3 rounds
    python benchmarks/onnx_zoo.py --models resnet18,mobilenet_v2 --batches 1 --rounds 5
    python benchmarks/onnx_zoo.py --threads 1          # every library on one thread

The files are the torchvision exports in ``--zoo`` (``NAME.onnx``: random weights, eval mode,
1x3x224x224, opset 17; made by ``benchmarks/export_zoo.py``). Their batch is fixed at 1, so
for batch 8 this script first exports ``NAME.b8.onnx`` into ``--zoo8`` by the same recipe at
batch 8 (skipped where the file exists). PyTorch eager builds the same torchvision model
(``get_model(name, weights=None)``, eval, ``inference_mode``) and runs under ``--torch-python``,
a Python with torchvision (gridnn's test environment has none). gridnn and ONNX Runtime run
under this Python.

Each measurement is one child process: load the model, two warm-up calls, then ``--reps``
timed calls (fewer for slow models, at least 3) on the same random batch. Rounds visit every
(model, batch) with the libraries in a rotating order. Reported: median ms of all timed calls
[min-max], the ratios of the medians, and the load average (1 min) before each child.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODELS = [
    "resnet18", "resnet50", "densenet121", "mobilenet_v2", "mobilenet_v3_small",
    "mobilenet_v3_large", "efficientnet_b0", "mnasnet0_5", "squeezenet1_0", "vgg11_bn",
    "convnext_tiny", "shufflenet_v2_x0_5", "regnet_y_400mf", "googlenet",
]
LIBRARIES = ("gridnn", "onnxruntime", "torch")
BUDGET_S = 8.0  # timed calls per child stop near this many seconds (at least 3 calls)


def _timed(call: object, reps: int) -> list[float]:
    call(), call()  # type: ignore[operator]
    times: list[float] = []
    while len(times) < reps and (len(times) < 3 or sum(times) < BUDGET_S):
        start = time.perf_counter()
        call()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return [1e3 * t for t in times]


def _torch_model(name: str) -> object:
    import torch
    import torchvision

    torch.manual_seed(0)
    kwargs = {"init_weights": True, "aux_logits": False} if name == "googlenet" else {}
    return torchvision.models.get_model(name, weights=None, **kwargs).eval()


def child(lib: str, name: str, path: str, batch: int, reps: int, threads: int) -> dict:
    """One measurement in this process: {'ms': [...], 'load_s': seconds to load}."""
    import numpy as np

    x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224), dtype=np.float32)
    start = time.perf_counter()
    if lib == "gridnn":
        from threadpoolctl import threadpool_limits

        import gridnn as gn
        import gridnn.onnx

        if threads:
            threadpool_limits(threads, user_api="blas")
        model, tx = gridnn.onnx.load(path).eval(), gn.Tensor(x)

        def call() -> object:
            with gn.no_grad():
                return model(tx)
    elif lib == "onnxruntime":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}

        def call() -> object:
            return session.run(None, feed)
    else:
        import torch

        if threads:
            torch.set_num_threads(threads)
        model, tx = _torch_model(name), torch.from_numpy(x)

        def call() -> object:
            with torch.inference_mode():
                return model(tx)
    load_s = time.perf_counter() - start
    return {"ms": _timed(call, reps), "load_s": load_s}


EXPORT = """
import sys, torch
sys.path.insert(0, {here!r})
from onnx_zoo import _torch_model
model, path = _torch_model({name!r}), {path!r}
with torch.no_grad():
    torch.onnx.export(model, (torch.randn({batch}, 3, 224, 224),), path + '.tmp', dynamo=False,
                      opset_version=17, input_names=['input'], output_names=['output'])
import os; os.replace(path + '.tmp', path)
"""


def model_path(args: argparse.Namespace, name: str, batch: int) -> Path:
    """The file of ``name`` at ``batch``, exported first (batch > 1) if it is missing."""
    if batch == 1:
        return Path(args.zoo) / f"{name}.onnx"
    path = Path(args.zoo8) / f"{name}.b{batch}.onnx"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        code = EXPORT.format(here=str(Path(__file__).parent), name=name, path=str(path),
                             batch=batch)
        subprocess.run([args.torch_python, "-c", code], check=True, capture_output=True)
    return path


def run_child(args: argparse.Namespace, lib: str, name: str, batch: int) -> dict:
    """A fresh process measuring one library; {'error': ...} when it fails."""
    python = args.torch_python if lib == "torch" else sys.executable
    cmd = [python, __file__, "--child", lib, name, str(model_path(args, name, batch)),
           str(batch), str(args.reps), str(args.threads or 0)]
    load = os.getloadavg()[0]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
        op = re.search(r"operator '(\w+)'", lines[-1])
        return {"error": f"no {op.group(1)}" if op else lines[-1][:120], "load": load}
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "load": load}


def _cell(ms: list[float]) -> str:
    return f"{statistics.median(ms):.1f} [{min(ms):.1f}-{max(ms):.1f}]"


def report(results: dict, args: argparse.Namespace) -> str:
    """Markdown table: per (model, batch) each library's median ms [min-max] and the ratios."""
    lines = ["| model | batch | gridnn ms | ONNX Runtime ms | PyTorch ms | gridnn/ORT | "
             "gridnn/PyTorch | load (1 min) |", "|---|---|---|---|---|---|---|---|"]
    for name in args.models:
        for batch in args.batches:
            runs = results[f"{name}@{batch}"]
            ms = {lib: [t for r in runs[lib] if "ms" in r for t in r["ms"]] for lib in runs}
            err = {lib: next((r["error"] for r in runs[lib] if "error" in r), "")
                   for lib in runs}
            med = {lib: statistics.median(v) if v else None for lib, v in ms.items()}
            cells = [_cell(ms[lib]) if ms[lib] else f"fails: {err[lib]}" if runs[lib]
                     else "not run" for lib in LIBRARIES]
            ratio = [f"{med['gridnn'] / med[lib]:.2f}" if med["gridnn"] and med[lib] else "-"
                     for lib in ("onnxruntime", "torch")]
            loads = [r["load"] for lib in runs for r in runs[lib]] or [float("nan")]
            lines.append(f"| {name} | {batch} | {' | '.join(cells)} | {' | '.join(ratio)} | "
                         f"{min(loads):.2f}-{max(loads):.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--zoo", default="/work/onnx-zoo")
    parser.add_argument("--zoo8", default="/tmp/gridnn-onnx-zoo-batch", help="where the "
                        "exports at batch > 1 go")
    parser.add_argument("--models", type=lambda s: s.split(","), default=MODELS)
    parser.add_argument("--batches", type=lambda s: [int(v) for v in s.split(",")],
                        default=[1, 8])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--threads", type=int, help="threads per library (default: all)")
    parser.add_argument("--libraries", type=lambda s: s.split(","), default=list(LIBRARIES))
    parser.add_argument("--torch-python", default="/work/venv-tv/bin/python")
    parser.add_argument("--json", help="also write every measurement here")
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        lib, name, path, batch, reps, threads = sys.argv[2:8]
        print(json.dumps(child(lib, name, path, int(batch), int(reps), int(threads))))
        return 0
    args = parser.parse_args(argv)
    results: dict = {f"{m}@{b}": {lib: [] for lib in LIBRARIES}
                     for m in args.models for b in args.batches}
    start = time.time()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    for r in range(args.rounds):
        order = args.libraries[r % len(args.libraries):] + args.libraries[
            :r % len(args.libraries)]
        for name in args.models:
            for batch in args.batches:
                for lib in order:
                    res = run_child(args, lib, name, batch)
                    results[f"{name}@{batch}"][lib].append(res)
                    what = (f"{statistics.median(res['ms']):.1f} ms" if "ms" in res
                            else res["error"])
                    print(f"round {r + 1} {name} b{batch} {lib}: {what} (load "
                          f"{res['load']:.2f})", flush=True)
    print(f"\nload average at end: {os.getloadavg()}; {time.time() - start:.0f} s\n")
    print(report(results, args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
