"""A convolution path against im2col, per layer and per model (issue 22): Winograd's
F(2x2, 3x3) (``ops/winograd.py``) or the direct loop for few filters (``ops/direct.py``).

    python benchmarks/conv_paths.py [--path winograd] [--rounds 10]
    python benchmarks/conv_paths.py --path direct --train
    python benchmarks/conv_paths.py --models resnet18,vgg11_bn --rounds 6
    python benchmarks/conv_paths.py --path direct --steps T2,T1

One process; each round times every layer's forward under ``no_grad`` (``--train``: forward
and backward) once with the path on (``using(winograd=True)``, or ``direct``) and once with it
off, alternating, so that a change in the machine's load falls on both. Prints the median ms
of the rounds after the first two, as a markdown table. A layer's input is a channels-last
view, as a previous convolution leaves it (a stem's, with 3 channels, is the image as given);
glibc keeps freed memory, as gridnn's command line sets it. ``--models`` times whole
torchvision exports instead (one process per model), at batch 1 from ``--zoo`` and batch 8
from ``--zoo8``, the files ``benchmarks/export_zoo.py`` and ``benchmarks/onnx_zoo.py`` write.
``--steps`` times ``gridnn bench``'s training steps (its T cases, gridnn's side) the same way.
"""

from __future__ import annotations

import argparse
import functools
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gridnn import _allocator

# (batch, input channels, filters, height = width, kernel, stride[, groups]) per path.
# Winograd: resnet's stages at batch 1 and 8, L3's layer, a CIFAR-sized one. Direct: gridnn
# bench T2's (resnet_small, batch 128) 3 x 3 layers, the stems of mobile nets and RegNet, then
# RegNet's grouped layers (8 channels a group; against the planes loop of ops/grouped.py).
LAYERS = {
    "winograd": [(1, 64, 64, 56, 3, 1), (1, 128, 128, 28, 3, 1), (8, 64, 64, 56, 3, 1),
                 (8, 128, 128, 28, 3, 1), (8, 256, 256, 14, 3, 1), (64, 64, 128, 14, 3, 1),
                 (32, 64, 64, 16, 3, 1)],
    "direct": [(128, 3, 16, 32, 3, 1), (128, 16, 16, 32, 3, 1), (128, 16, 32, 32, 3, 2),
               (128, 32, 32, 16, 3, 1), (128, 16, 32, 32, 1, 2), (1, 3, 16, 224, 3, 2),
               (8, 3, 16, 224, 3, 2), (1, 3, 32, 224, 3, 2), (8, 3, 32, 224, 3, 2),
               (8, 48, 48, 112, 3, 2, 6), (8, 104, 104, 56, 3, 2, 13),
               (8, 104, 104, 28, 3, 1, 13), (8, 208, 208, 14, 3, 1, 26),
               (8, 440, 440, 14, 3, 2, 55), (1, 104, 104, 28, 3, 1, 13),
               (1, 440, 440, 7, 3, 1, 55)],
}


def _alternate(call: Callable[[], object], path: str, rounds: int,
               train: bool = False) -> tuple[float, float]:
    """Median ms of ``call`` with ``path`` on and off, alternating, after two rounds."""
    import gridnn as gn
    from gridnn.ops.options import using

    times: dict[bool, list[float]] = {True: [], False: []}
    with gn.enable_grad() if train else gn.no_grad():
        for _ in range(rounds):
            for on in times:
                with using(**{path: on}):
                    start = time.perf_counter()
                    call()
                    times[on].append(time.perf_counter() - start)
    path_ms, im2col = (1e3 * float(np.median(times[on][2:])) for on in (True, False))
    return path_ms, im2col


def _model(name: str, batch: int, args: argparse.Namespace) -> None:
    """One model in a fresh process: its row of the table."""
    subprocess.run([sys.executable, __file__, "--one", name, "--batch", str(batch), "--rounds",
                    str(args.rounds), "--path", args.path, "--zoo", args.zoo, "--zoo8",
                    args.zoo8], check=True)


