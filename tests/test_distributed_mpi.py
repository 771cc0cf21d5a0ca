"""gridnn.distributed under a real ``mpiexec`` (MPICH from the ``distributed`` extra), 2 and 4
ranks oversubscribed on this machine, through tests/dist_driver.py (one epoch of digits).

Every subprocess runs under a timeout, so a hang fails the test instead of stalling CI.
The oracle is the single-process run of plain ``train.fit`` with the same seed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "tests" / "dist_driver.py"
LIMIT = 180  # seconds for any one run


def _mpiexec() -> str:
    # the mpich wheel installs mpiexec beside python; prefer it to a system MPI on PATH
    here = Path(sysconfig.get_path("scripts")) / "mpiexec"
    found = str(here) if here.is_file() else shutil.which("mpiexec")
    assert found, "mpiexec not found: pip install -e '.[distributed]'"
    return found


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]))
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return env


def _command(ranks: int, *args: object) -> list[str]:
    cmd = [sys.executable, str(DRIVER), *map(str, args)]
    return cmd if ranks == 0 else [_mpiexec(), "-n", str(ranks), *cmd]


def run(ranks: int, *args: object, check: bool = True) -> subprocess.CompletedProcess:
    """The driver on ``ranks`` MPI ranks (0: alone, no mpiexec)."""
    done = subprocess.run(_command(ranks, *args), capture_output=True, text=True,
                          timeout=LIMIT, env=_env(), cwd=ROOT)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def weights(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def max_rel_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """max over tensors of max|a - b| / max|b| (relative to each tensor's scale)."""
    assert a.keys() == b.keys()
    return max(float(np.abs(a[k] - b[k]).max()) / max(float(np.abs(b[k]).max()), 1e-30)
               for k in a)


def history(path: Path) -> list[dict]:
    return json.loads(path.with_suffix(".json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, Path]:
    """Single-process runs (plain train.fit): mlp with dropout, digits_cnn with BatchNorm."""
    folder = tmp_path_factory.mktemp("reference")
    out = {}
    for model in ("mlp", "digits_cnn"):
        out[model] = folder / f"{model}.npz"
        run(0, "--plain", "--model", model, "--out", out[model])
    return out


@pytest.mark.parametrize("ranks", [2, 4])
def test_ranks_end_with_the_single_process_weights(reference, tmp_path, ranks):
    # mlp with dropout: no BatchNorm; 1437 images in batches of 32 end with 29 = unequal shards
    out = tmp_path / "w.npz"
    run(ranks, "--model", "mlp", "--out", out)
    assert max_rel_diff(weights(out), weights(reference["mlp"])) <= 1e-5
    got, expected = history(out)[-1], history(reference["mlp"])[-1]
    assert got["val_accuracy"] == expected["val_accuracy"]
    assert got["train_accuracy"] == expected["train_accuracy"]
    assert got["val_loss"] == pytest.approx(expected["val_loss"], rel=1e-5)
    assert got["train_loss"] == pytest.approx(expected["train_loss"], rel=1e-5)


@pytest.mark.parametrize("ranks", [2, 4])
def test_sync_bn_restores_the_single_process_weights(reference, tmp_path, ranks):
    out = tmp_path / "w.npz"
    run(ranks, "--model", "digits_cnn", "--sync-bn", "--out", out)
    assert max_rel_diff(weights(out), weights(reference["digits_cnn"])) <= 1e-5
    if ranks == 2:  # per-rank statistics (the default) normalise otherwise: weights differ
        run(ranks, "--model", "digits_cnn", "--out", tmp_path / "per_rank.npz")
        assert max_rel_diff(weights(tmp_path / "per_rank.npz"),
                            weights(reference["digits_cnn"])) > 1e-3


def _interrupted(ranks: int, folder: Path, at: int, *extra: object) -> dict:
    """A 2-epoch run that rank 0 signals after global step ``at``; returns the checkpoint's
    progress. The stop happens after the next step, once the request has travelled."""
    done = run(ranks, "--epochs", 2, "--checkpoint", folder, "--signal-at", at,
               "--out", folder / "unused.npz", *extra, check=False)
    assert done.returncode == 128 + signal.SIGTERM, done.stdout + done.stderr
    assert f"checkpoint saved in {folder}" in done.stderr
    progress = json.loads((folder / "state.json").read_text())["progress"]
    assert (progress["epoch"], progress["step"]) == divmod(at + 1, 45)  # 45 batches an epoch
    return progress


def test_resume_with_the_same_ranks_is_bit_identical(tmp_path):
    run(2, "--epochs", 2, "--out", tmp_path / "straight.npz")
    _interrupted(2, tmp_path / "ck", 50)  # in the second epoch
    run(2, "--epochs", 2, "--checkpoint", tmp_path / "ck", "--resume",
        "--out", tmp_path / "resumed.npz")
    a, b = weights(tmp_path / "straight.npz"), weights(tmp_path / "resumed.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    untimed = [[{k: v for k, v in row.items() if k not in ("seconds", "images_per_second")}
                for row in history(tmp_path / name)] for name in ("straight.npz", "resumed.npz")]
    assert untimed[0] == untimed[1]


def test_resume_with_other_ranks_continues_exactly(reference, tmp_path):
    # a checkpoint written by 4 ranks, continued by 2: straight on, or stopped once more
    _interrupted(4, tmp_path / "ck4", 30)
    shutil.copytree(tmp_path / "ck4", tmp_path / "again")
    run(2, "--epochs", 2, "--checkpoint", tmp_path / "ck4", "--resume",
        "--out", tmp_path / "straight.npz")
    _interrupted(2, tmp_path / "again", 60, "--resume")
    run(2, "--epochs", 2, "--checkpoint", tmp_path / "again", "--resume",
        "--out", tmp_path / "twice.npz")
    a, b = weights(tmp_path / "straight.npz"), weights(tmp_path / "twice.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    # and the 2-epoch result is the one process's, up to summation order
    run(0, "--plain", "--epochs", 2, "--out", tmp_path / "one.npz")
    assert max_rel_diff(a, weights(tmp_path / "one.npz")) <= 1e-5


def _start(ranks: int, *args: object) -> tuple[subprocess.Popen, dict[int, int]]:
    """Launch the driver slowed down; return the process and {rank: pid} once all started."""
    proc = subprocess.Popen(_command(ranks, *args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT)
    pids: dict[int, int] = {}
    deadline = time.monotonic() + LIMIT
    while True:
        line = proc.stdout.readline()
        assert line and time.monotonic() < deadline, "the ranks did not start training"
        if line.startswith("rank "):
            _, r, _, pid = line.split()
            pids[int(r)] = int(pid)
        if line == "training\n":  # step 1 of 45 (each at least 0.1 s) is done on every rank
            break
    time.sleep(0.5)
    return proc, pids


def _finish(proc: subprocess.Popen, limit: float) -> tuple[int, str, float]:
    start = time.monotonic()
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"the ranks did not stop within {limit} s")
    return proc.returncode, out + err, time.monotonic() - start


def test_sigterm_to_mpiexec_stops_every_rank_with_a_checkpoint(tmp_path):
    proc, _ = _start(4, "--checkpoint", tmp_path / "ck", "--step-delay", 0.1,
                     "--out", tmp_path / "w.npz")
    proc.send_signal(signal.SIGTERM)
    code, text, _ = _finish(proc, 60)
    assert code != 0 and "SIGTERM: training stopped at epoch 1, step" in text, text
    progress = json.loads((tmp_path / "ck" / "state.json").read_text())["progress"]
    assert progress["epoch"] == 0 and 0 < progress["step"] < 45
    assert f"step {progress['step']};" in text
    run(4, "--checkpoint", tmp_path / "ck", "--resume", "--out", tmp_path / "w.npz")


def test_a_killed_rank_stops_every_rank(tmp_path):
    proc, pids = _start(4, "--step-delay", 0.1, "--out", tmp_path / "w.npz")
    os.kill(pids[1], signal.SIGKILL)
    code, text, seconds = _finish(proc, 60)
    assert code != 0 and seconds < 30
    # Hydra names a process by PID, which the start lines ('rank R pid P') map to its rank;
    # it usually names the killed one, but its clean-up kills the others in the same instant
    # and it may report one of those first
    named = re.search(r"PID (\d+) RUNNING AT", text)
    assert named and int(named.group(1)) in pids.values(), text
    assert not (tmp_path / "w.npz").exists()


def test_a_failing_rank_stops_every_rank_naming_it(tmp_path):
    done = run(4, "--fail-rank", 2, "--fail-at", 10, "--out", tmp_path / "w.npz", check=False)
    assert done.returncode != 0
    assert "rank 2 (pid" in done.stderr and "injected failure at step 10" in done.stderr
    assert "stopping every rank" in done.stderr


def test_a_rank_that_stops_answering_is_named_after_the_timeout(tmp_path):
    start = time.monotonic()
    done = run(4, "--hang-at", 10, "--timeout", 3, "--out", tmp_path / "w.npz", check=False)
    assert done.returncode != 0 and time.monotonic() - start < 60
    assert "no answer from the other ranks for 3 s; rank 1 (pid" in done.stderr, done.stderr
    assert "did not reach it" in done.stderr


def test_mismatched_settings_are_detected_at_start(tmp_path):
    done = run(2, "--odd-seed", 7, "--out", tmp_path / "w.npz", check=False)
    assert done.returncode != 0
    assert "rank 1 (pid" in done.stderr
    assert "does not start with the same settings as rank 0 (pid" in done.stderr


def test_a_batch_the_ranks_do_not_divide_is_an_error(tmp_path):
    done = run(3, "--out", tmp_path / "w.npz", check=False)
    assert done.returncode != 0
    assert "the global batch size 32 is not divisible by the 3 ranks" in done.stderr
