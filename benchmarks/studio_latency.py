"""Latency of the studio's JSON API against a real uvicorn server on 127.0.0.1 (issue 11).

    python benchmarks/studio_latency.py [--requests 200]

Each case sends the same request ``--requests`` times, one after another, over a kept-alive
HTTP connection, and prints the median and 95th percentile in milliseconds with its target.
Results and the machine they came from: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import numpy as np

from gridnn.studio.registry import Registry
from gridnn.studio.server import serve_in_background

Case = tuple[str, float, Callable[[str], tuple[str, str, bytes | None]]]


def timed(base: str, method: str, path: str, body: bytes | None, n: int) -> list[float]:
    """Milliseconds of ``n`` requests over one connection (after one warm-up request)."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    headers = {"Content-Type": "application/json"}
    times = []
    try:
        for i in range(n + 1):
            start = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            if response.status != 200:
                raise RuntimeError(f"{method} {path}: {response.status} {payload[:200]!r}")
            if i:
                times.append((time.perf_counter() - start) * 1000)
    finally:
        conn.close()
    return times


def playground_case() -> Case:
    """POST /api/playground/conv: the 8x8 digit, two 3x3 kernels, 'same' padding, with the
    dense matrix, labels and counts (what the page asks for on every edit)."""
    from sklearn.datasets import load_digits

    digit = load_digits().images[3][None].tolist()
    rng = np.random.default_rng(0)
    body = json.dumps({"input": digit, "kernels": rng.integers(-2, 3, (2, 1, 3, 3)).tolist(),
                       "bias": [0.5, -0.5], "stride": 1, "padding": "same"}).encode()
    return "playground conv (8x8 digit, 2 kernels 3x3, same)", 30.0, \
        lambda base: ("POST", "/api/playground/conv", body)


def playground_window_case() -> Case:
    """POST /api/playground/window: one output's window, products and equation (each step)."""
    body = json.dumps({"input": [np.arange(1, 17).reshape(4, 4).tolist()],
                       "kernels": [[[[1, 0], [0, -1]]]], "position": [0, 1, 1]}).encode()
    return "playground window (lecture 4x4)", 30.0, \
        lambda base: ("POST", "/api/playground/window", body)


ZOO_MODELS = ("digits_cnn", "fashion_cnn", "lenet5", "mlp", "mnist1d_cnn", "resnet_small")


def model_cases(registry: Registry) -> list[Case]:
    """POST /api/models/{id}/predict for every zoo model with a drawn input (random pixels in
    [0, 1] of the model's input shape): the top classes and every layer's feature maps, what
    the model page asks for when a stroke ends."""
    rng = np.random.default_rng(0)
    result = []
    for entry in registry.entries():
        if entry["kind"] != "zoo":
            continue
        body = json.dumps({"input": rng.random(entry["input_shape"]).tolist()}).encode()
        path = f"/api/models/{entry['id']}/predict"
        result.append((f"model predict + all feature maps: {entry['name']} "
                       f"{tuple(entry['input_shape'])}", 100.0,
                       lambda base, path=path, body=body: ("POST", path, body)))
    return result


def cases(registry: Registry) -> list[Case]:
    """Every case to time. The model page's cases go in their own function, added here."""
    return [playground_case(), playground_window_case(), *model_cases(registry)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per case")
    args = parser.parse_args(argv)
    registry = Registry.from_sources(list(ZOO_MODELS), runs_dir=None)
    base, stop = serve_in_background(registry)
    failed = False
    try:
        print(f"{'case':58s} {'median ms':>10s} {'p95 ms':>8s} {'target':>8s}")
        for name, target, make in cases(registry):
            method, path, body = make(base)
            times = timed(base, method, path, body, args.requests)
            median = statistics.median(times)
            p95 = float(np.percentile(times, 95))
            ok = p95 < target
            failed |= not ok
            print(f"{name:58s} {median:10.2f} {p95:8.2f} {'<' + str(int(target)):>8s}"
                  f"{'' if ok else '  OVER'}")
    finally:
        stop()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
