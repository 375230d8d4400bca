"""A fake Stripe API for tests, following Stripe's documented behaviour.

- ``GET /v1/{resource}``: the list protocol (``limit`` 1 to 100, ``starting_after``,
  ``created[gt|gte|lt|lte]``, ``has_more``), newest first; ``GET /v1/balance``;
  ``POST /oauth/token`` (Connect: ``authorization_code`` and ``refresh_token`` grants).
- Errors as Stripe's error object ``{"error": {type, code, message, param}}``; a wrong key is
  401 ``invalid_request_error``.
- Rate limit: more than ``rate`` requests from one key within a second answers 429
  (``rate_limit``); every refusal is counted in :attr:`FakeStripe.limited`.
- Objects are copies of Stripe's published samples (``fixtures3.json``) with their own ids and
  ``created`` times.

Tests inject failures (:attr:`FakeStripe.inject`, or a seeded share of every request with
:meth:`FakeStripe.fail_randomly`), latency, a stall, and calls at given request numbers
(:attr:`FakeStripe.at_request`, to create objects while a run is under way). A failure is an
answer in Stripe's shape (a 5xx ``api_error``, a 429 ``rate_limit``, a 409 conflict), or a
connection dropped halfway through an answer (status :data:`DROP`).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import operator
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from shared_reference import SHARED, reference
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FIXTURES = SHARED / "reference" / "stripe" / "fixtures3.json"

KEY = "sk_test_fake_key_0001"
OBJECT_OF = {
    "charges": "charge",
    "subscriptions": "subscription",
    "refunds": "refund",
    "balance_transactions": "balance_transaction",
    "customers": "customer",
    "prices": "price",
}
PREFIX = {
    "charges": "ch",
    "subscriptions": "sub",
    "refunds": "re",
    "balance_transactions": "txn",
    "customers": "cus",
    "prices": "price",
}


DROP = 0
"""An injected "status" that drops the connection halfway through the answer's body."""
CREATED = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}

