"""The learn page's training speed against ``gridnn train``'s, and its time to 95% on digits.

    PYTHONPATH=src python benchmarks/learn_speed.py [--repeats 3]

Each measurement runs in its own process, the two kinds alternating:
- ``page``: a real studio server (uvicorn, in-process thread), an event-stream client reading
  every update as the page would, and the run started and played through the JSON API;
- ``cli``: the loop ``gridnn train`` runs (``train.fit`` on the same config, loaders and
  optimiser; its checkpoint and plot files left out, as the page writes none while training).
Both train the learn page's default stack on digits with the recipe's settings (15 epochs,
batch 32, AdamW one-cycle, seed 0). Steps per second are training steps over the sum of the
history's epoch seconds (the loop with its callbacks, evaluation included, files excluded).
Steps per CPU second count the whole process (every thread: the server, the stream, the
trainer), which a loaded machine disturbs less than the wall clock. The page process also
reports the seconds from Play until the stream first shows a test accuracy of 95% or more.
Prints medians (min-max) and the page/cli ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

SETTINGS = {"data": "digits", "model": "stack", "seed": 0}


def post(base: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(base + path, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as r:
        return json.load(r)


def page() -> dict:
    from gridnn.studio.registry import Registry
    from gridnn.studio.server import serve_in_background

    base, stop = serve_in_background(Registry([]))
    reached: dict[str, float] = {}
    updates = [0]

    def listen() -> None:  # the page's EventSource: read and parse every update
        with urllib.request.urlopen(base + "/api/learn/stream", timeout=120) as stream:
            for line in stream:
                if not line.startswith(b"data:"):
                    continue
                snap = json.loads(line[5:])
                updates[0] += 1
                last = snap.get("last") or {}
                if "t95" not in reached and last.get("test_accuracy", 0) >= 0.95:
                    reached["t95"] = time.perf_counter()
                if snap.get("status") == "finished":
                    return

    try:
        post(base, "/api/learn/start", SETTINGS)
        reader = threading.Thread(target=listen, daemon=True)
        reader.start()
        time.sleep(0.5)
        start, cpu = time.perf_counter(), time.process_time()
        post(base, "/api/learn/control", {"action": "play"})
        reader.join(300)
        cpu = time.process_time() - cpu
        with urllib.request.urlopen(base + "/api/learn/state", timeout=60) as r:
            state = json.load(r)
    finally:
        stop()
    seconds = sum(row["seconds"] for row in state["history"])
    return {"steps_per_second": state["steps"] / seconds, "steps_per_cpu_second":
            state["steps"] / cpu, "updates": updates[0],
            "to_95": reached.get("t95", float("nan")) - start,
            "test_accuracy": state["last"]["test_accuracy"]}


def cli() -> dict:
    from gridnn import functional as F
    from gridnn import recipes, train
    from gridnn.checkpoint import build_model
    from gridnn.data import load_dataset
    from gridnn.tensor import Tensor

    # what `gridnn train --model stack` runs in one process (runfolder.train_run -> train.fit),
    # without its files (checkpoints, history.csv, curves.png), which the page writes only on
    # Save run
    bundle = load_dataset("digits", seed=0)
    config = recipes.new_config(bundle, "digits", model="stack", seed=0)
    model = build_model(config, Path(__file__))
    loader, test_loader = recipes.make_loaders(bundle, config)
    optimizer, scheduler, interval = recipes.make_optimizer(config, model, len(loader))
    # warm-up on a twin (the page's server runs the model once before Play): the compiled
    # loops load from their cache on first use
    twin = build_model(config, Path(__file__))
    xb, yb = next(iter(loader))
    F.cross_entropy(twin(Tensor(xb)), yb).backward()
    loader.set_epoch(0)
    cpu = time.process_time()
    history = train.fit(model, loader, test_loader, epochs=config["train"]["epochs"],
                        optimizer=optimizer, scheduler=scheduler, scheduler_interval=interval,
                        progress=False, eval_name="test")
    cpu = time.process_time() - cpu
    steps = config["train"]["epochs"] * len(loader)
    return {"steps_per_second": steps / sum(history["seconds"]),
            "steps_per_cpu_second": steps / cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", choices=["page", "cli"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(page() if args.one == "page" else cli()))
        return
    print(f"load average {os.getloadavg()[0]:.1f} (2 cores)")
    results: dict[str, list[dict]] = {"page": [], "cli": []}
    for i in range(args.repeats):
        for kind in ("cli", "page") if i % 2 == 0 else ("page", "cli"):
            out = subprocess.run([sys.executable, __file__, "--one", kind], check=True,
                                 capture_output=True, text=True).stdout.strip().splitlines()[-1]
            results[kind].append(json.loads(out))
            print(kind, out, flush=True)

    def med(kind: str, key: str) -> str:
        values = [r[key] for r in results[kind]]
        return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"

    page_rate = statistics.median(r["steps_per_second"] for r in results["page"])
    cli_rate = statistics.median(r["steps_per_second"] for r in results["cli"])
    print(f"steps/s: page {med('page', 'steps_per_second')}, gridnn train "
          f"{med('cli', 'steps_per_second')}; page/cli {page_rate / cli_rate:.2f}")
    page_cpu = statistics.median(r["steps_per_cpu_second"] for r in results["page"])
    cli_cpu = statistics.median(r["steps_per_cpu_second"] for r in results["cli"])
    print(f"steps per CPU second (all threads): page {med('page', 'steps_per_cpu_second')}, "
          f"gridnn train {med('cli', 'steps_per_cpu_second')}; page/cli {page_cpu / cli_cpu:.2f}")
    print(f"seconds from Play to 95% test accuracy: {med('page', 'to_95')}; stream updates per "
          f"run {med('page', 'updates')}")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
