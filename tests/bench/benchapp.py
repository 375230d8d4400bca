"""The bench's own app: the local platform plus two bench-only routes.

``python benchapp.py PORT`` serves it with :func:`sourceflow.platform.server.serve`, the server
settings of ``sourceflow platform serve``. ``POST /bench/noop`` reads the body and answers a
fixed JSON object through the same stack as the inlet (uvicorn, Starlette, the request-id
middleware, a coroutine handler on the event loop), but stores nothing: it is the ceiling the
inlet is compared with. ``GET /bench/stats`` answers the inlet's commit counts (transactions
and writes), the seconds the garbage collector has run, how many stored messages the
ingest worker has yet to map, and the last row's and failure's sequence numbers. Neither
exists in the product.

``python benchapp.py PORT bare`` serves instead a bare Starlette app with one ``POST
/bench/noop`` route (no platform middleware, no platform at all), with the same server
settings: the honest ceiling, what a plain endpoint of the user's own would do.

Environment: ``BENCH_DATA_DIR`` (the platform's data folder), ``BENCH_DURABILITY``
(``full``, the default, or ``normal``), ``BENCH_INGEST`` (``process``, the default as in
``sourceflow platform serve``; ``thread``; or ``off``: no ingest worker, the inlet's own cost
with nothing mapped).
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sourceflow.platform.app import PlatformConfig, create_app
from sourceflow.platform.http.web import Call, answer, route
from sourceflow.platform.server import serve


async def _noop(call: Call) -> Response:
    return answer({"inletId": "noop", "xactionId": "0:0:0", "receivedTimeMs": 0})


class _GcClock:
    """Seconds the cyclic garbage collector has run in this process."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


def _stats(app: Starlette, clock: _GcClock) -> Callable[[Call], Awaitable[Response]]:
    async def stats(call: Call) -> Response:
        platform = app.state.platform
        commits = platform.commits
        last = await anyio.to_thread.run_sync(
            platform.store.row, "SELECT coalesce(max(seq), 0) AS seq FROM messages"
        )
        mark = await anyio.to_thread.run_sync(platform.ingest.mark)
        # What the mapped messages became: rows, or failures (a bench whose messages all fail
        # would report failing as fast as mapping).
        made = await anyio.to_thread.run_sync(
            platform.store.row,
            "SELECT (SELECT coalesce(max(seq), 0) FROM rows) AS rows, "
            "(SELECT coalesce(max(seq), 0) FROM failures) AS failures",
        )
        return answer(
            {
                "transactions": commits.transactions,
                "writes": commits.writes,
                "gc_seconds": clock.seconds,
                "unmapped": last["seq"] - mark,
                "last_seq": last["seq"],
                "rows": made["rows"],
                "failures": made["failures"],
            }
        )

    return stats


def create() -> Starlette:
    """The platform app with ``POST /bench/noop`` in front of its routes."""
    durability = os.environ.get("BENCH_DURABILITY", "full")
    assert durability in ("full", "normal")
    config = PlatformConfig(
        data_dir=Path(os.environ["BENCH_DATA_DIR"]),
        durability="full" if durability == "full" else "normal",
        scheduler=False,
        # As `sourceflow platform serve` runs it, unless BENCH_INGEST=thread (or off).
        ingest_process=os.environ.get("BENCH_INGEST", "process") == "process",
        ingest=os.environ.get("BENCH_INGEST", "process") != "off",
    )
    app = create_app(config)
    app.router.routes[:0] = [
        route("/bench/noop", _noop, ["POST"], guard=None, service="DCS", limit=1 << 20),
        # the inlet's commits so far, so the bench can report messages per transaction
        route("/bench/stats", _stats(app, _GcClock()), ["GET"], guard=None, service="DCS"),
    ]
    return app


_NOOP_ANSWER = b'{"inletId":"noop","xactionId":"0:0:0","receivedTimeMs":0}'


async def _bare_noop(request: Request) -> Response:
    await request.body()
    return Response(_NOOP_ANSWER, media_type="application/json")


def create_bare() -> Starlette:
    """A plain Starlette app: ``POST /bench/noop`` reads the body and answers a fixed object."""
    return Starlette(routes=[Route("/bench/noop", _bare_noop, methods=["POST"])])


if __name__ == "__main__":
    bare = sys.argv[2:] == ["bare"]
    serve(create_bare() if bare else create(), port=int(sys.argv[1]))
