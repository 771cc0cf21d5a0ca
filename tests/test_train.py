"""fit / evaluate on tiny data: learning happens, history is complete, resume is exact, NaN stops.

The oracles: a hand-written loop (plain NumPy argmax and mean) for ``evaluate``; an
uninterrupted ``fit`` for a resumed one; separable toy data that any working loop must learn.
"""

import math

import numpy as np
import pytest

import gridnn as gn
import gridnn.nn as nn
from gridnn import functional as F
from gridnn import optim
from gridnn.data import ArrayDataset, DataLoader, RandomShift
from gridnn.errors import ArgumentError, DataError
from gridnn.train import (
    Callback,
    Checkpointer,
    History,
    TrainingError,
    evaluate,
    fit,
    resume_state,
)


def blobs(n=96, seed=0):
    """Three well separated Gaussian blobs in 2-D as (N, 1, 2) float32 and int64 labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]], dtype=np.float32)
    x = centers[y] + 0.4 * rng.standard_normal((n, 2)).astype(np.float32)
    return x.astype(np.float32)[:, None], y.astype(np.int64)


def mlp(seed=0, p=0.0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(2, 16, rng=rng), nn.ReLU(),
                         nn.Dropout(p, rng=rng), nn.Linear(16, 3, rng=rng))


def tiny_images(n=48, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.standard_normal((n, 1, 6, 6)).astype(np.float32) * 0.3
    x[y == 1, :, :3] += 1.0  # class 1: bright top half
    return x, y.astype(np.int64)


def cnn(seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, rng=rng), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Dropout(0.2, rng=rng), nn.Flatten(), nn.Linear(144, 2, rng=rng))


def loaders(x, y, batch=16, seed=0, transform=None):
    ds = ArrayDataset(x, y)
    return (DataLoader(ds, batch, shuffle=True, seed=seed, transform=transform),
            DataLoader(ds, 64, shuffle=False))


def test_fit_learns_blobs_and_fills_history():
    x, y = blobs()
    model = mlp()
    train, val = loaders(x, y)
    opt = optim.Adam(model.parameters(), lr=0.05)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    hist = fit(model, train, val, epochs=4, optimizer=opt, scheduler=sched, progress=False)
    assert isinstance(hist, History) and len(hist) == 4
    assert hist.columns == ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                            "lr", "seconds", "images_per_second"]
    assert hist["epoch"] == [1, 2, 3, 4]
    assert hist["lr"] == pytest.approx([0.05, 0.05, 0.025, 0.025])
    assert hist["val_accuracy"][-1] >= 0.95
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    assert all(s > 0 for s in hist["seconds"])
    assert hist.to_csv().splitlines()[0] == ",".join(hist.columns)
    assert len(hist.to_csv().splitlines()) == 5


def test_evaluate_matches_a_plain_numpy_loop():
    x, y = blobs(50)
    model = mlp(p=0.5)
    model.train()
    _, val = loaders(x, y)
    val = DataLoader(ArrayDataset(x, y), 7)  # uneven last batch: the mean must weight by size
    result = evaluate(model, val, F.cross_entropy)
    assert model.training  # mode restored
    model.eval()
    logits = model(gn.tensor(x)).data.astype(np.float64)  # one batch: no mean of means
    logp = logits - logits.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    assert result["loss"] == pytest.approx(-logp[np.arange(len(y)), y].mean(), rel=1e-5)
    assert result["accuracy"] == pytest.approx((logits.argmax(1) == y).mean())


def test_callbacks_see_every_step_and_epoch():
    x, y = blobs(40)
    train, _ = loaders(x, y, batch=16)  # 3 batches per epoch
    events = []

    class Spy(Callback):
        def on_step_end(self, state):
            events.append(("step", state.epoch, state.step))

        def on_epoch_end(self, state):
            events.append(("epoch", state.epoch, state.step, len(state.history)))

    model = mlp()
    fit(model, train, epochs=2, optimizer=optim.SGD(model.parameters(), lr=0.1),
        callbacks=[Spy()], progress=False)
    assert events == [("step", 0, 1), ("step", 0, 2), ("step", 0, 3), ("epoch", 1, 0, 1),
                      ("step", 1, 1), ("step", 1, 2), ("step", 1, 3), ("epoch", 2, 0, 2)]


def _state(model, opt):
    return model.state_dict(), opt.state_dict()


def _assert_same_run(a_model, a_opt, a_hist, b_model, b_opt, b_hist):
    for k, v in a_model.state_dict().items():
        np.testing.assert_array_equal(v, b_model.state_dict()[k], err_msg=k)
    sa, sb = a_opt.state_dict(), b_opt.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert sa["state"].keys() == sb["state"].keys()
    for i in sa["state"]:
        for k, v in sa["state"][i].items():
            np.testing.assert_array_equal(v, sb["state"][i][k])
    strip = [{k: v for k, v in r.items() if k not in ("seconds", "images_per_second")}
             for r in a_hist.rows]
    assert strip == [{k: v for k, v in r.items() if k not in ("seconds", "images_per_second")}
                     for r in b_hist.rows]


class StopAt(Callback):
    """Raises after ``step`` steps of ``epoch`` (a stand-in for a signal) once saved."""

    def __init__(self, ckpt, epoch, step):
        self.ckpt, self.epoch, self.step = ckpt, epoch, step

    def on_step_end(self, state):
        if (state.epoch, state.step) == (self.epoch, self.step):
            self.ckpt.save(state)
            raise KeyboardInterrupt


@pytest.mark.parametrize("stop", [(1, 2), (2, 0)], ids=["mid-epoch", "epoch-end"])
def test_resume_from_checkpoint_is_bit_identical(tmp_path, stop):
    """A run stopped (mid-epoch or at an epoch end) and resumed in fresh objects equals the
    uninterrupted run: weights, BatchNorm statistics, Adam state, one-cycle schedule, dropout
    generator and history, bit for bit."""
    x, y = tiny_images()
    aug = RandomShift(1)

    def setup():
        model = cnn()
        train, val = loaders(x, y, batch=10, transform=aug)
        opt = optim.AdamW(model.parameters(), lr=0.01, weight_decay=0.01)
        sched = optim.OneCycleLR(opt, max_lr=0.01, total_steps=3 * len(train))
        return model, train, val, opt, sched

    model, train, val, opt, sched = setup()
    full = fit(model, train, val, epochs=3, optimizer=opt, scheduler=sched,
               scheduler_interval="step", progress=False)

    m2, train2, val2, opt2, sched2 = setup()
    ckpt = Checkpointer(tmp_path / "ckpt")
    callbacks = [ckpt]
    if stop[1]:
        callbacks.append(StopAt(ckpt, *stop))
    with pytest.raises(KeyboardInterrupt):
        if not stop[1]:
            class AfterEpoch(Callback):
                def on_epoch_end(self, state):
                    if state.epoch == stop[0]:
                        raise KeyboardInterrupt
            callbacks.append(AfterEpoch())
        fit(m2, train2, val2, epochs=3, optimizer=opt2, scheduler=sched2,
            scheduler_interval="step", callbacks=callbacks, progress=False)

    m3, train3, val3, opt3, sched3 = setup()
    start = resume_state(ckpt.folder, model=m3, optimizer=opt3, scheduler=sched3)
    assert (start["start_epoch"], start["start_step"]) == stop
    resumed = fit(m3, train3, val3, epochs=3, optimizer=opt3, scheduler=sched3,
                  scheduler_interval="step", progress=False, **start)
    _assert_same_run(model, opt, full, m3, opt3, resumed)
    assert m3[3].rng.bit_generator.state == model[3].rng.bit_generator.state


def test_same_seed_same_result_bit_for_bit():
    x, y = tiny_images()
    runs = []
    for _ in range(2):
        model = cnn(seed=3)
        train, val = loaders(x, y, batch=8, seed=5, transform=RandomShift(1))
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        hist = fit(model, train, val, epochs=2, optimizer=opt, progress=False)
        runs.append((model, opt, hist))
    _assert_same_run(*runs[0], *runs[1])


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    x, y = blobs(48)
    model = mlp()
    train, _ = loaders(x, y, batch=16)  # 3 steps per epoch
    opt = optim.SGD(model.parameters(), lr=0.1)

    class Poison(Callback):
        def on_step_end(self, state):
            if (state.epoch, state.step) == (1, 1):  # after epoch 2's first update
                model[1].weight.data[0, 0] = np.nan

    ckpt = Checkpointer(tmp_path / "ckpt")
    with pytest.raises(TrainingError, match=r"became nan at epoch 2, step 2"):
        fit(model, train, epochs=3, optimizer=opt, callbacks=[ckpt, Poison()], progress=False)
    assert ckpt.epoch == 1
    fresh = mlp(seed=9)
    fresh_opt = optim.SGD(fresh.parameters(), lr=0.1)
    start = resume_state(ckpt.folder, model=fresh, optimizer=fresh_opt)
    assert start["start_epoch"] == 1 and len(start["history"]) == 1
    assert all(np.isfinite(v).all() for v in fresh.state_dict().values())


def test_infinite_loss_is_caught_too():
    x, y = blobs(16)
    model = mlp()

    def inf_loss(out, target):
        return F.cross_entropy(out, target) * math.inf

    with pytest.raises(TrainingError, match=r"became inf at epoch 1, step 1"):
        fit(model, DataLoader(ArrayDataset(x, y), 8), epochs=1, loss=inf_loss,
            optimizer=optim.SGD(model.parameters(), lr=0.1), progress=False)


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, r"`epochs` must be a positive int, received epochs=0"),
    ({"epochs": 2, "scheduler_interval": "batch"}, r"`scheduler_interval` must be"),
    ({"epochs": 2, "start_epoch": 3}, r"cannot start at epoch 3"),
])
def test_fit_checks_its_arguments(kwargs, message):
    x, y = blobs(8)
    model = mlp()
    with pytest.raises(ArgumentError, match=message):
        fit(model, DataLoader(ArrayDataset(x, y), 4),
            optimizer=optim.SGD(model.parameters(), lr=0.1), progress=False, **kwargs)


def test_resume_state_rejects_a_checkpoint_of_another_model(tmp_path):
    x, y = blobs(16)
    model = mlp()
    opt = optim.Adam(model.parameters())
    ckpt = Checkpointer(tmp_path)
    fit(model, DataLoader(ArrayDataset(x, y), 8), epochs=1, optimizer=opt, callbacks=[ckpt],
        progress=False)
    rng = np.random.default_rng(0)
    other = nn.Sequential(nn.Flatten(), nn.Linear(2, 8, rng=rng), nn.ReLU(),
                          nn.Dropout(0.0, rng=rng), nn.Linear(8, 3, rng=rng))
    with pytest.raises(DataError, match=r"does not match the model: '1.weight' has shape"):
        resume_state(tmp_path, model=other, optimizer=optim.Adam(other.parameters()))


def test_progress_bar_goes_to_stderr(capsys):
    x, y = blobs(16)
    model = mlp()
    fit(model, DataLoader(ArrayDataset(x, y), 8), epochs=1,
        optimizer=optim.SGD(model.parameters(), lr=0.1), progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "epoch 1/1" in err
    assert err.endswith("\r")  # the bar clears its line at the end: the epoch's summary line
    # (printed by runfolder.EpochPrinter) takes its place
