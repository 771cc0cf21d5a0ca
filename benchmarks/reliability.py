"""One-off reliability run (issue 23): a large schema-driven fuzz of a real ``gridnn studio``,
concurrent uploads against its memory, and training killed again and again.

    python benchmarks/reliability.py [--examples 400] [--uploads 32] [--kills 12]

Prints the figures benchmarks/RESULTS.md holds: requests sent, 5xx seen, hangs (no answer in
30 s), peak and settled memory of the server under concurrent uploads, kills survived and
whether the resumed run ends bit-identical to an uninterrupted one. The CI suite runs the
small version of each (tests/test_studio_fuzz.py, test_studio_reliability.py,
test_run_reliability.py).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

TRAIN = ["train", "--model", "mlp", "--epochs", "6", "--batch-size", "8", "--no-progress"]


def gridnn(*args: object, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gridnn", *map(str, args)],
                          capture_output=True, text=True, **kw)


def vm(pid: int, key: str) -> int:
    """A /proc/PID/status figure in MiB (VmRSS, VmHWM)."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M)[1]) >> 10


def start_studio(sources: list[str], cwd: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "gridnn", "studio", *sources, "--port", "0",
                             "--no-browser"], cwd=cwd, stdout=subprocess.PIPE, text=True)
    return proc, re.search(r"(http://\S+)/", proc.stdout.readline())[1]


def fuzz(url: str, examples: int) -> Counter:
    """Every operation of the served document, positive and negative generation."""
    counts: Counter = Counter()
    schema = schemathesis.openapi.from_url(f"{url}/api/openapi.json")
    for result in schema.get_all_operations():
        op = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=op.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def send(case) -> None:
                counts["requests"] += 1
                try:
                    status = case.call(timeout=30).status_code
                except httpx.TimeoutException:
                    counts["hangs"] += 1
                    return
                except httpx.TransportError:
                    counts["connection errors"] += 1
                    return
                counts[f"{status // 100}xx"] += 1

            try:
                send()
            except Unsatisfiable:  # no negative cases for an operation without inputs
                pass
    return counts


def png(side: int) -> str:
    from PIL import Image

    out = io.BytesIO()
    ramp = np.arange(side)
    Image.fromarray((np.add.outer(ramp, ramp) % 256).astype(np.uint8)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def uploads(proc: subprocess.Popen, url: str, count: int) -> dict[str, object]:
    """``count`` 4096x4096 uploads at once, then as many 5792x5792 bombs: server memory."""
    model = httpx.get(f"{url}/api/models").json()[0]["id"]
    predict = f"{url}/api/models/{model}/predict"
    big = {"upload": png(4096), "filename": "big.png"}
    bomb = {"upload": _bomb(), "filename": "bomb.png"}
    httpx.post(predict, json=big, timeout=120)
    before = vm(proc.pid, "VmRSS")
    statuses: Counter = Counter()

    def send(body) -> None:
        statuses[httpx.post(predict, json=body, timeout=300).status_code] += 1

    start = time.monotonic()
    threads = [threading.Thread(target=send, args=(b,)) for b in [big] * count + [bomb] * count]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - start
    time.sleep(1)
    return {"rss before": before, "peak": vm(proc.pid, "VmHWM"), "rss after": vm(proc.pid, "VmRSS"),
            "statuses": dict(statuses), "seconds": round(seconds, 1),
            "upload bytes": len(big["upload"]), "bomb bytes": len(bomb["upload"])}


def _bomb() -> str:
    """A ~100 KB PNG of 5792x5792 (one colour): 33.5 Mpixel, past the upload limit."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (5792, 5792), (255, 255, 255)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def kills(work: Path, count: int, seed: int = 0) -> dict[str, object]:
    """Train, SIGKILL or SIGTERM at random moments ``count`` times (resuming after each), and
    compare the final weights with an uninterrupted run's."""
    from gridnn.fileio import load_arrays

    rng = random.Random(seed)
    whole, killed = work / "whole", work / "killed"
    start = time.monotonic()
    assert gridnn(*TRAIN, "--out", whole).returncode == 0
    full = time.monotonic() - start
    survived, args = 0, [*TRAIN, "--out", killed]
    while True:
        proc = subprocess.Popen([sys.executable, "-m", "gridnn", *args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        args = ["train", "--resume", killed]
        if survived == count:
            assert proc.wait() == 0
            break
        time.sleep(rng.uniform(0.2, 0.6) * full)  # starting up is part of the run
        if proc.poll() is not None:  # finished before the kill
            assert proc.returncode == 0
            break
        proc.send_signal(signal.SIGKILL if survived % 2 == 0 else signal.SIGTERM)
        proc.wait()
        survived += 1
    a, b = load_arrays(whole / "model.safetensors"), load_arrays(killed / "model.safetensors")
    same = a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    return {"kills survived": survived, "bit-identical": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=400, help="per operation and mode")
    parser.add_argument("--uploads", type=int, default=32)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--parts", default="fuzz,uploads,kills")
    args = parser.parse_args()
    parts = args.parts.split(",")
    print(f"load average {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run = work / "digits"
        assert gridnn("train", "--epochs", "1", "--no-progress", "--out", run).returncode == 0
        assert gridnn("export", run, "--onnx", work / "digits.onnx").returncode == 0
        if "fuzz" in parts:
            proc, url = start_studio([str(run), str(work / "digits.onnx"), "mnist1d_cnn",
                                      "digits_cnn"], work)
            try:
                start = time.monotonic()
                counts = fuzz(url, args.examples)
                print(f"fuzz: {dict(counts)} in {time.monotonic() - start:.0f} s; server peak "
                      f"{vm(proc.pid, 'VmHWM')} MiB; alive after: "
                      f"{httpx.get(f'{url}/api/models').status_code == 200}")
            finally:
                proc.terminate()
                proc.wait()
        if "uploads" in parts:
            proc, url = start_studio(["digits_cnn"], work)
            try:
                print(f"uploads: {uploads(proc, url, args.uploads)}")
            finally:
                proc.terminate()
                proc.wait()
        if "kills" in parts:
            print(f"kills: {kills(work, args.kills)}")
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
