"""``gridnn bench``: gridnn against PyTorch on the same float32 arrays, in one process.

Cases (N = batch, C in, K out), each timed forward and forward+backward (gradients of input,
weight and bias):

    L1 conv2d N=64  C=1   28x28 K=32  3x3 s1 p1      L4 conv2d N=64  C=3   32x32 K=12  5x5 s1 p2
    L2 conv2d N=64  C=32  28x28 K=64  3x3 s1 p1      L5 conv2d N=32  C=128 16x16 K=128 3x3 s2 p1
    L3 conv2d N=64  C=64  14x14 K=128 3x3 s1 p1      C1 conv1d N=256 C=1   40    K=32  5   s2 p2
    P1 max_pool2d 2x2 stride 2 on N=64 C=32 28x28

plus T1 (training steps/s of a small MNIST CNN, batch 128, SGD momentum 0.9), I1 (its inference
at batch 256) and M1 (peak resident memory of a fresh process doing 50 T1 steps, per library).

Every time is the median of at least ``--reps`` repetitions after warm-up, with min-max, taken
in two alternating blocks per library (gridnn, torch, gridnn, torch) so that a change of the
machine's load falls on both. PyTorch gets as many threads as the BLAS under NumPy uses. The
ceiling is NumPy's float32 GEMM speed on the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._allocator import keep_freed_memory

# Targets of issue 5: forward+backward time ratio (gridnn / torch) per conv case.
CONV_TARGETS = {"L1": 2.5, "L2": 1.5, "L3": 1.5, "L4": 2.5, "L5": 1.5, "C1": 1.5}
SECONDS_PER_MEASURE = 0.6  # repetitions beyond the minimum fill about this much time


@dataclass(frozen=True)
class ConvCase:
    """A convolution: input (N, C, *size), weight (K, C, k, ...), 'same'-style padding."""

    name: str
    batch: int
    channels: int
    size: tuple[int, ...]
    filters: int
    kernel: int
    stride: int
    padding: int

    @property
    def out_size(self) -> tuple[int, ...]:
        return tuple((s + 2 * self.padding - self.kernel) // self.stride + 1 for s in self.size)

    @property
    def flops(self) -> float:
        """Forward multiply-adds x 2; forward+backward is three such GEMMs."""
        return (2.0 * self.batch * self.filters * math.prod(self.out_size) * self.channels
                * self.kernel ** len(self.size))

    def describe(self) -> str:
        dims = "x".join(map(str, self.size))
        kern = "x".join([str(self.kernel)] * len(self.size))
        return (f"conv{len(self.size)}d N={self.batch} C={self.channels} {dims} "
                f"K={self.filters} {kern} s{self.stride} p{self.padding}")


@dataclass(frozen=True)
class PoolCase:
    """Max pooling of (N, C, *size) with a square kernel and stride."""

    name: str
    batch: int
    channels: int
    size: tuple[int, int]
    kernel: int
    stride: int

    @property
    def flops(self) -> float:
        """One comparison per window element."""
        out = math.prod((s - self.kernel) // self.stride + 1 for s in self.size)
        return float(self.batch * self.channels * out * self.kernel ** 2)

    def describe(self) -> str:
        return (f"max_pool2d {self.kernel}x{self.kernel} s{self.stride} N={self.batch} "
                f"C={self.channels} {'x'.join(map(str, self.size))}")


FULL_CASES: list[ConvCase | PoolCase] = [
    ConvCase("L1", 64, 1, (28, 28), 32, 3, 1, 1),
    ConvCase("L2", 64, 32, (28, 28), 64, 3, 1, 1),
    ConvCase("L3", 64, 64, (14, 14), 128, 3, 1, 1),
    ConvCase("L4", 64, 3, (32, 32), 12, 5, 1, 2),
    ConvCase("L5", 32, 128, (16, 16), 128, 3, 2, 1),
    ConvCase("C1", 256, 1, (40,), 32, 5, 2, 2),
    PoolCase("P1", 64, 32, (28, 28), 2, 2),
]
QUICK_CASES: list[ConvCase | PoolCase] = [
    ConvCase("L1", 2, 1, (8, 8), 4, 3, 1, 1),
    ConvCase("L5", 2, 8, (8, 8), 8, 3, 2, 1),
    ConvCase("C1", 4, 1, (12,), 4, 5, 2, 2),
    PoolCase("P1", 2, 4, (8, 8), 2, 2),
]


@dataclass
class Timing:
    """Seconds per call: median, min and max of ``reps`` repetitions."""

    median: float
    min: float
    max: float
    reps: int


@dataclass
class Row:
    """One case and pass, timed in both libraries (torch fields are None without torch)."""

    case: str
    what: str
    passes: str
    flops: float
    gridnn: Timing
    torch: Timing | None = None
    ratio: float | None = None  # gridnn time / torch time
    target: float | None = None  # the ratio must not exceed this
    met: bool | None = None


@dataclass
class ModelRow:
    """Throughput of the T1/I1 model in images per second."""

    case: str
    what: str
    batch: int
    gridnn: Timing
    torch: Timing | None = None
    speed_ratio: float | None = None  # gridnn images/s over torch images/s (target >= 1)
    met: bool | None = None


@dataclass
class Report:
    machine: dict[str, Any]
    gemm_gflops: dict[str, float]
    rows: list[Row] = field(default_factory=list)
    models: list[ModelRow] = field(default_factory=list)
    memory_mib: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


# ---- timing ----------------------------------------------------------------------------------
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


def _import_torch(threads: int) -> Any:
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


# ---- the layer cases -------------------------------------------------------------------------
def _case_callables(case: ConvCase | PoolCase, torch: Any, rng: np.random.Generator
                    ) -> dict[str, dict[str, Callable[[], Any]]]:
    """{'fwd': {'gridnn': f, 'torch': f}, 'fwd+bwd': {...}} on the same arrays."""
    import gridnn as gn
    import gridnn.functional as F

    x = rng.standard_normal((case.batch, case.channels, *case.size), dtype=np.float32)
    if isinstance(case, ConvCase):
        nd = len(case.size)
        w = rng.standard_normal((case.filters, case.channels, *(case.kernel,) * nd),
                                dtype=np.float32) / np.float32(case.kernel)
        b = rng.standard_normal(case.filters, dtype=np.float32)
        arrays = [x, w, b]
        out_shape = (case.batch, case.filters, *case.out_size)
        opts = {"stride": case.stride, "padding": case.padding}
        ours = F.conv1d if nd == 1 else F.conv2d
        theirs_name = "conv1d" if nd == 1 else "conv2d"
    else:
        arrays = [x]
        out_shape = (case.batch, case.channels,
                     *((s - case.kernel) // case.stride + 1 for s in case.size))
        opts = {"kernel_size": case.kernel, "stride": case.stride}
        ours, theirs_name = F.max_pool2d, "max_pool2d"
    upstream = rng.standard_normal(out_shape, dtype=np.float32)

    inputs = [gn.tensor(a, requires_grad=True) for a in arrays]

    def g_fwd() -> Any:
        with gn.no_grad():
            return ours(*inputs, **opts)

    def g_fwd_bwd() -> None:
        for t in inputs:
            t.grad = None
        ours(*inputs, **opts).backward(upstream)

    calls = {"fwd": {"gridnn": g_fwd}, "fwd+bwd": {"gridnn": g_fwd_bwd}}
    if torch is not None:
        theirs = getattr(torch.nn.functional, theirs_name)
        t_inputs = [torch.from_numpy(a).requires_grad_() for a in arrays]
        t_up = torch.from_numpy(upstream)

        def t_fwd() -> Any:
            with torch.no_grad():
                return theirs(*t_inputs, **opts)

        def t_fwd_bwd() -> None:
            for t in t_inputs:
                t.grad = None
            theirs(*t_inputs, **opts).backward(t_up)

        calls["fwd"]["torch"], calls["fwd+bwd"]["torch"] = t_fwd, t_fwd_bwd
    return calls


def bench_case(case: ConvCase | PoolCase, torch: Any, reps: int) -> list[Row]:
    """Both passes of one case in both libraries."""
    rows = []
    calls = _case_callables(case, torch, np.random.default_rng(0))
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


# ---- the model cases -------------------------------------------------------------------------
def gridnn_model(seed: int = 0) -> Any:
    """Conv(1->32,3x3,p1)-ReLU-MaxPool2-Conv(32->64,3x3,p1)-ReLU-MaxPool2-Flatten-
    Linear(3136->128)-ReLU-Linear(128->10): (N, 1, 28, 28) -> (N, 10) logits."""
    from gridnn import nn

    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128, rng=rng), nn.ReLU(), nn.Linear(128, 10, rng=rng))


def torch_model(torch: Any, weights: dict[str, np.ndarray] | None = None) -> Any:
    """The same model in PyTorch, with ``weights`` (a gridnn state dict) if given."""
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    if weights is not None:
        model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.items()})
    return model


def _batch(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 1, 28, 28), dtype=np.float32),
            rng.integers(0, 10, n).astype(np.int64))


def _gridnn_steps(batch: int, train: bool) -> tuple[Callable[[], Any], dict[str, Any]]:
    """(a train step or an inference call, the state dict) of the gridnn model on a batch."""
    import gridnn as gn
    import gridnn.functional as F
    from gridnn import optim

    model = gridnn_model()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = _batch(batch, 1)
    xt = gn.tensor(x)

    def step() -> None:
        opt.zero_grad()
        F.cross_entropy(model(xt), y).backward()
        opt.step()

    def infer() -> Any:
        with gn.no_grad():
            return model(xt)

    weights = model.state_dict()
    if not train:
        model.eval()
    return (step if train else infer), weights


def _torch_steps(torch: Any, batch: int, train: bool,
                 weights: dict[str, Any] | None) -> Callable[[], Any]:
    """A train step or an inference call of the PyTorch model on a batch."""
    model = torch_model(torch, weights)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = _batch(batch, 1)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()

    def infer() -> Any:
        with torch.no_grad():
            return model(xt)

    if not train:
        model.eval()
    return step if train else infer


def bench_models(torch: Any, reps: int, cases: dict[str, int]) -> list[ModelRow]:
    """T1: training steps of the model; I1: its inference; ``cases`` maps name -> batch."""
    rows = []
    for name, batch in cases.items():
        train = name == "T1"
        fn, weights = _gridnn_steps(batch, train)
        fns = {"gridnn": fn}
        if torch is not None:
            fns["torch"] = _torch_steps(torch, batch, train, weights)
        timed = measure_each(fns, reps)
        row = ModelRow(name, "train step (SGD momentum)" if train else "inference", batch,
                       timed["gridnn"])
        if torch is not None:
            row.torch = timed["torch"]
            row.speed_ratio = row.torch.median / row.gridnn.median
            row.met = row.speed_ratio >= 1.0
        rows.append(row)
    return rows


def memory_child(library: str, steps: int, batch: int) -> None:
    """Run ``steps`` T1 steps in ``library`` and print this process's peak RSS in KiB."""
    keep_freed_memory()  # as in the benchmark's own process
    threads = blas_threads()
    if library == "torch":
        step = _torch_steps(_import_torch(threads), batch, True, None)
    else:
        step, _ = _gridnn_steps(batch, True)
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
    code = ("import sys; from gridnn.bench import memory_child; "
            "memory_child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))")
    done = subprocess.run([sys.executable, "-c", code, library, str(steps), str(batch)],
                          capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024


# ---- reporting -------------------------------------------------------------------------------
def _ms(t: Timing | None) -> str:
    if t is None:
        return "-"
    return f"{t.median * 1e3:.2f} [{t.min * 1e3:.2f}-{t.max * 1e3:.2f}]"


def _mark(met: bool | None) -> str:
    return "" if met is None else "yes" if met else "NO"


def format_report(rep: Report) -> str:
    """Markdown tables of every measurement, ready to paste into benchmarks/RESULTS.md."""
    m = rep.machine
    lines = [f"Machine: {m.get('cpu')}, {m.get('cpus')} CPUs; Python {m.get('python')}, "
             f"NumPy {m.get('numpy')}, PyTorch {m.get('torch', 'not installed')}; "
             f"BLAS {m.get('blas', '?')}; BLAS threads = torch threads = {m.get('blas_threads')}",
             f"Environment: OPENBLAS_CORETYPE={m.get('OPENBLAS_CORETYPE')}, "
             f"OPENBLAS_L2_SIZE={m.get('OPENBLAS_L2_SIZE')}; freed memory "
             f"{m.get('malloc')}; load average "
             f"{m.get('load_average_start')} at start, {m.get('load_average_end')} at end",
             "Ceiling: float32 GEMM 1024^3 " + ", ".join(
                 f"{k} {v:.0f} GFLOP/s" for k, v in rep.gemm_gflops.items()), "",
             "| case | pass | gridnn ms median [min-max] | torch ms median [min-max] "
             "| gridnn GFLOP/s | torch GFLOP/s | gridnn/torch time | target | met |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rep.rows:
        t_gf = f"{r.flops / r.torch.median / 1e9:.1f}" if r.torch else "-"
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        target = ("< " if r.case.startswith("P") else "<= ") + f"{r.target}" if r.target else ""
        lines.append(f"| {r.case} {r.what} | {r.passes} | {_ms(r.gridnn)} | {_ms(r.torch)} | "
                     f"{r.flops / r.gridnn.median / 1e9:.1f} | {t_gf} | {ratio} | {target} | "
                     f"{_mark(r.met)} |")
    if rep.models:
        lines += ["", "| case | what | batch | gridnn images/s (ms median [min-max]) "
                  "| torch images/s (ms median [min-max]) | gridnn/torch images/s | target "
                  "| met |", "|---|---|---|---|---|---|---|---|"]
        for r in rep.models:
            ours = f"{r.batch / r.gridnn.median:.0f} ({_ms(r.gridnn)})"
            theirs = f"{r.batch / r.torch.median:.0f} ({_ms(r.torch)})" if r.torch else "-"
            ratio = f"{r.speed_ratio:.2f}" if r.speed_ratio is not None else "-"
            lines.append(f"| {r.case} | {r.what} | {r.batch} | {ours} | {theirs} | {ratio} "
                         f"| >= 1.0 | {_mark(r.met)} |")
    if rep.memory_mib:
        mem = rep.memory_mib
        lines += ["", "| case | what | gridnn peak RSS MiB | torch peak RSS MiB | met |",
                  "|---|---|---|---|---|",
                  f"| M1 | {mem.get('steps', 0):.0f} T1 steps in a fresh process "
                  f"| {mem['gridnn']:.0f} | {mem.get('torch', float('nan')):.0f} | "
                  f"{_mark(mem['gridnn'] <= mem['torch'] if 'torch' in mem else None)} |"]
    lines += ["", f"Benchmark wall time: {rep.seconds:.0f} s"]
    return "\n".join(lines)


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
        description="Time gridnn's convolution, pooling and a small CNN's training and "
                    "inference against PyTorch on the same arrays, in one process.")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark described by parsed ``args``; print the tables; 0 on success."""
    from .errors import ArgumentError

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
    torch = None if args.no_torch else _import_torch(threads)
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
        Path(args.json).write_text(json.dumps(asdict(rep), indent=2) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python benchmarks/speed.py [options]``: the same as ``gridnn bench``."""
    parser = argparse.ArgumentParser(prog="speed.py", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
