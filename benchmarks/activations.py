"""One-thread speed of the exp-based activations (issue 22): SiLU, sigmoid and both GELUs on
efficientnet_b0's feature-map shapes, gridnn trees against each other and PyTorch.

    python benchmarks/activations.py --trees /work/wt/base/src,src --rounds 5
    python benchmarks/activations.py --ops silu --batches 1 --rounds 3

Each measurement is one fresh child process: a tree's ``src`` first on ``PYTHONPATH`` (so an
older checkout's gridnn runs beside this one), or PyTorch; one thread (gridnn
``using(threads=1)``, ``torch.set_num_threads(1)``), no gradient, float32. Per (op, shape) it
makes two warm-up calls (the first also loads or compiles the kernels), then times calls until
``--budget`` seconds or ``--reps`` calls: ``time.thread_time`` per call (CPU time of the one
thread, which other processes on a shared machine disturb least) and ``perf_counter``. Rounds
visit the libraries in a rotating order. Reported: the median over all rounds' calls of the
thread time per call in microseconds [min-max], ns per element, the wall median, and each
tree's speed-up (the other's median time / its own) over the first tree and over PyTorch; the
load average (1 min) before each child.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SHAPES = [(32, 112, 112), (96, 112, 112), (144, 56, 56), (240, 28, 28), (480, 14, 14),
          (1152, 7, 7)]
OPS = ("silu", "sigmoid", "gelu_tanh", "gelu")


def _child(library: str, ops: list[str], batches: list[int], reps: int, budget: float) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    if library == "torch":
        import torch

        torch.set_num_threads(1)
        tf = torch.nn.functional
        calls = {"silu": tf.silu, "sigmoid": torch.sigmoid, "gelu": tf.gelu,
                 "gelu_tanh": lambda x: tf.gelu(x, approximate="tanh")}
        wrap, context = torch.from_numpy, torch.inference_mode
    else:
        import gridnn as gn
        import gridnn.functional as F
        from gridnn.ops.options import using

        calls = {"silu": F.silu, "sigmoid": F.sigmoid, "gelu": F.gelu,
                 "gelu_tanh": lambda x: F.gelu(x, "tanh")}
        wrap = gn.tensor

        def context():  # type: ignore[no-untyped-def]
            import contextlib

            stack = contextlib.ExitStack()
            stack.enter_context(using(threads=1))
            stack.enter_context(gn.no_grad())
            return stack
    results = {}
    with context():
        for op in ops:
            for n in batches:
                for shape in SHAPES:
                    x = wrap((rng.standard_normal((n, *shape)) * 3).astype(np.float32))
                    fn = calls[op]
                    fn(x), fn(x)
                    cpu, wall = [], []
                    while len(cpu) < reps and (len(cpu) < 5 or sum(wall) < budget):
                        c, w = time.thread_time(), time.perf_counter()
                        fn(x)
                        cpu.append(time.thread_time() - c)
                        wall.append(time.perf_counter() - w)
                    results[f"{op} {n}x{'x'.join(map(str, shape))}"] = (cpu, wall)
    print(json.dumps(results))


def _run(library: str, args: argparse.Namespace) -> dict[str, list[list[float]]]:
    env = dict(os.environ)
    if library != "torch":
        env["PYTHONPATH"] = os.path.abspath(library)
    command = [sys.executable, __file__, "--child", library, "--ops", args.ops,
               "--batches", args.batches, "--reps", str(args.reps), "--budget", str(args.budget)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trees", default="src", help="comma-separated gridnn src folders")
    parser.add_argument("--ops", default=",".join(OPS))
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--budget", type=float, default=0.3, help="seconds per (op, shape)")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    ops, batches = args.ops.split(","), [int(b) for b in args.batches.split(",")]
    if args.child:
        _child(args.child, ops, batches, args.reps, args.budget)
        return
    libraries = args.trees.split(",") + ([] if args.no_torch else ["torch"])
    times: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    loads = []
    for r in range(args.rounds):
        for lib in libraries[r % len(libraries):] + libraries[:r % len(libraries)]:
            loads.append(os.getloadavg()[0])
            for key, (cpu, wall) in _run(lib, args).items():
                got = times.setdefault(lib, {}).setdefault(key, ([], []))
                got[0].extend(cpu)
                got[1].extend(wall)
    print(f"load average (1 min) before each child: {min(loads):.2f}-{max(loads):.2f}")
    first = libraries[0]
    for key in times[first]:
        elements = 1
        for d in key.split()[1].split("x"):
            elements *= int(d)
        cells = []
        for lib in libraries:
            cpu, wall = (sorted(t) for t in times[lib][key])
            med = statistics.median(cpu)
            cell = (f"{lib}: {1e6 * med:.0f} us [{1e6 * cpu[0]:.0f}-{1e6 * cpu[-1]:.0f}] "
                    f"{1e9 * med / elements:.2f} ns/el, wall {1e6 * statistics.median(wall):.0f}")
            for other in (first, "torch"):  # speed-ups: that library's time / this one's
                if other != lib and other in times and lib != "torch":
                    ratio = statistics.median(times[other][key][0]) / med
                    cell += f", x{ratio:.2f} vs {'first' if other == first else other}"
            cells.append(cell)
        print(f"{key}: " + " | ".join(cells))


if __name__ == "__main__":
    main()
