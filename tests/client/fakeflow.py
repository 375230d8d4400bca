"""A small fake of Adobe's IMS, Flow Service, Data Prep, Catalog and inlet, for client tests.

It follows Adobe's protocol where the client depends on it (token endpoint, the four
headers, ``{"items": [...]}``, continuation pages, etags, Catalog's and Data Prep's own
shapes, the inlet's receipts) and records every request with its arrival time, so tests
check what really went over the wire. Faults are scripted per ``METHOD /path``: statuses
with headers and bodies, or a connection dropped in the middle of an answer.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from sourceflow import config

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

FS = config.FLOWSERVICE_PATH
MAPPING_SETS = config.DATAPREP_PATH + "/mappingSets"
DATASETS = config.CATALOG_PATH + "/dataSets"
KINDS = ("connections", "sourceConnections", "targetConnections", "flows", "runs")


@dataclass
class Fault:
    """One scripted answer: a status with headers and a JSON (or text) body, or a drop."""

    status: int = 503
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    request_id: bool = True


@dataclass
class Recorded:
    """A request as the fake received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    at: float
    answered_request_id: str = ""
    status: int = 0

    @property
    def params(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query, keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body)

    def params_of_body(self) -> list[tuple[str, str]]:
        """A form-encoded body's fields."""
        return parse_qsl(self.body.decode(), keep_blank_values=True)


class _Dropped(Exception):
    """Raised after a partial answer so the server closes the connection."""


