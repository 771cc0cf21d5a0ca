"""The ``gridnn bench`` subcommand (and ``python benchmarks/speed.py``): runs the blocks of
cases, each in a fresh child process, turns their times into rows with their targets, prints
the tables."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from ..errors import ArgumentError
from ..fileio import write_json
from .cases import CONV_TARGETS, FULL_CASES, QUICK_CASES, STRICT_TARGETS, ConvCase
from .measure import blas_threads, machine_info, peak_memory
from .report import Report, Row, compare, format_report
from .steps import FULL_MODELS, MEMORY_TARGET, QUICK_MODELS, step_flops

DESCRIPTION = ("Time gridnn's convolution, pooling and small CNNs' training and inference "
               "against PyTorch on the same arrays, each library in its own fresh process.")
NAMES = [c.name for c in FULL_CASES] + [m.name for m in FULL_MODELS] + ["M1"]


# ---- the blocks ------------------------------------------------------------------------------
def run_child(library: str, threads: int, names: list[str], reps: int, quick: bool
              ) -> dict[str, Any]:
    """One block: a fresh ``python -m gridnn.bench.child`` process; its JSON."""
    cmd = [sys.executable, "-m", "gridnn.bench.child", library, "--threads", str(threads),
           "--cases", ",".join(names), "--reps", str(reps)] + (["--quick"] if quick else [])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"bench: the {library} block failed: {tail[0]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_blocks(libraries: list[str], thread_counts: list[int], names: list[str], reps: int,
               rounds: int, quick: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """``rounds`` rounds of one block per thread count and library, alternating (gridnn,
    torch, gridnn at 1 thread, torch at 1 thread, ...), so that a change of the machine's load
    falls on both libraries; (the blocks, their order as 'library@threads')."""
    blocks, order = [], []
    for r in range(rounds):
        for threads in thread_counts:
            for library in libraries:
                blocks.append(run_child(library, threads, names, reps, quick))
                order.append(f"{library}@{threads}")
                print(f"  round {r + 1}/{rounds}: {library} at {threads} thread(s) done",
                      file=sys.stderr, flush=True)
    return blocks, order


def _compared(blocks: list[dict[str, Any]], key: str, threads: int) -> Any:
    mine = [b for b in blocks if b["threads"] == threads]
    if not mine:
        return None
    by_lib: dict[str, list[list[float]]] = {}
    gemm: dict[str, list[float]] = {}
    for b in mine:
        by_lib.setdefault(b["library"], []).append(b["times"][key])
        gemm.setdefault(b["library"], []).append(b["gemm_gflops"])
    return compare(by_lib, gemm)


def build_rows(blocks: list[dict[str, Any]], names: list[str], threads: int, quick: bool
               ) -> list[Row]:
    """One row per case and pass, with its target (issue 12) and whether it is met."""
    rows = []
    for case in QUICK_CASES if quick else FULL_CASES:
        if case.name not in names:
            continue
        for passes in ("fwd", "fwd+bwd"):
            key = f"{case.name} {passes}"
            flops = case.flops * (3 if passes == "fwd+bwd" and isinstance(case, ConvCase) else 1)
            row = Row(case.name, case.describe(), passes, flops, None,
                      _compared(blocks, key, threads), _compared(blocks, key, 1))
            judged = passes == "fwd+bwd" or not isinstance(case, ConvCase)
            if judged and row.threads.ratio is not None:
                limit, strict = CONV_TARGETS[case.name], case.name in STRICT_TARGETS
                row.target = f"time {'<' if strict else '<='} {limit}"
                row.met = row.threads.ratio < limit if strict else row.threads.ratio <= limit
            rows.append(row)
    for model in QUICK_MODELS if quick else FULL_MODELS:
        if model.name not in names:
            continue
        row = Row(model.name, model.describe(), "train" if model.train else "infer",
                  step_flops(model), model.batch, _compared(blocks, model.name, threads),
                  _compared(blocks, model.name, 1))
        if row.threads.ratio is not None:
            row.target = f"images/s >= {model.target}"
            row.met = 1 / row.threads.ratio >= model.target
        rows.append(row)
    return rows


# ---- command line ----------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    p.add_argument("--quick", action="store_true",
                   help="tiny shapes, one round: a smoke test, not a measurement")
    p.add_argument("--rounds", type=int, default=None,
                   help="rounds of alternating blocks (default 2; 1 with --quick); 4 for "
                        "figures worth recording")
    p.add_argument("--reps", type=int, default=None,
                   help="minimum timed repetitions per case in each block (default 5; 2 with "
                        "--quick)")
    p.add_argument("--only", metavar="CASES", help=f"comma-separated subset of {','.join(NAMES)}")
    p.add_argument("--no-one-thread", action="store_true",
                   help="skip the blocks with one thread per side")
    p.add_argument("--no-torch", action="store_true", help="time gridnn alone")


def register(subparsers: Any) -> None:
    """Add the ``bench`` subcommand to the ``gridnn`` command."""
    p = subparsers.add_parser(
        "bench", help="time conv, pooling and training steps against PyTorch",
        description=DESCRIPTION)
    add_arguments(p)
    p.set_defaults(func=run)


def _positive(args: argparse.Namespace, name: str, default: int) -> int:
    value = getattr(args, name)
    value = default if value is None else value
    if value < 1:
        raise ArgumentError(f"bench: `--{name}` must be a positive int, received {value}")
    return value


def run(args: argparse.Namespace) -> int:
    """Run the benchmark described by parsed ``args``; print the tables; 0 on success."""
    started = time.perf_counter()
    quick = bool(args.quick)
    reps = _positive(args, "reps", 2 if quick else 5)
    rounds = _positive(args, "rounds", 1 if quick else 2)
    only = args.only.upper().split(",") if args.only else NAMES
    unknown = sorted(set(only) - set(NAMES))
    if unknown:
        raise ArgumentError(f"bench: `--only` must name cases among {NAMES}, "
                            f"received {unknown}")
    names = [n for n in NAMES if n in only]
    # Without PyTorch installed the benchmark times gridnn alone, as with --no-torch.
    has_torch = importlib.util.find_spec("torch") is not None
    libraries = ["gridnn", "torch"] if has_torch and not args.no_torch else ["gridnn"]
    threads = blas_threads()
    thread_counts = [threads] if args.no_one_thread or threads == 1 else [threads, 1]
    rep = Report(machine_info(), rounds)
    timed = [n for n in names if n != "M1"]
    if timed:
        blocks, rep.order = run_blocks(libraries, thread_counts, timed, reps, rounds, quick)
        rep.machine["threads"] = threads
        rep.machine["malloc"] = blocks[0]["malloc"]
        rep.machine["compiled"] = blocks[0]["compiled"]
        rep.machine["gemm_size"] = blocks[0]["gemm_size"]
        rep.machine["torch"] = next((b["torch"] for b in blocks if b["torch"]), "not run")
        rep.rows = build_rows(blocks, timed, threads, quick)
    if "M1" in names:
        steps, batch = (2, 8) if quick else (50, 128)
        rep.memory_mib = {"steps": steps, **{lib: peak_memory(lib, steps, batch)
                                             for lib in libraries}}
        rep.memory_target = MEMORY_TARGET
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
