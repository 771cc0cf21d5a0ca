"""Winograd's F(2x2, 3x3) against im2col, per layer (issue 22, session 5).

    python benchmarks/winograd.py [--rounds 10]

One process; each round times every layer's forward under ``no_grad`` once with
``using(winograd=True)`` and once with ``using(winograd=False)``, alternating, so that a change
in the machine's load falls on both. Prints the median ms of the rounds after the first two,
as a markdown table. The input is a channels-last view, as a previous convolution leaves it,
and glibc keeps freed memory, as gridnn's command line sets it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gridnn import _allocator

# (batch, input channels, filters, height = width): resnet's stages at batch 1 and 8, L3's
# layer, a CIFAR-sized one
LAYERS = [(1, 64, 64, 56), (1, 128, 128, 28), (8, 64, 64, 56), (8, 128, 128, 28),
          (8, 256, 256, 14), (64, 64, 128, 14), (32, 64, 64, 16)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    _allocator.keep_freed_memory()
    import gridnn as gn
    import gridnn.functional as F
    from gridnn.ops import winograd
    from gridnn.ops.options import using
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
        times: dict[bool, list[float]] = {True: [], False: []}
        with gn.no_grad():
            for _ in range(args.rounds):
                for on in times:
                    with using(winograd=on):
                        start = time.perf_counter()
                        F.conv2d(x, w, b, padding=1)
                        times[on].append(time.perf_counter() - start)
        wino, im2col = (1e3 * float(np.median(times[on][2:])) for on in (True, False))
        note = "" if geo_ok else " (keeps im2col)"
        print(f"| {n}, {c} -> {k}, {size}{note} | {wino:.2f} | {im2col:.2f} | "
              f"{wino / im2col:.2f} |")


if __name__ == "__main__":
    main()
