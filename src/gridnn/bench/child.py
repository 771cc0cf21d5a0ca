"""One block of ``gridnn bench``: time the chosen cases in ONE library, in this fresh process,
and print the times as one JSON line on stdout.

    python -m gridnn.bench.child gridnn --threads 2 --cases L1,T1 --reps 5 [--quick]

Each library runs as its users run it: gridnn as its own commands do (freed memory kept by
malloc, ``keep_freed_memory``), PyTorch as imported. ``--threads`` sets both the BLAS under
NumPy (threadpoolctl) and the library's own threads. NumPy's GEMM speed at that thread count,
the ceiling of im2col + GEMM, is measured here too, so it shares the block's machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from .cases import FULL_CASES, QUICK_CASES, case_callables
from .measure import gemm_gflops, time_calls
from .steps import FULL_MODELS, QUICK_MODELS, gridnn_call, torch_call


def _limit_threads(threads: int) -> Any:
    """Keep the BLAS under NumPy at ``threads`` for the life of the process."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(threads, user_api="blas")


def run_block(library: str, threads: int, names: set[str], reps: int, quick: bool
              ) -> dict[str, Any]:
    """{'library', 'threads', 'malloc', 'compiled' (gridnn's loops, None for torch),
    'gemm_size', 'gemm_gflops', 'times': {'L1 fwd': [s, ...], 'T1': [s, ...]}} for the cases
    in ``names``."""
    from .._allocator import keep_freed_memory
    from ..ops.options import using

    limiter = _limit_threads(threads)  # noqa: F841 (the limit lasts while it lives)
    torch: Any = None
    compiled = None
    if library == "torch":
        import torch

        torch.set_num_threads(threads)
        malloc, version = "as PyTorch leaves it", torch.__version__
    else:
        malloc, version, compiled = keep_freed_memory(), None, compiled_loops()
    out: dict[str, Any] = {"library": library, "threads": threads, "malloc": malloc,
                           "compiled": compiled, "torch": version, "times": {}}
    with using(threads=threads):
        out["gemm_size"] = 256 if quick else 1024
        out["gemm_gflops"] = gemm_gflops(out["gemm_size"], reps)
        for case in QUICK_CASES if quick else FULL_CASES:
            if case.name in names:
                for passes, fn in case_callables(case, torch).items():
                    out["times"][f"{case.name} {passes}"] = time_calls(fn, reps)
        for model in QUICK_MODELS if quick else FULL_MODELS:
            if model.name in names:
                fn = torch_call(model, torch) if torch is not None else gridnn_call(model)
                out["times"][model.name] = time_calls(fn, reps)
    return out


def compiled_loops() -> str:
    """Which path gridnn's pooling, BatchNorm, ReLU and col2im take (``ops.compiled``)."""
    from ..ops.compiled import kernels

    if kernels() is None:
        return "off (NumPy passes)"
    from importlib.metadata import version

    return f"on (Numba {version('numba')})"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m gridnn.bench.child", description=__doc__)
    p.add_argument("library", choices=("gridnn", "torch"))
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--cases", required=True, help="comma-separated case names")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    block = run_block(args.library, args.threads, set(args.cases.split(",")), args.reps,
                      args.quick)
    sys.stdout.write(json.dumps(block) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
