"""Depthwise convolutions layer by layer in one thread (issue 22): this tree's gridnn, another
gridnn tree (``--base``, e.g. a checkout before a change) and PyTorch (NCHW, as eager runs, and
channels-last), each in a fresh process per round, alternating.

    python benchmarks/depthwise_conv.py --base /tmp/old/src             # batch 1 and 8
    python benchmarks/depthwise_conv.py --base /tmp/old/src --pass training --batches 8

Layers: mobilenet_v2's and efficientnet_b0's depthwise shapes (C, size, kernel, stride).
``inference``: forward under ``no_grad``, the input a channels-last view for gridnn (as the
previous convolution leaves it). ``training``: forward and backward with the input, weight and
bias gradients. One thread everywhere (OMP/OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1)),
malloc keeping freed blocks as ``gridnn``'s command line makes it;
each child reports the median CPU time of this thread (``time.thread_time``, which another
process on the machine disturbs least) and the median wall time of ``reps`` calls. Printed:
medians over rounds [min-max], the ratios, and the 1-minute load average around the runs.
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

LAYERS = [(144, 56, 3, 1), (96, 112, 3, 2), (32, 112, 3, 1), (384, 14, 3, 1), (960, 7, 3, 1),
          (672, 14, 5, 1), (144, 56, 5, 2), (240, 28, 5, 1)]
LIBRARIES = ("gridnn", "base", "torch", "torch-cl")


def _child(library: str, batch: int, reps: int, training: bool) -> list[list[float]]:
    """[[thread ms, wall ms], ...] per layer: medians of ``reps`` calls."""
    import numpy as np

    rng = np.random.default_rng(0)
    if library.startswith("torch"):
        import torch

        torch.set_num_threads(1)
        fmt = torch.channels_last if library == "torch-cl" else torch.contiguous_format

        def make(c: int, s: int, k: int, stride: int) -> Any:
            x = torch.randn(batch, c, s, s).contiguous(memory_format=fmt)
            w, b = torch.randn(c, 1, k, k), torch.randn(c)
            if training:
                xs, ws, bs = (t.clone().requires_grad_() for t in (x, w, b))

                def train() -> None:
                    out = torch.nn.functional.conv2d(xs, ws, bs, stride, k // 2, 1, c)
                    out.backward(torch.ones_like(out))
                return train

            def infer() -> None:
                with torch.no_grad():
                    torch.nn.functional.conv2d(x, w, b, stride, k // 2, 1, c)
            return infer
    else:
        import gridnn as gn
        import gridnn.functional as F

        def make(c: int, s: int, k: int, stride: int) -> Any:
            x = np.moveaxis(rng.standard_normal((batch, s, s, c), np.float32), -1, 1)
            w = rng.standard_normal((c, 1, k, k), np.float32)
            b = rng.standard_normal(c, np.float32)
            if training:
                ts = [gn.tensor(a, requires_grad=True) for a in (x, w, b)]

                def train() -> None:
                    out = F.conv2d(*ts, stride=stride, padding=k // 2, groups=c)
                    out.backward(np.ones(out.shape, np.float32))
                return train
            tx, tw, tb = gn.tensor(x), gn.tensor(w), gn.tensor(b)

            def infer() -> None:
                with gn.no_grad():
                    F.conv2d(tx, tw, tb, stride=stride, padding=k // 2, groups=c)
            return infer

    results = []
    for layer in LAYERS:
        call = make(*layer)
        call(), call()
        cpu, wall = [], []
        for _ in range(reps):
            t0, w0 = time.thread_time(), time.perf_counter()
            call()
            cpu.append(time.thread_time() - t0)
            wall.append(time.perf_counter() - w0)
        results.append([1e3 * statistics.median(cpu), 1e3 * statistics.median(wall)])
    return results


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} [{min(values):.3f}-{max(values):.3f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", help="src folder of the gridnn to compare with")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--pass", dest="phase", choices=("inference", "training"),
                        default="inference")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    training = args.phase == "training"
    if args.child:
        print(json.dumps(_child(args.child, int(args.batches), args.reps, training)))
        return 0
    libraries = [lib for lib in LIBRARIES if lib != "base" or args.base]
    # one thread; malloc keeps freed blocks up to 32 MiB for reuse, as the command line sets it
    # (gridnn/_allocator.py), for every library alike
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(512 << 20)}
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    for batch in map(int, args.batches.split(",")):
        runs: dict[str, list[Any]] = {lib: [] for lib in libraries}
        loads = []
        for r in range(args.rounds):
            for lib in libraries[r % len(libraries):] + libraries[:r % len(libraries)]:
                loads.append(os.getloadavg()[0])
                src = args.base if lib == "base" else here
                cmd = [sys.executable, __file__, "--child", lib, "--batches", str(batch),
                       "--reps", str(args.reps), "--pass", args.phase]
                out = subprocess.run(cmd, env={**env, "PYTHONPATH": src}, capture_output=True,
                                     text=True, check=True)
                runs[lib].append(json.loads(out.stdout))
        print(f"\n{args.phase}, batch {batch}, {args.rounds} rounds x {args.reps} calls, one "
              f"thread, load average {min(loads):.2f}-{max(loads):.2f}; ms of thread CPU time, "
              "median over rounds [min-max]; wall-clock medians in the last column")
        print(f"| layer (C, size, kernel, stride) | {' | '.join(libraries)} | "
              f"{' | '.join(f'gridnn/{lib}' for lib in libraries[1:])} | wall ms "
              f"({', '.join(libraries)}) |")
        print("|---" * (2 * len(libraries) + 1) + "|")
        for i, layer in enumerate(LAYERS):
            cpu = {lib: [run[i][0] for run in runs[lib]] for lib in libraries}
            med = {lib: statistics.median(v) for lib, v in cpu.items()}
            walls = ", ".join(f"{statistics.median(run[i][1] for run in runs[lib]):.3f}"
                              for lib in libraries)
            print(f"| {layer} | {' | '.join(_cell(cpu[lib]) for lib in libraries)} | "
                  f"{' | '.join(f'{med[libraries[0]] / med[lib]:.2f}' for lib in libraries[1:])}"
                  f" | {walls} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
