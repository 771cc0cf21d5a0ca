"""The widgets' link to the studio: its API app run in this process, and its page modules.

``Bridge.call(method, path, body)`` sends one request to the studio's own ASGI app
(``gridnn.studio.app.create_app``) through Starlette's in-process test client, so a widget's
numbers come from exactly the code that answers the studio's web page: there is no second
implementation, and no socket is opened. ``page_modules()`` reads the studio's static
JavaScript (and its stylesheet) at run time for the widget's front end to import.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from ...studio.app import STATIC, create_app
from ...studio.registry import Registry

ORIGIN = "http://127.0.0.1:8000"  # the Host the app's guard admits; no socket is opened
MAX_BODY_BYTES = 8 << 20


class Bridge:
    """The studio app for ``registry`` (no runs: only the playground), called in process."""

    def __init__(self, registry: Registry | None = None) -> None:
        with warnings.catch_warnings():  # Starlette would rather have httpx2; httpx works
            warnings.filterwarnings("ignore", "Using `httpx`")
            from starlette.testclient import TestClient

        self.registry = registry or Registry([])
        self.client = TestClient(create_app(self.registry), base_url=ORIGIN,
                                 raise_server_exceptions=False)

    def call(self, method: str, path: Any, body: Any = None) -> tuple[int, Any]:
        """(status, JSON answer) of ``method path`` with ``body`` as JSON; only /api/ paths."""
        if not isinstance(path, str) or not path.startswith("/api/"):
            return 400, {"error": f"widgets call only the studio's /api/ paths, received "
                                  f"{str(path)[:80]!r}", "field": "path"}
        if method == "GET":
            response = self.client.get(path)
        elif method == "POST":
            data = json.dumps(body).encode()
            if len(data) > MAX_BODY_BYTES:
                return 413, {"error": f"request of {len(data)} bytes is over "
                                      f"{MAX_BODY_BYTES} bytes", "field": None}
            response = self.client.post(path, content=data,
                                        headers={"content-type": "application/json"})
        else:
            return 405, {"error": f"method must be GET or POST, received {method!r}",
                         "field": "method"}
        try:
            answer = response.json()
        except ValueError:
            answer = {"error": f"{response.status_code} (not JSON)", "field": None}
        return response.status_code, answer

    def close(self) -> None:
        self.client.close()


def page_modules(static: Path = STATIC) -> tuple[dict[str, str], str]:
    """({file name: source} of the studio's JavaScript modules, its stylesheets joined, the
    shared style.css first)."""
    sources = {p.name: p.read_text(encoding="utf-8") for p in sorted(static.glob("*.js"))}
    sheets = sorted(static.glob("*.css"), key=lambda p: (p.name != "style.css", p.name))
    return sources, "\n".join(p.read_text(encoding="utf-8") for p in sheets)
