"""Requests that used to crash or bloat the studio (issue 23), against a real uvicorn server:
each answers 400 naming the field (or the documented status) and the server stays alive; a
500 closes its connection and says so; uploads are bounded in pixels and in decodes at once,
and their memory is handed back; broken run files leave the model page working."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from gridnn.fileio import load_arrays, save_arrays  # noqa: E402
from gridnn.studio import inspect_data  # noqa: E402
from gridnn.studio.registry import Registry  # noqa: E402
from studio_server import start_server  # noqa: E402
from test_studio_models import trained_digits_run  # noqa: E402

CONV = "/api/playground/conv"
LECTURE = {"input": [np.arange(1, 17).reshape(4, 4).tolist()], "kernels": [[[[1, 0], [0, -1]]]]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A good digits run and copies with NaN weights and unreadable history.csv files."""
    good = trained_digits_run(tmp_path_factory)
    base = tmp_path_factory.mktemp("broken-runs")
    made = {"good": good}

    def copy(name: str) -> Path:
        shutil.copytree(good, base / name)
        made[name] = base / name
        return base / name

    d = copy("nan-weights")
    arrays = load_arrays(d / "model.safetensors")
    arrays = {k: np.full_like(v, np.nan) if k.endswith("weight") else v
              for k, v in arrays.items()}
    save_arrays(d / "model.safetensors", arrays)
    copy("latin1-history").joinpath("history.csv").write_bytes(b"epoch,loss\n1,\xe9\xff\n")
    copy("big-history").joinpath("history.csv").write_text("epoch\n" + "1\n" * 600_000)
    copy("odd-metrics").joinpath("metrics.json").write_text(
        '{"test_accuracy": NaN, "test_loss": "low", "epochs": 1, "train_seconds": 1e999}')
    fifo = copy("fifo-history") / "history.csv"
    fifo.unlink()
    os.mkfifo(fifo)
    return made


@pytest.fixture(scope="module")
def server(runs):
    reg = Registry.from_sources([str(p) for p in runs.values()], runs_dir=None)
    url, stop = start_server(reg)
    ids = {e["name"]: e["id"] for e in reg.entries()}
    with httpx.Client(base_url=url, timeout=30) as client:
        client.ids = ids
        yield client
    stop()


