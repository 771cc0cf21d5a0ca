"""The studio's ASGI app: JSON API routes, the static pages, and the rules that make a local
server safe to leave running.

- Host check: a request whose Host header is not exactly the bound host or localhost/127.0.0.1
  with the server's port gets 403, so a web page on another origin cannot reach the server by
  DNS rebinding; so does a request whose Origin header names another site or port (a
  cross-site form or fetch).
- Body limit: a body over ``MAX_BODY_BYTES`` gets 413, from its Content-Length before anything
  is read, or while it streams in when the length is not declared.
- Errors are JSON ``{"error", "field"}``: ``ApiError`` with its status, unknown paths 404, a
  known path with another method 405 with ``Allow``, any other exception 500 with no traceback
  in the answer (the traceback goes to the log) and ``Connection: close``.
- Files are served only from the package's static folder; runs and models only by registry id.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import inspect as model_inspect
from . import learn, playground
from .http import MAX_BODY_BYTES, ApiError
from .openapi import openapi

STATIC = Path(__file__).parent / "static"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
# The pages load only their own scripts, styles and images; nothing from elsewhere.
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
     b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]

log = logging.getLogger("gridnn.studio")


def _authorities(host: str, port: int) -> set[str]:
    """The Host header values (and Origin authorities) this server answers: the bound host and
    the loopback names, each with this server's port (port 80 may also go unwritten)."""
    bound = f"[{host}]" if ":" in host and not host.startswith("[") else host
    names = {bound.lower(), *LOOPBACK_NAMES}
    return {f"{n}:{port}" for n in names} | (names if port == 80 else set())


class GuardMiddleware:
    """Host-header check, body-size limit and security headers, around the whole app."""

    def __init__(self, app: ASGIApp, *, host: str, port: int) -> None:
        self.app = app
        self.allowed = _authorities(host, port)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        # exact comparison, port included: 'localhost:80@evil.com' is not 'localhost:80'
        if headers.get("host", "").strip().lower() not in self.allowed:
            await _error(403, None, "this server answers only requests addressed to "
                         f"{' or '.join(sorted(self.allowed))} (Host header "
                         f"{headers.get('host', '')[:100]!r})")(scope, receive, send)
            return
        origin = headers.get("origin")
        if origin is not None and _origin_authority(origin) not in self.allowed:
            # A page from another site may send simple POSTs here; its browser says whence.
            await _error(403, None, f"requests from pages of other sites ({origin[:100]!r}) "
                                    f"are refused")(scope, receive, send)
            return
        length = headers.get("content-length", "0").strip()
        if not (length.isascii() and length.isdigit()):  # '²' passes isdigit alone
            await _error(400, None, f"bad Content-Length {length[:40]!r}")(scope, receive, send)
            return
        if len(length.lstrip("0")) > 18 or int(length) > MAX_BODY_BYTES:
            await _error(413, None, f"request bodies are limited to {MAX_BODY_BYTES} bytes "
                                    f"(Content-Length {length[:40]!r})")(scope, receive, send)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                raise ApiError(413, None, f"request bodies are limited to {MAX_BODY_BYTES} bytes")
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, limited_receive, send_with_headers)


def _origin_authority(origin: str) -> str:
    """'http://localhost:8000' -> 'localhost:8000' ('localhost' alone for port 80); '' for
    anything that is not an http origin (e.g. 'null')."""
    parts = urlsplit(origin.strip().lower())
    if parts.scheme != "http" or not parts.netloc or parts.path or parts.query:
        return ""
    netloc = parts.netloc
    return netloc[:-3] if netloc.endswith(":80") else netloc


def _error(status: int, field: str | None, message: str,
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status, headers=headers)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _error(exc.status, exc.field, exc.message)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    text = {404: f"no such page or endpoint: {request.url.path}",
            405: f"{request.method} is not allowed on {request.url.path}"}
    return _error(exc.status_code, None, text.get(exc.status_code, str(exc.detail)),
                  exc.headers)


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    # the server drops the connection after an exception: say so, or a client reusing it
    # sees its next request reset
    return _error(500, None, f"internal error ({type(exc).__name__}); the server log has the "
                             f"details", {"Connection": "close"})


class Pages:
    """The static pages. An /api/ path no route took is 405 if an API route has that path for
    another method, else 404 (for every method: it is never looked up as a file)."""

    def __init__(self, api_routes: list[BaseRoute]) -> None:
        self.api_routes = api_routes
        self.files = StaticFiles(directory=STATIC, html=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith("/api/"):
            allowed = sorted({m for r in self.api_routes if isinstance(r, Route)
                              and r.matches(scope)[0] == Match.PARTIAL for m in r.methods or ()})
            if allowed:
                raise HTTPException(405, headers={"Allow": ", ".join(allowed)})
            raise HTTPException(404)
        await self.files(scope, receive, send)


def create_app(registry: Any, *, host: str = "127.0.0.1", port: int = 8000) -> Starlette:
    """The studio app serving ``registry``'s runs and models (by id) and the playground.

    ``host`` and ``port`` are where the server listens: the Host check admits ``host`` and
    localhost/127.0.0.1/[::1], each with exactly this ``port``."""

    async def models(request: Request) -> JSONResponse:
        """The runs and models this server was started with.
        Returns [{id, name, kind, ...}]; other endpoints take the id, never a path."""
        return JSONResponse(registry.entries())

    async def schema(request: Request) -> JSONResponse:
        """This API as an OpenAPI 3 document."""
        return JSONResponse(openapi(api_routes, f"http://{host}:{port}",
                                    [e["id"] for e in registry.entries()]))

    learn_hub = learn.LearnHub()  # one training job per server
    api_routes: list[BaseRoute] = [
        *playground.routes(),
        *learn.routes(learn_hub),
        *model_inspect.routes(registry),
        Route("/api/models", models, methods=["GET"]),
        Route("/api/openapi.json", schema, methods=["GET"]),
    ]
    app = Starlette(routes=[*api_routes, Mount("/", app=Pages(api_routes))], exception_handlers={
        ApiError: _api_error, HTTPException: _http_error, Exception: _server_error})
    app.add_middleware(GuardMiddleware, host=host, port=port)
    app.state.learn = learn_hub  # its job stops when the server does (learn_hub.shutdown())
    return app