# What a failing request answers, as Stripe documents its errors.
TRANSIENT: tuple[tuple[int, dict[str, Any], dict[str, str]], ...] = (
    (500, {"type": "api_error", "message": "An unknown error occurred"}, {}),
    (502, {"type": "api_error", "message": "Bad gateway"}, {}),
    (503, {"type": "api_error", "message": "Service unavailable"}, {}),
    (
        429,
        {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests"},
        {},
    ),
    (
        409,
        {
            "type": "invalid_request_error",
            "code": "lock_timeout",
            "message": "This object cannot be accessed right now: another request holds it",
        },
        {"Stripe-Should-Retry": "true"},
    ),
    (DROP, {}, {}),
)


class _Dropped(Response):
    """Starts an answer it never finishes: the client sees the connection close mid-body."""

    def __init__(self) -> None:
        super().__init__(b"{", media_type="application/json", headers={"content-length": "64"})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": b'{"object": "list"', "more_body": True})
        raise ConnectionAbortedError("the fake Stripe dropped this connection on purpose")


def fixtures() -> dict[str, Any]:
    """Stripe's published sample objects, or a skip when ../shared is absent."""
    return _fixtures(
        reference("stripe", "fixtures3.json", needed_for="Stripe's sample objects are needed")
    )


@functools.cache
def _fixtures(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())["resources"]
    return data


def make(resource: str, n: int, created: int) -> dict[str, Any]:
    """Stripe's sample object of ``resource``, as the ``n``-th one, created at ``created``."""
    obj = copy.deepcopy(fixtures()[OBJECT_OF[resource]])
    obj["id"] = f"{PREFIX[resource]}_fake{n:06d}"
    obj["created"] = created
    return obj


def _error(
    status: int,
    kind: str,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return JSONResponse({"error": error}, status_code=status, headers=headers)


class FakeStripe:
    """The fake's state and its ASGI app (:attr:`app`)."""

    def __init__(self, keys: tuple[str, ...] = (KEY,), rate: float = 25):
        self.keys = set(keys)
        self.rate = rate
        self.objects: dict[str, list[dict[str, Any]]] = {r: [] for r in OBJECT_OF}
        self._encoded: dict[str, bytes] = {}
        self.requests: list[tuple[float, str, dict[str, str]]] = []
        self.limited = 0
        self.latency = 0.0
        self.inject: deque[tuple[int, dict[str, Any], dict[str, str]]] = deque()
        self.failure_rate = 0.0
        self.failed = 0
        self.failures: Counter[int] = Counter()
        """Failures answered, by status (:data:`DROP` for dropped connections)."""
        self._random = random.Random(0)
        self.at_request: dict[int, Callable[[], None]] = {}
        self.stall_at: int | None = None
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.codes = {"ac_fake_code": "sk_test_fake_connected_01"}
        self._recent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/v1/balance", self._balance, methods=["GET"]),
                Route("/v1/{resource}", self._list, methods=["GET"]),
                Route("/oauth/token", self._token, methods=["POST"]),
                Route("/_fake/stats", self._stats, methods=["GET"]),
            ]
        )

    def add(
        self, resource: str, count: int, *, created: int = 1_700_000_000, step: int = 1
    ) -> list[str]:
        """Add ``count`` objects created ``step`` seconds apart from ``created`` on; their ids."""
        return self.add_at(resource, [created + i * step for i in range(count)])

    def add_at(self, resource: str, created: list[int]) -> list[str]:
        """Add one object per entry of ``created`` (ties welcome), in that order; their ids."""
        start = sum(len(v) for v in self.objects.values())
        new = [make(resource, start + i, t) for i, t in enumerate(created)]
        self._encoded.update((o["id"], json.dumps(o).encode()) for o in new)
        with self._lock:
            self.objects[resource] = sorted(
                self.objects[resource] + new, key=lambda o: (o["created"], o["id"]), reverse=True
            )
        return [o["id"] for o in new]

    def fail_randomly(self, rate: float, seed: int) -> None:
        """From now on, answer a share ``rate`` of requests with one of :data:`TRANSIENT`,
        drawn from a generator seeded with ``seed``."""
        self.failure_rate = rate
        self._random = random.Random(seed)

    # --- behaviour ------------------------------------------------------------------------

    def _gate(self, request: Request) -> tuple[str | None, Response | None]:
        key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        now = time.monotonic()
        with self._lock:
            self.requests.append((now, request.url.path, dict(request.query_params)))
            if key not in self.keys:
                return None, _error(
                    401, "invalid_request_error", f"Invalid API Key provided: {key[:8]}****"
                )
            recent = self._recent.setdefault(key, deque())
            while recent and recent[0] <= now - 1.0:
                recent.popleft()
            if len(recent) >= self.rate:
                self.limited += 1
                return key, _error(
                    429, "invalid_request_error", "Request rate limit exceeded.", code="rate_limit"
                )
            recent.append(now)
            call = self.at_request.pop(len(self.requests), None)
            failure = None
            if self.inject:
                failure = self.inject.popleft()
            elif self.failure_rate and self._random.random() < self.failure_rate:
                failure = self._random.choice(TRANSIENT)
            if failure is not None:
                self.failed += 1
                self.failures[failure[0]] += 1
        if call is not None:
            call()
        if failure is not None:
            status, error, headers = failure
            if status == DROP:
                return key, _Dropped()
            return key, JSONResponse({"error": error}, status_code=status, headers=headers)
        return key, None

    async def _stats(self, request: Request) -> JSONResponse:
        # Not Stripe's: what the fake saw, for a benchmark that serves it from another process.
        return JSONResponse({"times": [t for t, _, _ in self.requests], "limited": self.limited})

    async def _balance(self, request: Request) -> Response:
        _, refused = self._gate(request)
        if refused:
            return refused
        return JSONResponse(fixtures()["balance"])

    async def _list(self, request: Request) -> Response:
        _, refused = self._gate(request)
        if self.latency:
            await asyncio.sleep(self.latency)
        if refused:
            return refused
        if self.stall_at is not None and len(self.requests) >= self.stall_at:
            self.stalled.set()
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
        resource = request.path_params["resource"]
        if resource not in self.objects:
            return _error(
                404, "invalid_request_error", f"Unrecognized request URL (GET: /v1/{resource})."
            )
        q = request.query_params
        try:
            limit = int(q.get("limit", "10"))
        except ValueError:
            return _error(400, "invalid_request_error", "Invalid integer: limit", param="limit")
        if not 1 <= limit <= 100:
            return _error(
                400, "invalid_request_error", "This value must be between 1 and 100.", param="limit"
            )
        found = self.objects[resource]
        for op, compare in CREATED.items():
            if f"created[{op}]" in q:
                bound = int(q[f"created[{op}]"])
                found = [o for o in found if compare(o["created"], bound)]
        after = q.get("starting_after")
        if after:
            ids = [o["id"] for o in found]
            if after not in ids:
                return _error(
                    400,
                    "invalid_request_error",
                    f"No such object: '{after}'",
                    code="resource_missing",
                    param="starting_after",
                )
            found = found[ids.index(after) + 1 :]
        # Objects are encoded once, when added: a page costs the fake no serializing, so its
        # clock reads arrivals as they happen, as a real server's edge would.
        head = json.dumps(
            {"object": "list", "url": f"/v1/{resource}", "has_more": len(found) > limit}
        )
        page = b",".join(self._encoded[o["id"]] for o in found[:limit])
        return Response(
            head[:-1].encode() + b', "data": [' + page + b"]}", media_type="application/json"
        )

    async def _token(self, request: Request) -> JSONResponse:
        key = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        form = dict(parse_qsl((await request.body()).decode()))
        if key not in self.keys:
            return JSONResponse(
                {"error": "invalid_client", "error_description": "No such API key"}, status_code=401
            )
        grant = form.get("grant_type")
        given = form.get("code") if grant == "authorization_code" else form.get("refresh_token")
        token = self.codes.pop(str(given), None)
        if token is None:
            return JSONResponse(
                {
                    "error": "invalid_grant",
                    "error_description": f"Authorization code does not exist: {given}",
                },
                status_code=400,
            )
        self.keys.add(token)
        self.codes["rt_fake_refresh"] = token
        return JSONResponse(
            {
                "access_token": token,
                "refresh_token": "rt_fake_refresh",
                "stripe_user_id": "acct_fake01",
                "livemode": False,
                "token_type": "bearer",
                "scope": "read_only",
            }
        )
