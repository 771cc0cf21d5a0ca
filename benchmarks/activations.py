"""One-thread speed of the exp-based activations (issue 22): SiLU, sigmoid and both GELUs on
efficientnet_b0's feature-map shapes, gridnn trees against each other and PyTorch.

    python benchmarks/activations.py --trees /work/wt/base/src,src --rounds 5
    python benchmarks/activations.py --ops silu,silu.backward --batches 1 --rounds 3
    python benchmarks/activations.py --trees A/src,B/src --model efficientnet_b0.onnx

Each measurement is one fresh child process: a tree's ``src`` first on ``PYTHONPATH`` (so an
older checkout's gridnn runs beside this one), or PyTorch; one thread (gridnn
``using(threads=1)``, ``torch.set_num_threads(1)``, a one-thread BLAS), float32, forwards
without gradient; ``OP.backward`` times the backward call alone (``y.backward(g)`` on a fresh
forward each time, the autograd engine's own work included). Per (op, shape) it makes two
warm-up calls (the first also loads or compiles the kernels), then times calls until
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
OPS = ("silu", "sigmoid", "gelu_tanh", "gelu", "silu.backward", "sigmoid.backward",
       "gelu_tanh.backward", "gelu.backward")


def _child(library: str, ops: list[str], batches: list[int], reps: int, budget: float,
           model: str | None) -> None:
    import contextlib

    import numpy as np

    rng = np.random.default_rng(0)
    if library == "torch":
        import torch

        torch.set_num_threads(1)
        tf = torch.nn.functional
        calls = {"silu": tf.silu, "sigmoid": torch.sigmoid, "gelu": tf.gelu,
                 "gelu_tanh": lambda x: tf.gelu(x, approximate="tanh")}
        no_grad = torch.inference_mode

        def tensor(a, grad):  # type: ignore[no-untyped-def]
            return torch.from_numpy(a).requires_grad_(grad)
    else:
        import gridnn as gn
        import gridnn.functional as F
        from gridnn.ops.options import using

        calls = {"silu": F.silu, "sigmoid": F.sigmoid, "gelu": F.gelu,
                 "gelu_tanh": lambda x: F.gelu(x, "tanh")}
        no_grad = gn.no_grad
        one_thread = using(threads=1)  # held for the whole child (dropped, it would restore)
        one_thread.__enter__()

        def tensor(a, grad):  # type: ignore[no-untyped-def]
            return gn.tensor(a, requires_grad=grad)
    results = {}
    for op in ops:
        fn, backward = calls[op.removesuffix(".backward")], op.endswith(".backward")
        for n in batches:
            for shape in SHAPES:
                a = (rng.standard_normal((n, *shape)) * 3).astype(np.float32)
                g = rng.standard_normal(a.shape).astype(np.float32)

                def prepare(fn=fn, a=a, g=g, backward=backward):  # type: ignore[no-untyped-def]
                    if backward:  # a graph to walk: the forward's output and its gradient
                        y, gy = fn(tensor(a, True)), tensor(g, False)
                        return lambda: y.backward(gy)
                    x = tensor(a, False)
                    return lambda: fn(x)
                with contextlib.nullcontext() if backward else no_grad():
                    prepare()(), prepare()()
                    cpu, wall = [], []
                    while len(cpu) < reps and (len(cpu) < 5 or sum(wall) < budget):
                        call = prepare()
                        c, w = time.thread_time(), time.perf_counter()
                        call()
                        cpu.append(time.thread_time() - c)
                        wall.append(time.perf_counter() - w)
                results[f"{op} {n}x{'x'.join(map(str, shape))}"] = (cpu, wall)
    if model and library != "torch":  # the whole forward of an ONNX model at batch 1
        net, x = gn.onnx.load(model), tensor(rng.standard_normal((1, 3, 224, 224)).astype(
            np.float32), False)
        with no_grad():
            net(x), net(x)
            cpu, wall = [], []
            while len(cpu) < reps and (len(cpu) < 5 or sum(wall) < 4 * budget):
                c, w = time.thread_time(), time.perf_counter()
                net(x)
                cpu.append(time.thread_time() - c)
                wall.append(time.perf_counter() - w)
        results[f"model:{os.path.basename(model)} 1x3x224x224"] = (cpu, wall)
    print(json.dumps(results))


def _run(library: str, args: argparse.Namespace) -> dict[str, list[list[float]]]:
    # one thread throughout, the BLAS's too: with another process on one of the two cores,
    # a two-thread OpenBLAS GEMM waits for its second thread (efficientnet_b0's batch-1
    # forward took 75-180 ms instead of 25 here)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    if library != "torch":
        env["PYTHONPATH"] = os.path.abspath(library)
    command = [sys.executable, __file__, "--child", library, "--ops", args.ops,
               "--batches", args.batches, "--reps", str(args.reps), "--budget", str(args.budget)]
    command += ["--model", args.model] if args.model else []
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
    parser.add_argument("--model", help="an .onnx classifier (1x3x224x224) whose forward the "
                        "gridnn trees also time (e.g. /work/onnx-zoo/efficientnet_b0.onnx)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    ops, batches = args.ops.split(","), [int(b) for b in args.batches.split(",")]
    if args.child:
        _child(args.child, ops, batches, args.reps, args.budget, args.model)
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
        for lib in (lib for lib in libraries if key in times[lib]):
            cpu, wall = (sorted(t) for t in times[lib][key])
            med = statistics.median(cpu)
            cell = (f"{lib}: {1e6 * med:.0f} us [{1e6 * cpu[0]:.0f}-{1e6 * cpu[-1]:.0f}] "
                    f"{1e9 * med / elements:.2f} ns/el, wall {1e6 * statistics.median(wall):.0f}")
            for other in (first, "torch"):  # speed-ups: that library's time / this one's
                if other != lib and key in times.get(other, {}) and lib != "torch":
                    ratio = statistics.median(times[other][key][0]) / med
                    cell += f", x{ratio:.2f} vs {'first' if other == first else other}"
            cells.append(cell)
        print(f"{key}: " + " | ".join(cells))


if __name__ == "__main__":
    main()
