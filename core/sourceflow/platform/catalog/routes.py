"""A minimal Catalog (datasets), and our own extension to read what landed in them.

Catalog's shapes are its own: creating answers 201 ``["@/dataSets/{id}"]``, reading answers
``{"{id}": {...}}``, deleting 200 ``["@/dataSets/{id}"]``. A dataset carries the fields
Catalog documents (``tags`` with ``adobe/pqs/table``, ``classification``, ``fileDescription``,
``imsOrg``, ``state``, ``version`` …) and lists take Catalog's parameters
(:mod:`sourceflow.platform.catalog.query`).

Under ``/sourceflow/`` (not an Adobe path) this platform adds:

- ``GET /sourceflow/dataSets/{id}/rows?limit=&after=`` → ``{"items": [{"xactionId",
  "flowId", "receivedTimeMs", "record"}], "_page": {"count", "limit", "next"}, "_links":
  {"next": {"href"}}?}``: the rows the ingest worker wrote, paged by key (``after`` is the
  ``_page.next`` of the page before; ``_links.next`` is there when the page was full);
- ``GET /sourceflow/flows/{flowId}/failures?limit=&start=`` → ``{"items": [{"failureId",
  "xactionId", "receivedTimeMs", "error": {"code", "message", "rule"?}, "body"}]}``: messages
  that did not become rows (and were not replayed since), with the original message.
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING, Any

import attrs
from attrs import evolve
from starlette.responses import Response
from starlette.routing import Route

from sourceflow import wire
from sourceflow.config import CATALOG_PATH as CAT
from sourceflow.model import Dataset, DatasetClassification, FileDescription
from sourceflow.platform.catalog import query as catalogquery
from sourceflow.platform.flowservice import resources
from sourceflow.platform.http import jsonbytes
from sourceflow.platform.http.problems import problem
from sourceflow.platform.http.query import whole
from sourceflow.platform.http.web import Call, answer, route
from sourceflow.platform.ingest import replay

if TYPE_CHECKING:
    from sourceflow.platform.core import Platform

SERVICE = "CATALOG"
EXTENSION = "/sourceflow"
# The top-level fields of a dataset object, which Catalog's simple filters may name.
DATASET_FIELDS = frozenset(wire.camel(a.name) for a in attrs.fields(Dataset))


def _table_name(name: str, dataset_id: str) -> str:
    """The Query Service table name Catalog derives from a dataset's name (``adobe/pqs/table``):
    lower case, non-alphanumerics as underscores; the id makes it unique."""
    base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "dataset"
    return f"{base}_{dataset_id[-6:]}"


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
            route(f"{CAT}/dataSets/{{id}}", self.delete, ["DELETE"], guard=guard, service=SERVICE),
            route(f"{EXTENSION}/dataSets/{{id}}/rows", self.rows, ["GET"], guard=guard),
            route(f"{EXTENSION}/flows/{{id}}/failures", self.failures, ["GET"], guard=guard),
        ]

    def create(self, call: Call) -> Response:
        """``POST /dataSets`` → 201 ``["@/dataSets/{id}"]``."""
        dataset = resources.parse(call.json(SERVICE), Dataset, service=SERVICE)
        now = resources.now_ms()
        dataset_id = secrets.token_hex(12)  # 24 hex characters, like Catalog's ids
        table = _table_name(dataset.name, dataset_id)
        tags = {k: list(v) for k, v in (dataset.tags or {}).items()}
        # Catalog adds the Query Service table name and the storage format to every dataset.
        tags.setdefault("adobe/pqs/table", [table])
        tags.setdefault("adobe/siphon/table/format", ["parquet"])
        who = call.who
        dataset = evolve(
            dataset,
            id=dataset_id,
            tags=tags,
            classification=DatasetClassification(
                data_behavior=(dataset.classification and dataset.classification.data_behavior)
                or "time-series",
                managed_by=(dataset.classification and dataset.classification.managed_by)
                or "CUSTOMER",
            ),
            file_description=dataset.file_description
            or FileDescription(persisted=True, container_format="parquet", format="parquet"),
            ims_org=who.org_id,
            sandbox_id=resources.sandbox_id(call.scope),
            state="DRAFT",
            version="1.0.0",
            files=f"@/dataSetFiles?dataSetId={dataset_id}",
            created=now,
            updated=now,
            created_client=who.client_id,
            created_user=who.client_id,
            updated_user=who.client_id,
        )
        doc = wire.to_json(dataset)
        with self.p.store.transaction() as db:
            self.p.store.put(db, "dataSets", doc["id"], call.scope, now, doc)
        return answer([f"@/dataSets/{doc['id']}"], 201)

    def get(self, call: Call) -> Response:
        """``GET /dataSets/{id}`` (or ``{id1},{id2}``) → ``{"{id}": {...}}``; ``properties``
        keeps only the fields it names."""
        found: dict[str, Any] = {}
        for dataset_id in call.params["id"].split(","):
            doc = self._dataset(call, dataset_id.strip())
            found[doc["id"]] = catalogquery.shown(doc, call.arg("properties"))
        return answer(found)

    def list(self, call: Call) -> Response:
        """``GET /dataSets`` with Catalog's parameters (:mod:`.query`) →
        ``{"{id}": {...}, ...}``."""
        docs = self.p.store.all("dataSets", call.scope)
        return answer(catalogquery.select(docs, call.query.multi_items(), DATASET_FIELDS))

    def delete(self, call: Call) -> Response:
        """``DELETE /dataSets/{id}`` → 200 ``["@/dataSets/{id}"]``, as Catalog answers it.

        A dataset still named by a target connection is refused, naming it: its flow would
        lose the place its rows go.
        """
        doc = self._dataset(call, call.params["id"])
        users = [
            f"{t['id']} ({t.get('name', '')})"
            for t in self.p.store.all("targetConnections", call.scope)
            if ((t.get("params") or {}).get("dataSetId")) == doc["id"]
        ]
        if users:
            raise problem(
                400,
                f"dataset {doc['id']} is still the target of target connection"
                f"{'s' if len(users) > 1 else ''} {', '.join(users)}; delete "
                f"{'them' if len(users) > 1 else 'it'} first",
                title="Resource in use",
                service=SERVICE,
            )
        with self.p.store.transaction() as db:
            self.p.store.delete(db, "dataSets", doc["id"], call.scope)
        return answer([f"@/dataSets/{doc['id']}"])

    def _dataset(self, call: Call, dataset_id: str) -> dict[str, Any]:
        doc = self.p.store.get("dataSets", dataset_id, call.scope)
        if doc is None:
            raise problem(
                404,
                f"no dataset {dataset_id!r} in sandbox {call.scope.sandbox!r}",
                service=SERVICE,
            )
        return doc

    def rows(self, call: Call) -> Response:
        """Our extension: the rows written to a dataset, oldest first, paged by key.

        ``after`` is the ``_page.next`` of the page before (a row's sequence number): each page
        is ``WHERE seq > after ORDER BY seq LIMIT limit`` on the ``(dataset_id, seq)`` index,
        so reading page 2,000 costs what reading page 1 does, and rows appended while a reader
        pages are read once, at the end, never twice or skipped (one writer commits rows in
        ``seq`` order).
        """
        dataset = self._dataset(call, call.params["id"])
        limit = whole(call.arg("limit"), "limit", 100, least=1, most=10_000)
        if call.arg("start") is not None:
            # The offset this route took before key paging; refused rather than read as a key.
            raise problem(
                400,
                "start: rows are paged by key; pass after=<_page.next of the page before>",
                service=SERVICE,
            )
        after = whole(call.arg("after"), "after", 0, least=0)
        found = self.p.store.rows(
            "SELECT seq, xaction_id, flow_id, received_ms, record FROM rows "
            "WHERE dataset_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (dataset["id"], after, limit),
        )
        # Each record is spliced in as the JSON text it was stored as (jsonbytes wrote it):
        # parsing and encoding it again per read was most of a page's cost, and changes nothing.
        items = b",".join(
            b'{"xactionId":%b,"flowId":%b,"receivedTimeMs":%d,"record":%b}'
            % (
                jsonbytes.dumps(r["xaction_id"]),
                jsonbytes.dumps(r["flow_id"]),
                r["received_ms"],
                r["record"].encode(),
            )
            for r in found
        )
        last = found[-1]["seq"] if found else after
        # next is where a later read resumes even when this page was the last one for now.
        page = {"count": len(found), "limit": limit, "next": str(last)}
        links = b""
        if len(found) == limit:
            href = f"{EXTENSION}/dataSets/{dataset['id']}/rows?limit={limit}&after={last}"
            links = b',"_links":%b' % jsonbytes.dumps({"next": {"href": href}})
        body = b'{"items":[%b],"_page":%b%b}' % (items, jsonbytes.dumps(page), links)
        return Response(body, media_type="application/json")

    def failures(self, call: Call) -> Response:
        """Our extension: a flow's messages that failed to become rows, with their errors."""
        flow = self.p.store.get("flows", call.params["id"], call.scope)
        if flow is None:
            raise problem(404, f"no flow {call.params['id']!r} in sandbox {call.scope.sandbox!r}")
        limit = whole(call.arg("limit"), "limit", 100, least=1, most=10_000)
        start = whole(call.arg("start"), "start", 0, least=0)
        # Failures a replay landed are rows now, no longer failures
        # (sourceflow.platform.ingest.replay).
        items = replay.failures(self.p.store, flow["id"], limit=limit, start=start)
        return answer({"items": items})
