"""The model page's JSON API through Starlette's test client, checked against gridnn itself:
the layer table against ``gn.summary`` and ``receptive_field``, predictions against the run
loaded by ``explain.runs`` and against ``gridnn predict``, feature maps against a traced
forward pass, kernels and filters against the weights, curves against history.csv. Then every
bad input: a 400/404 naming the field, and no path from a request ever opened."""

from __future__ import annotations

import base64
import csv
import io
import math
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

import gridnn as gn  # noqa: E402
from gridnn import cli  # noqa: E402
from gridnn.explain import receptive_field, runs  # noqa: E402
from gridnn.nn.trace import trace  # noqa: E402
from gridnn.studio.app import create_app  # noqa: E402
from gridnn.studio.registry import Registry  # noqa: E402


def trained_digits_run(tmp_path_factory) -> Path:
    """A digits_cnn run trained for one epoch by the CLI (same files as 'gridnn train'), made
    once per test session (the registry and browser tests share it)."""
    out = tmp_path_factory.getbasetemp() / "studio-runs" / "digits-run"
    if not (out / "model.safetensors").is_file():
        assert cli.main(["train", "--data", "digits", "--epochs", "1", "--out", str(out),
                         "--no-progress"]) == 0
    return out


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    return trained_digits_run(tmp_path_factory)


@pytest.fixture(scope="module")
def client(digits_run):
    reg = Registry.from_sources([str(digits_run), "mnist1d_cnn", "fashion_cnn"], runs_dir=None)
    with TestClient(create_app(reg), base_url="http://127.0.0.1:8000") as c:
        c.ids = {e["name"]: e["id"] for e in reg.entries()}
        c.run_id, c.m1d_id = c.ids["digits-run"], c.ids["mnist1d_cnn"]
        yield c


@pytest.fixture(scope="module")
def run(digits_run):
    return runs.load(digits_run)


def _maps(layer: dict) -> np.ndarray:
    """Dequantise one layer of a predict answer: (maps, *map_shape) floats."""
    q = np.frombuffer(base64.b64decode(layer["data"]), np.uint8).astype(np.float64)
    scale = (layer["hi"] - layer["lo"]) / 255
    return (layer["lo"] + q * scale).reshape(layer["maps"], *layer["map_shape"])


