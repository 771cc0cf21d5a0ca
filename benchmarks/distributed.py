"""Data-parallel scaling of gridnn (issue 14): measured here, modelled beyond this machine.

    python benchmarks/distributed.py [--quick]          # launches its own mpiexec runs

1. Allreduce time against buffer size, 2 and 4 ranks on this machine (shared memory).
2. Training throughput: 1 process with 2 threads against 2 ranks with 1 thread each.
3. Ring-Allreduce model on p machines (one rank each, this machine's single-thread speed):
   step(p) = compute(B / p) + 2 (p - 1) (alpha + model_bytes / (p * bandwidth))
   i.e. 2(p-1)/p x bytes / bandwidth plus 2(p-1) message latencies; tables for fashion_cnn and
   resnet_small on 1 and 10 Gbit/s, and the global batch that keeps 90% scaling efficiency.
4. The model checked against ranks here: a ring Allreduce over MPI point-to-point messages with
   an injected per-message delay (alpha + chunk bytes / bandwidth), inside real training steps.

Results and the machine they came from: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import numpy as np

from gridnn import Tensor, data, functional, models, optim, train
from gridnn import distributed as dist

NETWORKS = {"1 Gbit/s": (1e9 / 8, 50e-6), "10 Gbit/s": (10e9 / 8, 20e-6)}  # bytes/s, latency s
SLOW = {"100 Mbit/s": (1e8 / 8, 100e-6)}  # only for the check: the network dominates the step
SHAPES = {"fashion_cnn": (1, 28, 28), "resnet_small": (3, 32, 32)}
ROOT = Path(__file__).resolve().parents[1]


def _model(name: str) -> Any:
    return models.build(name, seed=0)


def model_bytes(name: str) -> int:
    return sum(p.data.nbytes for p in _model(name).parameters())


def ring_seconds(nbytes: float, p: int, bandwidth: float, latency: float) -> float:
    """Ring Allreduce: 2 (p - 1) messages of nbytes / p each (reduce-scatter, all-gather)."""
    return 0.0 if p == 1 else 2 * (p - 1) * (latency + nbytes / p / bandwidth)


class DelayedRing(dist.Communicator):
    """A ring Allreduce over point-to-point messages, each delayed as a link of ``bandwidth``
    bytes/s and ``latency`` s would delay it: the network of the model, simulated."""

    def __init__(self, bandwidth: float, latency: float) -> None:
        self.bandwidth, self.latency = bandwidth, latency  # the base __init__ gathers already
        super().__init__()

    def allreduce_sum(self, buffer: np.ndarray, what: str = "Allreduce") -> np.ndarray:
        p, r = self.size, self.rank
        if p == 1:
            return buffer
        comm = self._comm
        chunks = np.array_split(buffer, p)  # views into buffer
        right, left = (r + 1) % p, (r - 1) % p
        for step in range(2 * (p - 1)):  # p-1 reduce-scatter steps, then p-1 all-gather steps
            send = chunks[(r - step) % p]
            recv_i = (r - step - 1) % p
            incoming = np.empty_like(chunks[recv_i])
            time.sleep(self.latency + send.nbytes / self.bandwidth)
            comm.Sendrecv(np.ascontiguousarray(send), dest=right, recvbuf=incoming, source=left)
            if step < p - 1:
                chunks[recv_i] += incoming
            else:
                chunks[recv_i][...] = incoming
        return buffer


# ---- runs inside mpiexec --------------------------------------------------------------------
def _allreduce_job(sizes: list[int], reps: int, comm: dist.Communicator) -> dict[str, Any]:
    rows = []
    for n in sizes:
        buf = np.ones(n, np.float32)
        for _ in range(2):
            comm.allreduce_sum(buf)
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            comm.allreduce_sum(buf)
            times.append(time.perf_counter() - start)
        rows.append({"floats": n, "seconds": min(times)})  # least disturbed: shared machine
    return {"ranks": comm.size, "rows": rows}


def _synthetic(name: str, n: int) -> data.ArrayDataset:
    rng = np.random.default_rng(0)
    return data.ArrayDataset(rng.standard_normal((n, *SHAPES[name])).astype(np.float32),
                             rng.integers(0, 10, n))


def _train_job(name: str, batch: int, steps: int, comm: dist.Communicator | None) -> float:
    """Seconds of the fastest of ``steps`` training steps (after one warm-up step): the machine
    is shared, and the fastest step is the least disturbed one."""
    model = _model(name)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loader = data.DataLoader(_synthetic(name, batch * (steps + 1)), batch, shuffle=True)
    marks: list[float] = []

    class Clock(train.Callback):
        def on_step_end(self, state: train.TrainState) -> None:
            marks.append(time.perf_counter())

    dist.fit_distributed(model, loader, epochs=1, optimizer=opt, comm=comm, progress=False,
                         callbacks=[Clock()])
    return float(np.diff(marks).min())


def _compute_job(name: str, batches: list[int], reps: int) -> list[dict[str, float]]:
    """Seconds of one training step (forward, backward, SGD step) per batch size, 1 thread:
    the fastest of ``reps``."""
    model = _model(name)
    opt = optim.SGD(model.parameters(), lr=0.01)
    rows = []
    for b in batches:
        ds = _synthetic(name, b)
        x, y = ds.x, ds.y
        times = []
        for _ in range(reps + 1):
            start = time.perf_counter()
            loss = functional.cross_entropy(model(Tensor(x)), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - start)
        rows.append({"batch": b, "seconds": min(times[1:])})
    return rows


def worker(args: argparse.Namespace) -> None:
    """One rank's part of a job; rank 0 prints the JSON result."""
    job = args.job
    comm = DelayedRing(*{**NETWORKS, **SLOW}[args.network]) if args.network else dist.world()
    if job == "allreduce":
        out: Any = _allreduce_job(args.sizes, args.reps, comm)
    elif job == "train":
        out = {"step_seconds": _train_job(args.model, args.batch, args.steps, comm)}
    else:
        out = _compute_job(args.model, args.batches, args.reps)
    if dist.rank() == 0:
        print("RESULT " + json.dumps(out), flush=True)


