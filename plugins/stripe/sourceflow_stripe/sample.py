"""Sample Stripe data, and a tiny server that lists it the way Stripe's API does.

``sample_data/objects.json`` holds objects written for sourceflow in the shapes of Stripe's API
(charges, subscriptions, refunds, balance transactions, customers, prices). They come from no
Stripe account and name no real person or card; every one says so in its description or
metadata. ``sourceflow demo`` pulls them through :func:`app` so that a Stripe flow runs without
a Stripe account.

The server answers ``GET /v1/balance`` and ``GET /v1/{resource}`` with Stripe's list protocol
(``limit``, ``starting_after``, ``created[gt|gte|lt|lte]``, ``has_more``), Stripe's error
objects, and accepts any test-mode key (``sk_test_…``/``rk_test_…``).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

NOTE = "sourceflow sample data (not a real Stripe account)"


@cache
def _all() -> dict[str, Any]:
    text = resources.files("sourceflow_stripe").joinpath("sample_data/objects.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def objects(resource: str) -> list[dict[str, Any]]:
    """The sample objects of a resource path, newest first (empty for an unknown one)."""
    found = _all().get(resource)
    return list(found) if isinstance(found, list) else []


def _error(status: int, kind: str, message: str, param: str | None = None) -> JSONResponse:
    error: dict[str, Any] = {"type": kind, "message": message}
    if param:
        error["param"] = param
    return JSONResponse({"error": error}, status_code=status)


def _authorized(request: Request) -> bool:
    key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    return key.startswith(("sk_test_", "rk_test_"))


async def _balance(request: Request) -> JSONResponse:
    if not _authorized(request):
        return _error(401, "invalid_request_error", "Invalid API Key provided.")
    return JSONResponse(_all()["balance"])


_CREATED: dict[str, Callable[[int, int], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
"""Stripe's ``created[...]`` filters."""


async def _list(request: Request) -> JSONResponse:
    if not _authorized(request):
        return _error(401, "invalid_request_error", "Invalid API Key provided.")
    resource = request.path_params["resource"]
    if resource not in _all() or resource.startswith("_") or resource == "balance":
        return _error(
            404, "invalid_request_error", f"Unrecognized request URL (GET: /v1/{resource})."
        )
    q = request.query_params
    try:
        limit = int(q.get("limit", "10"))
        bounds = {op: int(q[f"created[{op}]"]) for op in _CREATED if f"created[{op}]" in q}
    except ValueError:
        return _error(400, "invalid_request_error", "Invalid integer.", "limit")
    if not 1 <= limit <= 100:
        return _error(400, "invalid_request_error", "limit must be 1 to 100.", "limit")
    found = [
        o
        for o in objects(resource)
        if all(_CREATED[op](o["created"], bound) for op, bound in bounds.items())
    ]
    after = q.get("starting_after")
    if after:
        ids = [o["id"] for o in found]
        if after not in ids:
            return _error(
                400, "invalid_request_error", f"No such object: '{after}'", "starting_after"
            )
        found = found[ids.index(after) + 1 :]
    page = found[:limit]
    return JSONResponse(
        {"object": "list", "url": f"/v1/{resource}", "has_more": len(found) > limit, "data": page}
    )


def app() -> Starlette:
    """The sample Stripe API (serve it with ``sourceflow.platform.server.background``)."""
    return Starlette(
        routes=[
            Route("/v1/balance", _balance, methods=["GET"]),
            Route("/v1/{resource}", _list, methods=["GET"]),
        ]
    )
