"""Sample Stripe data, and a tiny server that lists it the way Stripe's API does.

``sample_data/objects.json`` holds objects written for sourceflow in the shapes of Stripe's API
(charges, subscriptions, refunds, balance transactions, customers, prices). They come from no
Stripe account and name no real person or card; every one says so in its description or
metadata. ``sourceflow demo`` pulls them through :func:`app` so that a Stripe flow runs without
a Stripe account.

The server answers ``GET /v1/balance`` and ``GET /v1/{resource}`` with Stripe's list protocol
(``limit``, ``starting_after``, ``created[gt|gte|lt|lte]``, ``has_more``), Stripe's error
objects (``type``, ``code``, ``message``, ``param``, with a ``Request-Id`` header), and accepts
any test-mode key (``sk_test_…``/``rk_test_…``; another is refused with Stripe's 401).

``python -m sourceflow_stripe.sample [--port PORT]`` serves it until Ctrl-C, so that a Stripe
flow can be tried without a Stripe account, and prints how to point a connection at it.
"""

from __future__ import annotations

import json
import operator
import secrets
import sys
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import sourceflow

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


def _error(
    status: int, kind: str, message: str, param: str | None = None, code: str | None = None
) -> JSONResponse:
    # Stripe's error object, and the Request-Id header every answer of Stripe's carries.
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return JSONResponse(
        {"error": error}, status_code=status, headers={"Request-Id": f"req_{secrets.token_hex(7)}"}
    )


def _refused(request: Request) -> JSONResponse | None:
    """Stripe's 401 for a missing or unusable key (this sample takes any test-mode key)."""
    given = request.headers.get("authorization", "")
    key = given.removeprefix("Bearer ").strip()
    if not key:
        return _error(
            401,
            "invalid_request_error",
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY').",
        )
    if key.startswith(("sk_test_", "rk_test_")):
        return None
    # As Stripe does, the key is shown masked: its kind and its last four characters only.
    shown = key[:8] + "*" * max(len(key) - 12, 4) + key[-4:] if len(key) > 12 else "****"
    return _error(
        401,
        "invalid_request_error",
        f"Invalid API Key provided: {shown}",
        code="api_key_invalid" if key.startswith(("sk_", "rk_")) else None,
    )


async def _balance(request: Request) -> JSONResponse:
    refused = _refused(request)
    if refused is not None:
        return refused
    return JSONResponse(_all()["balance"])


_CREATED: dict[str, Callable[[int, int], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
"""Stripe's ``created[...]`` filters."""


async def _list(request: Request) -> JSONResponse:
    refused = _refused(request)
    if refused is not None:
        return refused
    resource = request.path_params["resource"]
    if resource not in _all() or resource.startswith("_") or resource == "balance":
        return _error(
            404, "invalid_request_error", f"Unrecognized request URL (GET: /v1/{resource})."
        )
    q = request.query_params
    numbers: dict[str, int] = {}
    for name in ["limit", *(f"created[{op}]" for op in _CREATED)]:
        if name in q:
            try:
                numbers[name] = int(q[name])
            except ValueError:
                return _error(
                    400, "invalid_request_error", f"Invalid integer: {q[name][:40]}", name
                )
    limit = numbers.pop("limit", 10)
    bounds = {name[len("created[") : -1]: bound for name, bound in numbers.items()}
    if not 1 <= limit <= 100:
        return _error(
            400,
            "invalid_request_error",
            "This value must be greater than or equal to 1 and less than or equal to 100.",
            "limit",
        )
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
                400,
                "invalid_request_error",
                f"No such object: '{after[:60]}'",
                "starting_after",
                "resource_missing",
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


DEFAULT_PORT = 12111
"""stripe-mock's port, so a setup written for it finds this one."""
SAMPLE_KEY = "sk_test_sample"
"""A made-up test-mode key: the sample accepts any."""


def instructions(url: str) -> str:
    """How to point ``sourceflow`` at the sample API served on ``url``."""
    from sourceflow_stripe.api import API_BASE_ENV

    return f"""Sample Stripe API on {url}: sample objects in Stripe's shapes, no Stripe account.
It answers GET /v1/balance and GET /v1/{{resource}} with Stripe's list protocol, for any
test-mode key (sk_test_..., rk_test_...); resources: {", ".join(_resources())}.

Point a Stripe connection at it: set the API base in the shell you run sourceflow from,
export {API_BASE_ENV}={url}
sourceflow connect stripe --dataset DATASET_ID --object charges --param accessToken={SAMPLE_KEY}
(or pass --param apiBase={url} instead of the variable). connect checks the key against
this server and stores the base on the connection as apiBase, so the platform's runs pull
from here too.
Ctrl-C stops it."""


def _resources() -> list[str]:
    return [k for k, v in _all().items() if isinstance(v, list)]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the sample API until interrupted (``python -m sourceflow_stripe.sample``)."""
    return sourceflow.serve_sample(
        app(),
        prog="python -m sourceflow_stripe.sample",
        description="Serve sample Stripe objects with Stripe's list protocol, to try a Stripe "
        "flow without a Stripe account.",
        default_port=DEFAULT_PORT,
        instructions=instructions,
        argv=argv,
    )


if __name__ == "__main__":
    sys.exit(main())
