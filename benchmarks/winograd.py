"""Winograd's F(2x2, 3x3) against im2col, per layer and per model (issue 22, session 5).

    python benchmarks/winograd.py [--rounds 10]
    python benchmarks/winograd.py --models resnet18,vgg11_bn --rounds 6

One process; each round times every layer's forward under ``no_grad`` once with
``using(winograd=True)`` and once with ``using(winograd=False)``, alternating, so that a change
in the machine's load falls on both. Prints the median ms of the rounds after the first two,
as a markdown table. A layer's input is a channels-last view, as a previous convolution
leaves it; glibc keeps freed memory, as gridnn's command line sets it. ``--models`` times
whole torchvision exports instead (one process per model), at batch 1 from ``--zoo`` and
batch 8 from ``--zoo8``, the files ``benchmarks/export_zoo.py`` and ``benchmarks/onnx_zoo.py``
write.
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

# (batch, input channels, filters, height = width): resnet's stages at batch 1 and 8, L3's
# layer, a CIFAR-sized one
LAYERS = [(1, 64, 64, 56), (1, 128, 128, 28), (8, 64, 64, 56), (8, 128, 128, 28),
          (8, 256, 256, 14), (64, 64, 128, 14), (32, 64, 64, 16)]


def _alternate(call: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Median ms of ``call`` with Winograd on and off, alternating, after two rounds."""
    import gridnn as gn
    from gridnn.ops.options import using

    times: dict[bool, list[float]] = {True: [], False: []}
    with gn.no_grad():
        for _ in range(rounds):
            for on in times:
                with using(winograd=on):
                    start = time.perf_counter()
                    call()
                    times[on].append(time.perf_counter() - start)
    wino, im2col = (1e3 * float(np.median(times[on][2:])) for on in (True, False))
    return wino, im2col


def _model(name: str, batch: int, args: argparse.Namespace) -> None:
    """One model in a fresh process: its row of the table."""
    subprocess.run([sys.executable, __file__, "--one", name, "--batch", str(batch), "--rounds",
                    str(args.rounds), "--zoo", args.zoo, "--zoo8", args.zoo8], check=True)


def _one(args: argparse.Namespace) -> None:
    import gridnn as gn
    import gridnn.onnx

    path = (Path(args.zoo) / f"{args.one}.onnx" if args.batch == 1 else
            Path(args.zoo8) / f"{args.one}.b{args.batch}.onnx")
    if not path.exists():
        raise SystemExit(f"winograd.py: {path} is missing; write it with "
                         "benchmarks/export_zoo.py (batch 1) or benchmarks/onnx_zoo.py (batch 8)")
    model = gridnn.onnx.load(path).eval()
    x = gn.Tensor(np.random.default_rng(0).standard_normal((args.batch, 3, 224, 224),
                                                           dtype=np.float32))
    wino, im2col = _alternate(lambda: model(x), args.rounds)
    print(f"| {args.one} | {args.batch} | {wino:.1f} | {im2col:.1f} | {wino / im2col:.2f} |",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--models", type=lambda s: s.split(","), default=None)
    parser.add_argument("--zoo", default="/work/onnx-zoo")
    parser.add_argument("--zoo8", default="/tmp/gridnn-onnx-zoo-batch")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    _allocator.keep_freed_memory()
    if args.one:
        return _one(args)
    if args.models:
        print("| model | batch | Winograd ms | im2col ms | ratio |\n|---|---|---|---|---|",
              flush=True)
        for name in args.models:
            for batch in (1, 8):
                _model(name, batch, args)
        return None
    import gridnn as gn
    import gridnn.functional as F
    from gridnn.ops import winograd
    from gridnn.ops.windows import ConvGeometry

    rng = np.random.default_rng(0)
    print("| layer (N, C -> K, size) | Winograd ms | im2col ms | ratio |\n|---|---|---|---|")
    for n, c, k, size in LAYERS:
        x = gn.Tensor(rng.standard_normal((n, size, size, c), dtype=np.float32)
                      .transpose(0, 3, 1, 2))
        w = gn.Tensor(rng.standard_normal((k, c, 3, 3), dtype=np.float32) * 0.05)
        b = gn.Tensor(np.zeros(k, np.float32))
        geo = ConvGeometry((1, 1), (1, 1), ((1, 1), (1, 1)), "zeros", 1, (size, size))
        geo_ok = winograd.takes((n, size + 2, size + 2, c), (k, c, 3, 3), geo)
        wino, im2col = _alternate(functools.partial(F.conv2d, x, w, b, padding=1),
                                  args.rounds)
        note = "" if geo_ok else " (keeps im2col)"
        print(f"| {n}, {c} -> {k}, {size}{note} | {wino:.2f} | {im2col:.2f} | "
              f"{wino / im2col:.2f} |")


if __name__ == "__main__":
    main()
