"""How ``gridnn bench`` measures: medians of alternating timed blocks, the machine it ran on,
the GEMM ceiling, and the peak memory of a fresh process."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._allocator import keep_freed_memory
from .cases import gridnn_steps, torch_steps

SECONDS_PER_MEASURE = 0.6  # repetitions beyond the minimum fill about this much time


@dataclass
class Timing:
    """Seconds per call: median, min and max of ``reps`` repetitions."""

    median: float
    min: float
    max: float
    reps: int


def measure(fn: Callable[[], Any], min_reps: int, warmup: int = 2) -> Timing:
    """Time ``fn()`` after ``warmup`` calls: at least ``min_reps`` repetitions, more while they
    fit in about ``SECONDS_PER_MEASURE`` seconds (at most 5x the minimum)."""
    return measure_each({"fn": fn}, min_reps, warmup)["fn"]


def measure_each(fns: dict[str, Callable[[], Any]], min_reps: int, warmup: int = 2,
                 rounds: int = 2) -> dict[str, Timing]:
    """Time every function as ``measure`` does, in ``rounds`` alternating blocks (gridnn's
    block, torch's block, gridnn's, ...) so that a change in the machine's load while the case
    runs falls on both libraries, not on whichever ran second."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    per_round = -(-min_reps // rounds)
    for _ in range(rounds):
        for name, fn in fns.items():
            start, block = time.perf_counter(), []
            while len(block) < per_round or (
                    len(block) < 5 * per_round
                    and time.perf_counter() - start < SECONDS_PER_MEASURE / rounds):
                t0 = time.perf_counter()
                fn()
                block.append(time.perf_counter() - t0)
            times[name] += block
    return {name: Timing(float(np.median(t)), min(t), max(t), len(t))
            for name, t in times.items()}


def blas_threads() -> int:
    """Threads of the BLAS under NumPy (threadpoolctl), else the number of CPUs."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return os.cpu_count() or 1
    counts = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return counts[0] if counts else os.cpu_count() or 1


def import_torch(threads: int) -> Any:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def machine_info(malloc: str) -> dict[str, Any]:
    """CPU model, library versions, the BLAS kernel NumPy runs, the environment knobs and
    ``malloc``, what ``keep_freed_memory`` did."""
    info: dict[str, Any] = {"python": platform.python_version(), "numpy": np.__version__,
                            "cpus": os.cpu_count(), "blas_threads": blas_threads()}
    try:
        with open("/proc/cpuinfo") as fh:
            info["cpu"] = next((ln.split(":", 1)[1].strip() for ln in fh
                                if ln.startswith("model name")), platform.processor())
    except OSError:
        info["cpu"] = platform.processor()
    try:
        from threadpoolctl import threadpool_info
        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if blas:
            info["blas"] = f"{blas[0].get('internal_api')} {blas[0].get('version')} " \
                           f"kernel {blas[0].get('architecture')}"
    except ImportError:
        pass
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                "OMP_NUM_THREADS"):
        info[var] = os.environ.get(var, "(unset)")
    info["malloc"] = malloc
    info["load_average_start"] = round(os.getloadavg()[0], 2)
    return info


def gemm_gflops(torch: Any, size: int, reps: int) -> dict[str, float]:
    """float32 GEMM speed (size^3) of NumPy, the ceiling of im2col + GEMM, and of PyTorch."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    flops = 2.0 * size ** 3
    out = {"numpy": flops / measure(lambda: a @ b, reps).median / 1e9}
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        out["torch"] = flops / measure(lambda: ta @ tb, reps).median / 1e9
    return out


# ---- peak memory -----------------------------------------------------------------------------
def memory_child(library: str, steps: int, batch: int) -> None:
    """Run ``steps`` T1 steps in ``library`` and print this process's peak RSS in KiB."""
    keep_freed_memory()  # as in the benchmark's own process
    threads = blas_threads()
    if library == "torch":
        step = torch_steps(import_torch(threads), batch, True, None)
    else:
        step, _ = gridnn_steps(batch, True)
    for _ in range(steps):
        step()
    print(peak_rss_kib())


def peak_rss_kib() -> int:
    """This process's peak resident memory in KiB. Linux's VmHWM, because ``ru_maxrss`` keeps
    the high-water mark of the parent it was forked from across ``exec``."""
    try:
        with open("/proc/self/status") as fh:
            return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_memory(library: str, steps: int, batch: int) -> float:
    """Peak resident memory (MiB) of a fresh Python process doing ``steps`` T1 steps."""
    code = ("import sys; from gridnn.bench.measure import memory_child; "
            "memory_child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))")
    done = subprocess.run([sys.executable, "-c", code, library, str(steps), str(batch)],
                          capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024