def _one(args: argparse.Namespace) -> None:
    import gridnn as gn
    import gridnn.onnx

    path = (Path(args.zoo) / f"{args.one}.onnx" if args.batch == 1 else
            Path(args.zoo8) / f"{args.one}.b{args.batch}.onnx")
    if not path.exists():
        raise SystemExit(f"conv_paths.py: {path} is missing; write it with "
                         "benchmarks/export_zoo.py (batch 1) or benchmarks/onnx_zoo.py (batch 8)")
    model = gridnn.onnx.load(path).eval()
    x = gn.Tensor(np.random.default_rng(0).standard_normal((args.batch, 3, 224, 224),
                                                           dtype=np.float32))
    on, im2col = _alternate(lambda: model(x), args.path, args.rounds)
    print(f"| {args.one} | {args.batch} | {on:.1f} | {im2col:.1f} | {on / im2col:.2f} |",
          flush=True)


def _takes(path: str, n: int, c: int, k: int, size: int, kernel: int, stride: int,
           groups: int) -> bool:
    """Whether the layer takes ``path`` when it is on."""
    from gridnn.ops import direct, winograd
    from gridnn.ops.windows import ConvGeometry

    pad, out = kernel // 2, (size + 2 * (kernel // 2) - kernel) // stride + 1
    geo = ConvGeometry((stride,) * 2, (1, 1), ((pad, pad),) * 2, "zeros", groups, (out, out))
    if path == "direct":
        return direct.takes(c, k, (kernel, kernel), geo)
    return winograd.takes((n, size + 2 * pad, size + 2 * pad, c), (k, c, kernel, kernel), geo)


def _layers(args: argparse.Namespace) -> None:
    import gridnn as gn
    import gridnn.functional as F

    rng = np.random.default_rng(0)
    name = {"winograd": "Winograd", "direct": "direct"}[args.path]
    print(f"| layer (N, C -> K, size, kernel, stride[, groups]) | {name} ms | im2col ms "
          "(grouped: planes) | ratio |\n|---|---|---|---|")
    for n, c, k, size, kernel, stride, *grouping in LAYERS[args.path]:
        groups = grouping[0] if grouping else 1
        shape = (n, c, size, size) if c == 3 else (n, size, size, c)
        x = rng.standard_normal(shape, dtype=np.float32)
        x = gn.Tensor(x if c == 3 else x.transpose(0, 3, 1, 2), requires_grad=args.train)
        w = gn.Tensor(rng.standard_normal((k, c // groups, kernel, kernel), dtype=np.float32)
                      * 0.05, requires_grad=args.train)
        b = gn.Tensor(np.zeros(k, np.float32), requires_grad=args.train)
        conv = functools.partial(F.conv2d, x, w, b, stride=stride, padding=kernel // 2,
                                 groups=groups)
        call = (lambda conv=conv: conv().sum().backward()) if args.train else conv
        on, im2col = _alternate(call, args.path, args.rounds, args.train)
        note = "" if _takes(args.path, n, c, k, size, kernel, stride, groups) else \
            " (keeps im2col)"
        layer = f"{n}, {c} -> {k}, {size}, {kernel}x{kernel}, {stride}" + (
            f", {groups}" if groups > 1 else "")
        print(f"| {layer}{note} | {on:.2f} | {im2col:.2f} | {on / im2col:.2f} |", flush=True)


def _steps(args: argparse.Namespace) -> None:
    from gridnn.bench import steps

    cases = {case.name: case for case in steps.FULL_MODELS}
    print(f"| step | {args.path} ms | im2col ms | ratio |\n|---|---|---|---|")
    for name in args.steps:
        on, im2col = _alternate(steps.gridnn_call(cases[name]), args.path, args.rounds, True)
        print(f"| {name} | {on:.1f} | {im2col:.1f} | {on / im2col:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", choices=sorted(LAYERS), default="winograd")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--train", action="store_true", help="time forward and backward")
    parser.add_argument("--models", type=lambda s: s.split(","), default=None)
    parser.add_argument("--steps", type=lambda s: s.split(","), default=None)
    parser.add_argument("--zoo", default="/work/onnx-zoo")
    parser.add_argument("--zoo8", default="/tmp/gridnn-onnx-zoo-batch")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    _allocator.keep_freed_memory()
    if args.one:
        return _one(args)
    if args.steps:
        return _steps(args)
    if not args.models:
        return _layers(args)
    print(f"| model | batch | {args.path} ms | im2col ms | ratio |\n|---|---|---|---|---|",
          flush=True)
    for name in args.models:
        for batch in (1, 8):
            _model(name, batch, args)
    return None


if __name__ == "__main__":
    main()
