"""Run folders: safetensors weights, checked config and checkpoints, and fuzzed loaders.

The fuzz tests feed thousands of mutated and truncated config/state JSON and safetensors files
to the loaders; the only outcomes allowed are a correct load or ``DataError``. Inputs tried per
run (hypothesis max_examples): 800 + 800 + 800 + 500 + 500 + 300 = 3,700.
"""

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gridnn.nn as nn
from gridnn import checkpoint as ck
from gridnn import optim
from gridnn.errors import DataError
from gridnn.fileio import sha256


def small_model(seed=0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Conv2d(1, 2, 3, rng=rng), nn.BatchNorm2d(2), nn.ReLU(),
                         nn.Dropout(0.3, rng=rng), nn.Flatten(), nn.Linear(8, 3, rng=rng))


def trained_objects(seed=0):
    """A model, Adam and one-cycle schedule after two steps (so every state slot is filled)."""
    import gridnn as gn
    from gridnn import functional as F

    model = small_model(seed)
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.OneCycleLR(opt, max_lr=0.01, total_steps=10)
    x = np.random.default_rng(1).standard_normal((4, 1, 4, 4)).astype(np.float32)
    for _ in range(2):
        opt.zero_grad()
        F.cross_entropy(model(gn.tensor(x)), np.array([0, 1, 2, 0])).backward()
        opt.step()
        sched.step()
    return model, opt, sched


# ---- a checkpoint cut short ----------------------------------------------------------------
def test_a_checkpoint_that_fails_midway_leaves_the_previous_one_loadable(tmp_path, monkeypatch):
    model, opt, sched = trained_objects()
    ck.save_checkpoint(tmp_path, model=model, optimizer=opt, scheduler=sched,
                       progress={"epoch": 1, "step": 0, "history": [], "running": {}})
    saved = model.state_dict()
    model2, opt2, sched2 = trained_objects(seed=5)

    def crash(path, obj):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(ck, "write_json", crash)  # dies before state.json is replaced
    with pytest.raises(OSError):
        ck.save_checkpoint(tmp_path, model=model2, optimizer=opt2, scheduler=sched2,
                           progress={"epoch": 2, "step": 0, "history": [], "running": {}})
    monkeypatch.undo()
    fresh, fresh_opt, fresh_sched = trained_objects(seed=7)
    progress = ck.load_checkpoint(tmp_path, model=fresh, optimizer=fresh_opt,
                                  scheduler=fresh_sched)
    assert progress["epoch"] == 1
    for k, v in saved.items():
        np.testing.assert_array_equal(fresh.state_dict()[k], v)


# ---- weights and checkpoints round trip ------------------------------------------------------
def test_weights_round_trip_and_are_plain_safetensors(tmp_path):
    import safetensors.numpy

    model, _, _ = trained_objects()
    ck.save_weights(model, tmp_path / "m.safetensors")
    raw = safetensors.numpy.load_file(str(tmp_path / "m.safetensors"))
    assert list(raw) == list(model.state_dict()) or set(raw) == set(model.state_dict())
    other = small_model(seed=3)
    ck.load_weights(other, tmp_path / "m.safetensors")
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[k], v)
        assert other.state_dict()[k].shape == v.shape


