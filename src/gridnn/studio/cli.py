"""``gridnn studio [RUN_OR_MODEL ...]``: serve the playground and the model pages locally.

Registered into the ``gridnn`` command by ``register(subparsers)``. Starlette and uvicorn are
imported only when the command runs, so ``gridnn`` works without the ``studio`` extra.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import threading
import webbrowser
from pathlib import Path
from typing import Any

from .._allocator import give_freed_memory_back
from ..errors import ArgumentError

RUNS_DIR = Path("runs")


def host_warning(host: str) -> str | None:
    """The warning to print when ``host`` is not a loopback address, else None."""
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host.strip("[]")).is_loopback:
            return None
    except ValueError:
        pass
    return (f"gridnn studio: warning: listening on {host}, not only on this machine; anyone "
            f"who can reach it can use the studio (the default --host 127.0.0.1 is local only)")


def cmd_studio(args: argparse.Namespace) -> int:
    try:
        from .app import create_app
        from .registry import Registry
        from .server import listen, uvicorn_server
    except ImportError as exc:
        raise ArgumentError(f"gridnn studio needs the studio extra ({exc.name} is missing): "
                            f"pip install 'gridnn[studio]'") from None
    if not 0 <= args.port <= 65535:
        raise ArgumentError(f"--port must be in 0..65535, received {args.port}")
    warning = host_warning(args.host)
    if warning:
        print(warning, file=sys.stderr)
    give_freed_memory_back()  # a server lives long: a burst of uploads must not stay resident
    registry = Registry.from_sources(list(args.sources), runs_dir=RUNS_DIR)
    sock = listen(args.host, args.port)
    port = sock.getsockname()[1]
    app = create_app(registry, host=args.host, port=port)
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    url = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/"
    url += "learn.html" if args.learn else ""
    names = ", ".join(e["name"] for e in registry.entries()) or "none"
    print(f"gridnn studio: {url}  (models: {names}; Ctrl+C stops)", flush=True)
    if not args.no_browser:
        threading.Timer(0.5, webbrowser.open, (url,)).start()
    try:
        uvicorn_server(app).run(sockets=[sock])
    finally:
        app.state.learn.shutdown()
        sock.close()
    return 0


def register(subparsers: Any) -> None:
    """Add ``studio`` to the ``gridnn`` command's subparsers."""
    p = subparsers.add_parser(
        "studio", help="local web pages: the convolution playground and inside trained models")
    p.add_argument("sources", nargs="*", metavar="RUN_OR_MODEL",
                   help=f"run folders or zoo model names to serve (run folders under "
                        f"./{RUNS_DIR} are added)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    p.add_argument("--learn", action="store_true",
                   help="open the learn page (train a small CNN live) instead of the playground")
    p.set_defaults(func=cmd_studio)
