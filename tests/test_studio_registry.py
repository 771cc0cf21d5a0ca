"""The studio's registry: which runs and models are served, by opaque id, and what is refused.

Traversal through the HTTP API (``..``, absolute paths, URL-encoded, symlinks) is tested in
test_studio_models.py; here the registry itself: sources resolved once at start, symlinks that
leave a folder refused, unfinished runs listed with their state.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("starlette")

from gridnn import models  # noqa: E402
from gridnn.checkpoint import CHECKPOINT_DIR, WEIGHTS_FILE  # noqa: E402
from gridnn.errors import ArgumentError, DataError  # noqa: E402
from gridnn.studio.http import ApiError  # noqa: E402
from gridnn.studio.registry import Registry  # noqa: E402
from test_studio_models import trained_digits_run  # noqa: E402


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    return trained_digits_run(tmp_path_factory)


def test_zoo_models_get_opaque_ids_and_their_documented_input_shape():
    reg = Registry.from_sources(["fashion_cnn", "mnist1d_cnn"], runs_dir=None)
    listed = reg.entries()
    assert [e["name"] for e in listed] == ["fashion_cnn", "mnist1d_cnn"]
    for e in listed:
        assert e["kind"] == "zoo" and e["state"] == "untrained"
        assert tuple(e["input_shape"]) == models.default_input_shape(e["name"])
        assert reg.get(e["id"]).name == e["name"]
    assert len({e["id"] for e in listed}) == 2


def test_listing_holds_no_paths(digits_run):
    reg = Registry.from_sources([str(digits_run)], runs_dir=None)
    text = json.dumps(reg.entries())
    assert str(digits_run.parent) not in text and "/" not in text
    assert reg.entries()[0]["state"] == "finished"


def test_unknown_id_is_404_and_never_a_path(digits_run):
    reg = Registry.from_sources([str(digits_run)], runs_dir=None)
    for bad in ["..", str(digits_run), "r0", "r0-run/../r0-run", "", None]:
        with pytest.raises(ApiError) as info:
            reg.get(bad)
        assert info.value.status == 404 and info.value.field == "id"


def test_unknown_source_is_refused_at_start(tmp_path):
    with pytest.raises(ArgumentError, match="neither a run folder, an .onnx file nor a zoo model"):
        Registry.from_sources([str(tmp_path / "nope")], runs_dir=None)
    with pytest.raises(ArgumentError, match="neither a run folder, an .onnx file nor a zoo model"):
        Registry.from_sources(["resnet_huge"], runs_dir=None)


def test_folder_without_run_is_refused_at_start(tmp_path):
    with pytest.raises(DataError, match="config.json"):
        Registry.from_sources([str(tmp_path)], runs_dir=None)


def test_command_line_symlink_leaving_its_parent_is_refused(digits_run, tmp_path):
    inside = tmp_path / "here"
    inside.mkdir()
    link = inside / "run"
    link.symlink_to(digits_run)  # digits_run lies outside tmp_path/here
    with pytest.raises(ArgumentError, match="symlink .* outside its folder"):
        Registry.from_sources([str(link)], runs_dir=None)


def test_command_line_symlink_inside_its_parent_is_served(digits_run, tmp_path):
    copy = tmp_path / "real"
    shutil.copytree(digits_run, copy)
    (tmp_path / "alias").symlink_to(copy)
    reg = Registry.from_sources([str(tmp_path / "alias")], runs_dir=None)
    assert reg.entries()[0]["state"] == "finished"


def test_runs_dir_is_scanned_and_escaping_symlinks_are_refused(digits_run, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(digits_run, runs / "a")
    (runs / "escape").symlink_to(digits_run)  # outside runs/
    (runs / "notes.txt").write_text("not a run")
    reg = Registry.from_sources([], runs_dir=runs)
    assert [e["name"] for e in reg.entries()] == ["a"]
    assert len(reg.refused) == 1 and "escape" in reg.refused[0]


def test_run_whose_weights_link_outside_is_refused(digits_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    (run / WEIGHTS_FILE).unlink()
    (run / WEIGHTS_FILE).symlink_to(digits_run / WEIGHTS_FILE)
    with pytest.raises(DataError, match="symlink leading outside its run folder"):
        Registry.from_sources([str(run)], runs_dir=None)
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(run, runs / "b", symlinks=True)
    reg = Registry.from_sources([], runs_dir=runs)
    assert reg.entries() == [] and "symlink leading outside" in reg.refused[0]


def test_unfinished_run_is_listed_with_its_state(digits_run, tmp_path):
    run = tmp_path / "unfinished"
    shutil.copytree(digits_run, run)
    (run / WEIGHTS_FILE).unlink()
    assert (run / CHECKPOINT_DIR).is_dir()
    reg = Registry.from_sources([str(run)], runs_dir=None)
    entry = reg.entries()[0]
    assert entry["state"] == "unfinished"
    with pytest.raises(ApiError) as info:
        reg.get(entry["id"]).model()
    assert info.value.status == 409 and "unfinished" in info.value.message


def test_the_same_run_twice_is_listed_once(digits_run, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copytree(digits_run, runs / "a")
    reg = Registry.from_sources([str(runs / "a")], runs_dir=runs)
    assert len(reg.entries()) == 1


def test_a_run_whose_dataset_is_missing_is_served_without_downloading(digits_run, tmp_path,
                                                                      monkeypatch):
    from gridnn.data import sources
    from gridnn.studio import inspect_data

    def no_download(*args, **kwargs):
        raise AssertionError("the studio tried to download a dataset")

    monkeypatch.setattr(sources, "_download", no_download)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GRIDNN_DATA", raising=False)
    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    config = json.loads((run / "config.json").read_text())
    config["data"].update(name="mnist", data_dir=str(tmp_path / "nothing"))
    (run / "config.json").write_text(json.dumps(config))
    entry = Registry.from_sources([str(run)], runs_dir=None).get("r0-run")
    info = inspect_data.model_info(entry)
    assert info["samples"] == 0 and "downloads nothing" in info["dataset_error"]
    out = inspect_data.predict(entry, np.zeros((1, 8, 8)))
    assert len(out["top"]) == 5
    with pytest.raises(ApiError) as err:
        inspect_data.confusion(entry)
    assert err.value.status == 404


def test_an_onnx_file_is_served_with_its_graphs_shapes_and_predictions(tmp_path):
    """`gridnn studio model.onnx`: loaded once at start, listed as 'onnx', and its predictions
    are those of the model that was exported."""
    pytest.importorskip("onnx")
    from starlette.testclient import TestClient

    import gridnn as gn
    from gridnn.studio.app import create_app

    model = models.build("lenet5", seed=3)
    model.eval()
    gn.onnx.export(model, tmp_path / "lenet.onnx", input_shape=(1, 28, 28))
    reg = Registry.from_sources([str(tmp_path / "lenet.onnx")], runs_dir=None)
    (entry,) = reg.entries()
    assert entry["kind"] == "onnx" and entry["state"] == "imported"
    assert tuple(entry["input_shape"]) == (1, 28, 28) and entry["classes"] == 10
    client = TestClient(create_app(reg), base_url="http://127.0.0.1:8000")
    x = np.random.default_rng(0).random((1, 28, 28))
    out = client.post(f"/api/models/{entry['id']}/predict", json={"input": x.tolist()}).json()
    probs = gn.functional.softmax(model(gn.tensor(x[None].astype(np.float32))), dim=1).data[0]
    np.testing.assert_allclose([t["p"] for t in out["top"]], np.sort(probs)[::-1][:5],
                               rtol=1e-4, atol=1e-6)
    assert [layer["name"] for layer in out["layers"]][:2] == \
        [layer["name"] for layer in client.get(f"/api/models/{entry['id']}").json()["layers"]][:2]


def test_a_corrupt_onnx_file_is_refused_at_start(tmp_path):
    pytest.importorskip("onnx")
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07not a model")
    with pytest.raises(DataError):
        Registry.from_sources([str(tmp_path / "bad.onnx")], runs_dir=None)
