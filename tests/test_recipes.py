"""recipes and runfolder: a run config from a dataset and overrides, the loaders and optimiser it
asks for (the same schedule in gridnn and PyTorch), and a run folder's files."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import gridnn as gn
from gridnn import checkpoint, data, nn, recipes, runfolder, train
from gridnn.errors import ArgumentError, DataError
from needs_torch import require_torch


def fake_bundle(name="digits", shape=(1, 8, 8), classes=3, n=12):
    rng = np.random.default_rng(0)
    x = rng.random((n, *shape), dtype=np.float32)
    y = np.arange(n) % classes
    return SimpleNamespace(name=name, input_shape=shape, num_classes=classes,
                           class_names=[f"c{i}" for i in range(classes)],
                           mean=np.full(shape[0], 0.5, np.float32),
                           std=np.full(shape[0], 0.25, np.float32),
                           train=data.ArrayDataset(x, y), test=data.ArrayDataset(x[:5], y[:5]))


# ---- the run config ---------------------------------------------------------------------------
def test_recipe_knows_the_spellings_of_a_dataset():
    assert recipes.recipe("Fashion_MNIST") is recipes.RECIPES["fashion-mnist"]
    assert recipes.recipe("mnist-1d") is recipes.RECIPES["mnist1d"]
    assert recipes.recipe("CIFAR-10") is recipes.RECIPES["cifar10"]
    assert recipes.recipe("my/images") is recipes.RECIPES["*"]


def test_new_config_takes_overrides_and_fills_the_rest_from_the_recipe(tmp_path):
    cfg = recipes.new_config(fake_bundle(), "digits", lr=0.1, epochs=None, augment=True, seed=3)
    digits = recipes.RECIPES["digits"]
    assert cfg["train"] == {**{k: digits[k] for k in recipes.TRAIN_KEYS}, "lr": 0.1,
                            "augment": True, "seed": 3, "val_split": 0.0, "sync_bn": False}
    assert cfg["model"] == {"name": "digits_cnn", "kwargs": {
        "in_channels": 1, "num_classes": 3, "input_size": [8, 8], "seed": 3}}
    assert cfg["data"]["mean"] == [0.5] and cfg["data"]["class_names"] == ["c0", "c1", "c2"]
    checkpoint.save_config(tmp_path, cfg)  # what `gridnn train` stores is what load_config checks
    assert {k: v for k, v in checkpoint.load_config(tmp_path).items()
            if k not in ("format", "version")} == cfg
    one_d = recipes.new_config(fake_bundle("mnist1d", (1, 40)), "mnist1d", model="mlp")
    assert one_d["model"]["kwargs"]["input_size"] == 40 and one_d["train"]["epochs"] == 60


@pytest.mark.parametrize("bundle, kwargs, message", [
    (fake_bundle(), {"model": "vgg16"}, "unknown model 'vgg16'; known models: digits_cnn"),
    (fake_bundle(), {"model": "lenet"}, "unknown model 'lenet' \\(did you mean 'lenet5'\\?\\)"),
    (fake_bundle(), {"val_split": 1.0}, r"`val_split` must be in \[0, 1\)"),
    (fake_bundle(), {"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'"),
    (fake_bundle(), {"momentum": 0.9}, r"unknown settings \['momentum'\]"),
])
def test_new_config_refuses_what_it_cannot_build(bundle, kwargs, message):
    with pytest.raises(ArgumentError, match=message):
        recipes.new_config(bundle, bundle.name, **kwargs)


def test_load_bundle_refuses_a_dataset_the_model_does_not_fit(tmp_path):
    cfg = recipes.new_config(fake_bundle(shape=(1, 4, 4), classes=10), "digits")
    with pytest.raises(DataError, match=r"dataset 'digits' has inputs \(1, 8, 8\) and 10 classes, "
                                        r"but the model in .*config.json expects \(1, 4, 4\)"):
        recipes.load_bundle(cfg, tmp_path / "config.json")


# ---- loaders ----------------------------------------------------------------------------------
def test_loaders_normalise_with_the_stored_statistics_and_augment_only_training():
    bundle = fake_bundle("cifar10", shape=(3, 8, 8))
    cfg = recipes.new_config(bundle, "cifar10")  # the cifar10 recipe augments
    train_loader, test_loader = recipes.make_loaders(bundle, cfg, batch_size=5)
    (xb, yb), = list(test_loader)
    np.testing.assert_allclose(xb, (bundle.test.x - 0.5) / 0.25, rtol=1e-6)
    np.testing.assert_array_equal(yb, bundle.test.y)
    steps = train_loader.transform.transforms
    assert [type(t).__name__ for t in steps] == ["RandomShift", "RandomHorizontalFlip",
                                                 "Normalize"]
    gray = recipes.new_config(fake_bundle(), "digits", augment=True)
    names = [type(t).__name__ for t in recipes.train_transform(gray["data"], True).transforms]
    assert names == ["RandomShift", "Normalize"]  # no mirror images of digits
    assert isinstance(recipes.train_transform(gray["data"], False), data.Normalize)


# ---- optimiser and schedule -------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", recipes.OPTIMIZERS)
@pytest.mark.parametrize("schedule", recipes.SCHEDULES)
def test_the_recipe_gives_the_same_learning_rates_in_gridnn_and_torch(optimizer, schedule):
    """benchmarks/accuracy.py builds PyTorch's side from the same recipe."""
    torch = require_torch()
    epochs, steps = 4, 3
    cfg = {"train": {"optimizer": optimizer, "schedule": schedule, "lr": 0.02,
                     "weight_decay": 1e-3, "epochs": epochs}}
    r = recipes.optimizer_recipe(cfg, steps)
    model = nn.Linear(2, 1, rng=np.random.default_rng(0))
    opt, sched, interval = recipes.make_optimizer(cfg, model, steps)
    assert interval == r.interval == ("step" if schedule == "onecycle" else "epoch")
    t_param = torch.zeros(2, requires_grad=True)
    t_opt = getattr(torch.optim, r.optimizer)([t_param], **r.optimizer_kwargs)
    t_sched = getattr(torch.optim.lr_scheduler, r.scheduler)(t_opt, **r.scheduler_kwargs) \
        if r.scheduler else None
    assert type(opt).__name__ == type(t_opt).__name__
    assert type(sched).__name__ == type(t_sched).__name__
    ours, theirs = [], []
    for _ in range(epochs):
        for _ in range(steps):
            ours.append(opt.param_groups[0]["lr"])
            theirs.append(t_opt.param_groups[0]["lr"])
            for p in model.parameters():
                p.grad = np.zeros_like(p.data)
            t_param.grad = torch.zeros(2)
            opt.step()
            t_opt.step()
            if interval == "step":
                sched.step()
                t_sched.step()
        if interval == "epoch" and sched is not None:
            sched.step()
            t_sched.step()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert len(set(ours)) > 1 or schedule == "none"