class FakeFlowService:
    """An ASGI app; serve it with :func:`sourceflow.platform.server.background`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget everything: store, tokens, faults, records, settings."""
        with self.lock:
            self.client_id = config.DEV_CLIENT_ID
            self.client_secret = config.DEV_CLIENT_SECRET
            self.org_id = config.DEV_ORG_ID
            self.token_ttl = 86399
            self.token_delay = 0.0
            self.accept_any_token = False
            self.inlet_auth = False
            self.page_size = 10
            self.next_style = "relative"  # or "token", "absolute"
            self.tokens: dict[str, float] = {}
            self.issued: list[str] = []
            self.requests: list[Recorded] = []
            self.faults: dict[str, deque[Fault]] = {}
            self.store: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KINDS}
            self.specs: dict[str, dict[str, dict[str, Any]]] = {
                "connectionSpecs": {},
                "flowSpecs": {},
            }
            self.mapping_sets: dict[str, dict[str, Any]] = {}
            self.datasets: dict[str, dict[str, Any]] = {}
            self.rows: dict[str, list[dict[str, Any]]] = {}
            self.failures: dict[str, list[dict[str, Any]]] = {}
            self.url = getattr(self, "url", "")

    # --- scripting ----------------------------------------------------------------------------

    def fail(self, method: str, path: str, *faults: Fault) -> None:
        """Answer the next requests to ``METHOD path`` with ``faults``, in order."""
        self.faults.setdefault(f"{method} {path}", deque()).extend(faults)

    def revoke_tokens(self) -> None:
        """Make every issued token invalid (the client's cached one included)."""
        with self.lock:
            self.tokens.clear()

    def seen(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        """Recorded requests, optionally only those to ``METHOD path``."""
        return [
            r
            for r in list(self.requests)
            if (method is None or r.method == method) and (path is None or r.path == path)
        ]

    # --- ASGI ---------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        record = Recorded(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode(),
            headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
            body=body,
            at=time.monotonic(),
        )
        self.requests.append(record)
        fault = self._next_fault(record)
        if fault is not None:
            if fault.drop:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", b"1000"),
                        ],
                    }
                )
                await send(
                    {"type": "http.response.body", "body": b'{"items": [', "more_body": True}
                )
                raise _Dropped("connection dropped on purpose")
            await self._answer(
                send, record, fault.status, fault.body, fault.headers, fault.request_id
            )
            return
        status, answer, headers = await self._route(record)
        await self._answer(send, record, status, answer, headers)

    def _next_fault(self, record: Recorded) -> Fault | None:
        queue = self.faults.get(f"{record.method} {record.path}")
        return queue.popleft() if queue else None

    async def _answer(
        self,
        send: Send,
        record: Recorded,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        request_id: bool = True,
    ) -> None:
        if body is None:
            payload = b""
        elif isinstance(body, bytes):
            payload = body
        elif isinstance(body, str):
            payload = body.encode()
        else:
            payload = json.dumps(body).encode()
        out = [(b"content-length", str(len(payload)).encode())]
        if payload and not isinstance(body, str | bytes):
            out.append((b"content-type", b"application/json"))
        elif payload:
            out.append((b"content-type", b"text/plain"))
        if request_id:
            record.answered_request_id = "srv-" + uuid.uuid4().hex[:12]
            out.append((b"x-request-id", record.answered_request_id.encode()))
        out += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        record.status = status
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": payload})

    # --- routes -------------------------------------------------------------------------------

    async def _route(self, r: Recorded) -> tuple[int, Any, dict[str, str]]:
        if r.path == config.IMS_TOKEN_PATH and r.method == "POST":
            return await self._token(r)
        if r.path.startswith("/collection/"):
            return self._inlet(r)
        refused = self._check_headers(r)
        if refused is not None:
            return refused
        if r.path.startswith(FS + "/"):
            return self._flowservice(r, r.path[len(FS) + 1 :].split("/"))
        if r.path.startswith(MAPPING_SETS):
            return self._mapping_sets(r, r.path[len(MAPPING_SETS) :].strip("/"))
        if r.path.startswith(DATASETS):
            return self._datasets(r, r.path[len(DATASETS) :].strip("/"))
        if r.path.startswith("/sourceflow/dataSets/") and r.path.endswith("/rows"):
            return self._keyed_items(r, self.rows.get(r.path.split("/")[3], []))
        if r.path.startswith("/sourceflow/flows/") and r.path.endswith("/failures"):
            return self._offset_items(r, self.failures.get(r.path.split("/")[3], []))
        return _problem(404, "Not Found", f"no route for {r.method} {r.path}")

    async def _token(self, r: Recorded) -> tuple[int, Any, dict[str, str]]:
        form = dict(parse_qsl(r.body.decode()))
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}, {}
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return (
                400,
                {"error": "invalid_client", "error_description": "invalid client_secret parameter"},
                {},
            )
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        with self.lock:
            token = f"eyJ{len(self.issued) + 1}.{secrets.token_hex(12)}"
            self.issued.append(token)
            self.tokens[token] = time.monotonic() + self.token_ttl
        return (
            200,
            {"access_token": token, "token_type": "bearer", "expires_in": self.token_ttl},
            {},
        )

    def token_valid(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries a live token."""
        if not header or not header.startswith("Bearer "):
            return False
        if self.accept_any_token:
            return True
        expiry = self.tokens.get(header.removeprefix("Bearer "))
        return expiry is not None and time.monotonic() < expiry

    def _check_headers(self, r: Recorded) -> tuple[int, Any, dict[str, str]] | None:
        # As Adobe's gateway answers: 401 for the token, 403 for key or org, 400 for sandbox.
        if not self.token_valid(r.headers.get("authorization")):
            return 401, {"error_code": "401013", "message": "Oauth token is not valid"}, {}
        if r.headers.get("x-api-key") != self.client_id:
            return 403, {"error_code": "403003", "message": "Api Key is invalid"}, {}
        if r.headers.get("x-gw-ims-org-id") != self.org_id:
            return 403, {"error_code": "403025", "message": "Profile is not valid"}, {}
        if not r.headers.get("x-sandbox-name"):
            return 400, {"title": "Bad Request", "detail": "x-sandbox-name is missing"}, {}
        return None

    def _flowservice(self, r: Recorded, parts: list[str]) -> tuple[int, Any, dict[str, str]]:
        kind = parts[0]
        if kind in self.specs:
            table = self.specs[kind]
            if len(parts) == 1:
                return self._page(r, kind, list(table.values()))
            item = table.get(parts[1])
            return (200, {"items": [item]}, {}) if item else _problem(404, "Not Found", "no spec")
        if kind not in self.store:
            return _problem(404, "Not Found", f"unknown collection {kind}")
        table = self.store[kind]
        if len(parts) == 1:
            if r.method == "POST":
                body = r.json()
                new_id = str(uuid.uuid4())
                etag = f'"{uuid.uuid4()}"'
                table[new_id] = {
                    **body,
                    "id": new_id,
                    "etag": etag,
                    "state": "enabled",
                    "createdAt": int(time.time() * 1000),
                }
                return 201, {"id": new_id, "etag": etag}, {"Location": f"/{kind}/{new_id}"}
            return self._page(r, kind, list(table.values()))
        item = table.get(parts[1])
        if item is None:
            return _problem(404, "Not Found", f"{kind} {parts[1]} does not exist")
        if len(parts) == 3 and parts[2] == "explore":
            return (
                200,
                {"format": "hierarchical", "query": r.query, "schema": {"type": "object"}},
                {},
            )
        if r.method == "GET":
            return 200, {"items": [item]}, {}
        if r.method == "DELETE":
            del table[parts[1]]
            return 204, None, {}
        if r.method == "PATCH":
            if r.headers.get("if-match") != item["etag"]:
                return _problem(
                    412,
                    "Precondition Failed",
                    "the etag in If-Match is not the resource's current etag",
                )
            for op in r.json():
                target = item
                keys = op["path"].strip("/").split("/")
                for key in keys[:-1]:
                    target = target.setdefault(key, {})
                if op["op"].lower() == "remove":
                    target.pop(keys[-1], None)
                else:
                    target[keys[-1]] = op["value"]
            item["etag"] = f'"{uuid.uuid4()}"'
            return 200, {"id": item["id"], "etag": item["etag"]}, {}
        return _problem(405, "Method Not Allowed", r.method)

    def _page(
        self, r: Recorded, kind: str, items: list[dict[str, Any]]
    ) -> tuple[int, Any, dict[str, str]]:
        params = r.params
        for name, value in params:
            if name == "property" and "==" in value:
                key, _, wanted = value.partition("==")
                items = [i for i in items if str(i.get(key)) == wanted]
        limit = int(dict(params).get("limit", self.page_size))
        token = dict(params).get("continuationToken")
        start = int(base64.urlsafe_b64decode(token).decode()) if token else 0
        page: dict[str, Any] = {"items": items[start : start + limit]}
        if start + limit < len(items):
            next_token = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
            kept = "".join(f"&{k}={v}" for k, v in params if k not in ("continuationToken",))
            href = {
                "relative": f"/{kind}?continuationToken={next_token}{kept}",
                "absolute": f"{self.url}{FS}/{kind}?continuationToken={next_token}{kept}",
                "token": next_token,
            }[self.next_style]
            page["_links"] = {"next": {"href": href}}
        return 200, page, {}

    def _offset_items(
        self, r: Recorded, items: list[dict[str, Any]]
    ) -> tuple[int, Any, dict[str, str]]:
        # The local platform's extensions page with limit (default 100) and start.
        params = dict(r.params)
        limit, start = int(params.get("limit", 100)), int(params.get("start", 0))
        return 200, {"items": items[start : start + limit]}, {}

    def _keyed_items(
        self, r: Recorded, items: list[dict[str, Any]]
    ) -> tuple[int, Any, dict[str, str]]:
        # The local platform's rows page by key: after = the position of the last row read.
        params = dict(r.params)
        limit, after = int(params.get("limit", 100)), int(params.get("after", 0))
        page = items[after : after + limit]
        body: dict[str, Any] = {
            "items": page,
            "_page": {"count": len(page), "limit": limit, "next": str(after + len(page))},
        }
        if len(page) == limit:
            href = f"{r.path}?limit={limit}&after={after + len(page)}"
            body["_links"] = {"next": {"href": href}}
        return 200, body, {}

    def _mapping_sets(self, r: Recorded, rest: str) -> tuple[int, Any, dict[str, str]]:
        if not rest and r.method == "POST":
            body = r.json()
            new_id = uuid.uuid4().hex
            now = int(time.time() * 1000)
            self.mapping_sets[new_id] = {
                **body,
                "id": new_id,
                "version": 0,
                "createdDate": now,
                "modifiedDate": now,
            }
            return (
                200,
                {
                    "id": new_id,
                    "version": 0,
                    "createdDate": now,
                    "modifiedDate": now,
                    "createdBy": "fake",
                    "modifiedBy": "fake",
                },
                {},
            )
        if not rest:
            params = dict(r.params)
            limit, start = int(params["limit"]), int(params["start"])
            data = list(self.mapping_sets.values())[start : start + limit]
            return 200, {"data": data, "_page": {"count": len(data), "limit": limit}}, {}
        item = self.mapping_sets.get(rest)
        return (200, item, {}) if item else _problem(404, "Not Found", "no mapping set")

    def _datasets(self, r: Recorded, rest: str) -> tuple[int, Any, dict[str, str]]:
        if not rest and r.method == "POST":
            new_id = uuid.uuid4().hex[:24]
            self.datasets[new_id] = {**r.json(), "created": int(time.time() * 1000)}
            return 201, [f"@/dataSets/{new_id}"], {}
        if not rest:
            params = dict(r.params)
            limit, start = int(params.get("limit", 50)), int(params.get("start", 0))
            keys = list(self.datasets)[start : start + limit]
            return 200, {k: self.datasets[k] for k in keys}, {}
        item = self.datasets.get(rest)
        return (200, {rest: item}, {}) if item else _problem(404, "Not Found", "no dataset")

    def _inlet(self, r: Recorded) -> tuple[int, Any, dict[str, str]]:
        if not r.headers.get("x-sandbox-name"):
            return 400, {"title": "Bad Request", "detail": "x-sandbox-name is missing"}, {}
        if self.inlet_auth and not self.token_valid(r.headers.get("authorization")):
            return (
                401,
                {
                    "type": "https://ns.adobe.com/adobecloud/problem/data-collection-service-authorization",
                    "status": "401",
                    "title": "Authorization",
                    "report": {"message": "[id] Ims service token is empty"},
                },
                {},
            )
        now = int(time.time() * 1000)
        parts = r.path.split("/")
        if parts[2] == "batch":
            responses: list[dict[str, Any]] = []
            for i, message in enumerate(r.json()["messages"]):
                if isinstance(message, dict) and not message.get("invalid"):
                    responses.append({"xactionId": f"{now}:{i}"})
                else:
                    responses.append({"statusCode": 400, "message": "invalid message"})
            return (
                207,
                {
                    "inletId": parts[3],
                    "batchId": f"{now}:batch",
                    "receivedTimeMs": now,
                    "responses": responses,
                },
                {},
            )
        return 200, {"inletId": parts[2], "xactionId": f"{now}:0001:1", "receivedTimeMs": now}, {}


def _problem(status: int, title: str, detail: str) -> tuple[int, Any, dict[str, str]]:
    return (
        status,
        {
            "type": f"https://ns.adobe.com/aep/errors/FAKE-{status}",
            "title": title,
            "status": status,
            "detail": detail,
        },
        {},
    )
