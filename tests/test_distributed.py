"""gridnn.distributed in one process: ranks simulated by threads that sum through a barrier.

The oracle is always the single-process computation on the whole global batch (float64 where
the comparison is about the formulas). The same code under a real mpiexec is checked by
test_distributed_mpi.py.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import gridnn as gn
from gridnn import data, models, nn, optim, train
from gridnn import distributed as dist
from gridnn.errors import ArgumentError


class _Group:
    def __init__(self, size: int) -> None:
        self.size = size
        self.barrier = threading.Barrier(size, timeout=60)
        self.slots: list = [None] * size


class ThreadComm:
    """The Communicator interface for ``size`` threads: sums in rank order."""

    def __init__(self, group: _Group, rank: int) -> None:
        self.group, self.rank, self.size = group, rank, group.size
        self.places = [("here", 1000 + r) for r in range(group.size)]

    def describe(self, rank: int) -> str:
        return f"rank {rank}"

    def _exchange(self, value):
        g = self.group
        g.slots[self.rank] = value
        g.barrier.wait()
        everyone = list(g.slots)
        g.barrier.wait()
        return everyone

    def allreduce_sum(self, buffer, what=""):
        parts = self._exchange(buffer.copy())
        total = parts[0].copy()
        for part in parts[1:]:
            total += part
        buffer[...] = total
        return buffer

    def allgather(self, value, what=""):
        return self._exchange(value)


def run_ranks(size: int, fn):
    """fn(comm) on ``size`` threads; their results in rank order."""
    group = _Group(size)
    with ThreadPoolExecutor(size) as pool:
        futures = [pool.submit(fn, ThreadComm(group, r)) for r in range(size)]
        return [f.result(timeout=120) for f in futures]


class _Rank:
    def __init__(self, rank: int, size: int) -> None:
        self.rank, self.size = rank, size


def _images(n: int = 37, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 1, 6, 6)).astype(np.float32)
    return data.ArrayDataset(x, rng.integers(0, 3, n))


def _flip(xb, rng):  # augmentation that draws per image: shards must see the same draws
    flip = rng.random(len(xb)) < 0.5
    xb = xb.copy()
    xb[flip] = xb[flip, ..., ::-1]
    return xb + rng.standard_normal(xb.shape).astype(np.float32) * 0.01


# ---- sharding ---------------------------------------------------------------------------------
@pytest.mark.parametrize("total", [1, 7, 8, 29, 32])
@pytest.mark.parametrize("ranks", [1, 2, 3, 4])
def test_shard_bounds_tile_the_batch(total, ranks):
    if total < ranks:
        return
    bounds = [dist.shard_bounds(total, ranks, r) for r in range(ranks)]
    assert bounds[0][0] == 0
    for (o1, s1), (o2, _) in zip(bounds, bounds[1:]):
        assert o1 + s1 == o2
    assert sum(s for _, s in bounds) == total
    assert max(s for _, s in bounds) - min(s for _, s in bounds) <= 1


@pytest.mark.parametrize("ranks", [2, 4])
def test_sharded_loader_shards_are_the_single_process_batches(ranks):
    loader = data.DataLoader(_images(), 8, shuffle=True, seed=3, transform=_flip)
    for epoch in (0, 2):
        loader.set_epoch(epoch)
        whole = list(loader)
        shards = []
        for r in range(ranks):
            sharded = dist.ShardedLoader(data.DataLoader(_images(), 8, shuffle=True, seed=3,
                                                         transform=_flip), _Rank(r, ranks))
            sharded.set_epoch(epoch)
            assert len(sharded) == len(loader) == 5
            shards.append(list(sharded))
        for b, (xb, yb) in enumerate(whole):
            np.testing.assert_array_equal(np.concatenate([s[b][0] for s in shards]), xb)
            np.testing.assert_array_equal(np.concatenate([s[b][1] for s in shards]), yb)
        assert [len(s[-1][0]) for s in shards] == [dist.shard_bounds(5, ranks, r)[1]
                                                   for r in range(ranks)]


def test_sharded_loader_errors_name_the_numbers():
    with pytest.raises(ArgumentError, match="global batch size 10 is not divisible by the 4 "):
        dist.ShardedLoader(data.DataLoader(_images(), 10), _Rank(0, 4))
    # 37 = 4 * 9 + 1: the last batch has 1 image for 2 ranks
    with pytest.raises(ArgumentError, match="last batch holds 1 of the 37 images, fewer than "
                                            "the 2 ranks"):
        dist.ShardedLoader(data.DataLoader(_images(), 4), _Rank(0, 2))
    # evaluation loaders need not divide
    assert len(dist.ShardedLoader(data.DataLoader(_images(), 10), _Rank(1, 3),
                                  divisible=False)) == 4


def test_sharded_dropout_masks_are_the_single_process_masks():
    x = np.ones((10, 3), np.float32)
    whole = models.mlp(input_size=3, hidden=(4,), dropout=0.5, seed=1)
    expected = [gn.functional.dropout(gn.tensor(x), 0.5, True, whole[3].rng).data
                for _ in range(2)]
    parts = []
    for r in range(3):
        model = models.mlp(input_size=3, hidden=(4,), dropout=0.5, seed=1)
        loader = dist.ShardedLoader(data.DataLoader(data.ArrayDataset(
            x.reshape(10, 1, 3), np.zeros(10, np.int64)), 9, drop_last=True), _Rank(r, 3))
        assert dist.shard_random_layers(model, loader) == 1
        loader.current = dist.sampler.Shard(*dist.shard_bounds(10, 3, r), 10)
        gen = model[3].rng
        offset, size = dist.shard_bounds(10, 3, r)
        parts.append([gn.functional.dropout(gn.tensor(x[offset:offset + size]), 0.5, True,
                                            gen).data for _ in range(2)])
        assert gen.bit_generator.state == whole[3].rng.bit_generator.state
    for k in range(2):
        np.testing.assert_array_equal(np.concatenate([p[k] for p in parts]), expected[k])


# ---- gradients and statistics -----------------------------------------------------------------
def _mlp64(seed=0):
    return models.mlp(input_size=(6, 6), hidden=(5,), num_classes=3, seed=seed).to(np.float64)


def test_gradient_allreduce_gives_the_global_batch_gradient():
    ds = _images(10)
    x, y = ds.x.astype(np.float64), ds.y
    ref = _mlp64()
    loss = gn.functional.cross_entropy(ref(gn.tensor(x)), y)
    loss.backward()

    def rank_fn(comm):
        model = _mlp64()
        offset, size = dist.shard_bounds(10, comm.size, comm.rank)
        out = model(gn.tensor(x[offset:offset + size]))
        local = gn.functional.cross_entropy(out, y[offset:offset + size])
        local.backward()
        reducer = dist.GradientAllreduce(model, comm)
        reducer.stop_wanted = comm.rank == 1
        stats = reducer.allreduce(size, float(local.item()) * size, 2)
        return [p.grad for p in model.parameters()], stats, reducer.stop_agreed

    for grads, stats, stop in run_ranks(3, rank_fn):  # shards of 4, 3, 3 rows
        for g, p in zip(grads, ref.parameters()):
            np.testing.assert_allclose(g, p.grad, rtol=1e-12, atol=1e-15)
        assert stats.size == 10 and stats.correct == 6 and stop
        assert stats.loss_sum == pytest.approx(float(loss.item()) * 10, rel=1e-12)


@pytest.mark.parametrize("shape", [(11, 4, 3, 5), (9, 4), (7, 4, 6)])
def test_sync_batchnorm_equals_batchnorm_on_the_global_batch(shape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) * 3 + 1
    dy = rng.standard_normal(shape)
    bn = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(4, dtype=np.float64)
    bn.weight.data[:] = [1.0, 2.0, -0.5, 0.3]
    xt = gn.tensor(x, requires_grad=True)
    out = bn(xt)
    (out * gn.tensor(dy / shape[0])).sum().backward()  # a mean over the batch, as a loss

    def rank_fn(comm):
        layer = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(4, dtype=np.float64)
        layer.weight.data[:] = [1.0, 2.0, -0.5, 0.3]
        sync = dist.convert_sync_batchnorm(layer, comm)
        assert isinstance(sync, dist.SyncBatchNorm) and sync.weight is layer.weight
        offset, size = dist.shard_bounds(shape[0], comm.size, comm.rank)
        xs = gn.tensor(x[offset:offset + size], requires_grad=True)
        y = sync(xs)
        (y * gn.tensor(dy[offset:offset + size] / size)).sum().backward()
        dx_scaled = xs.grad * size / shape[0]  # this rank's share s_r: see sync_bn.py
        dist.GradientAllreduce(sync, comm).allreduce(size)
        return y.data, dx_scaled, sync.weight.grad, sync.bias.grad, sync.state_dict()

    results = run_ranks(3, rank_fn)
    np.testing.assert_allclose(np.concatenate([r[0] for r in results]), out.data, atol=1e-12)
    np.testing.assert_allclose(np.concatenate([r[1] for r in results]), xt.grad, atol=1e-12)
    for _, _, dw, db, state in results:
        np.testing.assert_allclose(dw, bn.weight.grad, atol=1e-12)
        np.testing.assert_allclose(db, bn.bias.grad, atol=1e-12)
        for k, v in bn.state_dict().items():
            np.testing.assert_allclose(state[k], v, atol=1e-12)


def test_sharded_evaluation_equals_evaluate():
    bundle = data.load_digits()
    expected = train.evaluate(models.digits_cnn(widths=(4, 8), seed=0),
                              data.DataLoader(bundle.test, 64))
    results = run_ranks(3, lambda comm: train.evaluate(  # a model each: eval() sets a flag
        models.digits_cnn(widths=(4, 8), seed=0),
        dist.ShardedLoader(data.DataLoader(bundle.test, 64), comm, divisible=False)))
    for got in results:
        assert got["accuracy"] == expected["accuracy"]
        assert got["loss"] == pytest.approx(expected["loss"], rel=1e-6)


# ---- the whole loop ---------------------------------------------------------------------------
def _digits_run(comm=None, sync_bn=False):
    bundle = data.load_digits()
    model = models.digits_cnn(widths=(4, 8), seed=0)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    args = (data.DataLoader(bundle.train, 64, shuffle=True, seed=1),
            data.DataLoader(bundle.test, 100))
    if comm is None:
        history = train.fit(model, *args, epochs=1, optimizer=opt, progress=False)
    else:
        history = dist.fit_distributed(model, *args, epochs=1, optimizer=opt, comm=comm,
                                       sync_bn=sync_bn, progress=False,
                                       settings={"model": "digits_cnn"})
    return model.state_dict(), history.rows[-1]


def test_fit_distributed_with_sync_bn_matches_one_process():
    expected, row = _digits_run()
    for state, got in run_ranks(2, lambda comm: _digits_run(comm, sync_bn=True)):
        for k, v in expected.items():
            scale = max(float(np.abs(v).max()), 1e-30)
            assert float(np.abs(state[k] - v).max()) / scale <= 1e-5, k
        assert got["train_accuracy"] == row["train_accuracy"]
        assert got["val_accuracy"] == row["val_accuracy"]
        assert got["val_loss"] == pytest.approx(row["val_loss"], rel=1e-5)


def test_mismatched_settings_are_named():
    def rank_fn(comm):
        with pytest.raises(dist.DistributedError, match="rank 2 does not start with the same "
                                                        "model as rank 0"):
            dist.check_same_settings(comm, seed=0, model=_mlp64(seed=comm.rank // 2).state_dict())
        dist.check_same_settings(comm, seed=0, model=_mlp64().state_dict())  # equal: passes

    run_ranks(3, rank_fn)


def test_one_process_world_needs_no_mpi():
    comm = dist.Communicator(timeout=5)
    assert (comm.rank, comm.size) == (0, 1)
    buf = np.arange(3.0)
    assert comm.allreduce_sum(buf) is buf and list(buf) == [0.0, 1.0, 2.0]
    assert comm.allgather("x") == ["x"]
    with pytest.raises(dist.DistributedError, match="timeout=0"):
        dist.Communicator(timeout=0)