def test_unknown_optimizer_or_schedule_in_a_config_is_named():
    cfg = {"train": {"optimizer": "adamw", "schedule": "linear", "lr": 0.1, "weight_decay": 0,
                     "epochs": 2}}
    with pytest.raises(ArgumentError, match="unknown schedule 'linear'"):
        recipes.optimizer_recipe(cfg, 1)
    cfg["train"].update(optimizer="lbfgs", schedule="none")
    with pytest.raises(ArgumentError, match="unknown optimizer 'lbfgs'"):
        recipes.optimizer_recipe(cfg, 1)


# ---- the run folder ---------------------------------------------------------------------------
def test_run_files_and_epoch_printer_follow_each_epoch(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 1, 2, 2)).astype(np.float32)
    loader = data.DataLoader(data.ArrayDataset(x, np.arange(8) % 2), 4, seed=0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, rng=rng))
    callbacks = [runfolder.RunFiles(tmp_path), runfolder.EpochPrinter()]
    assert all(isinstance(c, train.Callback) for c in callbacks)
    history = train.fit(model, loader, loader, epochs=2, progress=False, callbacks=callbacks,
                        optimizer=gn.optim.SGD(model.parameters(), lr=0.1))
    rows = list(csv.DictReader(io.StringIO((tmp_path / "history.csv").read_text())))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[1]["val_accuracy"]) == pytest.approx(history["val_accuracy"][1])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert f"val loss {history['val_loss'][1]:.3f} acc {100 * history['val_accuracy'][1]:.1f}%" \
        in lines[1]


