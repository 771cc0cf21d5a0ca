"""Running the studio app under uvicorn: a listening socket, and a server in a background
thread (for tests and benchmarks; ``gridnn studio`` runs it in the foreground)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import ArgumentError


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say
    # so, and with Nagle on, uvicorn's separate header and body writes wait ~40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ArgumentError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick "
                            f"another --port or --host") from None
    sock.listen(128)
    return sock


def uvicorn_server(app: Any) -> Any:
    """A uvicorn Server for ``app``: warnings only in the log, no lifespan events."""
    import uvicorn

    return uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))


def serve_in_background(registry: Any, *, timeout: float = 20.0
                        ) -> tuple[str, Callable[[], None]]:
    """Serve ``create_app(registry)`` on 127.0.0.1 and a free port in a daemon thread.

    Returns the base URL (``http://127.0.0.1:PORT``) and a function that stops the server and
    joins its thread."""
    from .app import create_app

    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    app = create_app(registry, host="127.0.0.1", port=port)
    server = uvicorn_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the studio server did not start")
        time.sleep(0.02)

    def stop() -> None:
        app.state.learn.shutdown()  # the learn job's worker, and its event streams
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    return f"http://127.0.0.1:{port}", stop