def test_checkpoint_round_trip_restores_everything(tmp_path):
    model, opt, sched = trained_objects()
    progress = {"epoch": 3, "step": 2, "history": [{"epoch": 1, "train_loss": 0.5}],
                "running": {"loss_sum": 1.25}}
    ck.save_checkpoint(tmp_path, model=model, optimizer=opt, scheduler=sched, progress=progress)
    ck.save_checkpoint(tmp_path, model=model, optimizer=opt, scheduler=sched, progress=progress)
    assert sorted(p.name for p in tmp_path.iterdir())[-1] == "state.json"
    assert len(list(tmp_path.glob("*.safetensors"))) == 2  # stale files removed
    m2, o2, s2 = trained_objects(seed=4)
    assert ck.load_checkpoint(tmp_path, model=m2, optimizer=o2, scheduler=s2) == progress
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(m2.state_dict()[k], v)
    a, b = opt.state_dict(), o2.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for i, slots in a["state"].items():
        for name, v in slots.items():
            np.testing.assert_array_equal(b["state"][i][name], v)
    assert s2.state_dict() == json.loads(json.dumps(sched.state_dict()))
    assert m2[3].rng.bit_generator.state == model[3].rng.bit_generator.state


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("0.weight"), r"missing '0.weight'"),
    (lambda s: s.update(extra=np.zeros(2, np.float32)), r"unexpected 'extra'"),
    (lambda s: s.update({"5.bias": np.zeros(4, np.float32)}),
     r"'5.bias' has shape \(4,\), the model expects \(3,\)"),
    (lambda s: s.update({"5.bias": np.zeros(3, np.int32)}), r"'5.bias' has dtype int32"),
])
def test_load_weights_names_the_file_and_the_mismatch(tmp_path, change, message):
    import safetensors.numpy

    state = small_model().state_dict()
    change(state)
    path = tmp_path / "w.safetensors"
    safetensors.numpy.save_file(state, str(path))
    with pytest.raises(DataError, match=message) as info:
        ck.load_weights(small_model(), path)
    assert str(path) in str(info.value)


def test_missing_and_garbage_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match=r"weights file not found: .*nope.safetensors"):
        ck.load_weights(small_model(), tmp_path / "nope.safetensors")
    (tmp_path / "bad.safetensors").write_bytes(b"\x05\x00")
    with pytest.raises(DataError, match=r"bad.safetensors is not a valid safetensors file"):
        ck.load_weights(small_model(), tmp_path / "bad.safetensors")


def test_a_pickle_is_never_unpickled(tmp_path):
    """A pickle that would run code, placed where weights belong, is just a bad file."""
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(DataError, match="not a valid safetensors file"):
        ck.load_weights(small_model(), path)
    assert not (tmp_path / "pwned").exists()


def good_config():
    return {"model": {"name": "mlp", "kwargs": {"in_channels": 1, "num_classes": 3}},
            "data": {"name": "digits", "data_dir": None, "input_shape": [1, 8, 8],
                     "num_classes": 3, "class_names": ["a", "b", "c"], "mean": [0.5],
                     "std": [0.25]},
            "train": {"epochs": 2, "batch_size": 8, "lr": 0.1, "optimizer": "adamw",
                      "weight_decay": 0.0, "schedule": "onecycle", "augment": False, "seed": 0}}


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.pop("model"), r"missing field 'model'"),
    (lambda c: c["model"].update(name=3), r"field 'model.name' should be str, found 3"),
    (lambda c: c["data"].update(input_shape=[1, 0, 8]), r"input_shape should be \(C, \*S\): 2 "
                                                         r"to 4 positive ints"),
    (lambda c: c["data"].update(input_shape=[1, 100000, 100000]), r"at most 16777216 values"),
    (lambda c: c["data"].update(input_shape=[10 ** 400, 1]), r"input_shape should be"),
    (lambda c: c["data"].update(num_classes=250000), r"'data.num_classes' should be <= 65536"),
    (lambda c: c["train"].update(epochs=10 ** 300), r"'train.epochs' should be <= 1000000"),
    (lambda c: c["train"].update(lr=10 ** 400), r"train.lr should be a finite number > 0"),
    (lambda c: c["data"].update(mean=[10 ** 400]), r"data.mean should be 1 finite numbers"),
    (lambda c: c["data"].update(image_size=[100000, 100000]), r"data.image_size should be"),
    (lambda c: c["data"].update(num_classes=True), r"'data.num_classes' should be int"),
    (lambda c: c["data"].update(class_names=["a"]), r"class_names should be 3 strings"),
    (lambda c: c["data"].update(std=[0.0]), r"data.std should be 1 finite numbers"),
    (lambda c: c["train"].update(lr=0), r"train.lr should be a finite number > 0 \(at most "
                                        r"1e\+06\), found 0"),
    (lambda c: c["train"].update(weight_decay=-1), r"train.weight_decay should be a finite "
                                                   r"number >= 0"),
    (lambda c: c["train"].update(batch_size=0), r"'train.batch_size' should be >= 1"),
    (lambda c: c["train"].pop("seed"), r"missing field 'train.seed'"),
    (lambda c: c["train"].update(augment="yes"), r"'train.augment' should be bool"),
    (lambda c: c.update(version=99), r"unsupported version 99"),
    (lambda c: c.update(format="other"), r"is not a gridnn run config"),
])
def test_load_config_checks_every_field(tmp_path, edit, message):
    ck.save_config(tmp_path, good_config())
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert ck.load_config(tmp_path) == cfg
    edit(cfg)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(DataError, match=message) as info:
        ck.load_config(tmp_path)
    assert "config.json" in str(info.value)


