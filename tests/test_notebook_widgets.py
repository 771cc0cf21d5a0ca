"""The widgets' Python side, through their message handler: every api call of the front end
is answered by the studio's own API (the same numbers as the web page), refusals keep the
API's status and field, and without a widget front end a widget shows a PNG picture."""

from __future__ import annotations

import base64

import numpy as np
import pytest

pytest.importorskip("anywidget")
pytest.importorskip("starlette")

import gridnn as gn  # noqa: E402
from gridnn.studio.app import STATIC  # noqa: E402


def ask(widget, path, body=None, id_=1):
    return widget.handle({"kind": "api", "id": id_, "method": "GET" if body is None else "POST",
                          "path": path, "body": body})


def test_the_default_playground_is_the_lecture_example_computed_by_the_studio_api() -> None:
    w = gn.notebook.playground()
    assert w.entry["module"] == "playground.js" and w.entry["export"] == "mountPlayground"
    (initial,) = w.entry["args"]
    assert initial["input"] == [np.arange(1, 17).reshape(4, 4).tolist()]
    assert initial["kernels"] == [[[[1, 0], [0, -1]]]] and initial["stride"] == 1
    reply = ask(w, "/api/playground/conv", initial, id_=7)
    assert reply["kind"] == "api-reply" and reply["id"] == 7 and reply["status"] == 200
    assert reply["json"]["output"] == [[[-5.0] * 3] * 3]
    assert reply["json"]["counts"]["mlp_weights"] == 16 * 9


def test_the_playground_takes_arrays_and_tensors_in_the_shapes_of_the_lecture() -> None:
    x = np.arange(1, 17, dtype=np.float32).reshape(4, 4)
    w = gn.notebook.playground(gn.tensor(x), [[1, 2], [3, 4]], [0.5], stride=2)
    (initial,) = w.entry["args"]
    assert np.shape(initial["input"]) == (1, 4, 4) and np.shape(initial["kernels"]) == (1, 1, 2, 2)
    out = ask(w, "/api/playground/conv", initial)["json"]
    expected = gn.functional.conv2d(gn.tensor(x[None, None]),
                                    gn.tensor(np.array([[[[1, 2], [3, 4]]]], np.float32)),
                                    gn.tensor(np.array([0.5], np.float32)), stride=2)
    assert np.allclose(out["output"], expected.numpy()[0])
    assert (out["counts"]["mlp_weights"], out["counts"]["connections"],
            out["counts"]["parameters"]) == (64, 16, 4)
    signal = gn.notebook.playground(np.sin(np.arange(12.0)))
    assert np.shape(signal.entry["args"][0]["kernels"]) == (1, 1, 2)
    with pytest.raises(ValueError, match="finite"):
        gn.notebook.playground(np.full((4, 4), np.nan))


def test_refusals_keep_the_api_status_and_field_and_only_api_paths_are_served() -> None:
    w = gn.notebook.playground()
    bad = dict(w.entry["args"][0], stride=0)
    reply = ask(w, "/api/playground/conv", bad)
    assert reply["status"] == 400 and reply["json"]["field"] == "stride"
    assert ask(w, "/api/nowhere")["status"] == 404
    assert ask(w, "/index.html")["status"] == 400
    assert w.handle({"kind": "something else"}) is None
    assert w.handle({"kind": "api", "id": 2, "method": "PUT", "path": "/api/models"})["status"] \
        == 405


def test_the_widget_sends_the_studio_page_modules_it_mounts() -> None:
    w = gn.notebook.playground()
    assert w.modules["playground.js"] == (STATIC / "playground.js").read_text()
    assert "export async function mountPlayground" in w.modules["playground.js"]
    assert set(w.modules) == {p.name for p in STATIC.glob("*.js")}
    assert w.css.startswith((STATIC / "style.css").read_text())
    assert (STATIC / "model.css").read_text() in w.css


