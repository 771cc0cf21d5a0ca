"""Grouped convolutions layer by layer (issue 22): gridnn's narrow-group path (ops/grouped.py),
its stacked GEMMs (ops/conv.py, the path without it) and PyTorch, each library in a fresh
process per round, alternating. Each gridnn column forces its path on every layer (the
``widths`` sweep is how ``grouped.MAX_GROUP_WIDTH`` was chosen).

    python benchmarks/grouped_conv.py                     # RegNetY-400MF's layers, batch 1 and 8
    python benchmarks/grouped_conv.py --layers widths     # 2 to 64 channels a group, 128 in all
    python benchmarks/grouped_conv.py --threads 1 --rounds 5

Per layer, ``inference``: forward under ``no_grad``; ``training``: forward and backward with
the input, weight and bias gradients (a channels-last input view for gridnn, as a previous
conv leaves it; contiguous NCHW for PyTorch). Reported: median ms over rounds of each child's
median [min-max], the ratios, and the 1-minute load average before each child.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

# (channels, input size, stride, groups) of regnet_y_400mf's 3x3 convolutions (8 channels a
# group), and a sweep of group widths at 128 channels, 28 x 28.
LAYERS = {
    "regnet": [(48, 112, 2, 6), (104, 56, 2, 13), (104, 28, 1, 13), (208, 28, 2, 26),
               (208, 14, 1, 26), (440, 14, 2, 55), (440, 7, 1, 55)],
    "widths": [(128, 28, 1, 128 // w) for w in (2, 4, 8, 16, 32, 64)],
}
LIBRARIES = ("gridnn", "gridnn-gemm", "torch")


def _child(library: str, layers: list[tuple[int, ...]], batch: int, reps: int) -> list[Any]:
    """[[inference ms, training ms], ...] per layer: medians of ``reps`` calls."""
    import numpy as np

    rng = np.random.default_rng(0)
    if library == "torch":
        import torch

        def make(c: int, s: int, stride: int, groups: int) -> tuple[Any, Any]:
            x = torch.randn(batch, c, s, s)
            w, b = torch.randn(c, c // groups, 3, 3), torch.randn(c)

            def infer() -> None:
                with torch.no_grad():
                    torch.nn.functional.conv2d(x, w, b, stride, 1, 1, groups)

            xs, ws, bs = (t.clone().requires_grad_() for t in (x, w, b))

            def train() -> None:
                out = torch.nn.functional.conv2d(xs, ws, bs, stride, 1, 1, groups)
                out.backward(torch.ones_like(out))
            return infer, train
    else:
        import gridnn as gn
        import gridnn.functional as F
        from gridnn.ops import grouped

        # Either path for every layer, whatever width the dispatch would pick it for.
        grouped.MAX_GROUP_WIDTH = 0 if library == "gridnn-gemm" else 1 << 30

        def make(c: int, s: int, stride: int, groups: int) -> tuple[Any, Any]:
            x = np.moveaxis(rng.standard_normal((batch, s, s, c), np.float32), -1, 1)
            w = rng.standard_normal((c, c // groups, 3, 3), np.float32)
            b = rng.standard_normal(c, np.float32)

            def infer() -> None:
                with gn.no_grad():
                    F.conv2d(gn.tensor(x), gn.tensor(w), gn.tensor(b), stride=stride,
                             padding=1, groups=groups)

            ts = [gn.tensor(a, requires_grad=True) for a in (x, w, b)]

            def train() -> None:
                out = F.conv2d(*ts, stride=stride, padding=1, groups=groups)
                out.backward(np.ones(out.shape, np.float32))
            return infer, train

    results = []
    for layer in layers:
        timings = []
        for call in make(*layer):
            call(), call()
            times = []
            for _ in range(reps):
                start = time.perf_counter()
                call()
                times.append(time.perf_counter() - start)
            timings.append(1e3 * statistics.median(times))
        results.append(timings)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--layers", choices=sorted(LAYERS), default="regnet")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--threads", type=int, help="threads per library (default: all)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    layers = LAYERS[args.layers]
    if args.child:
        print(json.dumps(_child(args.child, layers, int(args.batches), args.reps)))
        return 0
    env = dict(os.environ)
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    for batch in map(int, args.batches.split(",")):
        runs: dict[str, list[Any]] = {lib: [] for lib in LIBRARIES}
        loads = []
        for r in range(args.rounds):
            for lib in LIBRARIES[r % 3:] + LIBRARIES[:r % 3]:
                loads.append(os.getloadavg()[0])
                cmd = [sys.executable, __file__, "--child", lib, "--layers", args.layers,
                       "--batches", str(batch), "--reps", str(args.reps)]
                out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
                runs[lib].append(json.loads(out.stdout))
        print(f"\nbatch {batch}, {args.rounds} rounds, load average {min(loads):.1f}-"
              f"{max(loads):.1f}; ms, median over rounds [min-max]")
        print("| layer (C, size, stride, groups) | pass | grouped path | stacked GEMMs | "
              "PyTorch | grouped/GEMMs | grouped/PyTorch |")
        print("|---|---|---|---|---|---|---|")
        for i, layer in enumerate(layers):
            for j, name in enumerate(("inference", "training")):
                cells, meds = [], []
                for lib in LIBRARIES:
                    values = [run[i][j] for run in runs[lib]]
                    meds.append(statistics.median(values))
                    cells.append(f"{meds[-1]:.3f} [{min(values):.3f}-{max(values):.3f}]")
                print(f"| {layer} | {name} | {' | '.join(cells)} | {meds[0] / meds[1]:.2f} | "
                      f"{meds[0] / meds[2]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
