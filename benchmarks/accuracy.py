"""Accuracy benchmark (issue 3): gridnn's `gridnn train` defaults against PyTorch, side by side.

    python benchmarks/accuracy.py                          # digits and MNIST-1D
    python benchmarks/accuracy.py --only fashion-mnist     # the long one (times: RESULTS.md)
    python benchmarks/accuracy.py --only digits --no-torch --epochs 5

For each experiment the gridnn side is exactly `gridnn train --data D --model M` (the command a
user runs, with its tuned defaults, in a process of its own) in a temporary run folder. The
PyTorch side, also in a process of its own (so neither side's thread pool competes with the
other's), trains the same architecture (the torch twin of the gridnn model, starting from the
same initial weights) on the very same batches (``gridnn.recipes.make_loaders``, converted
with torch.from_numpy), with the same optimiser and learning-rate schedule
(``gridnn.recipes.optimizer_recipe``, built from torch.optim's classes of the same names),
epochs and batch size, and is also evaluated on the test set after every epoch, so the two
timings cover the same work. Both sides use every core torch and OpenBLAS see; the machine may
be shared, so compare ratios from one run, not across runs.
Results: benchmarks/RESULTS.md, section "Accuracy".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

EXPERIMENTS = [  # (dataset, model, target test accuracy, extra `gridnn train` arguments)
    ("digits", "digits_cnn", 0.98, []),
    ("mnist1d", "mnist1d_cnn", 0.94, []),
    ("mnist1d", "mlp", 0.68, ["--no-augment"]),  # the paper's MLP figure is without augmentation
    ("fashion-mnist", "fashion_cnn", 0.925, []),
]


def run_gridnn(data: str, model: str, epochs: int | None, extra: list[str], out: Path) -> dict:
    """`python -m gridnn train` in a fresh process; returns metrics.json plus its config."""
    argv = ["train", "--data", data, "--model", model, "--out", str(out), "--no-progress", *extra]
    if epochs:
        argv += ["--epochs", str(epochs)]
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "gridnn", *argv], capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise SystemExit(f"gridnn train failed ({result.returncode}): {result.stderr}")
    print(result.stdout.strip().splitlines()[-1], flush=True)
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["wall_seconds"] = time.perf_counter() - start
    metrics["config"] = json.loads((out / "config.json").read_text())
    return metrics


def _torch_optimizer(torch, cfg: dict, params, steps: int):
    """The config's optimiser and schedule, built from torch.optim's classes of the same names."""
    from gridnn.recipes import optimizer_recipe

    r = optimizer_recipe(cfg, steps)
    opt = getattr(torch.optim, r.optimizer)(params, **r.optimizer_kwargs)
    sched = getattr(torch.optim.lr_scheduler, r.scheduler)(opt, **r.scheduler_kwargs) \
        if r.scheduler else None
    return opt, sched, r.interval


def run_torch(cfg: dict) -> dict:
    """The same run in PyTorch: same initial weights, batches, optimiser and schedule."""
    import torch

    from gridnn import recipes
    from gridnn.bench.twin import copy_to_torch, torch_twin
    from gridnn.checkpoint import build_model

    t = cfg["train"]
    bundle = recipes.load_bundle(cfg, Path("config.json"))
    train_loader, test_loader = recipes.make_loaders(bundle, cfg)
    gmodel = build_model(cfg, Path("config.json"))
    model = torch_twin(gmodel)
    copy_to_torch(gmodel, model)
    torch.manual_seed(t["seed"])  # dropout masks
    opt, sched, interval = _torch_optimizer(torch, cfg, model.parameters(), len(train_loader))
    loss_fn = torch.nn.functional.cross_entropy
    start = time.perf_counter()
    acc = loss = float("nan")
    for epoch in range(t["epochs"]):
        model.train()
        train_loader.set_epoch(epoch)
        for xb, yb in train_loader:
            opt.zero_grad()
            out = loss_fn(model(torch.from_numpy(xb)), torch.from_numpy(yb))
            out.backward()
            opt.step()
            if sched is not None and interval == "step":
                sched.step()
        if sched is not None and interval == "epoch":
            sched.step()
        model.eval()
        correct, total, n = 0, 0.0, 0
        with torch.no_grad():
            for xb, yb in test_loader:
                logits = model(torch.from_numpy(xb))
                y = torch.from_numpy(yb)
                total += float(loss_fn(logits, y)) * len(yb)
                correct += int((logits.argmax(1) == y).sum())
                n += len(yb)
        acc, loss = correct / n, total / n
    seconds = time.perf_counter() - start
    return {"test_accuracy": acc, "test_loss": loss, "epochs": t["epochs"],
            "train_seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="digits,mnist1d",
                        help="comma-separated datasets (digits, mnist1d, fashion-mnist)")
    parser.add_argument("--models", help="comma-separated models to keep (default: all)")
    parser.add_argument("--epochs", type=int, help="override the default epochs")
    parser.add_argument("--torch-epochs", type=int,
                        help="train the PyTorch side this many epochs instead of gridnn's (a "
                             "reference job: issue 12 times fashion_cnn at 12 epochs)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch side")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--torch-config", help=argparse.SUPPRESS)  # internal: one torch side
    args = parser.parse_args(argv)
    if args.torch_config:
        print(json.dumps(run_torch(json.loads(Path(args.torch_config).read_text()))))
        return 0
    wanted = set(args.only.split(","))
    models = set(args.models.split(",")) if args.models else None
    rows = []
    import torch

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, NumPy {np.__version__}, torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads)", flush=True)
    for data, model, target, extra in EXPERIMENTS:
        if data not in wanted or (models and model not in models):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            g = run_gridnn(data, model, args.epochs, extra, Path(tmp) / "run")
            row = {"data": data, "model": model, "target": target, "gridnn": g}
            if not args.no_torch:  # a process of its own: no thread pools shared with gridnn
                cfg = Path(tmp) / "run" / "config.json"
                if args.torch_epochs:
                    config = json.loads(cfg.read_text())
                    config["train"]["epochs"] = args.torch_epochs
                    cfg = Path(tmp) / "torch_config.json"
                    cfg.write_text(json.dumps(config))
                result = subprocess.run([sys.executable, __file__, "--torch-config", str(cfg)],
                                        capture_output=True, text=True)
                if result.returncode != 0:
                    raise SystemExit(f"PyTorch side failed: {result.stderr}")
                row["torch"] = json.loads(result.stdout.strip().splitlines()[-1])
        rows.append(row)
        epochs = g["epochs"]
        t = g["config"]["train"]
        print(f"\n{data} / {model} ({epochs} epochs, batch {t['batch_size']}, {t['optimizer']} "
              f"lr {t['lr']} {t['schedule']}, augment {t['augment']}), target "
              f"{100 * target:.1f}%")
        for side in ("gridnn", "torch"):
            if side in row:
                r = row[side]
                print(f"  {side:<7} test accuracy {100 * r['test_accuracy']:6.2f}%   "
                      f"train {r['train_seconds']:7.1f} s   {r['epochs']} epochs   "
                      f"{r['train_seconds'] / r['epochs']:6.2f} s/epoch", flush=True)
        if "torch" in row:
            ratio = row["gridnn"]["train_seconds"] / row["torch"]["train_seconds"]
            print(f"  gridnn/torch time ratio {ratio:.2f}", flush=True)
    if args.json:
        for row in rows:
            row["gridnn"].pop("config", None)
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
