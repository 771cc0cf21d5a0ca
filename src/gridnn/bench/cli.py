"""The ``gridnn bench`` subcommand (and ``python benchmarks/speed.py``): runs the cases,
turns the timings into rows with their targets, prints the tables."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from .._allocator import keep_freed_memory
from ..errors import ArgumentError
from ..fileio import write_json
from .cases import (
    CONV_TARGETS,
    FULL_CASES,
    QUICK_CASES,
    ConvCase,
    PoolCase,
    case_callables,
    gridnn_steps,
    torch_steps,
)
from .measure import (
    blas_threads,
    gemm_gflops,
    import_torch,
    machine_info,
    measure_each,
    peak_memory,
)
from .report import ModelRow, Report, Row, format_report

DESCRIPTION = ("Time gridnn's convolution, pooling and a small CNN's training and inference "
               "against PyTorch on the same arrays, in one process.")


# ---- the rows --------------------------------------------------------------------------------
def bench_case(case: ConvCase | PoolCase, torch: Any, reps: int) -> list[Row]:
    """Both passes of one case in both libraries."""
    rows = []
    calls = case_callables(case, torch, np.random.default_rng(0))
    for passes, fns in calls.items():
        flops = case.flops * (3 if passes == "fwd+bwd" and isinstance(case, ConvCase) else 1)
        timed = measure_each(fns, reps)
        row = Row(case.name, case.describe(), passes, flops, timed["gridnn"])
        if "torch" in fns:
            row.torch = timed["torch"]
            row.ratio = row.gridnn.median / row.torch.median
            if isinstance(case, PoolCase):
                row.target = 1.0
                row.met = row.ratio < 1.0
            elif passes == "fwd+bwd" and case.name in CONV_TARGETS:
                row.target = CONV_TARGETS[case.name]
                row.met = row.ratio <= row.target
        rows.append(row)
    return rows


def bench_models(torch: Any, reps: int, cases: dict[str, int]) -> list[ModelRow]:
    """T1: training steps of the model; I1: its inference; ``cases`` maps name -> batch."""
    rows = []
    for name, batch in cases.items():
        train = name == "T1"
        fn, weights = gridnn_steps(batch, train)
        fns = {"gridnn": fn}
        if torch is not None:
            fns["torch"] = torch_steps(torch, batch, train, weights)
        timed = measure_each(fns, reps)
        row = ModelRow(name, "train step (SGD momentum)" if train else "inference", batch,
                       timed["gridnn"])
        if torch is not None:
            row.torch = timed["torch"]
            row.speed_ratio = row.torch.median / row.gridnn.median
            row.met = row.speed_ratio >= 1.0
        rows.append(row)
    return rows


# ---- command line ----------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument("--quick", action="store_true",
                   help="tiny shapes and few repetitions: a smoke test, not a measurement")
    p.add_argument("--reps", type=int, default=None,
                   help="minimum timed repetitions per measurement (default 10; 2 with --quick)")
    p.add_argument("--only", metavar="CASES",
                   help="comma-separated subset of L1,L2,L3,L4,L5,C1,P1,T1,I1,M1")
    p.add_argument("--no-torch", action="store_true", help="time gridnn alone")


def register(subparsers: Any) -> None:
    """Add the ``bench`` subcommand to the ``gridnn`` command."""
    p = subparsers.add_parser(
        "bench", help="time conv, pooling and a training step against PyTorch",
        description=DESCRIPTION)
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark described by parsed ``args``; print the tables; 0 on success."""
    started = time.perf_counter()
    malloc = keep_freed_memory()  # for both libraries: they share this process's malloc
    quick = bool(args.quick)
    reps = args.reps if args.reps is not None else 2 if quick else 10
    if reps < 1:
        raise ArgumentError(f"bench: `--reps` must be a positive int, received {reps}")
    names = {"L1", "L2", "L3", "L4", "L5", "C1", "P1", "T1", "I1", "M1"}
    only = set(args.only.upper().split(",")) if args.only else names
    if only - names:
        raise ArgumentError(f"bench: `--only` must name cases among {sorted(names)}, "
                            f"received {sorted(only - names)}")
    threads = blas_threads()
    torch = None if args.no_torch else import_torch(threads)
    machine = machine_info(malloc)
    if torch is not None:
        machine["torch"] = torch.__version__
    rep = Report(machine, gemm_gflops(torch, 256 if quick else 1024, reps))
    for case in QUICK_CASES if quick else FULL_CASES:
        if case.name in only:
            rep.rows += bench_case(case, torch, reps)
            print(f"  {case.name} done", file=sys.stderr, flush=True)
    train_batch, infer_batch, steps = (8, 8, 2) if quick else (128, 256, 50)
    batches = {"T1": train_batch, "I1": infer_batch}
    rep.models = bench_models(torch, reps, {k: v for k, v in batches.items() if k in only})
    if "M1" in only:
        rep.memory_mib = {"steps": steps,
                          "gridnn": peak_memory("gridnn", steps, train_batch)}
        if torch is not None:
            rep.memory_mib["torch"] = peak_memory("torch", steps, train_batch)
    rep.machine["load_average_end"] = round(os.getloadavg()[0], 2)
    rep.seconds = time.perf_counter() - started
    print(format_report(rep))
    if args.json:
        write_json(args.json, asdict(rep))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python benchmarks/speed.py [options]``: the same as ``gridnn bench``."""
    parser = argparse.ArgumentParser(prog="speed.py", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv))