def _bad(response, status: int, field: str | None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["field"] == field and "Traceback" not in body["error"]
    return body["error"]


# ---- info -----------------------------------------------------------------------------------
def test_info_layers_are_the_library_summary_and_receptive_fields(client, run):
    info = client.get(f"/api/models/{client.run_id}").json()
    table = gn.summary(run.model, run.input_shape)
    fields = receptive_field(run.model, run.input_shape).layers
    assert len(info["layers"]) == len(table.rows) == len(fields)
    for got, row, rf in zip(info["layers"], table.rows, fields):
        assert (got["name"], got["kind"], tuple(got["output_shape"]), got["params"],
                got["connections"], got["mlp_weights"]) == (
            row.name, row.kind, row.output_shape, row.params, row.connections, row.mlp_weights)
        assert got["receptive_field"]["size"] == list(rf.size)
    assert info["total_params"] == table.total_params
    assert info["samples"] == len(run.x_test) and info["has_history"]
    assert info["class_names"] == run.class_names


# ---- predict --------------------------------------------------------------------------------
def test_predict_drawn_input_matches_the_run(client, run):
    x = np.zeros(run.input_shape)
    x[0, 1:7, 3:5] = 1.0  # a vertical bar
    out = client.post(f"/api/models/{client.run_id}/predict", json={"input": x.tolist()}).json()
    probs = gn.functional.softmax(gn.Tensor(run.logits(x[None].astype(np.float32))), dim=1).data[0]
    order = np.argsort(-probs, kind="stable")[:5]
    assert [t["class"] for t in out["top"]] == order.tolist()
    np.testing.assert_allclose([t["p"] for t in out["top"]], probs[order], rtol=1e-5)
    assert out["label"] is None and np.array_equal(out["input"], x)


def test_predict_feature_maps_are_the_traced_layer_outputs(client, run):
    out = client.post(f"/api/models/{client.run_id}/predict", json={"sample": 7}).json()
    x, label = run.sample(7)
    assert out["label"] == label
    np.testing.assert_allclose(out["input"], x, atol=1e-4)
    _, calls = trace(run.model, run.input_shape, sample=run.normalize(x[None])[0])
    assert len(out["layers"]) == len(calls)
    for layer, call in zip(out["layers"], calls):
        want = call.output.data[0]
        got = _maps(layer)
        if want.ndim == 1:
            want = want[None, ::layer["step"]]
        tol = (layer["hi"] - layer["lo"]) / 255 / 2 + 1e-5
        np.testing.assert_allclose(got, want, atol=tol)


def test_predict_upload_matches_gridnn_predict(client, digits_run, tmp_path, capsys):
    from PIL import Image

    pixels = np.zeros((16, 16), np.uint8)
    pixels[2:14, 6:10] = 255  # a "1" at twice the model's size: the upload is scaled
    path = tmp_path / "one.png"
    Image.fromarray(pixels).save(path)
    capsys.readouterr()
    assert cli.main(["predict", str(digits_run), str(path), "--resize", "--top", "3"]) == 0
    printed = capsys.readouterr().out.split(": ", 1)[1].split()
    body = {"upload": base64.b64encode(path.read_bytes()).decode(), "filename": "one.png"}
    out = client.post(f"/api/models/{client.run_id}/predict", json=body).json()
    got = [(t["name"], f"{t['p']:.3f}") for t in out["top"][:3]]
    assert got == list(zip(printed[::2], printed[1::2]))
    assert out["changes"] == ["resized from 16x16 to 8x8"]


@pytest.mark.parametrize("invert", [False, True])
def test_upload_says_what_was_done_as_gridnn_predict_does(client, digits_run, tmp_path, capsys,
                                                          invert):
    """A dark digit on white paper is inverted (the digits are light on dark) and resized, and
    the answer lists both changes: the words and the numbers of `gridnn predict`'s note."""
    from PIL import Image

    pixels = np.zeros((24, 24), np.uint8)
    pixels[3:21, 10:14] = 255
    path = tmp_path / "drawn.png"
    Image.fromarray(255 - pixels if invert else pixels).save(path)
    capsys.readouterr()
    assert cli.main(["predict", str(digits_run), str(path), "--top", "1"]) == 0
    printed = capsys.readouterr()
    body = {"upload": base64.b64encode(path.read_bytes()).decode(), "filename": "drawn.png"}
    out = client.post(f"/api/models/{client.run_id}/predict", json=body).json()
    assert ("inverted" in " ".join(out["changes"])) is invert
    assert f"{path}: " + "; ".join(out["changes"]) in printed.err
    name, p = printed.out.split(": ", 1)[1].split()
    assert (out["top"][0]["name"], f"{out['top'][0]['p']:.3f}") == (name, p)


def test_predict_1d_model(client):
    x = np.sin(np.linspace(0, 6, 40))[None]
    out = client.post(f"/api/models/{client.m1d_id}/predict", json={"input": x.tolist()}).json()
    model = gn.models.build("mnist1d_cnn", seed=0)
    model.eval()
    probs = gn.functional.softmax(model(gn.Tensor(x[None].astype(np.float32))), dim=1).data[0]
    np.testing.assert_allclose([t["p"] for t in out["top"]], np.sort(probs)[::-1][:5], rtol=1e-5)
    first = out["layers"][0]
    assert first["map_shape"] == [20] and first["maps"] == 64
    npy = io.BytesIO()
    np.save(npy, x.astype(np.float32))
    body = {"upload": base64.b64encode(npy.getvalue()).decode(), "filename": "s.npy"}
    again = client.post(f"/api/models/{client.m1d_id}/predict", json=body).json()
    assert [t["class"] for t in again["top"]] == [t["class"] for t in out["top"]]


def test_predict_model_that_is_not_a_plain_sequential():
    """A model whose output is not its last layer's (here: doubled) is run once more for it."""
    from gridnn.studio import inspect_data
    from gridnn.studio.registry import Entry

    class Doubled(gn.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = gn.models.build("digits_cnn", seed=1)

        def forward(self, x):
            return self.body(x) * 2.0

    model = Doubled()
    model.eval()
    entry = Entry("x0", "doubled", "zoo", "untrained", (1, 8, 8), [str(i) for i in range(10)])
    entry._model = model
    x = np.random.default_rng(0).random((1, 8, 8))
    got = inspect_data.predict(entry, x)["top"]
    probs = gn.functional.softmax(model(gn.Tensor(x[None].astype(np.float32))), dim=1).data[0]
    np.testing.assert_allclose([t["p"] for t in got], np.sort(probs)[::-1][:5], rtol=1e-5)


def test_predict_bad_inputs(client, run):
    url = f"/api/models/{client.run_id}/predict"
    assert "exactly one of" in _bad(client.post(url, json={}), 400, "input")
    assert "exactly one of" in _bad(client.post(url, json={"input": [], "sample": 1}), 400,
                                    "input")
    assert "[1, 8, 8]" in _bad(client.post(url, json={"input": np.zeros((1, 8, 7)).tolist()}),
                               400, "input")
    assert "64 values" in _bad(client.post(url, json={"input": [[[0.0] * 5000]]}), 400, "input")
    assert "finite" in _bad(client.post(url, content=b'{"input": [[[Infinity]]]}'), 400, "input")
    assert "1e+06" in _bad(client.post(url, json={"input": np.full((1, 8, 8), 1e9).tolist()}),
                           400, "input")
    n = len(run.x_test)
    assert f"[0, {n - 1}]" in _bad(client.post(url, json={"sample": n}), 400, "sample")
    assert f"[0, {n - 1}]" in _bad(client.post(url, json={"sample": -1}), 400, "sample")
    _bad(client.post(url, json={"sample": "3"}), 400, "sample")
    _bad(client.post(url, content=b"{not json"), 400, None)
    _bad(client.post(f"/api/models/{client.ids['fashion_cnn']}/predict", json={"sample": 0}),
         404, "id")


def test_upload_bad_inputs(client):
    url = f"/api/models/{client.run_id}/predict"
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 40).decode()
    assert ".png" in _bad(client.post(url, json={"upload": png, "filename": "x.gif"}), 400,
                          "filename")
    _bad(client.post(url, json={"upload": png}), 400, "filename")
    _bad(client.post(url, json={"upload": png, "filename": "../../etc/passwd"}), 400, "filename")
    assert "base64" in _bad(client.post(url, json={"upload": "@@@", "filename": "x.png"}), 400,
                            "upload")
    assert "not a PNG or JPEG" in _bad(client.post(url, json={"upload": png,
                                                              "filename": "x.png"}),
                                       400, "upload")
    npy = io.BytesIO()
    np.save(npy, np.zeros((3, 3), np.float32))
    wrong = base64.b64encode(npy.getvalue()).decode()
    assert "does not fit" in _bad(client.post(url, json={"upload": wrong, "filename": "a.npy"}),
                                  400, "upload")
    from PIL import Image

    img = io.BytesIO()
    Image.fromarray(np.zeros((40, 8), np.uint8)).save(img, format="PNG")
    m1d = f"/api/models/{client.m1d_id}/predict"
    body = {"upload": base64.b64encode(img.getvalue()).decode(), "filename": "a.png"}
    assert "not images" in _bad(client.post(m1d, json=body), 400, "upload")  # as gridnn predict


# ---- receptive field and kernels ---------------------------------------------------------------
@pytest.mark.parametrize("layer,position", [(0, [0, 0]), (3, [4, 4]), (4, [0, 7]), (6, [1, 2])])
def test_receptive_field_is_the_library_mask(client, run, layer, position):
    out = client.post(f"/api/models/{client.run_id}/receptive-field",
                      json={"layer": layer, "channel": 5, "position": position}).json()
    want = receptive_field(run.model, run.input_shape, tuple(position), layer=str(layer))
    assert np.array_equal(np.array(out["mask"], bool), want.mask)
    seen = np.argwhere(want.mask)
    assert out["lo"] == seen.min(axis=0).tolist() and out["hi"] == seen.max(axis=0).tolist()
    assert out["count"] == len(seen)


def test_kernel_of_a_map_is_the_convolution_that_made_it(client, run):
    url = f"/api/models/{client.run_id}/receptive-field"
    conv = run.model[3]
    for layer in (3, 4, 5):  # the conv itself, then BatchNorm and ReLU after it
        kernel = client.post(url, json={"layer": layer, "channel": 9,
                                        "position": [2, 2]}).json()["kernel"]
        assert kernel["layer"] == 3 and kernel["shape"] == list(conv.weight.shape[1:])
        np.testing.assert_allclose(kernel["weight"], conv.weight.data[9], atol=1e-5)
        assert math.isclose(kernel["bias"], float(conv.bias.data[9]), abs_tol=1e-6) \
            if conv.bias is not None else kernel["bias"] is None


def test_receptive_field_1d(client):
    model = gn.models.build("mnist1d_cnn", seed=0)
    out = client.post(f"/api/models/{client.m1d_id}/receptive-field",
                      json={"layer": 6, "channel": 0, "position": [2]}).json()
    want = receptive_field(model, (1, 40), (2,), layer="6")
    assert np.array_equal(np.array(out["mask"], bool), want.mask)
    assert out["size"] == list(want.layers[6].size)


def test_receptive_field_of_a_module_called_twice_says_which_call(client):
    """resnet_small's blocks call one ReLU twice; receptive_field answers for the last call."""
    reg = Registry.from_sources(["resnet_small"], runs_dir=None)
    entry_id = reg.entries()[0]["id"]
    with TestClient(create_app(reg), base_url="http://127.0.0.1:8000") as c:
        layers = c.get(f"/api/models/{entry_id}").json()["layers"]
        first, last = [row["index"] for row in layers if row["name"] == "4.relu"]
        url = f"/api/models/{entry_id}/receptive-field"
        out = c.post(url, json={"layer": first, "channel": 0, "position": [3, 3]}).json()
        assert out["field_of"] == last and "runs more than once" in out["note"]
        again = c.post(url, json={"layer": last, "channel": 0, "position": [3, 3]}).json()
        assert again["note"] is None and again["mask"] == out["mask"]
    model = gn.models.build("resnet_small", seed=0)
    want = receptive_field(model, (3, 32, 32), (3, 3), layer="4.relu")
    assert np.array_equal(np.array(out["mask"], bool), want.mask)
    assert out["size"] == list(want.layers[last].size)


def test_receptive_field_bad_inputs(client):
    url = f"/api/models/{client.run_id}/receptive-field"
    n = len(client.get(f"/api/models/{client.run_id}").json()["layers"])
    assert f"[0, {n - 1}]" in _bad(client.post(url, json={"layer": n, "channel": 0,
                                                          "position": [0, 0]}), 400, "layer")
    assert "no spatial" in _bad(client.post(url, json={"layer": n - 1, "channel": 0,
                                                       "position": [0]}), 400, "layer")
    assert "[0, 31]" in _bad(client.post(url, json={"layer": 0, "channel": 32,
                                                    "position": [0, 0]}), 400, "channel")
    assert "within [8, 8]" in _bad(client.post(url, json={"layer": 0, "channel": 0,
                                                          "position": [8, 0]}), 400, "position")
    _bad(client.post(url, json={"layer": 0, "channel": 0, "position": [1]}), 400, "position")
    _bad(client.post(url, json={"layer": 0, "channel": 0, "position": [0.5, 1]}), 400,
         "position")
    _bad(client.post(url, json={"layer": 0, "channel": 0, "position": [0, 0, 0]}), 400,
         "position")
    _bad(client.post(url, json={"layer": 0, "channel": 0}), 400, "position")


# ---- filters, curves, confusion ---------------------------------------------------------------
def test_filters_are_the_conv_weights(client, run):
    filters = client.get(f"/api/models/{client.run_id}/filters").json()["filters"]
    convs = [(name, m) for name, m in run.model.named_modules() if isinstance(m, gn.nn.Conv2d)]
    assert [f["name"] for f in filters] == [name for name, _ in convs]
    for f, (_, m) in zip(filters, convs):
        assert f["shape"] == list(m.weight.shape) and f["shown"] == m.weight.shape[0]
        np.testing.assert_allclose(f["weight"], m.weight.data, atol=1e-5)


def test_curves_are_history_csv(client, digits_run):
    columns = client.get(f"/api/models/{client.run_id}/curves").json()["columns"]
    rows = list(csv.DictReader((digits_run / "history.csv").open()))
    assert set(columns) == set(rows[0])
    for key in rows[0]:
        np.testing.assert_allclose(columns[key], [float(r[key]) for r in rows])
    _bad(client.get(f"/api/models/{client.m1d_id}/curves"), 404, "id")


def test_confusion_is_the_runs(client, run):
    out = client.get(f"/api/models/{client.run_id}/confusion").json()
    assert np.array_equal(out["matrix"], run.confusion())
    assert math.isclose(out["accuracy"], run.accuracy())
    _bad(client.get(f"/api/models/{client.m1d_id}/confusion"), 404, "id")


# ---- ids, never paths ---------------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["..", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fsecret",
                                 "%2Fetc%2Fpasswd", "%252e%252e%252f", "r0-digits-run%00",
                                 "digits-run"])
