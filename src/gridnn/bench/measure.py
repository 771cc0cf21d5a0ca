"""How ``gridnn bench`` measures: the times of repeated calls, the machine it ran on, the GEMM
ceiling, and the peak memory of a fresh process."""

from __future__ import annotations

import dataclasses
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
from .steps import FULL_MODELS, gridnn_call, torch_call

SECONDS_PER_MEASURE = 0.5  # repetitions beyond the minimum fill about this much time


@dataclass
class Timing:
    """Seconds per call: median, min and max of ``reps`` repetitions."""

    median: float
    min: float
    max: float
    reps: int

    @classmethod
    def of(cls, times: list[float]) -> Timing:
        return cls(float(np.median(times)), min(times), max(times), len(times))


def time_calls(fn: Callable[[], Any], min_reps: int, warmup: int = 2,
               seconds: float = SECONDS_PER_MEASURE) -> list[float]:
    """Seconds of each timed call of ``fn()`` after ``warmup`` untimed ones: at least
    ``min_reps`` calls, more while they fit in about ``seconds`` (at most 3x the minimum)."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_reps or (len(times) < 3 * min_reps
                                    and time.perf_counter() - start < seconds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def blas_threads() -> int:
    """Threads of the BLAS under NumPy (threadpoolctl), else the number of CPUs."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return os.cpu_count() or 1
    counts = [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]
    return counts[0] if counts else os.cpu_count() or 1


def machine_info() -> dict[str, Any]:
    """CPU model, library versions, the BLAS kernel NumPy runs and the environment knobs."""
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
    info["load_average_start"] = round(os.getloadavg()[0], 2)
    return info


def gemm_gflops(size: int, reps: int) -> float:
    """NumPy's float32 GEMM speed (size^3) in GFLOP/s: the ceiling of im2col + GEMM."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    return 2.0 * size ** 3 / float(np.median(time_calls(lambda: a @ b, reps, 1, 0.2))) / 1e9


# ---- peak memory -----------------------------------------------------------------------------
def memory_child(library: str, steps: int, batch: int) -> None:
    """Run ``steps`` T1 steps in ``library`` and print this process's peak RSS in KiB."""
    case = dataclasses.replace(FULL_MODELS[0], batch=batch)
    if library == "torch":
        import torch

        torch.set_num_threads(blas_threads())
        step = torch_call(case, torch)
    else:
        keep_freed_memory()  # as gridnn's own commands run
        step = gridnn_call(case)
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
