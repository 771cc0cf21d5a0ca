"""conftest.py's promise: where a tool is missing a test skips with its reason, but under CI a
skip (of one test, or of a whole file while collecting) fails the run, naming the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parent / "conftest.py"
SKIPS = '''
import pytest

def test_runs():
    assert 1 + 1 == 2

def test_skips():
    pytest.skip("the zork library is not installed")
'''
SKIPS_WHILE_COLLECTING = '''
import pytest

pytest.importorskip("zork_not_installed_anywhere", reason="zork is missing for this file")

def test_never_runs():
    assert False
'''


def _pytest(folder: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only conftest.py's hooks matter here
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(folder)],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_skips.py").write_text(SKIPS)
    return tmp_path


def test_outside_ci_a_skip_is_a_skip(folder: Path) -> None:
    for ci in (None, "false"):
        run = _pytest(folder, ci)
        assert run.returncode == 0, run.stdout
        assert "1 passed, 1 skipped" in run.stdout, run.stdout


def test_under_ci_a_skip_fails_with_its_reason(folder: Path) -> None:
    for ci in ("true", "1"):
        run = _pytest(folder, ci)
        assert run.returncode == 1, run.stdout
        assert "1 failed, 1 passed" in run.stdout, run.stdout
        assert "the zork library is not installed" in run.stdout, run.stdout


def test_under_ci_a_file_skipped_while_collecting_fails(folder: Path) -> None:
    (folder / "test_skips.py").write_text("def test_runs():\n    assert 1 + 1 == 2\n")
    (folder / "test_collect.py").write_text(SKIPS_WHILE_COLLECTING)
    run = _pytest(folder, None)
    assert run.returncode == 0 and "1 passed, 1 skipped" in run.stdout, run.stdout
    run = _pytest(folder, "true")
    assert run.returncode != 0, run.stdout
    assert "zork is missing for this file" in run.stdout, run.stdout
