"""How an HTTP request becomes a call to a plain function, and its answer a response.

Handlers are functions of a :class:`Call` that raise :class:`~.problems.Refused` for any
error answer and return a Starlette response. A plain function runs in a worker thread (SQLite
calls and commits never block the event loop). A coroutine function runs on the event loop
itself and must not block: the inlet is one, so that its requests skip the hop to a worker
thread and back, and its one wait, the commit, is awaited
(:mod:`sourceflow.platform.ingress.commits`). The ASGI side reads the body with a size limit,
without buffering more than the limit.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import anyio.to_thread
from attrs import define
from starlette.datastructures import Headers, QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sourceflow.log import get_logger
from sourceflow.platform.http import jsonbytes
from sourceflow.platform.http.auth import Principal
from sourceflow.platform.http.problems import Refused, problem
from sourceflow.platform.store.sqlite import Scope as ResourceScope

API_BODY_LIMIT = 10 * 1024 * 1024


@define(kw_only=True)
class Call:
    """One request, read and checked: what a handler needs and nothing async."""

    request: Request
    params: dict[str, str]
    body: bytes
    request_id: str
    principal: Principal | None = None

    # Starlette parses the headers, the query and the URL on first use: the inlet reads
    # only the headers, so the others cost nothing there.
    @property
    def method(self) -> str:
        """The HTTP method."""
        return self.request.method

    @property
    def path(self) -> str:
        """The path, without a trailing slash."""
        path: str = self.request.scope["path"]
        return path

    @property
    def headers(self) -> Headers:
        """The request headers."""
        return self.request.headers

    @property
    def query(self) -> QueryParams:
        """The query parameters."""
        return self.request.query_params

    @property
    def base_url(self) -> str:
        """``scheme://host[:port]`` as the caller reached this server."""
        return str(self.request.base_url).rstrip("/")

    @property
    def scope(self) -> ResourceScope:
        """The caller's organization and sandbox (gateway-checked routes only)."""
        assert self.principal is not None, "scope is only known after the gateway check"
        return self.principal.scope

    @property
    def who(self) -> Principal:
        """The gateway-checked caller."""
        assert self.principal is not None, "the caller is only known after the gateway check"
        return self.principal

    def arg(self, name: str) -> str | None:
        """The last value of a query parameter, or None."""
        values = self.query.getlist(name)
        return values[-1] if values else None

    def json(self, service: str = "FLOW") -> Any:
        """The body as JSON; 400 naming the line and column when it is not JSON."""
        return parse_json(self.body, service=service)


def parse_json(body: bytes, *, service: str = "FLOW", what: str = "the body") -> Any:
    """JSON from bytes, exactly as sent, or a 400 problem naming where it breaks or which
    value could not be kept (:func:`~.jsonbytes.loads`)."""
    if not body.strip():
        raise problem(400, f"{what} is empty; send a JSON document", service=service)
    try:
        return jsonbytes.loads(body)
    except UnicodeDecodeError as exc:
        raise problem(400, f"{what} is not UTF-8: {exc.reason}", service=service) from None
    except json.JSONDecodeError as exc:
        raise problem(
            400,
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
            f"(char {exc.pos})",
            service=service,
        ) from None
    except jsonbytes.NotExact as exc:
        raise problem(
            400, f"{what} cannot be stored as sent: {exc.path}: {exc.reason}", service=service
        ) from None
    except ValueError as exc:  # NaN or Infinity
        raise problem(400, f"{what} is not valid JSON: {exc}", service=service) from None


def answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer."""
    return Response(
        jsonbytes.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )


def no_content() -> Response:
    """A 204 answer."""
    return Response(status_code=204)


async def read_body(request: Request, limit: int, service: str) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    # isdigit() alone admits "²" and other digits int() refuses.
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, service)
    # ASGI's receive read directly, not Request.stream(): an async generator costs each
    # request a registration with the event loop's generator hooks, on the inlet's hot path.
    receive = request.receive
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, service)
        if not message.get("more_body", False):
            if not chunks:
                return chunk  # the usual case: the whole body came in one message
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


def _too_large(limit: int, service: str) -> Refused:
    return problem(413, f"the body exceeds the limit of {limit:,} bytes", service=service)


Handler = Callable[[Call], Response]
LoopHandler = Callable[[Call], Awaitable[Response]]
Guard = Callable[[Headers], Principal]


def route(
    path: str,
    handler: Handler | LoopHandler,
    methods: list[str],
    *,
    guard: Guard | None,
    service: str = "FLOW",
    limit: int = API_BODY_LIMIT,
) -> Route:
    """A Starlette route running ``handler`` after the ``guard`` (gateway) check: in a worker
    thread, or on the event loop when it is a coroutine function (which takes no guard: the
    gateway check reads the store)."""
    endpoint = Endpoint(handler, guard=guard, service=service, limit=limit)
    return Route(path, endpoint, methods=methods, name=handler.__name__)


class Endpoint:
    """The ASGI app of one route.

    Starlette calls an ASGI app directly; a plain function it would wrap in a per-request
    layer that only serves endpoints raising ``HTTPException``, which ours never do.
    """

    def __init__(
        self, handler: Handler | LoopHandler, *, guard: Guard | None, service: str, limit: int
    ) -> None:
        self.on_loop = inspect.iscoroutinefunction(handler)
        if self.on_loop and guard is not None:
            raise ValueError(f"{handler.__name__}: a coroutine handler cannot take a guard")
        self.handler = handler
        self.guard = guard
        self.service = service
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.respond(Request(scope, receive))
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        """The handler's answer to ``request``, or the problem it raised."""
        try:
            body = b""
            if request.method != "GET":
                body = await read_body(request, self.limit, self.service)
            call = Call(
                request=request,
                params={k: str(v) for k, v in request.path_params.items()},
                body=body,
                request_id=request_id_of(request.scope),
            )
            if self.on_loop:
                try:
                    return await cast(LoopHandler, self.handler)(call)
                except Refused as refused:
                    return refused.response()
                except Exception as exc:
                    return _failed(self.handler, call, exc)
            handler = cast(Handler, self.handler)
            return await anyio.to_thread.run_sync(_run, handler, self.guard, call)
        except Refused as refused:
            return refused.response()


def _run(handler: Handler, guard: Guard | None, call: Call) -> Response:
    try:
        if guard is not None:
            call.principal = guard(call.headers)
        return handler(call)
    except Refused as refused:
        return refused.response()
    except Exception as exc:
        return _failed(handler, call, exc)


def _failed(handler: Handler | LoopHandler, call: Call, exc: Exception) -> Response:
    get_logger("sourceflow.platform").error(
        "handler failed",
        handler=handler.__name__,
        request_id=call.request_id,
        error=f"{type(exc).__name__}: {exc}",
    )
    return problem(
        500,
        f"the local platform failed on this request ({type(exc).__name__}); "
        f"quote request id {call.request_id} when reporting it",
    ).response()


_ID_PREFIX = secrets.token_hex(10)
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    """A fresh request id shaped like a UUID: a random prefix per process and a counter.

    Unique without asking the kernel for 16 random bytes per request (``uuid4`` did that,
    and it was the largest single cost of a no-op request).
    """
    p, n = _ID_PREFIX, next(_ID_COUNTER) % (1 << 48)
    return f"{p[:8]}-{p[8:12]}-{p[12:16]}-{p[16:20]}-{n:012x}"


def request_id_of(scope: Scope) -> str:
    """The request id :class:`RequestIds` gave this request."""
    state = scope.get("state") or {}
    return str(state.get("request_id") or "unknown")