def test_epoch_line_fits_80_columns_and_names_the_split():
    row = {"epoch": 120, "train_loss": 9.8765, "train_accuracy": 1.0, "test_loss": 9.8765,
           "test_accuracy": 1.0, "seconds": 999.94}
    line = runfolder.epoch_line(row, 120)
    assert line == "epoch 120/120  train loss 9.877 acc 100.0%  test loss 9.877 acc 100.0%  " \
                   "999.9 s"
    assert len(line) <= 80
    val = runfolder.epoch_line({**row, "val_loss": 0.5, "val_accuracy": 0.5}, 120)
    assert "val loss 0.500 acc 50.0%" in val


@pytest.mark.parametrize("shape, model", [
    ((1, 40), "mnist1d_cnn"), ((1, 8, 8), "digits_cnn"), ((3, 8, 8), "fashion_cnn"),
    ((1, 28, 28), "fashion_cnn"), ((3, 32, 32), "fashion_cnn"), ((3, 96, 96), "resnet_small"),
])
def test_an_image_folder_gets_a_model_that_fits_its_images(shape, model):
    assert recipes.default_model(shape) == model
    cfg = recipes.new_config(fake_bundle("my/images", shape), "my/images")
    assert cfg["model"]["name"] == model
    built = checkpoint.build_model(cfg, Path("config.json"))  # the model takes those inputs
    out = built(gn.tensor(np.zeros((2, *shape), np.float32)))
    assert out.shape == (2, 3)


def test_val_split_holds_out_a_stratified_seeded_share_of_the_training_data():
    y = np.repeat(np.arange(4), 25)
    x = np.arange(100, dtype=np.float32).reshape(100, 1, 1, 1)
    bundle = data.make_bundle("digits", x, y, x[:8], y[:8], list("abcd"))
    cfg = recipes.new_config(bundle, "digits", val_split=0.2, seed=1)
    train_set, val_set = recipes.validation_split(bundle, cfg)
    assert len(val_set) == 20 and len(train_set) == 80
    assert np.bincount(val_set.y).tolist() == [5, 5, 5, 5]  # stratified
    assert not set(val_set.x.ravel()) & set(train_set.x.ravel())  # disjoint, none lost
    assert sorted([*val_set.x.ravel(), *train_set.x.ravel()]) == list(range(100))
    again = recipes.validation_split(bundle, cfg)[1]
    assert np.array_equal(again.x, val_set.x)  # seeded
    other = recipes.validation_split(bundle, {**cfg, "train": {**cfg["train"], "seed": 2}})[1]
    assert not np.array_equal(other.x, val_set.x)
    loader, test_loader = recipes.make_loaders(bundle, cfg)
    assert len(loader.dataset) == 80 and len(test_loader.dataset) == 8
    assert recipes.validation_split(bundle, recipes.new_config(bundle, "digits"))[1] is None


def test_a_run_folder_is_made_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = recipes.new_config(fake_bundle(), "digits")
    first = runfolder.default_out(cfg)
    assert first.parent.name == "runs" and first.name.startswith("digits-digits_cnn-")
    runfolder.create(first, cfg)
    second = runfolder.default_out(cfg)
    assert second != first and not second.exists()
    with pytest.raises(ArgumentError, match="already holds a run"):
        runfolder.create(first, cfg)
    # stopped before its first checkpoint: resumable from the start
    assert runfolder.open_to_resume(first)["model"] == cfg["model"]
    (first / "model.safetensors").write_bytes(b"")  # finished, no checkpoint: never retrained
    with pytest.raises(DataError, match="has no checkpoint/ to resume from"):
        runfolder.open_to_resume(first)
