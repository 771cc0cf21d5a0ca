"""``gridnn export RUN --onnx FILE`` through ``gridnn.onnx.cli.register`` on a fresh parser and
through ``python -m gridnn.onnx``; ``load_model_file`` on the written file."""

import argparse
import os
import subprocess
import sys

import numpy as np
import pytest

import gridnn as gn
import gridnn.onnx as gx
from gridnn import cli
from gridnn.checkpoint import load_run
from gridnn.onnx.cli import main, register

# ONNX Runtime (the test extra) is the judge here; CI installs it.
ort = pytest.importorskip("onnxruntime",
                         reason="ONNX Runtime is not installed (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs") / "digits"
    assert cli.main(["train", "--epochs", "1", "--no-progress", "--out", str(folder)]) == 0
    return folder


def test_register_adds_export_to_a_parser(run_dir, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="gridnn")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["export", str(run_dir), "--onnx", str(tmp_path / "m.onnx")])
    assert args.func(args) == 0
    assert f"wrote {tmp_path / 'm.onnx'} (input (N, 1, 8, 8), opset 17)" in capsys.readouterr().out
    model, _ = load_run(run_dir)
    x = np.random.default_rng(0).random((4, 1, 8, 8), np.float32)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    expected = model(gn.tensor(x)).data
    np.testing.assert_allclose(session.run(None, {"input": x})[0], expected, rtol=1e-5,
                               atol=1e-5 * np.abs(expected).max())
    loaded, info = gx.load_model_file(tmp_path / "m.onnx", fold_batchnorm=False)
    assert info.input_shape == (1, 8, 8) and info.num_classes == 10
    np.testing.assert_array_equal(loaded(gn.tensor(x)).data, expected)


def test_module_entry_point_writes_and_reports_errors_in_one_line(run_dir, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "gridnn.onnx", "export", str(run_dir),
                           "--onnx", str(tmp_path / "m.onnx"), "--opset", "19"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0 and "opset 19" in done.stdout
    assert gx.load(tmp_path / "m.onnx").onnx_info.opset == 19
    for argv, message in [
        (["export", str(tmp_path / "nowhere"), "--onnx", "x.onnx"], "run folder not found"),
        (["export", str(run_dir), "--onnx", str(tmp_path / "y.onnx"), "--opset", "5"],
         "`opset` must be an int from 13"),
        (["export", str(run_dir)], "the following arguments are required: --onnx"),
    ]:
        done = subprocess.run([sys.executable, "-m", "gridnn.onnx", *argv], capture_output=True,
                              text=True, env=env)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_main_returns_2_on_bad_files(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert main(["export", str(tmp_path / "run"), "--onnx", str(tmp_path / "m.onnx")]) == 2
    assert capsys.readouterr().err.startswith("gridnn: error:")
