"""Smoke test of the speed benchmark on tiny cases: it runs, and its table and JSON have the
structure that benchmarks/RESULTS.md and the issue's targets rely on."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from gridnn.bench import cases, measure
from gridnn.bench.cli import run
from gridnn.errors import ArgumentError
from needs_torch import require_torch, torch


def _args(**kw: object) -> argparse.Namespace:
    defaults = {"json": None, "quick": True, "reps": None, "only": None, "no_torch": False}
    return argparse.Namespace(**{**defaults, **kw})


def test_quick_run_prints_every_table_and_writes_json(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    require_torch()  # the run times torch too; its tables and JSON are checked below
    out = tmp_path / "bench.json"
    assert run(_args(json=str(out))) == 0
    text = capsys.readouterr().out
    for needle in ("| case | pass | gridnn ms median [min-max]", "gridnn/torch time",
                   "| L1 conv2d", "| C1 conv1d", "| P1 max_pool2d", "| T1 |", "| I1 |",
                   "| M1 |", "Ceiling: float32 GEMM", "OPENBLAS_CORETYPE="):
        assert needle in text, needle
    data = json.loads(out.read_text())
    assert set(data) == {"machine", "gemm_gflops", "rows", "models", "memory_mib", "seconds"}
    assert {"numpy", "torch"} <= set(data["gemm_gflops"])
    assert {"cpu", "numpy", "torch", "blas_threads", "load_average_start",
            "load_average_end"} <= set(data["machine"])
    rows = data["rows"]
    assert [(r["case"], r["passes"]) for r in rows] == [
        (c.name, p) for c in cases.QUICK_CASES for p in ("fwd", "fwd+bwd")]
    for r in rows:
        for lib in ("gridnn", "torch"):
            t = r[lib]
            assert 0 < t["min"] <= t["median"] <= t["max"] and t["reps"] >= 2
        assert r["ratio"] == pytest.approx(r["gridnn"]["median"] / r["torch"]["median"])
        assert r["flops"] > 0
    targets = {(r["case"], r["passes"]): r["target"] for r in rows}
    assert targets[("L1", "fwd+bwd")] == 2.5 and targets[("C1", "fwd+bwd")] == 1.5
    assert targets[("P1", "fwd")] == 1.0 and targets[("L1", "fwd")] is None
    assert [m["case"] for m in data["models"]] == ["T1", "I1"]
    for m in data["models"]:
        assert m["speed_ratio"] == pytest.approx(m["torch"]["median"] / m["gridnn"]["median"])
    assert data["memory_mib"]["gridnn"] > 0 and data["memory_mib"]["torch"] > 0


def test_only_selects_cases_and_no_torch_times_gridnn_alone(capsys: pytest.CaptureFixture
                                                             ) -> None:
    assert run(_args(only="p1", no_torch=True, reps=3)) == 0
    text = capsys.readouterr().out
    assert "| P1 max_pool2d" in text and "| L1" not in text and "| T1" not in text
    assert "| - | - |" in text  # no torch timings


def test_unknown_case_is_a_named_error() -> None:
    with pytest.raises(ArgumentError, match="`--only` must name cases"):
        run(_args(only="L1,Z9"))


def test_the_cli_has_the_bench_subcommand(tmp_path: Path) -> None:
    from gridnn.cli import main

    out = tmp_path / "b.json"
    assert main(["bench", "--quick", "--only", "C1", "--no-torch", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["rows"][0]["case"] == "C1"


def test_measure_takes_at_least_the_asked_repetitions() -> None:
    calls = []
    t = measure.measure(lambda: calls.append(1), min_reps=4, warmup=3)
    assert t.reps >= 4 and len(calls) == t.reps + 3
    assert t.min <= t.median <= t.max


def test_models_share_weights_and_agree() -> None:
    """The T1/I1 models of both libraries are the same function (weights copied over)."""
    import gridnn as gn

    model = cases.gridnn_model(seed=3)
    t_model = cases.torch_model(torch, model.state_dict())
    x, _ = cases.random_batch(4, 0)
    with gn.no_grad():
        ours = model(gn.tensor(x)).data
    theirs = t_model(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def test_peak_memory_reads_the_child_process() -> None:
    assert 5 < measure.peak_memory("gridnn", 1, 2) < 2000
    assert measure.peak_rss_kib() > 1000
