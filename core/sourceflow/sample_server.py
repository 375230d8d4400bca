"""The command line of a plugin's sample server: ``python -m sourceflow_acme.sample``.

A plugin may ship a sample of its provider's API (made-up objects in the provider's shapes, a
shop with made-up credentials) so that its source can be tried without an account there. Its
``main()`` is :func:`serve_sample`: the flags, the socket, the error when the port is taken and
the instructions are then the same for every plugin.

Only the standard library is imported here; uvicorn is imported when the server starts, so a
module that names :func:`serve_sample` costs nothing more to import (``--help`` included).
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any


def serve_sample(
    app: Any,
    *,
    prog: str,
    description: str,
    default_port: int,
    instructions: Callable[[str], str],
    argv: Sequence[str] | None = None,
) -> int:
    """Serve the ASGI ``app`` on the ``--host`` and ``--port`` given in ``argv`` until Ctrl-C
    or SIGTERM; return 1 at once when the port cannot be had.

    uvicorn finishes the open requests on either signal, then raises it again as it found it:
    SIGTERM ends the process with that signal, and Ctrl-C returns 130 (no traceback); 0 is
    returned when the server stops otherwise.

    :param app: the sample API, an ASGI app (a Starlette app, say); it is served without
        lifespan events.
    :param prog: how the command is run, for ``--help`` (``python -m sourceflow_acme.sample``).
    :param description: what it serves, for ``--help``.
    :param default_port: the port without ``--port`` (``--port 0`` picks a free one).
    :param instructions: given the base URL the server listens on (``http://127.0.0.1:12111``,
        an IPv6 host in brackets), the text to print: how to point a connection at it. It is
        printed once the port is bound and listening, before the server runs, so a script may
        read the URL from it and connect at once.
    :param argv: the arguments (default ``sys.argv[1:]``).

    A port that cannot be had (taken, not allowed) is one ``error:`` line and a ``hint:`` on
    stderr, and status 1; bad arguments are argparse's (status 2).
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    parser.add_argument(
        "--port",
        type=int,
        default=default_port,
        help=f"port to listen on (default {default_port}; 0 picks a free one)",
    )
    args = parser.parse_args(argv)
    ipv6 = ":" in args.host
    sock = socket.socket(socket.AF_INET6 if ipv6 else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
        # Listening before the instructions are printed: a client that reads the URL and
        # connects at once waits in the backlog until the server runs, instead of being refused.
        sock.listen()
    except OSError as exc:
        sock.close()
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        print("hint: pass another --port (0 picks a free one)", file=sys.stderr)
        return 1
    host = f"[{args.host}]" if ipv6 else args.host
    print(instructions(f"http://{host}:{sock.getsockname()[1]}"), flush=True)
    with sock:
        try:
            import uvicorn

            # uvicorn stops on Ctrl-C (SIGINT) and SIGTERM by itself, finishing open requests.
            config = uvicorn.Config(app, log_level="warning", lifespan="off")
            uvicorn.Server(config).run(sockets=[sock])
        except KeyboardInterrupt:
            # Ctrl-C (before uvicorn runs, or raised again by it once stopped) is how the user
            # stops a sample, not an error to show a traceback for: 130, as a shell reports it.
            return 130
    return 0
