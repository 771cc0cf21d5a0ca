"""What ``gridnn bench`` reports: the children's blocks of times combined into one row per case
and pass, and the Markdown tables that benchmarks/RESULTS.md holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .measure import Timing


@dataclass
class Compared:
    """One case at one thread count in both libraries (torch fields None without torch)."""

    gridnn: Timing  # all repetitions of every block pooled
    torch: Timing | None = None
    ratio: float | None = None  # gridnn median time / torch median time
    ratio_min: float | None = None  # the same ratio per round (block medians): min and max
    ratio_max: float | None = None
    spread: dict[str, float] = field(default_factory=dict)  # per library: (max - min of the
    # block medians) / median: how much the figure moves from one fresh process to the next
    gemm_gflops: dict[str, float] = field(default_factory=dict)  # per library, same blocks


@dataclass
class Row:
    """A case and pass: the comparison with all threads, and with one thread per side."""

    case: str
    what: str
    passes: str  # "fwd", "fwd+bwd", "train" or "infer"
    flops: float
    batch: int | None  # images per call, for the model cases
    threads: Compared
    one_thread: Compared | None = None
    target: str = ""  # e.g. "time <= 1.25" or "images/s >= 1.3"
    met: bool | None = None


@dataclass
class Report:
    machine: dict[str, Any]
    rounds: int
    order: list[str] = field(default_factory=list)  # the blocks as they ran
    rows: list[Row] = field(default_factory=list)
    memory_mib: dict[str, float] = field(default_factory=dict)
    memory_target: float | None = None
    seconds: float = 0.0


def compare(blocks: dict[str, list[list[float]]], gemm: dict[str, list[float]]) -> Compared:
    """``blocks[library]``: the times of each of that library's blocks, in round order;
    ``gemm[library]``: the GEMM GFLOP/s those blocks measured."""
    pooled = {lib: Timing.of([t for b in bl for t in b]) for lib, bl in blocks.items()}
    medians = {lib: [float(np.median(b)) for b in bl] for lib, bl in blocks.items()}
    out = Compared(pooled["gridnn"], pooled.get("torch"),
                   gemm_gflops={lib: float(np.median(g)) for lib, g in gemm.items()})
    out.spread = {lib: (max(m) - min(m)) / pooled[lib].median for lib, m in medians.items()}
    if out.torch is not None:
        out.ratio = out.gridnn.median / out.torch.median
        per_round = [g / t for g, t in zip(medians["gridnn"], medians["torch"])]
        out.ratio_min, out.ratio_max = min(per_round), max(per_round)
    return out


# ---- Markdown --------------------------------------------------------------------------------
def _ms(t: Timing | None) -> str:
    return "-" if t is None else f"{t.median * 1e3:.2f} [{t.min * 1e3:.2f}-{t.max * 1e3:.2f}]"


def _ratio(c: Compared | None, images: bool) -> str:
    """The time ratio (or images/s ratio, its inverse) with its per-round min-max."""
    if c is None or c.ratio is None:
        return "-"
    if images:
        return f"{1 / c.ratio:.2f} [{1 / c.ratio_max:.2f}-{1 / c.ratio_min:.2f}]"
    return f"{c.ratio:.2f} [{c.ratio_min:.2f}-{c.ratio_max:.2f}]"


def _spread(c: Compared) -> str:
    return " / ".join(f"{c.spread[lib] * 100:.0f}%" for lib in ("gridnn", "torch")
                      if lib in c.spread)


def _gflops(r: Row, lib: str) -> str:
    t = getattr(r.threads, lib)
    if t is None:
        return "-"
    achieved = r.flops / t.median / 1e9
    ceiling = r.threads.gemm_gflops.get(lib)
    return f"{achieved:.0f} ({achieved / ceiling * 100:.0f}%)" if ceiling else f"{achieved:.0f}"


def _mark(met: bool | None) -> str:
    return "" if met is None else "yes" if met else "NO"


def _header(rep: Report) -> list[str]:
    m = rep.machine
    return [f"Machine: {m.get('cpu')}, {m.get('cpus')} CPUs; Python {m.get('python')}, "
            f"NumPy {m.get('numpy')}, PyTorch {m.get('torch', 'not run')}; BLAS "
            f"{m.get('blas', '?')}; threads per side {m.get('threads')} (and 1)",
            f"Environment: OPENBLAS_CORETYPE={m.get('OPENBLAS_CORETYPE')}, "
            f"OPENBLAS_L2_SIZE={m.get('OPENBLAS_L2_SIZE')}; gridnn's malloc: "
            f"{m.get('malloc')}; gridnn's compiled loops: {m.get('compiled')}; "
            f"load average {m.get('load_average_start')} at start, "
            f"{m.get('load_average_end')} at end",
            f"Method: each library in its own fresh process per block, {rep.rounds} rounds of "
            f"blocks in the order {', '.join(rep.order[:4])}, ...; times are medians [min-max] "
            "of every repetition; ratios are of the medians, [min-max] over the rounds; "
            "'moves' is (max - min) / median of the block medians, gridnn / torch",
            f"Ceiling: NumPy float32 GEMM {m.get('gemm_size')}^3 in the same blocks, median "
            "GFLOP/s at all threads: " + "; ".join(
                f"{lib} blocks {c:.0f}" for lib, c in rep.rows[0].threads.gemm_gflops.items()
            ) if rep.rows else "", ""]


def format_report(rep: Report) -> str:
    """Markdown tables of every measurement, ready to paste into benchmarks/RESULTS.md."""
    lines = _header(rep)
    layers = [r for r in rep.rows if r.batch is None]
    models = [r for r in rep.rows if r.batch is not None]
    if layers:
        lines += ["| case | pass | gridnn ms | torch ms | gridnn/torch time | moves "
                  "| 1 thread gridnn/torch time | gridnn GFLOP/s | torch GFLOP/s | target | met |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in layers:
            t = r.threads
            t_gf = f"{r.flops / t.torch.median / 1e9:.1f}" if t.torch else "-"
            lines.append(f"| {r.case} {r.what} | {r.passes} | {_ms(t.gridnn)} | {_ms(t.torch)} "
                         f"| {_ratio(t, False)} | {_spread(t)} | {_ratio(r.one_thread, False)} "
                         f"| {r.flops / t.gridnn.median / 1e9:.1f} | {t_gf} | {r.target} "
                         f"| {_mark(r.met)} |")
        lines.append("")
    if models:
        lines += ["| case | what | batch | gridnn images/s (ms) | torch images/s (ms) "
                  "| gridnn/torch images/s | moves | 1 thread gridnn/torch images/s "
                  "| gridnn GFLOP/s (% of GEMM) | torch GFLOP/s (% of GEMM) | target | met |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in models:
            t = r.threads
            ours = f"{r.batch / t.gridnn.median:.0f} ({_ms(t.gridnn)})"
            theirs = f"{r.batch / t.torch.median:.0f} ({_ms(t.torch)})" if t.torch else "-"
            lines.append(f"| {r.case} | {r.what} | {r.batch} | {ours} | {theirs} "
                         f"| {_ratio(t, True)} | {_spread(t)} | {_ratio(r.one_thread, True)} "
                         f"| {_gflops(r, 'gridnn')} | {_gflops(r, 'torch')} | {r.target} "
                         f"| {_mark(r.met)} |")
        lines.append("")
    if rep.memory_mib:
        mem = rep.memory_mib
        ratio = mem["gridnn"] / mem["torch"] if "torch" in mem else None
        lines += ["| case | what | gridnn peak RSS MiB | torch peak RSS MiB | gridnn/torch "
                  "| target | met |", "|---|---|---|---|---|---|---|",
                  f"| M1 | {mem['steps']:.0f} T1 steps in a fresh process | {mem['gridnn']:.0f} "
                  f"| {mem.get('torch', float('nan')):.0f} | "
                  f"{'-' if ratio is None else f'{ratio:.2f}'} | <= {rep.memory_target} "
                  f"| {_mark(None if ratio is None else ratio <= rep.memory_target)} |", ""]
    lines.append(f"Benchmark wall time: {rep.seconds:.0f} s")
    return "\n".join(lines)
