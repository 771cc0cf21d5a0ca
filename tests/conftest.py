"""Shared test set-up. Under CI a skipped test is a failure: CI installs everything (torch,
selenium, chromium) and must run every test; elsewhere, tests whose tool is missing skip with
the reason (see needs_torch.py)."""

import os

import pytest


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def _fail_if_skipped_in_ci(report: pytest.CollectReport | pytest.TestReport) -> None:
    if _in_ci() and report.skipped:
        # A skip's longrepr is (file, line, reason).
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI={os.environ['CI']}, where nothing may skip: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_if_skipped_in_ci(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A whole file skipped while collecting (a module-level importorskip) fails under CI too."""
    outcome = yield
    _fail_if_skipped_in_ci(outcome.get_result())


@pytest.fixture(params=["compiled", "numpy"])
def op_path(request: pytest.FixtureRequest):
    """Run the test with the compiled kernels (ops/kernels/, Numba), then with the NumPy
    passes: both must give the same results."""
    from gridnn.ops.compiled import kernels
    from gridnn.ops.options import using

    with using(compiled=request.param == "compiled"):
        if request.param == "compiled" and kernels() is None:
            pytest.skip("Numba is not installed (pip install -e '.[fast]')")
        if request.param == "numpy":
            assert kernels() is None
        yield request.param


@pytest.fixture(autouse=True)
def machine_busy_at_batch_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batch 1 as on a busy machine (``workspace.cores_free`` False: a one-thread BLAS, the
    big products split over gridnn's threads), whatever else runs beside the tests, so that
    a test's two passes take the same path; tests of the other path set it themselves."""
    from gridnn.ops import workspace

    monkeypatch.setattr(workspace._contention, "cores_free", lambda: False)
