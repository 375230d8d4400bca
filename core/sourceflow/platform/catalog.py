"""A minimal Catalog (datasets), and our own extension to read what landed in them.

Catalog's shapes are its own: creating answers 201 ``["@/dataSets/{id}"]``, reading answers
``{"{id}": {...}}``. Under ``/sourceflow/`` (not an Adobe path) this platform adds:

- ``GET /sourceflow/dataSets/{id}/rows?limit=&start=`` → ``{"items": [{"xactionId",
  "flowId", "receivedTimeMs", "record"}]}``: the rows the ingest worker wrote;
- ``GET /sourceflow/flows/{flowId}/failures?limit=&start=`` → ``{"items": [{"failureId",
  "xactionId", "receivedTimeMs", "error": {"code", "message", "rule"?}, "body"}]}``: messages
  that did not become rows (and were not replayed since), with the original message.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any

from attrs import evolve
from starlette.responses import Response
from starlette.routing import Route

from sourceflow import wire
from sourceflow.config import CATALOG_PATH as CAT
from sourceflow.model import Dataset
from sourceflow.platform import replay, resources
from sourceflow.platform.problems import problem
from sourceflow.platform.query import whole
from sourceflow.platform.web import Call, answer, route

if TYPE_CHECKING:
    from sourceflow.platform.core import Platform

SERVICE = "CATALOG"
EXTENSION = "/sourceflow"


class Catalog:
    """The dataset routes and the rows/failures extension of one platform."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform

    def routes(self) -> list[Route]:
        """Catalog's ``/dataSets`` and our ``/sourceflow/…`` routes."""
        guard = self.p.gateway
        return [
            route(f"{CAT}/dataSets", self.list, ["GET"], guard=guard, service=SERVICE),
            route(f"{CAT}/dataSets", self.create, ["POST"], guard=guard, service=SERVICE),
            route(f"{CAT}/dataSets/{{id}}", self.get, ["GET"], guard=guard, service=SERVICE),
            route(f"{EXTENSION}/dataSets/{{id}}/rows", self.rows, ["GET"], guard=guard),
            route(f"{EXTENSION}/flows/{{id}}/failures", self.failures, ["GET"], guard=guard),
        ]

    def create(self, call: Call) -> Response:
        """``POST /dataSets`` → 201 ``["@/dataSets/{id}"]``."""
        dataset = resources.parse(call.json(SERVICE), Dataset, service=SERVICE)
        now = resources.now_ms()
        dataset = evolve(dataset, id=secrets.token_hex(12), created=now, updated=now)
        doc = wire.to_json(dataset)
        with self.p.store.transaction() as db:
            self.p.store.put(db, "dataSets", doc["id"], call.scope, now, doc)
        return answer([f"@/dataSets/{doc['id']}"], 201)

    def get(self, call: Call) -> Response:
        """``GET /dataSets/{id}`` → ``{"{id}": {...}}``."""
        doc = self._dataset(call)
        return answer({doc["id"]: doc})

    def list(self, call: Call) -> Response:
        """``GET /dataSets?limit=&start=`` → ``{"{id}": {...}, ...}`` (Catalog: at most 100)."""
        limit = whole(call.arg("limit"), "limit", 50, least=1, most=100, service=SERVICE)
        start = whole(call.arg("start"), "start", 0, least=0, service=SERVICE)
        docs = self.p.store.all("dataSets", call.scope)[start : start + limit]
        return answer({d["id"]: d for d in docs})

    def _dataset(self, call: Call) -> dict[str, Any]:
        doc = self.p.store.get("dataSets", call.params["id"], call.scope)
        if doc is None:
            raise problem(
                404,
                f"no dataset {call.params['id']!r} in sandbox {call.scope.sandbox!r}",
                service=SERVICE,
            )
        return doc

    def rows(self, call: Call) -> Response:
        """Our extension: the rows written to a dataset, oldest first."""
        dataset = self._dataset(call)
        limit = whole(call.arg("limit"), "limit", 100, least=1, most=10_000)
        start = whole(call.arg("start"), "start", 0, least=0)
        found = self.p.store.rows(
            "SELECT xaction_id, flow_id, received_ms, record FROM rows WHERE dataset_id = ? "
            "ORDER BY seq LIMIT ? OFFSET ?",
            (dataset["id"], limit, start),
        )
        items = [
            {
                "xactionId": r["xaction_id"],
                "flowId": r["flow_id"],
                "receivedTimeMs": r["received_ms"],
                "record": json.loads(r["record"]),
            }
            for r in found
        ]
        return answer({"items": items})

    def failures(self, call: Call) -> Response:
        """Our extension: a flow's messages that failed to become rows, with their errors."""
        flow = self.p.store.get("flows", call.params["id"], call.scope)
        if flow is None:
            raise problem(404, f"no flow {call.params['id']!r} in sandbox {call.scope.sandbox!r}")
        limit = whole(call.arg("limit"), "limit", 100, least=1, most=10_000)
        start = whole(call.arg("start"), "start", 0, least=0)
        # Failures a replay landed are rows now, no longer failures (sourceflow.platform.replay).
        items = replay.failures(self.p.store, flow["id"], limit=limit, start=start)
        return answer({"items": items})
