"""How ops split their work over threads (``ops/workspace.py``): the batch over gridnn's
threads; one sample (batch 1) in the calling thread, its products on the BLAS's own threads
while the machine has a core free for each (``cores_free``), else the big ones split over
gridnn's threads. Every path must give the one-thread numbers."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import gridnn as gn
import gridnn.functional as F
from gridnn.ops import workspace
from gridnn.ops.options import using


@pytest.fixture
def pool_starts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The worker counts of every start of gridnn's thread pool during the test (a start is an
    op handing slices to other threads)."""
    started: list[int] = []
    real_pool = workspace._threads.pool
    monkeypatch.setattr(workspace._threads, "pool",
                        lambda workers: started.append(workers) or real_pool(workers))
    return started


def test_fewer_samples_than_threads_run_in_the_calling_thread(monkeypatch,
                                                              pool_starts: list[int]) -> None:
    """At batch 1 small ops hand no work to gridnn's threads (their start and join cost more
    than they give); at batch 2 the same ops do, and at batch 1 a product big enough
    (``ONE_SAMPLE_MACS_PER_ELEMENT``) does."""
    calls: list[tuple[int, int, int]] = []
    monkeypatch.setattr(workspace, "ONE_SAMPLE_MACS_PER_ELEMENT", 1 << 40)  # no product splits
    with using(threads=2, parallel_min_size=1):
        workspace.parallel_slices(8, 1 << 20, lambda lo, hi: calls.append(
            (lo, hi, threading.get_ident())), samples=1)
        assert calls == [(0, 8, threading.get_ident())]
        rng = np.random.default_rng(3)

        def layers(n: int) -> None:
            def t(*shape: int) -> gn.Tensor:
                return gn.Tensor(rng.standard_normal(shape, np.float32))

            h = F.relu(F.conv2d(t(n, 8, 12, 12), t(8, 8, 3, 3), padding=1))
            h = gn.nn.BatchNorm2d(8)(F.conv2d(h, t(8, 1, 3, 3), groups=8))
            h = F.layer_norm(h.permute(0, 2, 3, 1), 8)
            F.linear(h.reshape(n, -1), t(50, 800))

        layers(1)
        assert pool_starts == []
        layers(2)
        assert pool_starts
        pool_starts.clear()
        monkeypatch.setattr(workspace, "ONE_SAMPLE_MACS_PER_ELEMENT", 0)  # every product splits
        layers(1)
        assert pool_starts


def test_one_image_of_a_deep_layer_splits_its_filters(monkeypatch, pool_starts: list[int]) -> None:
    """Batch 1 with fewer output rows than filters: the product is split over threads by
    filters (``dot``'s column slices), and the result is the one-thread result."""
    rng = np.random.default_rng(12)
    x = gn.Tensor(rng.standard_normal((1, 64, 3, 3)).astype(np.float32))
    w = gn.Tensor(rng.standard_normal((96, 64, 3, 3)).astype(np.float32))
    b = gn.Tensor(rng.standard_normal(96).astype(np.float32))
    with gn.no_grad():
        with using(threads=1):
            alone = F.conv2d(x, w, b, padding=1).data
        monkeypatch.setattr(workspace, "ONE_SAMPLE_MACS_PER_ELEMENT", 0)
        with using(threads=2, parallel_min_size=1):
            split = F.conv2d(x, w, b, padding=1).data
    assert pool_starts
    np.testing.assert_allclose(split, alone, rtol=1e-5, atol=1e-5)


def test_batch_one_keeps_the_blas_threads_while_cores_are_free(monkeypatch,
                                                               pool_starts: list[int]) -> None:
    """On a machine with a core free per thread, an op of one sample leaves the BLAS as it is
    (its own threads split the products) and starts none of gridnn's threads; busy, it holds
    the BLAS at one thread. Both give the same numbers."""
    held: list[bool] = []
    real_single = workspace._threads.single_blas
    monkeypatch.setattr(workspace._threads, "single_blas",
                        lambda: held.append(True) or real_single())
    rng = np.random.default_rng(13)
    x = gn.Tensor(rng.standard_normal((1, 32, 20, 20)).astype(np.float32))
    w = gn.Tensor(rng.standard_normal((48, 32, 3, 3)).astype(np.float32))
    with gn.no_grad(), using(threads=2, parallel_min_size=1):
        monkeypatch.setattr(workspace._contention, "cores_free", lambda: True)
        free = F.conv2d(x, w, padding=1).data
        assert held == [] and pool_starts == []
        monkeypatch.setattr(workspace._contention, "cores_free", lambda: False)
        busy = F.conv2d(x, w, padding=1).data
        assert held
    np.testing.assert_allclose(free, busy, rtol=1e-5, atol=1e-5)


def test_contention_reads_the_runnable_threads(monkeypatch) -> None:
    """Free while the machine's runnable threads less this process's, plus the BLAS's, fit the
    cores; looked at again after CONTENTION_CHECK_S, and changed by two looks in a row."""
    contention = workspace._Contention()
    monkeypatch.setattr(workspace, "_cores", lambda: 2)
    monkeypatch.setattr(workspace._threads, "count", lambda: 2)
    monkeypatch.setattr(workspace, "_own_runnable", lambda: 1)
    monkeypatch.setattr(workspace, "_runnable", lambda: 1)  # only this process: free
    assert contention.cores_free()

    def look() -> bool:
        contention.at -= workspace.CONTENTION_CHECK_S
        return contention.cores_free()

    monkeypatch.setattr(workspace, "_runnable", lambda: 2)  # another process runs
    assert contention.cores_free()  # not looked at again yet
    assert look()  # one look: a moment's doubt
    assert not look()  # two in a row: busy
    monkeypatch.setattr(workspace, "_runnable", lambda: 1)
    assert not look() and look()
    assert workspace._runnable() >= 1 and workspace._own_runnable() >= 1


def test_a_linear_on_one_image_keeps_its_batch_for_threading(monkeypatch,
                                                             pool_starts: list[int]) -> None:
    """F.linear flattens (1, H, W, C) to H*W rows; they are still one sample, so with cores
    free the product stays on the BLAS's threads instead of starting gridnn's (which, beside
    the BLAS's spinning threads, made ConvNeXt's Linears at batch 1 1.75x slower)."""
    monkeypatch.setattr(workspace._contention, "cores_free", lambda: True)
    rng = np.random.default_rng(14)
    x = gn.Tensor(rng.standard_normal((1, 12, 12, 32)).astype(np.float32))
    w = gn.Tensor(rng.standard_normal((48, 32)).astype(np.float32))
    with gn.no_grad(), using(threads=2, parallel_min_size=1):
        out = F.linear(x, w).data
        assert pool_starts == []
        F.linear(gn.Tensor(x.data.reshape(144, 32)), w)  # 144 samples: split
        assert pool_starts
    np.testing.assert_allclose(out, x.data @ w.data.T, rtol=1e-5, atol=1e-5)