def assign_request_id(scope: Scope) -> str:
    """The request's id (the caller's ``x-request-id`` when printable and at most 128
    characters, else a new one), kept in the scope's state for :func:`request_id_of`."""
    given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
    rid = given.decode("latin-1") if given and len(given) <= 128 else ""
    if not rid.isprintable() or not rid:
        rid = new_request_id()
    scope.setdefault("state", {})["request_id"] = rid
    return rid


class RequestIds:
    """ASGI middleware: every answer carries ``x-request-id`` (the caller's, when given).

    It also treats ``/path/`` as ``/path``: Adobe's spec writes some routes with a trailing
    slash (``PATCH /connections/{id}/``) and its clients call both forms.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = assign_request_id(scope)
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
        header = (b"x-request-id", rid.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)


async def http_error(request: Request, exc: Exception) -> Response:
    """Unknown routes and wrong methods answer a problem body, not plain text."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = {
        404: f"no route {request.url.path}",
        405: f"{request.method} is not allowed on {request.url.path}",
    }.get(status, "the request failed")
    return problem(status, detail).response()


Finished = Callable[[Scope, int, bytes, float], None]
"""Told of every answer :class:`Front` gave: ``(scope, status, body, seconds taken)``."""


class Front:
    """Coroutine routes served as plain ASGI ahead of the app's middleware and router.

    The inlet's routes take every POST through here: each middleware layer and the router's
    matching cost the hot path more than its own checks did. What the middleware gives other
    routes is done inline: the request id (:func:`assign_request_id`, echoed in
    ``x-request-id``), ``/path/`` treated as ``/path``, and ``finished`` (the metrics and the
    access log). A path or method it does not serve is left to the app (False), so a GET on
    an inlet still answers 405 from the router.

    :param routes: ``(prefix, parameter, endpoint)``: a path of ``prefix`` and one non-empty
        segment is the endpoint's, with that segment as its path parameter; tried in order,
        like the router's ``{parameter}`` routes they mirror.
    :param finished: called after each answer.
    """

    def __init__(self, routes: list[tuple[str, str, Endpoint]], finished: Finished) -> None:
        if any(endpoint.guard is not None for _, _, endpoint in routes):
            raise ValueError("the front serves only routes without a gateway check")
        self.routes = routes
        self.finished = finished
        self.prefixes = tuple({prefix for prefix, _, _ in routes})
        self.log = get_logger("sourceflow.platform")

    def match(self, scope: Scope) -> tuple[str, str, Endpoint] | None:
        """The endpoint for this request, its parameter's name and value; or None."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        path: str = scope["path"]
        if not path.startswith(self.prefixes):
            return None
        path = path.rstrip("/")
        for prefix, name, endpoint in self.routes:
            if path.startswith(prefix):
                rest = path[len(prefix) :]
                if rest and "/" not in rest:
                    return name, rest, endpoint
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Serve the request when it is one of the front's routes; False leaves it to the app."""
        found = self.match(scope)
        if found is None:
            return False
        started = time.perf_counter()
        name, value, endpoint = found
        rid = assign_request_id(scope)
        scope["path_params"] = {name: value}
        header = (b"x-request-id", rid.encode("latin-1"))
        status, body, sending = 500, b"", False
        try:
            response = await endpoint.respond(Request(scope, receive))
            response.raw_headers.append(header)
            status, body, sending = response.status_code, bytes(response.body), True
            await response(scope, receive, send)
        except Exception as exc:
            # What the app's outermost middleware does for other routes: log, and answer 500
            # unless an answer was on its way (a client gone mid-body has nobody to answer).
            status = 500
            self.log.error("request failed", request_id=rid, error=f"{type(exc).__name__}: {exc}")
            if not sending:
                with contextlib.suppress(Exception):
                    failed = problem(500, f"the request failed; quote request id {rid}").response()
                    failed.raw_headers.append(header)
                    await failed(scope, receive, send)
        finally:
            self.finished(scope, status, body, time.perf_counter() - started)
        return True
