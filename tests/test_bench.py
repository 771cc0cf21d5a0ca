"""Smoke test of the speed benchmark on tiny cases: its children run, and its tables and JSON
have the structure that benchmarks/RESULTS.md and the issue's targets rely on. No timing is
asserted (the machine decides those)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gridnn.bench import cases, measure, steps
from gridnn.bench.cli import run
from gridnn.bench.report import compare
from gridnn.errors import ArgumentError
from needs_torch import require_torch, torch
from torch_twin import copy_to_torch, torch_twin


def _args(**kw: object) -> argparse.Namespace:
    defaults = {"json": None, "quick": True, "reps": None, "rounds": None, "only": None,
                "no_torch": False, "no_one_thread": False}
    return argparse.Namespace(**{**defaults, **kw})


def test_quick_run_prints_every_table_and_writes_json(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    require_torch()  # the run times torch too; its tables and JSON are checked below
    out = tmp_path / "bench.json"
    assert run(_args(json=str(out), no_one_thread=True)) == 0
    text = capsys.readouterr().out
    for needle in ("| case | pass | gridnn ms", "gridnn/torch time", "| L1 conv2d",
                   "| C1 conv1d", "| P1 max_pool2d", "| T1 |", "| I1 |", "| T2 |", "| T3 |",
                   "resnet_small 3x32x32 train step, SGD momentum", "mnist1d_cnn 1x40",
                   "| M1 |", "Ceiling: NumPy float32 GEMM", "own fresh process",
                   "% of GEMM", "OPENBLAS_CORETYPE="):
        assert needle in text, needle
    data = json.loads(out.read_text())
    assert set(data) == {"machine", "rounds", "order", "rows", "memory_mib", "memory_target",
                         "seconds"}
    assert data["order"] == [f"gridnn@{data['machine']['threads']}",
                             f"torch@{data['machine']['threads']}"]
    assert {"cpu", "numpy", "torch", "malloc", "compiled", "load_average_start",
            "load_average_end"} <= set(data["machine"])
    assert "gridnn's compiled loops: " + data["machine"]["compiled"] in text
    rows = {(r["case"], r["passes"]): r for r in data["rows"]}
    expected = [(c.name, p) for c in cases.QUICK_CASES for p in ("fwd", "fwd+bwd")] + [
        (m.name, "train" if m.train else "infer") for m in steps.QUICK_MODELS]
    assert list(rows) == expected
    for r in data["rows"]:
        c = r["threads"]
        for lib in ("gridnn", "torch"):
            t = c[lib]
            assert 0 < t["min"] <= t["median"] <= t["max"] and t["reps"] >= 2
            assert c["gemm_gflops"][lib] > 0 and c["spread"][lib] == 0  # one round
        assert c["ratio"] == pytest.approx(c["gridnn"]["median"] / c["torch"]["median"])
        assert c["ratio_min"] == c["ratio_max"]  # one round: one per-round ratio
        assert r["flops"] > 0 and r["one_thread"] is None
    assert rows[("L1", "fwd+bwd")]["target"] == "time < 1.0"
    assert rows[("L5", "fwd+bwd")]["target"] == "time <= 1.0"
    assert rows[("L1", "fwd")]["target"] == "" and rows[("P1", "fwd")]["target"] == "time < 1.0"
    assert rows[("T1", "train")]["target"] == "images/s >= 1.3"
    assert rows[("I1", "infer")]["target"] == "images/s >= 1.5"
    assert rows[("T2", "train")]["batch"] == 4
    mem = data["memory_mib"]
    assert mem["gridnn"] > 0 and mem["torch"] > 0 and data["memory_target"] == 0.5


def test_rounds_alternate_thread_counts(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "bench.json"
    assert run(_args(json=str(out), only="c1", no_torch=True, rounds=2, reps=2)) == 0
    text = capsys.readouterr().out
    assert "| C1 conv1d" in text and "| L1" not in text and "| T1" not in text
    assert "| - | - |" in text  # no torch timings
    data = json.loads(out.read_text())
    threads = data["machine"]["threads"]
    assert data["order"] == ([f"gridnn@{threads}", "gridnn@1"] * 2 if threads > 1
                             else ["gridnn@1"] * 2)
    row = data["rows"][1]
    assert row["threads"]["gridnn"]["reps"] >= 4  # two blocks pooled
    assert (row["one_thread"] is None) == (threads == 1)


def test_a_child_block_prints_its_times_as_json() -> None:
    done = subprocess.run([sys.executable, "-m", "gridnn.bench.child", "gridnn", "--threads",
                           "1", "--cases", "P1,T3", "--reps", "2", "--quick"],
                          capture_output=True, text=True, check=True)
    block = json.loads(done.stdout)
    assert block["library"] == "gridnn" and block["threads"] == 1
    assert block["malloc"].startswith(("kept", "system", "left"))
    assert block["compiled"].startswith(("on (Numba ", "off (NumPy"))
    assert set(block["times"]) == {"P1 fwd", "P1 fwd+bwd", "T3"}
    assert all(len(t) >= 2 and min(t) > 0 for t in block["times"].values())


def test_compare_pools_blocks_and_reports_their_spread() -> None:
    blocks = {"gridnn": [[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]], "torch": [[2.0, 2.0], [4.0, 4.0]]}
    c = compare(blocks, {"gridnn": [100.0, 120.0, 80.0], "torch": [90.0, 110.0]})
    assert c.gridnn.median == 3.0 and c.gridnn.reps == 6 and c.torch.median == 3.0
    assert c.ratio == 1.0
    assert (c.ratio_min, c.ratio_max) == (1.0, 1.0)  # 2/2 and 4/4
    assert c.spread == {"gridnn": pytest.approx(2 / 3), "torch": pytest.approx(2 / 3)}
    assert c.gemm_gflops == {"gridnn": 100.0, "torch": 100.0}


def test_unknown_case_is_a_named_error() -> None:
    with pytest.raises(ArgumentError, match="`--only` must name cases"):
        run(_args(only="L1,Z9"))
    with pytest.raises(ArgumentError, match="`--rounds` must be a positive int"):
        run(_args(rounds=0))


def test_the_cli_has_the_bench_subcommand(tmp_path: Path) -> None:
    from gridnn.cli import main

    out = tmp_path / "b.json"
    assert main(["bench", "--quick", "--only", "C1", "--no-torch", "--no-one-thread",
                 "--json", str(out)]) == 0
    assert json.loads(out.read_text())["rows"][0]["case"] == "C1"


def test_time_calls_takes_at_least_the_asked_repetitions() -> None:
    calls = []
    times = measure.time_calls(lambda: calls.append(1), min_reps=4, warmup=3)
    assert len(times) >= 4 and len(calls) == len(times) + 3


def test_step_flops_counts_the_layers() -> None:
    # T1: conv 1->32 on 28x28, conv 32->64 on 14x14, linear 3136->128, linear 128->10.
    forward = 28 * 28 * 32 * 9 + 14 * 14 * 64 * 32 * 9 + 3136 * 128 + 128 * 10
    t1, i1 = steps.FULL_MODELS[0], steps.FULL_MODELS[1]
    assert steps.step_flops(i1) == 2 * forward * 256
    assert steps.step_flops(t1) == 2 * (3 * forward - 28 * 28 * 32 * 9) * 128


@pytest.mark.parametrize("case", steps.FULL_MODELS, ids=lambda c: c.name)
def test_model_twins_share_weights_and_agree(case: steps.ModelCase) -> None:
    """Each model case is the same function in both libraries (weights copied over)."""
    import gridnn as gn

    model = steps.gridnn_model(case, seed=3).eval()
    twin = torch_twin(model)
    copy_to_torch(model, twin)
    twin.eval()
    x, _ = steps.random_batch(dataclasses.replace(case, batch=4))
    with gn.no_grad():
        ours = model(gn.tensor(x)).data
    theirs = twin(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_peak_memory_reads_the_child_process() -> None:
    assert 5 < measure.peak_memory("gridnn", 1, 2) < 2000
    assert measure.peak_rss_kib() > 1000


def test_onnx_zoo_benchmark_times_gridnn_and_onnx_runtime_in_children(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """benchmarks/onnx_zoo.py on a tiny exported CNN: each library's child loads the file and
    times it; the table has both libraries' times and their ratio (torch needs torchvision's
    Python, so it is left out here)."""
    import importlib.util

    import gridnn.onnx
    from gridnn import nn

    spec = importlib.util.spec_from_file_location(
        "onnx_zoo", Path(__file__).parents[1] / "benchmarks" / "onnx_zoo.py")
    zoo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(zoo)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=4), nn.ReLU(),
                          nn.Conv2d(4, 4, 3, groups=4), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 5))
    gridnn.onnx.export(model, tmp_path / "tiny.onnx", input_shape=(3, 224, 224))
    out = tmp_path / "zoo.json"
    assert zoo.main(["--zoo", str(tmp_path), "--models", "tiny", "--batches", "1",
                     "--rounds", "1", "--reps", "3", "--libraries", "gridnn,onnxruntime",
                     "--json", str(out)]) == 0
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if line.startswith("| tiny | 1 |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert "ms" not in cells[2] and "[" in cells[2] and "[" in cells[3], row  # median [min-max]
    assert cells[4] == "not run" and float(cells[5]) > 0, row
    runs = json.loads(out.read_text())["tiny@1"]
    assert len(runs["gridnn"][0]["ms"]) >= 3 and len(runs["onnxruntime"][0]["ms"]) >= 3
