"""PyTorch for the tests that compare against it, imported when such a test first uses it.

``from needs_torch import TF, torch`` gives names that behave as the modules ``torch`` and
``torch.nn.functional``. Nothing is imported until an attribute is read inside a test, so a
NumPy-only install still collects every file and runs every test that never touches PyTorch;
a test that does is skipped with ``REASON`` (and conftest.py turns that skip into a failure
under CI, which installs torch). ``require_torch()`` marks a test that needs torch only
through the code it runs, such as the benchmark's torch timings.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

REASON = "PyTorch is not installed; this test compares against it (pip install -e '.[test]')"


@functools.cache
def _import(name: str) -> Any:
    module = pytest.importorskip(name, reason=REASON)
    # The ops compared in the tests are tiny: torch's worker threads only spin against each other
    # (and the other test processes) on a loaded 2-core machine, which made each call ~20x slower.
    pytest.importorskip("torch").set_num_threads(1)
    return module


def require_torch() -> Any:
    """The ``torch`` module, or skip the calling test with ``REASON``."""
    return _import("torch")


class _LazyModule:
    """Stands for module ``name``; reading an attribute imports it (or skips the test)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        # pytest and hypothesis probe objects for private and dunder names while collecting:
        # those must not import (or skip) anything.
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(_import(self._name), attr)


torch: Any = _LazyModule("torch")
TF: Any = _LazyModule("torch.nn.functional")