def test_traversal_ids_are_404_and_read_nothing(client, bad, digits_run):
    for suffix in ("", "/filters", "/curves", "/confusion"):
        r = client.get(f"/api/models/{bad}{suffix}")
        assert r.status_code in (400, 404), (bad, suffix, r.status_code)
        assert "root:" not in r.text and "epoch" not in r.text
    r = client.get("/api/models/../../etc/passwd")
    assert r.status_code == 404 and "root:" not in r.text
    r = client.get("/api/models//etc/passwd")
    assert r.status_code == 404 and "root:" not in r.text


def test_a_symlink_leaving_the_run_folder_is_never_followed(client, digits_run, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("epoch,SECRET\n1,2\n")
    link = digits_run.parent / "linked"
    link.symlink_to(tmp_path)
    try:
        for path in ("linked", "linked/secret.csv", "..%2Flinked%2Fsecret.csv"):
            r = client.get(f"/api/models/{path}/curves")
            assert r.status_code == 404 and "SECRET" not in r.text
    finally:
        link.unlink()


def test_concurrent_predictions_are_correct(client):
    url = f"/api/models/{client.run_id}/predict"
    want = {i: client.post(url, json={"sample": i}).json()["top"] for i in range(8)}
    errors: list[str] = []

    def worker(k: int) -> None:
        for j in range(12):
            i = (k + j) % 8
            got = client.post(url, json={"sample": i}).json()["top"]
            if got != want[i]:
                errors.append(f"sample {i}: {got} != {want[i]}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and not any(t.is_alive() for t in threads)
    assert client.post(url, json={"sample": 0}).json()["top"] == want[0]
