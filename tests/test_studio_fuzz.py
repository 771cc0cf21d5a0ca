"""A schema-driven fuzz of every studio route: schemathesis reads the served OpenAPI document
and sends a bounded number of generated requests (path ids, bodies valid and invalid) to a real
server holding a trained run, an .onnx model and zoo models. No answer may be a 5xx and the
server must still answer afterwards. ``benchmarks/studio_fuzz.py`` runs the larger one-off."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("uvicorn")

from hypothesis import HealthCheck, settings  # noqa: E402

from gridnn.checkpoint import load_run  # noqa: E402
from gridnn.studio.registry import Registry  # noqa: E402
from studio_server import start_server  # noqa: E402
from test_studio_models import trained_digits_run  # noqa: E402

EXAMPLES = 30  # per operation: 10 operations, about 300 requests in under a minute


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from gridnn.onnx import export

    run = trained_digits_run(tmp_path_factory)
    model = tmp_path_factory.mktemp("fuzz") / "digits.onnx"
    export(load_run(run)[0], model, input_shape=(1, 8, 8))
    reg = Registry.from_sources([str(run), str(model), "mnist1d_cnn", "digits_cnn"],
                                runs_dir=None)
    url, stop = start_server(reg)
    yield url
    stop()


@pytest.fixture(scope="module")
def api_schema(served):
    return schemathesis.openapi.from_url(f"{served}/api/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


SEEN: dict[str, list[int]] = {}  # operation -> statuses answered


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_5xx(case, served):
    response = case.call(timeout=30)
    SEEN.setdefault(f"{case.method} {case.path}", []).append(response.status_code)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])


def test_every_route_was_fuzzed_and_the_server_is_alive(served, api_schema):
    import httpx

    paths = httpx.get(f"{served}/api/openapi.json").json()["paths"]
    routes = {f"{method.upper()} {path}" for path, ops in paths.items() for method in ops}
    routes.discard("GET /api/openapi.json")  # the fuzzer's own source: not sent
    # a POST with a body gets EXAMPLES requests; one that reads none (learn/save, learn/reset)
    # has nothing to vary
    bodies = {f"POST {path}" for path, ops in paths.items()
              if "requestBody" in ops.get("post", {})}
    assert len(routes) >= 10 and routes <= set(SEEN), routes - set(SEEN)
    assert all(len(SEEN[r]) >= 3 and (len(SEEN[r]) >= EXAMPLES or r not in bodies)
               for r in routes), {r: len(SEEN[r]) for r in routes}
    # schemathesis also tries the methods a path does not take: those are 405s
    others = [codes for op, codes in SEEN.items() if op not in routes]
    assert others and all(code == 405 for codes in others for code in codes)
    assert httpx.get(f"{served}/api/models").status_code == 200
