"""The studio's ASGI app: JSON API routes, the static pages, and the rules that make a local
server safe to leave running.

- Host check: a request whose Host header is neither the bound host nor localhost/127.0.0.1
  gets 403, so a web page on another origin cannot reach the server by DNS rebinding; so does
  a request whose Origin header names another site (a cross-site form or fetch).
- Body limit: a body over ``MAX_BODY_BYTES`` gets 413, from its Content-Length before anything
  is read, or while it streams in when the length is not declared.
- Errors are JSON ``{"error", "field"}``: ``ApiError`` with its status, unknown paths 404, any
  other exception 500 with no traceback in the answer (the traceback goes to the log).
- Files are served only from the package's static folder; runs and models only by registry id.
"""

from __future__ import annotations

import inspect as pyinspect
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


def _host_name(header: str) -> str:
    """The host part of a Host header value, without the port ('[::1]:8000' -> '[::1]')."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[:header.find("]") + 1]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class GuardMiddleware:
    """Host-header check, body-size limit and security headers, around the whole app."""

    def __init__(self, app: ASGIApp, *, host: str) -> None:
        self.app = app
        bound = f"[{host}]" if ":" in host and not host.startswith("[") else host
        self.allowed = {bound.lower(), *LOOPBACK_NAMES}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if _host_name(headers.get("host", "")) not in self.allowed:
            await _error(403, None, "this server answers only requests addressed to "
                         f"{' or '.join(sorted(self.allowed))} (Host header "
                         f"{headers.get('host', '')!r})")(scope, receive, send)
            return
        origin = headers.get("origin")
        if origin is not None and _host_name(urlsplit(origin).netloc) not in self.allowed:
            # A page from another site may send simple POSTs here; its browser says whence.
            await _error(403, None, f"requests from pages of other sites ({origin!r}) are "
                                    f"refused")(scope, receive, send)
            return
        length = headers.get("content-length", "0")
        if not length.isdigit():
            await _error(400, None, f"bad Content-Length {length!r}")(scope, receive, send)
            return
        if int(length) > MAX_BODY_BYTES:
            await _error(413, None, f"request bodies are limited to {MAX_BODY_BYTES} bytes "
                                    f"(Content-Length {length!r})")(scope, receive, send)
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


def _error(status: int, field: str | None, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _error(exc.status, exc.field, exc.message)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    text = {404: f"no such page or endpoint: {request.url.path}",
            405: f"{request.method} is not allowed on {request.url.path}"}
    return _error(exc.status_code, None, text.get(exc.status_code, str(exc.detail)))


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error(500, None, f"internal error ({type(exc).__name__}); the server log has the "
                             f"details")


class Pages:
    """The static pages. An /api/ path no route took is 405 if an API route has that path for
    another method, else 404 (for every method: it is never looked up as a file)."""

    def __init__(self, api_routes: list[BaseRoute]) -> None:
        self.api_routes = api_routes
        self.files = StaticFiles(directory=STATIC, html=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"].startswith("/api/"):
            wrong_method = any(r.matches(scope)[0] == Match.PARTIAL for r in self.api_routes)
            raise HTTPException(405 if wrong_method else 404)
        await self.files(scope, receive, send)


def openapi(routes: list[BaseRoute], server: str) -> dict[str, Any]:
    """An OpenAPI 3 document of the /api routes: each endpoint docstring's first line is the
    summary, the rest the description."""
    paths: dict[str, dict] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue
        doc = pyinspect.getdoc(route.endpoint) or ""
        summary, _, description = doc.partition("\n")
        for method in sorted((route.methods or set()) - {"HEAD"}):
            paths.setdefault(route.path, {})[method.lower()] = {
                "summary": summary.strip(), "description": description.strip(),
                "responses": {"200": {"description": "JSON"},
                              "400": {"description": "JSON {error, field}: a bad field"}}}
    return {"openapi": "3.0.3", "info": {"title": "gridnn studio", "version": "1"},
            "servers": [{"url": server}], "paths": paths}


def create_app(registry: Any, *, host: str = "127.0.0.1", port: int = 8000) -> Starlette:
    """The studio app serving ``registry``'s runs and models (by id) and the playground.

    ``host`` and ``port`` are where the server listens: the Host check admits ``host`` (and
    localhost/127.0.0.1 on any port)."""

    async def models(request: Request) -> JSONResponse:
        """The runs and models this server was started with.
        Returns [{id, name, kind, ...}]; other endpoints take the id, never a path."""
        return JSONResponse(registry.entries())

    async def schema(request: Request) -> JSONResponse:
        """This API as an OpenAPI 3 document."""
        return JSONResponse(openapi(api_routes, f"http://{host}:{port}"))

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
    app.add_middleware(GuardMiddleware, host=host)
    app.state.learn = learn_hub  # its job stops when the server does (learn_hub.shutdown())
    return app
