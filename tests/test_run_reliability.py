"""No run is lost (issue 23): two trainings started together on one --out, a training killed in
its first epoch, a disk that fills at the first checkpoint, a resume that finds the run
finished but its final files missing."""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from gridnn import recipes, runfolder
from gridnn.data.dataset import make_bundle
from gridnn.errors import ArgumentError
from gridnn.fileio import load_arrays

TRAIN = ["train", "--model", "mlp", "--epochs", "1", "--no-progress"]


def gridnn(*args, preexec=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gridnn", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, preexec_fn=preexec)


def _start_together(barrier, folders, config, results) -> None:
    for i, folder in enumerate(folders):
        barrier.wait()
        try:
            runfolder.create(folder, config)
            results.put((i, "made"))
        except ArgumentError as e:
            results.put((i, str(e)))


def test_two_trainings_started_together_on_one_folder_one_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.random((20, 1, 8, 8), np.float32)
    y = np.arange(20) % 2
    bundle = make_bundle("tiny", x, y, x, y, ["a", "b"])
    config = recipes.new_config(bundle, "digits")
    rounds = 32
    folders = [tmp_path / f"run{i}" for i in range(rounds)]
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(2, timeout=30), ctx.Queue()
    procs = [ctx.Process(target=_start_together, args=(barrier, folders, config, results))
             for _ in range(2)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=60) for _ in range(2 * rounds)]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    for i in range(rounds):
        mine = [text for j, text in outcomes if j == i]
        assert mine.count("made") == 1, mine
        assert sum("already holds a run" in text for text in mine) == 1, mine
        assert sorted(os.listdir(folders[i])) == ["config.json"]  # no temporary file left


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "training ended first"
        time.sleep(0.005)


def test_a_run_killed_in_its_first_epoch_resumes_from_the_start(tmp_path):
    args = [*TRAIN, "--batch-size", "1"]  # 1437 steps: epoch 1 lasts seconds
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "gridnn", *args, "--out", str(killed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(killed / "config.json", proc)  # the known point: created, no checkpoint yet
    proc.kill()
    proc.wait(timeout=30)
    assert not (killed / "checkpoint" / "state.json").exists()
    # the messages that were a dead end: eval and a second --out point to --resume
    refused = gridnn("eval", killed)
    assert refused.returncode == 2 and f"gridnn train --resume {killed}" in refused.stderr
    resumed = gridnn("train", "--resume", killed)
    assert resumed.returncode == 0, resumed.stderr
    assert "starting it again from epoch 1" in resumed.stdout
    whole = tmp_path / "whole"
    assert gridnn(*args, "--out", whole).returncode == 0
    a, b = load_arrays(killed / "model.safetensors"), load_arrays(whole / "model.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _small_files() -> None:
    """A disk that is full after 20 KB a file: writes past it fail (EFBIG, not a signal)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))


def test_a_disk_full_at_the_first_checkpoint_says_how_to_resume(tmp_path):
    run = tmp_path / "full"
    result = gridnn(*TRAIN, "--out", run, preexec=_small_files)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "cannot write" in lines[0] and "no checkpoint was written" in lines[0]
    assert f"continue with: gridnn train --resume {run} (it starts again from epoch 1)" \
        in lines[0]
    assert not [p for p in (run / "checkpoint").glob("*") if p.name.startswith(".")]
    resumed = gridnn("train", "--resume", run)
    assert resumed.returncode == 0 and "test accuracy" in resumed.stdout, resumed.stderr


def test_a_resume_finding_the_run_finished_writes_its_missing_final_files(tmp_path):
    run = tmp_path / "done"
    assert gridnn(*TRAIN, "--out", run).returncode == 0
    weights = (run / "model.safetensors").read_bytes()
    (run / "curves.png").unlink()  # killed after the weights and metrics, before the curves
    result = gridnn("train", "--resume", run)
    assert result.returncode == 0, result.stderr
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (run / "model.safetensors").read_bytes() == weights
    again = gridnn("train", "--resume", run)
    assert again.returncode == 0 and "already finished its 1 epochs" in again.stdout
