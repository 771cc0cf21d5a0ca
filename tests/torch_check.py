"""One helper that runs the same op in gridnn and in PyTorch and compares everything.

``check_op(gridnn_fn, torch_fn, *arrays)`` wraps each float array as a leaf that requires grad
(integer arrays, such as class targets, are passed as constants), runs both functions, compares
the outputs, backpropagates the same random cotangent through both and compares every input
gradient. Errors are measured relative to the scale of PyTorch's result (max |value|), so a
float32 sum of hundreds of products is judged by its own magnitude.

The worst relative error per dtype and the number of parity cases are recorded in ``STATS``;
the first test that uses the ``parity_summary`` fixture registers a terminal-summary line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

import gridnn as gn
from needs_torch import torch

RTOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}
STATS: dict[str, Any] = {"cases": 0, "comparisons": 0,
                         "worst": {"float32": 0.0, "float64": 0.0},
                         "where": {"float32": "", "float64": ""}}


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max(max |want|, 1e-30): the error relative to the result's scale."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"shape {got.shape} differs from torch's {want.shape}")
    if want.size == 0:
        return 0.0
    scale = max(float(np.abs(want).max()), 1e-30)
    return float(np.abs(got - want).max()) / scale


def _record(err: float, dtype: np.dtype, label: str) -> None:
    name = np.dtype(dtype).name
    STATS["comparisons"] += 1
    if err > STATS["worst"][name]:
        STATS["worst"][name], STATS["where"][name] = err, label


def check_op(gridnn_fn: Callable[..., gn.Tensor], torch_fn: Callable[..., torch.Tensor],
             *arrays: np.ndarray, rtol: float | None = None,
             dtypes: Sequence[Any] = (np.float64, np.float32), seed: int = 0,
             label: str = "") -> None:
    """Assert gridnn and torch agree on the forward value and every float input's gradient.

    Float arrays are cast to each dtype in ``dtypes`` in turn (float64 at ~1e-10, float32 at
    ~1e-5 relative to the scale unless ``rtol`` is given); integer arrays stay as they are.
    """
    STATS["cases"] += 1
    for dtype in map(np.dtype, dtypes):
        tol = RTOL[dtype] if rtol is None else rtol
        is_float = [np.asarray(a).dtype.kind == "f" for a in arrays]
        ours = [gn.tensor(np.asarray(a, dtype), requires_grad=True, dtype=dtype) if f
                else np.asarray(a) for a, f in zip(arrays, is_float)]
        theirs = [torch.tensor(np.asarray(a, dtype), requires_grad=True) if f
                  else torch.as_tensor(np.asarray(a)) for a, f in zip(arrays, is_float)]
        out, ref = gridnn_fn(*ours), torch_fn(*theirs)
        ref_np = ref.detach().numpy()
        assert out.dtype == dtype, f"output dtype {out.dtype}, expected {dtype}"
        results = [("output", out.data, ref_np)]
        if any(is_float):
            cot = np.asarray(np.random.default_rng(seed).standard_normal(ref_np.shape), dtype)
            out.backward(cot)
            ref.backward(torch.from_numpy(cot))
            for i, (t, r, f) in enumerate(zip(ours, theirs, is_float)):
                if f:
                    assert t.grad is not None, f"input {i} got no gradient"
                    assert t.grad.dtype == dtype, f"input {i}: {t.grad.dtype} grad, not {dtype}"
                    results.append((f"grad of input {i}", t.grad, r.grad.numpy()))
        for what, got, want in results:
            err = relative_error(got, want)
            _record(err, dtype, f"{label} {what}".strip())
            assert err <= tol, (
                f"{label} {what} ({dtype.name}): relative error {err:.3g} > {tol:.1g}"
            )


def summary() -> str:
    """One line: parity cases run and the worst relative error per dtype."""
    w = STATS["worst"]
    return (f"gridnn-vs-torch parity: {STATS['cases']} cases ({STATS['comparisons']} "
            f"comparisons of outputs and gradients); worst relative error float64 "
            f"{w['float64']:.3g} ({STATS['where']['float64']}), float32 {w['float32']:.3g} "
            f"({STATS['where']['float32']})")


class _SummaryPlugin:
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if STATS["comparisons"]:  # none when torch is missing and every parity test skipped
            terminalreporter.write_line(summary())


@pytest.fixture(autouse=True)
def parity_summary(request: pytest.FixtureRequest) -> None:
    """Import into a test module to get the parity summary line at the end of the run."""
    manager = request.config.pluginmanager
    if not manager.has_plugin("gridnn-parity-summary"):
        manager.register(_SummaryPlugin(), "gridnn-parity-summary")
