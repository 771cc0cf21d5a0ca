"""The compiled loops' machine code on disk (ops/kernel_objects.py): compiled once with Numba,
then loaded by later processes with LLVM alone, computing what the NumPy passes compute."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("numba")

CHILD = """
import json, sys
import numpy as np
import gridnn as gn
import gridnn.functional as F
from gridnn.ops.options import using

rng = np.random.default_rng(3)
x = rng.standard_normal((4, 6, 8, 8)).astype(np.float32).transpose(0, 2, 3, 1).copy()
x = x.transpose(0, 3, 1, 2)  # channels-last memory, as a convolution leaves it
out = {}
for compiled in (True, False):
    with using(compiled=compiled):
        t = gn.tensor(x, requires_grad=True)
        y = F.max_pool2d(F.relu(t), 2)
        ran = y._fn.kernels is not None
        (y * y).sum().backward()
        out[compiled] = (y.data, t.grad, ran)
print(json.dumps({"numba": "numba" in sys.modules, "ran": out[True][2],
                  "same": bool(np.array_equal(out[True][0], out[False][0])
                               and np.array_equal(out[True][1], out[False][1]))}))
"""


def test_a_later_process_runs_the_kernels_without_numba(tmp_path) -> None:
    """The first process compiles (and imports Numba); the next loads the objects it wrote
    and never imports Numba; both agree exactly with the NumPy passes."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}  # a fresh cache, first in line
    runs = [json.loads(subprocess.run([sys.executable, "-c", CHILD], env=env, check=True,
                                      capture_output=True, text=True).stdout)
            for _ in range(2)]
    assert [r["ran"] for r in runs] == [True, True]
    assert [r["same"] for r in runs] == [True, True]
    assert [r["numba"] for r in runs] == [True, False]
    assert list((tmp_path / "gridnn-kernels").glob("max_pool_2d-*.kernel"))


def test_entries_take_strided_arrays_and_fall_back_for_other_arguments(
        monkeypatch, tmp_path) -> None:
    """An array that is not C-contiguous goes in with its strides, a contiguous one as its
    pointer and shape; both as the loop says."""
    from gridnn.ops import compiled

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(compiled, "_state", {})
    k = compiled.kernels()
    assert k is not None and not hasattr(k, "no_such_kernel")
    rng = np.random.default_rng(0)
    g, y = rng.standard_normal(20), rng.standard_normal(20)
    out = np.full(20, 7.0)
    k.relu_grad(g[::2], y[1::2], out[::2])  # every other element: byte strides 16
    np.testing.assert_array_equal(out[::2], np.where(y[1::2] > 0, g[::2], 0))
    np.testing.assert_array_equal(out[1::2], 7.0)
    rows, mean, sums = rng.standard_normal((5, 3)), np.zeros(3), np.zeros(3)
    k.channel_squared_deviations(rows.T.copy().T, mean, sums)  # Fortran order: strided
    np.testing.assert_allclose(sums, (rows ** 2).sum(0), rtol=1e-12)
    assert k.relu_grad.entries[(("a", "d", 1, False),) * 3] is not k.numba
    sums[:] = 0
    k.channel_sums(rows, sums)
    np.testing.assert_allclose(sums, rows.sum(0), rtol=1e-12)
    assert k.channel_sums.entries[(("a", "d", 2, True), ("a", "d", 1, True))] \
        is not k.numba


EVERY_OP = """
import sys
import numpy as np
import gridnn as gn
import gridnn.functional as F

rng = np.random.default_rng(0)
x = gn.tensor(rng.standard_normal((2, 16, 9, 9)).astype(np.float32), requires_grad=True)
w = gn.tensor(rng.standard_normal((16, 4, 3, 3)).astype(np.float32), requires_grad=True)
dw = gn.tensor(rng.standard_normal((16, 1, 3, 3)).astype(np.float32), requires_grad=True)
# the direct path's layer (16 filters); its input gradient is one as well
wd = gn.tensor(rng.standard_normal((16, 16, 3, 3)).astype(np.float32), requires_grad=True)
# Winograd's layer: 64 channels and 169 tiles; its input gradient is one as well
x64 = gn.tensor(rng.standard_normal((1, 64, 26, 26)).astype(np.float32), requires_grad=True)
w64 = gn.tensor(rng.standard_normal((64, 64, 3, 3)).astype(np.float32), requires_grad=True)
outs = [F.relu(x), F.relu6(x), F.sigmoid(x), F.silu(x), F.hardswish(x), F.hardsigmoid(x),
        F.gelu(x), F.gelu(x, approximate="tanh"), F.erf(x), F.max_pool2d(x, 2),
        F.conv2d(x, w, padding=1, groups=4), F.conv2d(x, dw, stride=2, groups=16),
        gn.nn.BatchNorm2d(16)(x), F.layer_norm(x.permute(0, 2, 3, 1), (16,)),
        F.conv2d(x64, w64, padding=1), F.conv2d(x, wd, padding=1)]
sum((o * o).sum() for o in outs).backward()
print("numba" in sys.modules)
"""


def test_every_kernel_loads_without_numba(tmp_path) -> None:
    """A kernel that allocates or raises needs Numba's runtime, and so Numba in every process
    that runs it: after one compiling process, none of the ops' kernels may."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", EVERY_OP], env=env, check=True,
                           capture_output=True, text=True).stdout.split() for _ in range(2)]
    assert runs == [["True"], ["False"]]