def test_without_a_widget_front_end_a_widget_shows_a_png_from_the_same_answers() -> None:
    w = gn.notebook.playground()
    data, _ = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert base64.b64decode(data["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    texts = [t.get_text() for ax in w.picture().axes for t in ax.texts]
    assert texts.count("-5") == 9  # the output panel: the API's 3x3 of -5


def test_inside_serves_a_run_through_the_studio_registry(tmp_path) -> None:
    pytest.importorskip("sklearn")
    from gridnn.cli import main

    assert main(["train", "--data", "digits", "--epochs", "1", "--no-progress",
                 "--out", str(tmp_path / "run")]) == 0
    for source in (tmp_path / "run", gn.open_run(tmp_path / "run")):
        w = gn.notebook.inside(source)
        (model_id,) = w.entry["args"]
        assert w.entry == {"module": "model.js", "export": "mountModel", "args": [model_id]}
        listing = ask(w, "/api/models")["json"]
        assert [e["id"] for e in listing] == [model_id] and listing[0]["kind"] == "run"
        info = ask(w, f"/api/models/{model_id}")
        assert info["status"] == 200 and info["json"]["input_shape"] == [1, 8, 8]
    assert w.picture() is not None
    zoo = gn.notebook.inside("lenet5")
    assert ask(zoo, "/api/models")["json"][0]["kind"] == "zoo"
    assert zoo.picture().axes  # no test set: the first layer's filters


def test_learn_trains_through_the_bridge_and_streams_its_figures_until_closed() -> None:
    import queue

    w = gn.notebook.learn()
    assert w.entry == {"module": "learn.js", "export": "mountLearn", "args": [], "stream": True}
    events: queue.Queue = queue.Queue()
    w.send = events.put  # what the front end would receive
    hub = w.bridge.client.app.state.learn

    def next_event(predicate):
        while True:
            msg = events.get(timeout=30)
            assert msg["kind"] == "stream-event" and msg["id"] == 3
            snap = __import__("json").loads(msg["data"])
            if predicate(snap):
                return snap

    assert w.handle({"kind": "stream-open", "id": 3, "path": "/api/learn/stream"}) is None
    assert next_event(lambda s: True) == {"id": None, "status": "none"}  # no job yet
    assert hub.streams == 1
    small = {"data": "digits", "epochs": 1, "seed": 7, "train_size": 200}
    started = ask(w, "/api/learn/start", small, id_=4)
    assert started["status"] == 200 and started["json"]["status"] == "ready"
    job_id = started["json"]["id"]
    assert next_event(lambda s: s["id"] == job_id)["steps"] == 0
    assert ask(w, "/api/learn/control", {"action": "step"})["status"] == 200
    stepped = next_event(lambda s: s["steps"] == 1)
    assert stepped["id"] == job_id and stepped["points"][-1]["step"] == 1
    assert np.isfinite(stepped["points"][-1]["loss"])

    assert w.handle({"kind": "stream-close", "id": 3}) is None
    assert hub.streams == 0 and not w.streams
    assert w.handle({"kind": "stream-open", "id": 5, "path": "/etc/passwd"}) == {
        "kind": "stream-error", "id": 5, "error": "widgets stream only the studio's /api/ paths, "
                                                  "received '/etc/passwd'"}
    assert w.handle({"kind": "stream-open", "id": 6, "path": "/api/learn/stream"}) is None
    job = hub.job
    assert ask(w, "/api/learn/control", {"action": "play"})["status"] == 200
    w.close()  # ends the stream and stops the training thread
    assert hub.streams == 0 and hub.job is None and not job.thread.is_alive()


def test_learn_without_a_front_end_shows_the_default_stack_s_weights() -> None:
    w = gn.notebook.learn()
    fig = w.picture()
    bars = [p.get_height() for p in fig.axes[0].patches]
    _, counts = w.bridge.call("POST", "/api/learn/params", {})
    assert bars == [counts["counts"][k]["params"] for k in ("conv", "local", "mlp")]
    assert bars[0] < bars[1] < bars[2]
    data = w._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    assert base64.b64decode(data["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    w.close()


def test_a_learn_stream_the_studio_ends_is_asked_again_as_an_eventsource_would(
        monkeypatch) -> None:
    import json
    import queue

    from gridnn.studio import learn as learn_routes

    monkeypatch.setattr(learn_routes, "STREAM_SECONDS", 0.2)  # the studio ends streams fast
    w = gn.notebook.learn()
    events: queue.Queue = queue.Queue()
    w.send = events.put
    w.handle({"kind": "stream-open", "id": 1, "path": "/api/learn/stream"})
    stream = w.streams[1]
    first = events.get(timeout=30)
    assert json.loads(first["data"]) == {"id": None, "status": "none"}
    assert stream.retry == 1.0  # the route's retry field, read
    again = events.get(timeout=30)  # the route ended after 0.2 s; asked again 1 s later
    assert again == first
    started = ask(w, "/api/learn/start", {"data": "digits", "epochs": 1, "train_size": 200})
    while (snap := json.loads(events.get(timeout=30)["data"]))["id"] is None:
        pass
    assert snap["id"] == started["json"]["id"]
    w.handle({"kind": "stream-open", "id": 2, "path": "/api/learn/nowhere"})
    refused = events.get(timeout=30)
    while refused["kind"] == "stream-event":  # stream 1 goes on meanwhile
        refused = events.get(timeout=30)
    assert refused == {"kind": "stream-error", "id": 2,
                       "error": "/api/learn/nowhere answered 404"}
    w.streams[2].thread.join(5)
    assert not w.streams[2].thread.is_alive()  # a refusal is not asked again
    w.close()
    assert not stream.thread.is_alive() and w.bridge.client.app.state.learn.streams == 0