def field_error(response, status: int, field: str | None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["field"] == field and "Traceback" not in response.text
    return body["error"]


def assert_alive(client) -> None:
    assert client.post(CONV, json=LECTURE).status_code == 200


# ---- 500 instead of 400 -----------------------------------------------------------------------
def test_a_400_digit_integer_in_an_array_is_400(server):
    body = {**LECTURE, "input": [[[10 ** 400, 1], [2, 3]]]}
    assert "finite numbers" in field_error(server.post(CONV, json=body), 400, "input")
    text = json.dumps(LECTURE).replace("[1, 0]", "[1" + "0" * 400 + ", 0]")
    field_error(server.post(CONV, content=text), 400, "kernels")
    assert_alive(server)


@pytest.mark.parametrize("padding", ["²", "③", "٣", "1" * 5000])
def test_unicode_digits_as_padding_are_400(server, padding):
    assert "padding" in field_error(server.post(CONV, json={**LECTURE, "padding": padding}), 400,
                                    "padding")
    assert_alive(server)


@pytest.mark.parametrize("depth", [100_000, 1_000_000])
def test_json_nested_deeply_is_400(server, depth):
    body = b'{"input": ' + b"[" * depth + b"]" * depth + b"}"
    assert "nested too deeply" in field_error(server.post(CONV, content=body), 400, None)
    assert_alive(server)


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        return s.recv(65536)


def test_a_unicode_content_length_is_refused_not_a_500(server):
    port = server.base_url.port
    for length in ("²".encode(), b"\xd9\xa3", b"9" * 5000):
        answer = _raw(port, b"POST /api/playground/conv HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                            b"Content-Length: %s\r\n\r\n{}" % (port, length))
        status = int(answer.split(b" ", 2)[1])
        assert 400 <= status < 500, answer[:200]
    assert_alive(server)


def test_a_500_closes_its_connection_and_says_so(server, monkeypatch):
    def broken(entry):
        raise RuntimeError("a bug")

    monkeypatch.setattr(inspect_data, "model_info", broken)
    response = server.get(f"/api/models/{server.ids['digits-run']}")
    assert response.status_code == 500 and response.headers["connection"] == "close"
    assert "RuntimeError" in response.json()["error"] and "a bug" not in response.text
    monkeypatch.undo()
    for _ in range(20):  # the follow-up requests all get answers
        assert_alive(server)


def test_405_names_the_allowed_methods(server):
    response = server.get(CONV)
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    response = server.post(f"/api/models/{server.ids['digits-run']}/filters")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"


# ---- broken run files -------------------------------------------------------------------------
def test_nan_weights_are_reported_as_not_finite(server):
    run = server.ids["nan-weights"]
    for response in (server.get(f"/api/models/{run}/filters"),
                     server.post(f"/api/models/{run}/predict",
                                 json={"input": np.zeros((1, 8, 8)).tolist()}),
                     server.get(f"/api/models/{run}")):
        assert "not finite" in field_error(response, 409, "id")
    assert_alive(server)


@pytest.mark.parametrize("name, words", [("latin1-history", "not UTF-8"),
                                         ("big-history", "more than the 1048576"),
                                         ("fifo-history", "named pipe")])
def test_an_unreadable_history_leaves_the_model_page_working(server, name, words):
    run = server.ids[name]
    info = server.get(f"/api/models/{run}")
    assert info.status_code == 200 and info.json()["has_history"] is True
    error = field_error(server.get(f"/api/models/{run}/curves"), 409, "id")
    assert "the training curves could not be read" in error and words in error
    assert_alive(server)


def test_metrics_that_are_not_finite_numbers_are_left_out(server):
    info = server.get(f"/api/models/{server.ids['odd-metrics']}")
    assert info.status_code == 200 and info.json()["metrics"] == {"epochs": 1}


def test_an_onnx_model_is_not_called_a_zoo_model(tmp_path, runs):
    from gridnn.checkpoint import load_run
    from gridnn.onnx import export

    path = tmp_path / "run.onnx"
    export(load_run(runs["good"])[0], path, input_shape=(1, 8, 8))
    url, stop = start_server(Registry.from_sources([str(path)], runs_dir=None))
    try:
        entry = httpx.get(f"{url}/api/models").json()[0]["id"]
        error = field_error(httpx.get(f"{url}/api/models/{entry}/confusion"), 404, "id")
        assert "'run.onnx' is an imported ONNX model" in error and "zoo" not in error
    finally:
        stop()


# ---- the served document ---------------------------------------------------------------------
def test_the_openapi_document_declares_parameters_bodies_and_errors(server):
    doc = server.get("/api/openapi.json").json()
    ids = list(server.ids.values())
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for code in ("400", "403", "404", "405", "413"):
                assert code in op["responses"], (path, method, code)
            if "{id}" in path:
                (param,) = op["parameters"]
                assert param["in"] == "path" and param["schema"]["enum"] == ids
            if method == "post" and path not in ("/api/learn/save", "/api/learn/reset"):
                schema = op["requestBody"]["content"]["application/json"]["schema"]
                assert schema["type"] == "object" and schema["properties"], path
    assert doc["paths"]["/api/models/{id}/predict"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]["properties"].keys() >= {"input", "sample", "upload"}


# ---- uploads: pixels and memory ----------------------------------------------------------------
def _png(side: int) -> str:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (side, side), 255).save(out, format="PNG", optimize=True)
    return base64.b64encode(out.getvalue()).decode()


def test_an_upload_of_too_many_pixels_is_400_before_decoding(server):
    bomb = _png(5792)  # ~30 KB that would decode to 33.5 Mpixel
    url = f"/api/models/{server.ids['digits-run']}/predict"
    error = field_error(server.post(url, json={"upload": bomb, "filename": "bomb.png"}), 400,
                        "upload")
    assert "5792x5792" in error and "16777216" in error
    assert_alive(server)


def test_uploads_past_the_decodes_in_flight_wait_then_get_503(server, monkeypatch):
    from gridnn.studio import inspect as model_inspect

    monkeypatch.setattr(model_inspect, "DECODE_WAIT_S", 0.2)
    url = f"/api/models/{server.ids['digits-run']}/predict"
    body = {"upload": _png(16), "filename": "small.png"}
    for _ in range(model_inspect.MAX_DECODES):  # as if that many decodes were running
        assert model_inspect._DECODES.acquire(timeout=5)
    try:
        assert "busy" in field_error(server.post(url, json=body), 503, "upload")
    finally:
        for _ in range(model_inspect.MAX_DECODES):
            model_inspect._DECODES.release()
    assert server.post(url, json=body).status_code == 200


def _vm(pid: int, key: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M)[1]) << 10


def test_concurrent_uploads_keep_memory_bounded_and_give_it_back(tmp_path):
    """16 uploads of 4096x4096 at once against `gridnn studio` in its own process: its peak
    grows by far less than 16 decodes would take, and its memory returns near where it was."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    proc = subprocess.Popen([sys.executable, "-m", "gridnn", "studio", "digits_cnn", "--port",
                             "0", "--no-browser"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=cap)
    try:
        url = re.search(r"(http://\S+)/", proc.stdout.readline())[1]
        model = httpx.get(f"{url}/api/models").json()[0]["id"]
        body = {"upload": _png(4096), "filename": "big.png"}
        predict = f"{url}/api/models/{model}/predict"
        assert httpx.post(predict, json=body, timeout=60).status_code == 200  # warm up
        before = _vm(proc.pid, "VmRSS")
        statuses: list[int] = []

        def send() -> None:
            statuses.append(httpx.post(predict, json=body, timeout=120).status_code)

        threads = [threading.Thread(target=send) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=180)
        assert statuses == [200] * 16
        peak = _vm(proc.pid, "VmHWM")
        time.sleep(0.5)
        after = _vm(proc.pid, "VmRSS")
        assert peak - before < 400 << 20, (before >> 20, peak >> 20)  # 16 decodes: 2.3 GB
        assert after - before < 64 << 20, (before >> 20, after >> 20)
        assert httpx.get(f"{url}/api/models").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
