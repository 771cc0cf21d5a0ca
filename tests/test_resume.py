"""A real ``python -m gridnn train`` stopped by a real SIGINT or SIGTERM, then ``--resume``d,
ends bit-identical to the same run done in one go: weights, optimiser state, schedule and
history (all but the timing columns)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import safetensors.numpy

# A small MLP with augmentation (so the loader's random draws must be resumed too) and enough
# epochs that the signal lands while training is still going.
ARGS = ["train", "--model", "mlp", "--epochs", "8", "--batch-size", "16", "--augment",
        "--seed", "3", "--no-progress"]
TIMING = {"seconds", "images_per_second"}


def gridnn(*argv, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "gridnn", *map(str, argv)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def finished(*argv):
    proc = gridnn(*argv)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out


def run_files(folder):
    """Everything that must match: weights, optimiser arrays and JSON state, history."""
    state = json.loads((folder / "checkpoint" / "state.json").read_text())
    arrays = {kind: safetensors.numpy.load_file(str(folder / "checkpoint" / entry["file"]))
              for kind, entry in state["files"].items()}
    with open(folder / "history.csv") as f:
        history = [{k: v for k, v in row.items() if k not in TIMING}
                   for row in csv.DictReader(f)]
    progress = {k: v for k, v in state["progress"].items() if k not in ("history", "running")}
    return {"weights": safetensors.numpy.load_file(str(folder / "model.safetensors")),
            "arrays": arrays, "optimizer": state["optimizer"], "scheduler": state["scheduler"],
            "rng": state["rng"], "progress": progress, "history": history}


def assert_identical(a, b):
    assert a["weights"].keys() == b["weights"].keys()
    for k in a["weights"]:
        np.testing.assert_array_equal(a["weights"][k], b["weights"][k], err_msg=k)
    for kind in a["arrays"]:
        assert a["arrays"][kind].keys() == b["arrays"][kind].keys()
        for k in a["arrays"][kind]:
            np.testing.assert_array_equal(a["arrays"][kind][k], b["arrays"][kind][k],
                                          err_msg=f"{kind}:{k}")
    for key in ("optimizer", "scheduler", "rng", "progress", "history"):
        assert a[key] == b[key], key


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ref") / "run"
    finished(*ARGS, "--out", folder)
    return run_files(folder)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_signal_then_resume_is_bit_identical(reference, tmp_path, sig, code):
    folder = tmp_path / "run"
    proc = gridnn(*ARGS, "--out", folder)
    for line in proc.stdout:  # wait until training is under way: after epoch 1
        if line.startswith("epoch 1/"):
            break
    else:
        pytest.fail(f"training ended before the signal: {proc.stderr.read()}")
    time.sleep(0.02)  # land somewhere inside epoch 2, usually mid-epoch
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert signal.Signals(sig).name in lines[0]
    assert f"gridnn train --resume {folder}" in lines[0]
    stopped = json.loads((folder / "checkpoint" / "state.json").read_text())["progress"]
    assert 1 <= stopped["epoch"] < 8
    assert not (folder / "model.safetensors").exists()

    out = finished("train", "--resume", folder, "--no-progress")
    assert "resuming mlp" in out and "epoch 8/8" in out
    assert_identical(reference, run_files(folder))
