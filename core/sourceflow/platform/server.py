"""Run an ASGI app on a real socket: in the foreground for ``sourceflow platform serve``, or
in a background thread for tests and the demo."""

from __future__ import annotations

import gc
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


def _config(app: Any, host: str, port: int, **options: Any) -> uvicorn.Config:
    # No proxy-header rewriting: the local platform is reached directly (a proxy in front
    # sets PlatformConfig.inlet_base_url instead), and it costs every request.
    options.setdefault("proxy_headers", False)
    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, lifespan="on", **options
    )


def serve(app: Any, host: str = "127.0.0.1", port: int = 8300, **options: Any) -> None:
    """Serve ``app`` until interrupted (the process is the server's: ``sourceflow platform
    serve``)."""
    # What is alive now (modules, the app, the plugins) lives as long as the process: out of
    # the collector's sweeps, which would walk it again and again while the inlet allocates.
    # The benchmark measured the collector's share of the server's time halved by this.
    gc.freeze()
    uvicorn.Server(_config(app, host, port, **options)).run()


@contextmanager
def background(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` from a thread; yields its base URL (``http://127.0.0.1:PORT``).

    ``port=0`` binds a free port, so parallel tests never collide.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = uvicorn.Server(_config(app, host, sock.getsockname()[1]))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the local platform did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
