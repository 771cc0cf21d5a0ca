"""The studio app as a server: Host check (DNS rebinding), body limit, JSON errors without
tracebacks, static pages, OpenAPI, many clients at once against a real uvicorn, and the
`gridnn studio` command."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

from starlette.testclient import TestClient  # noqa: E402

import gridnn as gn  # noqa: E402
from gridnn.studio.app import create_app  # noqa: E402
from gridnn.studio.cli import host_warning  # noqa: E402
from gridnn.studio.http import MAX_BODY_BYTES  # noqa: E402
from gridnn.studio.registry import Registry  # noqa: E402
from gridnn.studio.server import listen  # noqa: E402
from studio_server import start_server  # noqa: E402

LECTURE = {"input": [np.arange(1, 17).reshape(4, 4).tolist()], "kernels": [[[[1, 0], [0, -1]]]]}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Registry([])), base_url="http://127.0.0.1:8000") as c:
        yield c


def assert_json_error(response, status: int, field=None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "field"} and body["error"] and body["field"] == field
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body


# ---- Host header ----------------------------------------------------------------------------
@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:5000", "localhost", "[::1]:80",
                                  "LOCALHOST:8000"])
def test_loopback_hosts_are_served(client, host):
    response = client.get("/api/models", headers={"host": host})
    assert response.status_code == 200 and response.json() == []


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example",
                                  "localhost.evil.example:8000", "10.0.0.7:8000", ""])
def test_other_hosts_are_403(client, host):
    body = assert_json_error(client.get("/api/models", headers={"host": host}), 403)
    assert "Host" in body["error"]
    assert_json_error(client.get("/", headers={"host": host}), 403)


def test_requests_from_other_sites_are_403(client):
    for origin in ("http://evil.example", "http://127.0.0.1.evil.example:8000", "null"):
        response = client.post("/api/playground/conv", json=LECTURE, headers={"origin": origin})
        assert_json_error(response, 403)
    same = client.post("/api/playground/conv", json=LECTURE,
                       headers={"origin": "http://127.0.0.1:8000"})
    assert same.status_code == 200


def test_the_bound_host_is_allowed_and_no_other():
    app = create_app(Registry([]), host="192.168.1.20", port=9000)
    with TestClient(app, base_url="http://192.168.1.20:9000") as c:
        assert c.get("/api/models").status_code == 200
        assert c.get("/api/models", headers={"host": "localhost:9000"}).status_code == 200
        assert_json_error(c.get("/api/models", headers={"host": "192.168.1.21:9000"}), 403)


# ---- bodies ---------------------------------------------------------------------------------
def test_body_over_the_limit_is_413_by_content_length(client):
    body = b" " * (MAX_BODY_BYTES + 1)
    assert_json_error(client.post("/api/playground/conv", content=body), 413)


def test_streamed_body_over_the_limit_is_413(client):
    def chunks():  # no Content-Length: the limit is enforced while the body streams in
        for _ in range(3):
            yield b" " * (MAX_BODY_BYTES // 2 + 1)

    assert_json_error(client.post("/api/playground/conv", content=chunks()), 413)


def test_body_at_the_limit_is_read(client):
    body = json.dumps(LECTURE).encode()
    body += b" " * (MAX_BODY_BYTES - len(body))
    response = client.post("/api/playground/conv", content=body)
    assert response.status_code == 200 and response.json()["output_shape"] == [1, 3, 3]


@pytest.mark.parametrize("raw", [b"{", b"{'a': 1}", b"[1, 2]", b"null", b"\xff\xfe{}",
                                 b'{"input": NaN}'])
def test_malformed_json_is_400(client, raw):
    response = client.post("/api/playground/conv", content=raw)
    assert_json_error(response, 400, None if raw != b'{"input": NaN}' else "input")


def test_bad_content_length_is_400(client):
    assert_json_error(client.post("/api/playground/conv", content=b"{}",
                                  headers={"content-length": "ten"}), 400)


# ---- paths ----------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/nope", "/api/playground", "/api/models/x/y/z",
                                  "/nope.html", "/static/../../etc/passwd", "/..%2f..%2fetc/passwd",
                                  "/%2e%2e/%2e%2e/etc/passwd"])
def test_unknown_paths_are_404_json(client, path):
    assert_json_error(client.get(path), 404)


def test_unknown_api_path_is_404_for_every_method(client):
    for method in ("POST", "PUT", "DELETE"):
        assert_json_error(client.request(method, "/api/nope"), 404)


def test_wrong_method_is_405_json(client):
    assert_json_error(client.get("/api/playground/conv"), 405)
    assert_json_error(client.post("/api/models"), 405)


def test_pages_and_assets_are_served_with_security_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and 'id="playground"' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset in ("playground.js", "playground_view.js", "playground_matrix.js", "common.js",
                  "style.css"):
        response = client.get(f"/{asset}")
        assert response.status_code == 200 and len(response.text) > 500, asset
    assert "http://" not in page.text and "https://" not in page.text  # nothing fetched outside


def test_internal_errors_are_500_json_without_traceback(caplog):
    class Broken(Registry):
        def entries(self):
            raise RuntimeError("secret detail from deep inside")

    with TestClient(create_app(Broken([])), base_url="http://127.0.0.1:8000",
                    raise_server_exceptions=False) as c, caplog.at_level(logging.ERROR):
        body = assert_json_error(c.get("/api/models"), 500)
    assert "secret detail" not in body["error"]
    assert "secret detail" in caplog.text  # logged for the person running the server


def test_openapi_documents_every_api_route(client):
    doc = client.get("/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for path, method in [("/api/playground/conv", "post"), ("/api/playground/window", "post"),
                         ("/api/playground/presets", "get"), ("/api/models", "get"),
                         ("/api/openapi.json", "get")]:
        assert paths[path][method]["summary"], path
    assert all(p.startswith("/api/") for p in paths)


# ---- a real server, many clients --------------------------------------------------------------
def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_eight_clients_at_once_all_get_correct_answers():
    base, stop = start_server(Registry([]))
    failures: list[str] = []
    try:
        def client_thread(seed: int) -> None:
            rng = np.random.default_rng(seed)
            for _ in range(50):
                x = rng.integers(-5, 6, (1, 6, 6)).astype(np.float64)
                w = rng.integers(-2, 3, (2, 1, 3, 3)).astype(np.float64)
                stride = int(rng.integers(1, 3))
                answer = _post(f"{base}/api/playground/conv",
                               {"input": x.tolist(), "kernels": w.tolist(), "stride": stride})
                expected = gn.functional.conv2d(x[None], w, None, stride=stride).data[0]
                if not np.array_equal(np.array(answer["output"]), expected):
                    failures.append(f"seed {seed}: wrong output")

        threads = [threading.Thread(target=client_thread, args=(s,)) for s in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
        assert failures == []
        # Still serving, and errors are still clean.
        assert _post(f"{base}/api/playground/conv", LECTURE)["output"] == [[[-5.0] * 3] * 3]
        with pytest.raises(urllib.error.HTTPError) as info:
            _post(f"{base}/api/playground/conv", {**LECTURE, "stride": 0})
        assert info.value.code == 400 and json.loads(info.value.read())["field"] == "stride"
    finally:
        stop()


# ---- the command ------------------------------------------------------------------------------
def test_host_warning():
    assert host_warning("127.0.0.1") is None and host_warning("localhost") is None
    assert host_warning("::1") is None and host_warning("127.0.0.2") is None
    assert "warning" in host_warning("0.0.0.0") and "0.0.0.0" in host_warning("0.0.0.0")
    assert host_warning("192.168.1.5") is not None


def _studio(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    return subprocess.Popen([sys.executable, "-m", "gridnn.studio", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_command_serves_and_prints_its_url(tmp_path):
    proc = _studio(["--port", "0", "--no-browser", "digits_cnn"], tmp_path)
    try:
        line = proc.stdout.readline()
        assert line.startswith("gridnn studio: http://127.0.0.1:"), line
        url = line.split()[2]
        with urllib.request.urlopen(url + "api/models", timeout=30) as response:
            models = json.loads(response.read())
        assert [m["name"] for m in models] == ["digits_cnn"]
        with urllib.request.urlopen(url, timeout=30) as response:
            assert b"Convolution playground" in response.read()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert not list(tmp_path.iterdir())  # the server writes no files


@pytest.mark.parametrize("args, fragment", [
    (["no_such_model_or_folder"], "no_such_model_or_folder"),
    (["--port", "70000"], "--port"),
    (["--port", "x"], "--port"),
])
def test_command_errors_are_one_line_exit_2(tmp_path, args, fragment):
    proc = _studio([*args, "--no-browser"], tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out, err)
    assert fragment in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_command_warns_before_listening_beyond_loopback(tmp_path):
    # 192.0.2.1 (TEST-NET-1) is on no interface here: the warning comes, then bind fails.
    proc = _studio(["--host", "192.0.2.1", "--port", "0", "--no-browser"], tmp_path)
    out, err = proc.communicate(timeout=60)
    lines = err.strip().splitlines()
    assert proc.returncode == 2 and "warning: listening on 192.0.2.1" in lines[0]
    assert "cannot listen on 192.0.2.1" in lines[1] and "Traceback" not in err


def test_listening_socket_is_tcp_so_asyncio_turns_nagle_off():
    # With proto 0 asyncio leaves Nagle on and every response waits ~40 ms for a delayed ACK.
    sock = listen("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockname()[0] == "127.0.0.1" and sock.getsockname()[1] > 0
    finally:
        sock.close()
