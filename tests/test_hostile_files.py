"""Hostile files against the command line (issue 23): devices and FIFOs in place of run-folder
files, images and class lists, absurd numbers in config.json, NaN weights, broken folders.

Each case runs ``gridnn`` in its own process under a 4 GiB address-space cap (RLIMIT_AS) and a
time limit, and must end within seconds with one line on stderr and exit 2: no hang, no
memory flood, no traceback.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gridnn import cli
from gridnn.checkpoint import load_run
from gridnn.fileio import load_arrays, save_arrays

MEMORY_CAP = 4 << 30
TIME_LIMIT_S = 60  # the process is killed past this (a hang)
QUICK_S = 15  # what "within seconds" means here: interpreter start, imports, the check


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def gridnn(*args, cwd=None) -> tuple[subprocess.CompletedProcess, float]:
    """``gridnn ARGS`` in a child process under the memory cap: (result, seconds)."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "gridnn", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=TIME_LIMIT_S,
                          preexec_fn=_cap_memory)
    return proc, time.monotonic() - start


def assert_refused(args, *fragments, cwd=None) -> str:
    """``gridnn ARGS`` exits 2 within QUICK_S with one line on stderr holding ``fragments``."""
    proc, seconds = gridnn(*args, cwd=cwd)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (args, proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert seconds < QUICK_S, f"{args}: {seconds:.1f} s"
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile") / "digits-mlp"
    assert cli.main(["train", "--model", "mlp", "--epochs", "1", "--batch-size", "64",
                     "--no-progress", "--out", str(folder)]) == 0
    return folder


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("img") / "x.npy"
    np.save(path, np.zeros((1, 8, 8), np.float32))
    return path


@pytest.fixture(scope="module")
def onnx_model(trained, tmp_path_factory) -> Path:
    from gridnn.onnx import export

    path = tmp_path_factory.mktemp("onnx") / "run.onnx"
    export(load_run(trained)[0], path, input_shape=(1, 8, 8))
    return path


def copy_run(trained: Path, tmp_path: Path, name: str = "run") -> Path:
    dst = tmp_path / name
    shutil.copytree(trained, dst)
    return dst


def replace(path: Path, how: str) -> None:
    """Put a device (a symlink to it) or a FIFO where ``path`` was."""
    path.unlink(missing_ok=True)
    if how == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(how)


# ---- files that never end or never open ----------------------------------------------------
@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
@pytest.mark.parametrize("how, words", [("/dev/zero", "is a device, not a regular file"),
                                        ("/dev/urandom", "is a device, not a regular file"),
                                        ("fifo", "is a named pipe (FIFO), not a regular file")])
def test_run_folder_files_that_never_end_or_never_open(trained, image, tmp_path, name, how,
                                                       words):
    run = copy_run(trained, tmp_path)
    replace(run / name, how)
    for args in (["eval", run], ["predict", run, image], ["summary", run]):
        assert_refused(args, str(run / name), words)


@pytest.mark.parametrize("how, words", [("/dev/zero", "is a device"),
                                        ("fifo", "is a named pipe")])
def test_predict_inputs_and_class_lists_that_never_end(trained, onnx_model, image, tmp_path,
                                                       how, words):
    for suffix in (".png", ".npy"):
        bad = tmp_path / f"input{suffix}"
        replace(bad, how)
        assert_refused(["predict", trained, bad], str(bad), words)
    classes = tmp_path / "classes.txt"
    replace(classes, how)
    assert_refused(["predict", onnx_model, image, "--classes", classes], str(classes), words)


def test_a_class_list_too_large_is_refused(onnx_model, image, tmp_path):
    classes = tmp_path / "classes.txt"
    classes.write_text("x\n" * (1 << 20))
    assert_refused(["predict", onnx_model, image, "--classes", classes], "more than the")


# ---- absurd numbers ---------------------------------------------------------------------------
def _edit_config(run: Path, edit) -> None:
    cfg = json.loads((run / "config.json").read_text())
    edit(cfg)
    (run / "config.json").write_text(json.dumps(cfg))


def test_a_5000_digit_integer_in_the_config(trained, image, tmp_path):
    run = copy_run(trained, tmp_path)
    text = (run / "config.json").read_text().replace('"seed": 0', '"seed": ' + "9" * 5000)
    (run / "config.json").write_text(text)
    for args in (["eval", run], ["predict", run, image], ["summary", run]):
        assert_refused(args, "config.json", "is not valid JSON")


@pytest.mark.parametrize("edit, words", [
    (lambda c: c["data"].update(input_shape=[1, 100000, 100000]), "data.input_shape"),
    (lambda c: c["data"].update(num_classes=250000, class_names=None), "data.num_classes"),
    (lambda c: c["data"].update(input_shape=[10 ** 300, 8]), "data.input_shape"),
    (lambda c: c["train"].update(lr=10 ** 400), "train.lr"),
])
def test_absurd_numbers_in_the_config(trained, image, tmp_path, edit, words):
    run = copy_run(trained, tmp_path)
    _edit_config(run, edit)
    for args in (["eval", run], ["predict", run, image], ["summary", run],
                 ["studio", run, "--no-browser", "--port", "0"]):
        assert_refused(args, "config.json", words)


def test_studio_skips_an_absurd_run_under_runs_without_building_it(trained, tmp_path):
    from gridnn.studio.registry import Registry

    run = copy_run(trained, tmp_path / "runs", "huge")
    _edit_config(run, lambda c: c["data"].update(num_classes=250000, class_names=None))
    wide = copy_run(trained, tmp_path / "runs", "wide")  # layers far beyond its weights file
    _edit_config(wide, lambda c: c["model"]["kwargs"].update(hidden=[1 << 40]))
    reg = Registry.from_sources([], runs_dir=tmp_path / "runs")
    assert reg.entries() == []
    assert any("huge" in line and "num_classes" in line for line in reg.refused)
    assert any("wide" in line and "needs far more memory than its weights file holds" in line
               for line in reg.refused), reg.refused


def test_nan_weights_are_reported_as_not_finite(trained, image, tmp_path):
    run = copy_run(trained, tmp_path)
    arrays = load_arrays(run / "model.safetensors")
    name = sorted(arrays)[0]
    arrays[name] = np.full_like(arrays[name], np.nan)
    save_arrays(run / "model.safetensors", arrays)
    for args in (["eval", run], ["predict", run, image]):
        assert_refused(args, repr(name), "not finite")


def test_summary_of_a_broken_folder_names_its_file(tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    line = assert_refused(["summary", broken], str(broken / "config.json"), "not found")
    assert "unknown model" not in line