def test_load_config_without_a_folder_or_file(tmp_path):
    with pytest.raises(DataError, match=r"run folder not found: .*missing"):
        ck.load_config(tmp_path / "missing")
    with pytest.raises(DataError, match=r"run config not found: .*config.json"):
        ck.load_config(tmp_path)


def test_checkpoint_with_a_corrupted_array_file_is_refused(tmp_path):
    model, opt, sched = trained_objects()
    ck.save_checkpoint(tmp_path, model=model, optimizer=opt, scheduler=sched,
                       progress={"epoch": 1, "step": 0, "history": [], "running": {}})
    victim = next(tmp_path.glob("optimizer-*.safetensors"))
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"does not match its checksum"):
        ck.load_checkpoint(tmp_path, model=model, optimizer=opt, scheduler=sched)


# ---- fuzzing ---------------------------------------------------------------------------------
def fuzz(n):
    return settings(max_examples=n, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=6)


def _paths(obj, prefix=()):
    """Every (container path, key) in a JSON value, for mutation."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(
        obj, list) else ()
    for k, v in items:
        yield prefix, k
        yield from _paths(v, (*prefix, k))


def _at(obj, path):
    for k in path:
        obj = obj[k]
    return obj


@st.composite
def json_mutation(draw, base):
    """``base`` with one leaf replaced, one key removed, or one key added."""
    doc = json.loads(json.dumps(base))
    spots = list(_paths(doc))
    where, key = draw(st.sampled_from(spots))
    parent = _at(doc, where)
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "delete" and isinstance(parent, dict):
        del parent[key]
    elif action == "add" and isinstance(parent, dict):
        parent[draw(st.text(max_size=6))] = draw(json_values)
    else:
        parent[key] = draw(json_values)
    return doc


@st.composite
def byte_mutation(draw, base: bytes):
    """``base`` truncated, with bytes flipped, or with bytes inserted."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "header_length"]))
        if kind == "truncate":
            del data[draw(st.integers(0, len(data))):]
        elif kind == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        elif kind == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif len(data) >= 8:  # a header that promises more (or fewer) bytes than there are
            data[:8] = struct.pack("<Q", draw(st.integers(0, 2**64 - 1)))
    return bytes(data)


def _write_checkpoint(folder: Path):
    model, opt, sched = trained_objects()
    ck.save_checkpoint(folder, model=model, optimizer=opt, scheduler=sched,
                       progress={"epoch": 1, "step": 3, "history": [{"epoch": 1, "x": 0.5}],
                                 "running": {"loss_sum": 2.0}})


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    _write_checkpoint(folder)
    return folder


def _try_load(folder):
    model, opt, sched = trained_objects(seed=2)
    try:
        ck.load_checkpoint(folder, model=model, optimizer=opt, scheduler=sched)
    except DataError:
        pass


def _copy(src: Path, dst: Path):
    dst.mkdir(exist_ok=True)
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())


@fuzz(800)
@given(data=st.data())
def test_fuzz_checkpoint_state_json(ckpt_dir, tmp_path_factory, data):
    base = json.loads((ckpt_dir / "state.json").read_text())
    folder = tmp_path_factory.mktemp("fz")
    _copy(ckpt_dir, folder)
    (folder / "state.json").write_text(json.dumps(data.draw(json_mutation(base))))
    _try_load(folder)


