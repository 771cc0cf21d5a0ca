"""Load every .onnx file of a folder (e.g. the exports of export_zoo.py) with ``gn.onnx.load``
and compare its output with ONNX Runtime's on one random image.

    PYTHONPATH=src python benchmarks/onnx_zoo_check.py /work/onnx-zoo [NAME_FILTER]

Each file is checked in its own process, which reports: load time, peak resident memory
during the load (VmHWM, the imports included) against the size of the weights, the output's
max |diff| / max |ref| against ONNX Runtime, and whether the top class (per pixel for
segmenters) agrees. A file passes at relative error <= 1e-5 with the same top class. Prints
one line per file and a table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

TOLERANCE = 1e-5


def _peak_kib() -> int:
    """This process's peak resident memory (VmHWM: ru_maxrss would keep the high-water mark
    of the process it was forked from)."""
    with open("/proc/self/status") as fh:
        return next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM:"))


def child(path: str) -> dict:
    import numpy as np

    before = _peak_kib()
    start = time.perf_counter()
    import gridnn as gn
    import gridnn.onnx as gx

    imported = time.perf_counter()
    base = _peak_kib()
    try:
        model = gx.load(path)  # imports onnx (its protobuf classes) as the loader does
    except gn.GridnnError as e:
        return {"error": str(e)}
    load_s = time.perf_counter() - imported
    peak = _peak_kib()
    weights = sum(p.data.nbytes for p in model.parameters()) + sum(
        b.nbytes for _, b in model.named_buffers() if b is not None)
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    with gn.no_grad():
        t = time.perf_counter()
        ours = model(gn.tensor(x)).data
        infer_s = time.perf_counter() - t
    import onnx
    import onnxruntime as ort

    proto = onnx.load(path, load_external_data=False)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ref = session.run(None, {session.get_inputs()[0].name: x})[0]
    err = float(np.abs(ours - ref).max() / max(np.abs(ref).max(), 1e-30))
    top = bool((ours.argmax(1) == ref.argmax(1)).all())
    ops = sorted({n.op_type for n in proto.graph.node})
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as folder:  # the loaded model exports again
        again = os.path.join(folder, "again.onnx")
        gx.export(model, again, (3, 224, 224), opset=proto.opset_import[0].version)
        session = ort.InferenceSession(again, providers=["CPUExecutionProvider"])
        second = session.run(None, {session.get_inputs()[0].name: x})[0]
    reexport_err = float(np.abs(second - ref).max() / max(np.abs(ref).max(), 1e-30))
    return {"rel_err": err, "same_top": top, "reexport_err": reexport_err, "load_s": load_s,
            "infer_s": infer_s,
            "import_s": imported - start, "rss_before_mib": before / 1024,
            "rss_base_mib": base / 1024, "rss_peak_mib": peak / 1024,
            "weights_mib": weights / 2**20, "ops": len(ops), "kind": type(model).__name__}


def main(folder: str, pattern: str = "") -> int:
    rows, failed = [], 0
    for path in sorted(Path(folder).glob("*.onnx")):
        if pattern not in path.name:
            continue
        out = subprocess.run([sys.executable, __file__, "--child", str(path)],
                             capture_output=True, text=True, timeout=1200)
        try:
            r = json.loads(out.stdout.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            r = {"error": (out.stderr.strip().splitlines() or ["no output"])[-1]}
        ok = "error" not in r and r["rel_err"] <= TOLERANCE and r["same_top"] and \
            r["reexport_err"] <= TOLERANCE
        failed += not ok
        r["name"], r["ok"] = path.name, ok
        rows.append(r)
        if "error" in r:
            print(f"{path.name}: FAIL {r['error'][:300]}", flush=True)
        else:
            print(f"{path.name}: {'ok' if ok else 'FAIL'} rel_err {r['rel_err']:.2e} top "
                  f"{r['same_top']} re-exported {r['reexport_err']:.2e} load {r['load_s']:.2f} "
                  f"s peak RSS {r['rss_peak_mib']:.0f} MiB ({r['rss_base_mib']:.0f} after "
                  f"import), weights {r['weights_mib']:.0f} MiB, target "
                  f"{1.5 * r['weights_mib'] + 200:.0f}, forward {r['infer_s']:.2f} s",
                  flush=True)
    print(f"\n{len(rows) - failed}/{len(rows)} files load and match ONNX Runtime "
          f"(max|diff|/max|ref| <= {TOLERANCE:g}, same top class)")
    print("\n| file | result | rel. error | re-exported | load s | weights MiB | "
          "peak RSS MiB | target 1.5 W + 200 | met |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['name']} | fails: {r['error'][:80]} | | | | | | | |")
        else:
            print(f"| {r['name']} | {'ok' if r['ok'] else 'FAIL'} | {r['rel_err']:.1e} | "
                  f"{r['reexport_err']:.1e} | {r['load_s']:.2f} | {r['weights_mib']:.0f} | "
                  f"{r['rss_peak_mib']:.0f} | {1.5 * r['weights_mib'] + 200:.0f} | "
                  f"{'yes' if r['rss_peak_mib'] <= 1.5 * r['weights_mib'] + 200 else 'no'} |")
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(sys.argv[2])))
    else:
        sys.exit(main(*sys.argv[1:3]))
