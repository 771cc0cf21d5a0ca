"""The learn page's API: one job per server driven through ``train.fit`` (the same history as
``gridnn train``, bit for bit), its controls, Save run and ``--resume``, the backprop panel
against autograd, parameter counts against ``gn.summary``, limits and bad input, and the event
stream (Host check, 20 streams opened and closed without leaking threads or memory)."""

from __future__ import annotations

import csv
import http.client
import os
import subprocess
import sys
import threading
import time
import tracemalloc
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

import gridnn as gn  # noqa: E402
from gridnn import models  # noqa: E402
from gridnn.studio import learn_settings as ls  # noqa: E402
from gridnn.studio.app import create_app  # noqa: E402
from gridnn.studio.registry import Registry  # noqa: E402
from gridnn.studio.server import listen, uvicorn_server  # noqa: E402

TIMING = ("seconds", "images_per_second")
SMALL = {"data": "digits", "epochs": 2, "seed": 7, "train_size": 300}


@pytest.fixture
def client(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # Save run writes ./runs
    app = create_app(Registry([]))
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        yield c
    app.state.learn.shutdown()


def wait_status(client, *statuses, timeout=120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get("/api/learn/state").json()
        if state["status"] in statuses:
            return state
        time.sleep(0.05)
    raise AssertionError(f"the job did not reach {statuses}: {state['status']}")


def history_without_timing(path: Path) -> list[dict]:
    with open(path) as f:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


def cli_train(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "cli-run"
    subprocess.run([sys.executable, "-m", "gridnn", "train", "--out", str(out), "--no-progress",
                    *args], check=True, capture_output=True, cwd=tmp_path, timeout=600)
    return out


def test_options_list_datasets_models_and_limits(client):
    body = client.get("/api/learn/options").json()
    assert [d["name"] for d in body["datasets"]] == list(ls.PAGE_DATASETS)
    assert body["models"][0] == "stack" and body["connects"] == ["conv", "local", "mlp"]
    assert body["limits"]["layers"] == 4 and body["budget_mib"] == ls.MEMORY_BUDGET >> 20


@pytest.mark.parametrize("data", ["digits", "patterns", "mnist1d"])
def test_param_counts_equal_gn_summary(client, data):
    layers = [{"channels": 6, "kernel": 5, "padding": 2, "pool": 2},
              {"channels": 4, "kernel": 3, "stride": 2, "dilation": 1}]
    counts = client.post("/api/learn/params", json={"data": data, "layers": layers,
                                                    "hidden": 12}).json()["counts"]
    shape = tuple(counts and client.post("/api/learn/params", json={"data": data}).json()[
        "input_shape"])
    for connect in models.CONNECTS:
        model = models.build("stack", in_channels=shape[0], input_size=list(shape[1:]),
                             num_classes=10 if data != "patterns" else 4, layers=layers,
                             hidden=[12], connect=connect, seed=0)
        assert counts[connect] == {"params": gn.summary(model, shape).total_params,
                                   "fits": True}
    assert counts["conv"]["params"] < counts["local"]["params"] < counts["mlp"]["params"]


def test_the_shape_count_of_a_stack_equals_gn_summary():
    rng = np.random.default_rng(0)
    for _ in range(20):
        layers = tuple({"channels": int(rng.integers(1, 6)), "kernel": int(rng.integers(1, 4)),
                        "stride": int(rng.integers(1, 3)), "padding": int(rng.integers(0, 2)),
                        "dilation": 1, "pool": 1} for _ in range(int(rng.integers(1, 3))))
        s = ls.Settings(data="digits", layers=layers, hidden=(5,))
        for connect in models.CONNECTS:
            model = models.build("stack", input_size=[10, 9], layers=list(layers), hidden=[5],
                                 connect=connect, num_classes=3, seed=0)
            assert ls.stack_params(s, (1, 10, 9), 3, connect) == \
                gn.summary(model, (1, 10, 9)).total_params


def test_page_run_follows_gridnn_train_bit_for_bit(client, tmp_path):
    """Stepping, pausing and playing in any order changes nothing: history.csv (all but the
    timing columns) equals the command line's."""
    client.post("/api/learn/start", json={**SMALL, "model": "digits_cnn"}).raise_for_status()
    for action in ("step", "step", "epoch", "step", "play"):
        assert client.post("/api/learn/control", json={"action": action}).status_code == 200
        if action != "play":
            wait_status(client, "paused")
    wait_status(client, "finished")
    page = Path(client.post("/api/learn/save").json()["path"])
    cli = cli_train(tmp_path, "--data", "digits", "--model", "digits_cnn", "--epochs", "2",
                    "--seed", "7", "--train-size", "300")
    assert history_without_timing(tmp_path / page / "history.csv") == \
        history_without_timing(cli / "history.csv")
    assert (tmp_path / page / "model.safetensors").is_file()


def test_saved_run_resumes_with_gridnn_train(client, tmp_path):
    client.post("/api/learn/start", json=SMALL).raise_for_status()
    for action in ("epoch", "step", "step", "step"):
        client.post("/api/learn/control", json={"action": action})
        wait_status(client, "paused")
    assert client.get("/api/learn/state").json()["steps"] == 10 + 3  # 300 / 32 -> 10 a epoch
    saved = tmp_path / client.post("/api/learn/save").json()["path"]
    assert not list((tmp_path / "runs").glob(".*"))  # no half-written folder left
    subprocess.run([sys.executable, "-m", "gridnn", "train", "--resume", str(saved),
                    "--no-progress"], check=True, capture_output=True, timeout=600)
    cli = cli_train(tmp_path, "--data", "digits", "--model", "stack", "--epochs", "2",
                    "--seed", "7", "--train-size", "300")
    assert history_without_timing(saved / "history.csv") == \
        history_without_timing(cli / "history.csv")


def test_one_job_per_server_and_the_controls(client):
    first = client.post("/api/learn/start", json={**SMALL, "epochs": 50}).json()
    assert first["status"] == "ready" and first["steps"] == 0 and first["params"] == 9930
    again = client.post("/api/learn/start", json=SMALL)
    assert again.status_code == 409 and "#1 stack on digits" in again.json()["error"]
    client.post("/api/learn/control", json={"action": "step"})
    assert wait_status(client, "paused")["steps"] == 1
    client.post("/api/learn/control", json={"action": "play"})
    time.sleep(0.3)
    client.post("/api/learn/control", json={"action": "pause"})
    paused = wait_status(client, "paused")["steps"]
    time.sleep(0.5)
    assert client.get("/api/learn/state").json()["steps"] == paused  # pause stops the counter
    worker = client.app.state.learn.job.thread
    assert client.post("/api/learn/reset").json() == {"status": "reset"}
    assert not worker.is_alive()
    assert client.get("/api/learn/state").status_code == 404
    assert client.post("/api/learn/start", json=SMALL).status_code == 200


def test_live_figures(client):
    client.post("/api/learn/start", json=SMALL)
    client.post("/api/learn/sample", json={"index": 5}).raise_for_status()
    client.post("/api/learn/control", json={"action": "step"})
    state = wait_status(client, "paused")
    assert state["kernels"]["shape"] == [16, 1, 3, 3] and state["kernels"]["layer"] == "0"
    assert state["sample"]["index"] == 5 and len(state["sample"]["probs"]) == 10
    assert [m["shape"] for m in state["sample"]["maps"]][:2] == [[16, 8, 8], [16, 8, 8]]
    assert [u["type"] for u in state["updates"]] == ["Conv2d", "Conv2d", "Linear"]
    assert all(0 < u["relative"] < 1 for u in state["updates"])
    assert state["points"][0]["step"] == 1 and state["history"] == []


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_backprop_terms_add_up_to_the_gradient_autograd_gives(client, optimizer):
    client.post("/api/learn/start", json={**SMALL, "optimizer": optimizer, "dropout": 0.3,
                                          "hidden": 16})
    assert client.post("/api/learn/backprop", json={"index": [0, 0, 0, 0]}).status_code == 409
    for _ in range(3):
        client.post("/api/learn/control", json={"action": "step"})
        wait_status(client, "paused")
    body = client.post("/api/learn/backprop", json={"index": [3, 0, 1, 2]}).json()
    assert body["batch"] == 32 and body["positions"] == 64 and body["step"] == 3
    assert len(body["terms"]) + body["zero_terms"] == 32 * 64
    total = sum(t["product"] for t in body["terms"])
    assert total == pytest.approx(body["total"], rel=1e-9)
    # the step's gradient as fit's backward computed it, and autograd through conv_plain
    assert body["total"] == pytest.approx(body["used"], rel=1e-4, abs=1e-9)
    assert body["total"] == pytest.approx(body["autograd"], rel=1e-4, abs=1e-9)
    assert body["after"] != body["before"] and body["optimizer"] in ("AdamW", "SGD")
    for t in body["terms"][:50]:
        assert t["product"] == pytest.approx(t["input"] * t["grad"], rel=1e-6)


def test_bad_input_answers_400_naming_the_field(client):
    for body, field in [({"data": "cifar100"}, "data"), ({"lr": -1}, "lr"),
                        ({"lr": "fast"}, "lr"), ({"batch_size": 0}, "batch_size"),
                        ({"layers": [{"channels": 33}]}, "layers"),
                        ({"layers": [{"kernel": 8}]}, "layers"),
                        ({"layers": []}, "layers"), ({"layers": [{"size": 3}]}, "layers"),
                        ({"layers": [{"kernel": 7}] * 4}, "layers"),
                        ({"connect": "shared"}, "connect"), ({"epochs": 1000}, "epochs"),
                        ({"train_size": 3}, "train_size"), ({"dropout": 0.95}, "dropout"),
                        ({"model": "lenet5", "dropout": 0.2}, "model")]:
        for path in ("/api/learn/start", "/api/learn/params"):
            response = client.post(path, json={"data": "digits", **body})
            assert response.status_code == 400, (body, response.text)
            assert response.json()["field"] == field, body
    assert client.post("/api/learn/start", content=b"[1]").status_code == 400
    assert client.post("/api/learn/control", json={"action": "play"}).status_code == 404
    client.post("/api/learn/start", json=SMALL)
    assert client.post("/api/learn/control", json={"action": "rewind"}).json()["field"] == \
        "action"
    client.post("/api/learn/control", json={"action": "step"})
    wait_status(client, "paused")
    for index in ([0, 0, 0], [16, 0, 0, 0], [0, 0, 3, 0], "0,0,0,0", [0, 0, 0, True]):
        assert client.post("/api/learn/backprop", json={"index": index}).status_code == 400
    assert client.post("/api/learn/sample", json={"index": 360}).json()["field"] == "index"


def test_memory_budget_is_checked_before_building(client):
    big = {"data": "patterns", "connect": "mlp",
           "layers": [{"channels": 32, "kernel": 3, "padding": 1}] * 4}
    response = client.post("/api/learn/start", json=big)
    assert response.status_code == 400
    assert f"memory budget of {ls.MEMORY_BUDGET >> 20:,} MiB" in response.json()["error"]
    counts = client.post("/api/learn/params", json=big).json()["counts"]
    assert counts["mlp"]["fits"] is False and counts["conv"]["fits"] is True


def test_local_stack_trains_and_the_panel_asks_for_a_convolution(client):
    client.post("/api/learn/start", json={**SMALL, "connect": "local"}).raise_for_status()
    client.post("/api/learn/control", json={"action": "step"})
    state = wait_status(client, "paused")
    assert state["kernels"]["type"] == "LocallyConnected2d"
    assert state["kernels"]["shape"] == [16, 1, 3, 3]
    response = client.post("/api/learn/backprop", json={"index": [0, 0, 0, 0]})
    assert response.status_code == 400 and "convolution" in response.json()["error"]


def _open_stream(port: int, host: str = "127.0.0.1") -> tuple[http.client.HTTPConnection, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/api/learn/stream", headers={"Host": f"{host}:{port}"})
    response = conn.getresponse()
    if response.status != 200:
        return conn, response.read()
    assert response.getheader("content-type").startswith("text/event-stream")
    first = b""
    while b"data:" not in first:
        first += response.fp.readline()
    return conn, first


def test_stream_sends_figures_and_20_closed_streams_leak_nothing():
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    app = create_app(Registry([]), port=port)
    server = uvicorn_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    hub = app.state.learn
    try:
        while not server.started:
            time.sleep(0.02)
        conn, body = _open_stream(port, host="evil.example")
        conn.close()
        assert b"this server answers only" in body  # the Host check covers the stream too
        conn, first = _open_stream(port)
        assert b'"status": "none"' in first and hub.streams == 1
        conn.close()
        threads = threading.active_count()
        tracemalloc.start()
        for _ in range(3):  # warm up the server's pools before measuring
            _open_stream(port)[0].close()
        before = tracemalloc.get_traced_memory()[0]
        conns = [_open_stream(port)[0] for _ in range(20)]
        assert hub.streams == 20
        for conn in conns:
            conn.close()
        deadline = time.monotonic() + 5
        while hub.streams and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hub.streams == 0  # each closed tab's stream ended on the server
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert threading.active_count() <= threads + 1  # at most one more pooled thread
        assert grown < 1 << 20, grown
    finally:
        hub.shutdown()
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_validation_share_is_evaluated_as_val(client):
    client.post("/api/learn/start", json={**SMALL, "val_split": 0.2}).raise_for_status()
    client.post("/api/learn/control", json={"action": "epoch"})
    state = wait_status(client, "paused")
    assert state["eval_name"] == "val" and "val_accuracy" in state["history"][0]


def test_studio_learn_command_prints_the_learn_page(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "gridnn.studio", "--learn", "--port", "0",
                             "--no-browser"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().split()[2]
        assert url.endswith("/learn.html")
        with urllib.request.urlopen(url, timeout=30) as response:
            assert b"learn_page.js" in response.read()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not list(tmp_path.iterdir())  # nothing written without Save run


def test_steps_clicked_quickly_all_count(client):
    client.post("/api/learn/start", json=SMALL).raise_for_status()
    for _ in range(3):
        client.post("/api/learn/control", json={"action": "step"})
    deadline = time.monotonic() + 60
    while client.get("/api/learn/state").json()["steps"] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert wait_status(client, "paused")["steps"] == 3


def test_pause_while_playing_always_pauses(client):
    """A pause landing between the worker's check and its wait used to leave it waiting with
    the status 'playing' (the page's Pause then seemed to hang)."""
    client.post("/api/learn/start", json={**SMALL, "epochs": 100}).raise_for_status()
    rng = np.random.default_rng(0)
    for _ in range(15):
        client.post("/api/learn/control", json={"action": "play"})
        time.sleep(float(rng.uniform(0.0, 0.05)))
        client.post("/api/learn/control", json={"action": "pause"})
        steps = wait_status(client, "paused", timeout=20)["steps"]
        time.sleep(0.05)
        assert client.get("/api/learn/state").json()["steps"] == steps
