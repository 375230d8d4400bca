"""Data Prep mapping sets under ``/data/foundation/conversion``.

``POST /mappingSets`` compiles the set first (:func:`sourceflow.mapping.compile_mapping`): a
set that cannot be compiled is refused with 400 listing every problem, so a flow never meets
a broken mapping. Data Prep answers 200 (not 201) with ``{id, version, createdDate, ...}``;
dates are ISO 8601 strings, as Data Prep's OpenAPI schema types them.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from attrs import evolve
from starlette.responses import Response
from starlette.routing import Route

from sourceflow import wire
from sourceflow.config import DATAPREP_PATH as DP
from sourceflow.model import MappingSet
from sourceflow.platform import resources
from sourceflow.platform.problems import problem
from sourceflow.platform.query import whole
from sourceflow.platform.web import Call, answer, route

if TYPE_CHECKING:
    from sourceflow.platform.core import Platform

SERVICE = "DATAPREP"
DEFAULT_LIMIT = 10  # Data Prep's default page size


def iso_now() -> str:
    """Now as Data Prep's schema writes dates: ``2024-03-12T18:04:18.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DataPrep:
    """The mapping set routes of one platform."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform

    def routes(self) -> list[Route]:
        """``/mappingSets`` (GET, POST) and ``/mappingSets/{id}`` (GET)."""
        guard = self.p.gateway
        return [
            route(f"{DP}/mappingSets", self.list, ["GET"], guard=guard, service=SERVICE),
            route(f"{DP}/mappingSets", self.create, ["POST"], guard=guard, service=SERVICE),
            route(f"{DP}/mappingSets/{{id}}", self.get, ["GET"], guard=guard, service=SERVICE),
        ]

    def create(self, call: Call) -> Response:
        """Compile, store, and answer 200 ``{id, version, createdDate, ...}``."""
        from sourceflow.mapping import MappingError, compile_mapping

        mapping_set = resources.parse(call.json(SERVICE), MappingSet, service=SERVICE)
        try:
            compile_mapping(mapping_set)
        except MappingError as exc:
            raise problem(
                400,
                f"the mapping set cannot be compiled: {exc.problems[0]}"
                + (f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""),
                problems=exc.problems,
                service=SERVICE,
            ) from None
        now = iso_now()
        stored = evolve(
            mapping_set,
            id=secrets.token_hex(16),
            version=0,
            created_date=now,
            modified_date=now,
            created_by=call.who.client_id,
            modified_by=call.who.client_id,
        )
        doc = wire.to_json(stored)
        with self.p.store.transaction() as db:
            self.p.store.put(db, "mappingSets", doc["id"], call.scope, resources.now_ms(), doc)
        keys = ("id", "version", "createdDate", "modifiedDate", "createdBy", "modifiedBy")
        return answer({k: doc[k] for k in keys})

    def get(self, call: Call) -> Response:
        """One mapping set."""
        doc = self.p.store.get("mappingSets", call.params["id"], call.scope)
        if doc is None:
            raise problem(404, f"no mapping set {call.params['id']!r}", service=SERVICE)
        return answer(doc)

    def list(self, call: Call) -> Response:
        """``?limit=&start=`` → ``{"data": [...], "_page": {"count", "limit"}}``."""
        limit = whole(call.arg("limit"), "limit", DEFAULT_LIMIT, least=1, service=SERVICE)
        start = whole(call.arg("start"), "start", 0, least=0, service=SERVICE)
        docs = self.p.store.all("mappingSets", call.scope)
        data = docs[start : start + limit]
        body: dict[str, object] = {"data": data, "_page": {"count": len(data), "limit": limit}}
        if start + limit < len(docs):
            body["_links"] = {"next": {"href": f"/mappingSets?limit={limit}&start={start + limit}"}}
        return answer(body)