# ---- the orchestrator -------------------------------------------------------------------------
def _launch(ranks: int, threads: int, *job: object) -> Any:
    mpiexec = Path(sysconfig.get_path("scripts")) / "mpiexec"
    cmd = [sys.executable, __file__, "--worker", *map(str, job)]
    if ranks:
        cmd = [str(mpiexec), "-n", str(ranks), *cmd]
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(lines[-1][7:])


def _fit_line(rows: list[dict[str, float]]) -> tuple[float, float]:
    """Least squares seconds = a + c * batch."""
    b = np.array([r["batch"] for r in rows], float)
    t = np.array([r["seconds"] for r in rows])
    c, a = np.polyfit(b, t, 1)
    return max(a, 0.0), c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions and sizes")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("job", nargs="?", help=argparse.SUPPRESS)
    ap.add_argument("--sizes", type=int, nargs="*", default=[])
    ap.add_argument("--batches", type=int, nargs="*", default=[])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--model", default="fashion_cnn")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--network", default="")
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    q = args.quick
    sizes = sorted({1_000, 10_000, 100_000, 1_000_000, 4_000_000,
                    *(model_bytes(m) // 4 for m in SHAPES)})
    print(f"# gridnn data-parallel benchmark, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"{os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f}), MPICH from the "
          f"mpich wheel\n")
    print("Times are the fastest of several repetitions (steps), the least disturbed on a "
          "shared machine.\n")
    print("## Allreduce (sum, float32, in place) on this machine\n")
    print("| floats | MB | 2 ranks ms | 2 ranks GB/s | 4 ranks ms | 4 ranks GB/s |")
    print("|---:|---:|---:|---:|---:|---:|")
    res = {p: _launch(p, 1, "allreduce", "--reps", 5 if q else 20, "--sizes", *sizes)["rows"]
           for p in (2, 4)}
    for i, n in enumerate(sizes):
        cells = []
        for p in (2, 4):
            s = res[p][i]["seconds"]
            cells += [f"{s * 1e3:.3f}", f"{2 * (p - 1) / p * n * 4 / s / 1e9:.2f}"]
        print(f"| {n:,} | {n * 4 / 1e6:.2f} | " + " | ".join(cells) + " |")
    print("\nGB/s: the ring's bus bandwidth, 2(p-1)/p x bytes / time.\n")

    print("## Training throughput on this machine (synthetic images, global batch 128)\n")
    print("| model | 1 process, 2 threads img/s | 2 ranks, 1 thread each img/s | ratio |")
    print("|---|---:|---:|---:|")
    steps = 4 if q else 12
    for m in SHAPES:
        one = 128 / _launch(0, 2, "train", "--model", m, "--steps", steps)["step_seconds"]
        two = 128 / _launch(2, 1, "train", "--model", m, "--steps", steps)["step_seconds"]
        print(f"| {m} | {one:.0f} | {two:.0f} | {two / one:.2f} |")

    print("\n## Ring-Allreduce model beyond this machine\n")
    batches = [16, 32, 64, 128] if q else [8, 16, 32, 64, 128, 256]
    fits = {m: _fit_line(_launch(0, 1, "compute", "--model", m, "--reps", 2 if q else 3,
                                 "--batches", *batches)) for m in SHAPES}
    for m, (a, c) in fits.items():
        print(f"- {m}: {model_bytes(m) / 1e6:.2f} MB of float32 gradients; one training step "
              f"on one thread here = {a * 1e3:.1f} ms + {c * 1e3:.2f} ms x batch")
    print("- networks: 1 Gbit/s with 50 us per message, 10 Gbit/s with 20 us per message\n")
    global_batch = 256
    ps = [1, 2, 4, 8, 16, 32]
    print(f"Step time (ms) and scaling efficiency for a global batch of {global_batch} "
          f"(speed-up / p):\n")
    print("| model | network | " + " | ".join(f"p={p}" for p in ps) + " |")
    print("|---|---|" + "---:|" * len(ps))
    for m, (a, c) in fits.items():
        for net, (bw, lat) in NETWORKS.items():
            t1 = a + c * global_batch
            cells = []
            for p in ps:
                tp = a + c * global_batch / p + ring_seconds(model_bytes(m), p, bw, lat)
                cells.append(f"{tp * 1e3:.0f} ({t1 / tp / p:.0%})")
            print(f"| {m} | {net} | " + " | ".join(cells) + " |")
    print("\nSmallest global batch with 90% scaling efficiency (per-rank batch b: "
          "compute(b) >= 9 x Allreduce time):\n")
    print("| model | network | " + " | ".join(f"p={p}" for p in ps[1:]) + " |")
    print("|---|---|" + "---:|" * (len(ps) - 1))
    for m, (a, c) in fits.items():
        for net, (bw, lat) in NETWORKS.items():
            cells = []
            for p in ps[1:]:
                comm_s = ring_seconds(model_bytes(m), p, bw, lat)
                b = max(1, int(np.ceil((9 * comm_s - a) / c)))
                cells.append(f"{p * b:,}")
            print(f"| {m} | {net} | " + " | ".join(cells) + " |")

    print("\n## The model checked here: ring Allreduce with an injected per-message delay\n")
    print("A ring Allreduce over MPI messages, each delayed by latency + bytes / bandwidth, "
          "against the model's 2(p-1)(latency + bytes / (p bandwidth)); ms.\n")
    print("| gradients | ranks | network | measured | model | measured / model |")
    print("|---|---:|---|---:|---:|---:|")
    check = {**SLOW, **NETWORKS}
    for p in (2, 4):
        for net, (bw, lat) in check.items():
            rows = _launch(p, 1, "allreduce", "--network", net, "--reps", 3 if q else 5,
                           "--sizes", *(model_bytes(m) // 4 for m in SHAPES))["rows"]
            for m, row in zip(SHAPES, rows):
                model_s = ring_seconds(model_bytes(m), p, bw, lat)
                print(f"| {m} | {p} | {net} | {row['seconds'] * 1e3:.1f} | "
                      f"{model_s * 1e3:.1f} | {row['seconds'] / model_s:.2f} |")
    print("\nfashion_cnn training steps (global batch 128), ms: with the delayed ring against "
          "(the same ranks with MPI's Allreduce) + (the model's Allreduce time).\n")
    print("| ranks | network | MPI Allreduce | delayed ring | predicted | measured / predicted |")
    print("|---:|---|---:|---:|---:|---:|")
    m = "fashion_cnn"
    for p in (2, 4):
        plain = _launch(p, 1, "train", "--model", m, "--steps", steps)["step_seconds"]
        for net, (bw, lat) in check.items():
            delayed = _launch(p, 1, "train", "--model", m, "--steps", steps,
                              "--network", net)["step_seconds"]
            predicted = plain + ring_seconds(model_bytes(m), p, bw, lat)
            print(f"| {p} | {net} | {plain * 1e3:.0f} | {delayed * 1e3:.0f} | "
                  f"{predicted * 1e3:.0f} | {delayed / predicted:.2f} |")


if __name__ == "__main__":
    main()