@fuzz(800)
@given(data=st.data())
def test_fuzz_checkpoint_bytes(ckpt_dir, tmp_path_factory, data):
    """Byte-level damage to state.json or to an array file whose checksum is then updated (so
    the safetensors parser and the shape checks are what must catch it)."""
    folder = tmp_path_factory.mktemp("fz")
    _copy(ckpt_dir, folder)
    state = json.loads((folder / "state.json").read_text())
    target = data.draw(st.sampled_from(["state.json", "model", "optimizer"]))
    if target == "state.json":
        raw = (folder / "state.json").read_bytes()
        (folder / "state.json").write_bytes(data.draw(byte_mutation(raw)))
    else:
        path = folder / state["files"][target]["file"]
        damaged = data.draw(byte_mutation(path.read_bytes()))
        path.write_bytes(damaged)
        state["files"][target]["sha256"] = sha256(damaged)
        (folder / "state.json").write_text(json.dumps(state))
    _try_load(folder)


@fuzz(800)
@given(data=st.data())
def test_fuzz_weights_file(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("w")
    model = small_model()
    ck.save_weights(model, folder / "m.safetensors")
    damaged = data.draw(byte_mutation((folder / "m.safetensors").read_bytes()))
    (folder / "m.safetensors").write_bytes(damaged)
    try:
        ck.load_weights(small_model(seed=1), folder / "m.safetensors")
    except DataError:
        pass


@fuzz(500)
@given(doc=json_mutation(good_config()))
def test_fuzz_config_json(tmp_path_factory, doc):
    folder = tmp_path_factory.mktemp("cfg")
    (folder / "config.json").write_text(json.dumps({"format": "gridnn-run", "version": 1,
                                                    **doc}))
    try:
        cfg = ck.load_config(folder)
    except DataError:
        return
    assert isinstance(cfg["model"]["name"], str) and isinstance(cfg["data"]["input_shape"], list)


@fuzz(500)
@given(data=st.data())
def test_fuzz_config_bytes(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("cfg")
    ck.save_config(folder, good_config())
    raw = (folder / "config.json").read_bytes()
    (folder / "config.json").write_bytes(data.draw(byte_mutation(raw)))
    try:
        ck.load_config(folder)
    except DataError:
        pass


def _write_run(folder: Path):
    from gridnn import models

    cfg = good_config()
    cfg["model"] = {"name": "mlp", "kwargs": {"in_channels": 1, "input_size": [8, 8],
                                              "num_classes": 3, "hidden": [16], "seed": 0}}
    ck.save_config(folder, cfg)
    ck.save_weights(models.build("mlp", **cfg["model"]["kwargs"]), folder / "model.safetensors")
    return cfg


def test_load_run_builds_the_model_with_its_weights(tmp_path):
    from gridnn import models

    cfg = _write_run(tmp_path)
    model, config = ck.load_run(tmp_path)
    assert config["model"] == cfg["model"] and not model.training
    ref = models.build("mlp", **cfg["model"]["kwargs"])
    for k, v in ref.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k], v)


def test_a_config_asking_for_a_huge_model_fails_fast_without_filling_memory(tmp_path):
    """hidden=[40000, 40000] would be 6.4 GB of weights; the build gets a memory budget."""
    cfg = _write_run(tmp_path)
    cfg["model"]["kwargs"]["hidden"] = [40_000, 40_000]
    (tmp_path / "config.json").write_text(json.dumps({"format": "gridnn-run", "version": 1,
                                                      **cfg}))
    with pytest.raises(DataError, match=r"config.json: model 'mlp' .* needs far more memory"):
        ck.load_run(tmp_path)


@fuzz(300)
@given(doc=json_mutation({"model": {"name": "mlp", "kwargs": {
    "in_channels": 1, "input_size": [8, 8], "num_classes": 3, "hidden": [16], "seed": 0}}}))
def test_fuzz_load_run_model_spec(tmp_path_factory, doc):
    """Mutated model names and arguments: the model builds and its weights fit, or DataError."""
    folder = tmp_path_factory.mktemp("run")
    cfg = _write_run(folder)
    (folder / "config.json").write_text(json.dumps({"format": "gridnn-run", "version": 1,
                                                    **{**cfg, **doc}}))
    try:
        ck.load_run(folder)
    except DataError:
        pass
