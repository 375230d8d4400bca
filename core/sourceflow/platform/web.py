"""How an HTTP request becomes a call to a plain function, and its answer a response.

Handlers are synchronous functions of a :class:`Call`: they run in a worker thread (SQLite
calls and commits never block the event loop), raise :class:`~.problems.Refused` for any
error answer, and return a Starlette response. The ASGI side does only what needs the event
loop: reading the body, with a size limit, without buffering more than the limit.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from attrs import define
from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sourceflow.log import get_logger
from sourceflow.platform.auth import Principal
from sourceflow.platform.problems import Refused, problem
from sourceflow.platform.store import Scope as ResourceScope

API_BODY_LIMIT = 10 * 1024 * 1024


@define(kw_only=True)
class Call:
    """One request, read and checked: what a handler needs and nothing async."""

    method: str
    path: str
    params: dict[str, str]
    query: QueryParams
    headers: Headers
    body: bytes
    base_url: str
    request_id: str
    principal: Principal | None = None

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
    """JSON from bytes, or a 400 problem naming where it breaks."""
    if not body.strip():
        raise problem(400, f"{what} is empty; send a JSON document", service=service)
    try:
        return json.loads(body)
    except UnicodeDecodeError as exc:
        raise problem(400, f"{what} is not UTF-8: {exc.reason}", service=service) from None
    except json.JSONDecodeError as exc:
        raise problem(
            400,
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
            f"(char {exc.pos})",
            service=service,
        ) from None


def answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer."""
    return JSONResponse(body, status_code=status, headers=headers)


def no_content() -> Response:
    """A 204 answer."""
    return Response(status_code=204)


async def read_body(request: Request, limit: int, service: str) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    too_large = problem(
        413,
        f"the body exceeds the limit of {limit:,} bytes",
        service=service,
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


Handler = Callable[[Call], Response]
Guard = Callable[[Headers], Principal]


def route(
    path: str,
    handler: Handler,
    methods: list[str],
    *,
    guard: Guard | None,
    service: str = "FLOW",
    limit: int = API_BODY_LIMIT,
) -> Route:
    """A Starlette route running ``handler`` in a thread after the ``guard`` (gateway) check."""

    async def endpoint(request: Request) -> Response:
        request_id = request_id_of(request.scope)
        try:
            body = await read_body(request, limit, service) if request.method != "GET" else b""
            call = Call(
                method=request.method,
                path=request.url.path,
                params={k: str(v) for k, v in request.path_params.items()},
                query=request.query_params,
                headers=request.headers,
                body=body,
                base_url=str(request.base_url).rstrip("/"),
                request_id=request_id,
            )
            return await anyio.to_thread.run_sync(_run, handler, guard, call)
        except Refused as refused:
            return refused.response()

    return Route(path, endpoint, methods=methods, name=handler.__name__)


def _run(handler: Handler, guard: Guard | None, call: Call) -> Response:
    try:
        if guard is not None:
            call.principal = guard(call.headers)
        return handler(call)
    except Refused as refused:
        return refused.response()
    except Exception as exc:
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


def request_id_of(scope: Scope) -> str:
    """The request id :class:`RequestIds` gave this request."""
    state = scope.get("state") or {}
    return str(state.get("request_id") or "unknown")


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
        given = Headers(scope=scope).get("x-request-id", "")
        rid = given if given and len(given) <= 128 and given.isprintable() else str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = rid
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["x-request-id"] = rid
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
