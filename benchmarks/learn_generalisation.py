"""Shared, unshared, fully connected: the learn page's three-way switch measured.

    PYTHONPATH=src python benchmarks/learn_generalisation.py [--seeds 0 1 2] [--data digits ...]

For each dataset (the synthetic pattern task, digits) and training-set size (200, 1,000, all),
one stack (``STACK``: 8 then 16 filters of 3x3, padding 1, each followed by ReLU and a 2x2 max
pool, then the classes) is trained as a convolution, as a locally connected stack and as an
MLP with the same units (``models.stack``), through the same ``train.fit`` run as ``gridnn
train`` (the dataset's recipe: AdamW, one-cycle). It is smaller than the page's default stack,
whose MLP form (11M weights on the 12x12 patterns) takes seconds a step on this machine.
Every run takes about the same number of optimiser steps as the recipe's epochs over the whole
training set (smaller sets get more epochs), so a small set is not also a short run. Prints
one line per run and a table of the medians over the seeds: parameters, final train and test
accuracy, and the gap.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

from gridnn import models, recipes, train
from gridnn.checkpoint import build_model
from gridnn.data import load_dataset

SIZES = (200, 1000, None)
STACK = [{"channels": 8, "kernel": 3, "padding": 1, "pool": 2},
         {"channels": 16, "kernel": 3, "padding": 1, "pool": 2}]


def one_run(data: str, size: int | None, connect: str, seed: int) -> dict:
    bundle = load_dataset(data, seed=seed)
    full = recipes.recipe(data)["epochs"]
    n = len(bundle.train) if size is None else min(size, len(bundle.train))
    epochs = max(full, math.ceil(full * len(bundle.train) / n))
    config = recipes.new_config(bundle, data, model="stack", seed=seed, train_size=size,
                                model_kwargs={"connect": connect, "layers": STACK},
                                epochs=epochs)
    model = build_model(config, __file__)
    loader, test_loader = recipes.make_loaders(bundle, config)
    optimizer, scheduler, interval = recipes.make_optimizer(config, model, len(loader))
    start = time.perf_counter()
    history = train.fit(model, loader, test_loader, epochs=epochs, optimizer=optimizer,
                        scheduler=scheduler, scheduler_interval=interval, progress=False,
                        eval_name="test")
    last = history.rows[-1]
    final_train = train.evaluate(model, recipes.eval_loader(loader.dataset, config))
    return {"data": data, "size": n, "connect": connect, "seed": seed, "epochs": epochs,
            "params": sum(p.size for p in model.parameters()),
            "train": final_train["accuracy"], "test": last["test_accuracy"],
            "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data", nargs="+", default=["patterns", "digits"])
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} (2 cores)")
    rows = []
    for data in args.data:
        for size in SIZES:
            for connect in models.CONNECTS:
                for seed in args.seeds:
                    r = one_run(data, size, connect, seed)
                    rows.append(r)
                    print(f"{data:9s} {r['size']:5d} {connect:5s} seed {seed}: train "
                          f"{100 * r['train']:.2f}% test {100 * r['test']:.2f}% "
                          f"({r['epochs']} epochs, {r['seconds']:.1f} s)", flush=True)
    print("\n| data | training images | layers | parameters | train acc | test acc "
          "(median, min-max) | gap |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for data in args.data:
        for size in sorted({r["size"] for r in rows if r["data"] == data}):
            for connect in models.CONNECTS:
                group = [r for r in rows if (r["data"], r["size"], r["connect"]) ==
                         (data, size, connect)]
                tests = [100 * r["test"] for r in group]
                train_acc = statistics.median(100 * r["train"] for r in group)
                test = statistics.median(tests)
                print(f"| {data} | {size} | {connect} | {group[0]['params']:,} | "
                      f"{train_acc:.1f}% | {test:.2f}% ({min(tests):.2f}-{max(tests):.2f}) | "
                      f"{train_acc - test:.1f} pts |")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
