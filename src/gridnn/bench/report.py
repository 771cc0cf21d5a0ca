"""What ``gridnn bench`` reports: one row per case and pass, and the Markdown tables that
benchmarks/RESULTS.md holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .measure import Timing


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
