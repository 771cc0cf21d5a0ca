"""The widgets' link to the studio: its API app run in this process, and its page modules.

``Bridge.call(method, path, body)`` sends one request to the studio's own ASGI app
(``gridnn.studio.app.create_app``) through Starlette's in-process test client, so a widget's
numbers come from exactly the code that answers the studio's web page: there is no second
implementation, and no socket is opened. ``Bridge.stream(path, on_data)`` reads one of its
Server-Sent Events routes (the learn page's figures) in a thread, the same way.
``page_modules()`` reads the studio's static JavaScript (and its stylesheet) at run time for
the widget's front end to import.
"""

from __future__ import annotations

import asyncio
import json
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ...studio.app import STATIC, create_app
from ...studio.registry import Registry

HOST = "127.0.0.1:8000"
ORIGIN = f"http://{HOST}"  # the Host the app's guard admits; no socket is opened
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

    def stream(self, path: Any, on_data: Callable[[str], None],
               on_refusal: Callable[[int], None] | None = None) -> EventStream:
        """Read the event stream at ``path`` (an /api/ route) in a thread; ``on_data`` gets
        each event's data, ``on_refusal`` the status if the route refuses. Close it with
        ``.close()``."""
        if not isinstance(path, str) or not path.startswith("/api/"):
            raise ValueError(f"widgets stream only the studio's /api/ paths, received "
                             f"{str(path)[:80]!r}")
        return EventStream(self.client.app, path, on_data, on_refusal)

    def close(self) -> None:
        """Stop the app's learn job, if any, and its streams."""
        hub = getattr(self.client.app.state, "learn", None)
        if hub is not None:
            hub.shutdown()
        self.client.close()


class EventStream:
    """One Server-Sent Events route of the studio app read in a thread of this process, as an
    EventSource reads it: each event's ``data`` goes to ``on_data`` as it is sent, and when
    the route ends on its own (the studio ends a stream after a while) it is asked again after
    the route's ``retry`` delay; a refusal (not 200) ends it and calls ``on_refusal(status)``.
    ``close()`` tells the route its
    client went away (an ASGI ``http.disconnect``, as a closing browser tab would)."""

    def __init__(self, app: Any, path: str, on_data: Callable[[str], None],
                 on_refusal: Callable[[int], None] | None = None) -> None:
        self.app, self.path, self.on_data, self.on_refusal = app, path, on_data, on_refusal
        self.status: int | None = None
        self.retry = 1.0  # seconds before asking again; the route's `retry:` field sets it
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gone: asyncio.Event | None = None
        self.thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True,
                                       name=f"gridnn-stream {path}")
        self.thread.start()

    async def _serve(self) -> None:
        self._gone, self._loop = asyncio.Event(), asyncio.get_running_loop()
        while not self._stop.is_set():  # (a close before the loop existed ends it here)
            await self._connect()
            if self.status != 200 and self.on_refusal is not None:
                self.on_refusal(int(self.status or 500))
            if self.status != 200 or self._stop.is_set():
                return
            try:
                await asyncio.wait_for(self._gone.wait(), self.retry)
            except TimeoutError:
                pass

    async def _connect(self) -> None:
        asked = False

        async def receive() -> dict[str, Any]:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await self._gone.wait()
            return {"type": "http.disconnect"}

        pending = ""

        async def send(message: dict[str, Any]) -> None:
            nonlocal pending
            if message["type"] == "http.response.start":
                self.status = message["status"]
            elif message["type"] == "http.response.body" and self.status == 200:
                pending += message.get("body", b"").decode("utf-8")
                while "\n\n" in pending:  # one event per blank-line-ended block
                    block, pending = pending.split("\n\n", 1)
                    lines = block.split("\n")
                    data = [line[5:].removeprefix(" ") for line in lines
                            if line.startswith("data:")]
                    for line in lines:
                        if line.startswith("retry:") and line[6:].strip().isdigit():
                            self.retry = int(line[6:]) / 1000
                    if data:
                        self.on_data("\n".join(data))

        path, _, query = self.path.partition("?")
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": query.encode(), "root_path": "",
                 "headers": [(b"host", HOST.encode())], "client": ("127.0.0.1", 0),
                 "server": ("127.0.0.1", 8000)}
        await self.app(scope, receive, send)

    def close(self, timeout: float = 5.0) -> None:
        """End the stream and wait (up to ``timeout`` s) for its thread."""
        self._stop.set()
        loop, gone = self._loop, self._gone
        if loop is not None and gone is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(gone.set)
            except RuntimeError:  # the loop ended on its own meanwhile
                pass
        self.thread.join(timeout)


def page_modules(static: Path = STATIC) -> tuple[dict[str, str], str]:
    """({file name: source} of the studio's JavaScript modules, its stylesheets joined, the
    shared style.css first)."""
    sources = {p.name: p.read_text(encoding="utf-8") for p in sorted(static.glob("*.js"))}
    sheets = sorted(static.glob("*.css"), key=lambda p: (p.name != "style.css", p.name))
    return sources, "\n".join(p.read_text(encoding="utf-8") for p in sheets)
