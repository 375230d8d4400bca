"""Data Prep mapping sets under ``/data/foundation/conversion``.

``POST /mappingSets`` compiles the set first (:func:`sourceflow.mapping.compile_mapping`): a
set that cannot be compiled is refused with 400 listing every problem, so a flow never meets
a broken mapping. Data Prep answers 200 (not 201) with ``{id, version, createdDate, ...}``;
dates are ISO 8601 strings, as Data Prep's OpenAPI schema types them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from attrs import evolve
from starlette.responses import Response
from starlette.routing import Route

from sourceflow import wire
from sourceflow.config import DATAPREP_PATH as DP
from sourceflow.model import MappingRule, MappingSet
from sourceflow.platform.flowservice import resources
from sourceflow.platform.http.problems import findings, problem
from sourceflow.platform.http.query import whole
from sourceflow.platform.http.web import Call, answer, route

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
        """``/mappingSets`` (GET, POST), ``/mappingSets/validate`` and ``preview`` (POST),
        ``/mappingSets/{id}`` (GET, PUT) and its ``/mappings`` (GET, one or all)."""
        guard = self.p.gateway
        return [
            route(f"{DP}/mappingSets", self.list, ["GET"], guard=guard, service=SERVICE),
            route(f"{DP}/mappingSets", self.create, ["POST"], guard=guard, service=SERVICE),
            route(f"{DP}/mappingSets/validate", self.validate, ["POST"], guard=guard,
                  service=SERVICE),
            route(f"{DP}/mappingSets/preview", self.preview, ["POST"], guard=guard,
                  service=SERVICE),
            route(f"{DP}/mappingSets/{{id}}", self.get, ["GET"], guard=guard, service=SERVICE),
            route(f"{DP}/mappingSets/{{id}}", self.update, ["PUT"], guard=guard, service=SERVICE),
            route(f"{DP}/mappingSets/{{id}}/mappings", self.mappings, ["GET"], guard=guard,
                  service=SERVICE),
            route(f"{DP}/mappingSets/{{id}}/mappings/{{mapping}}", self.mapping, ["GET"],
                  guard=guard, service=SERVICE),
        ]  # fmt: skip

    def create(self, call: Call) -> Response:
        """Compile, store, and answer 200 ``{id, version, createdDate, ...}``."""
        mapping_set = _compiled(resources.parse(call.json(SERVICE), MappingSet, service=SERVICE))
        now = iso_now()
        stored = evolve(
            mapping_set,
            id=secrets.token_hex(16),
            version=0,
            created_date=now,
            modified_date=now,
            created_by=call.who.client_id,
            modified_by=call.who.client_id,
            mappings=_with_ids(mapping_set.mappings),
        )
        doc = wire.to_json(stored)
        with self.p.store.transaction() as db:
            self.p.store.put(db, "mappingSets", doc["id"], call.scope, resources.now_ms(), doc)
        keys = ("id", "version", "createdDate", "modifiedDate", "createdBy", "modifiedBy")
        return answer({k: doc[k] for k in keys})

    def validate(self, call: Call) -> Response:
        """``POST /mappingSets/validate``: whether a set compiles, without storing it →
        ``{"validationResponse": [{"status", "errors"}]}``, one entry per mapping."""
        from sourceflow.mapping import MappingError, compile_mapping

        mapping_set = resources.parse(call.json(SERVICE), MappingSet, service=SERVICE)
        results: list[dict[str, Any]] = []
        for rule in mapping_set.mappings:
            try:
                compile_mapping(evolve(mapping_set, mappings=[rule]))
            except MappingError as exc:
                errors = [_error(rule, m) for m in exc.problems]
                results.append({"status": "FAILED", "errors": errors})
            else:
                # Adobe's example shows "errors": null, its schema an array: an empty one fits.
                results.append({"status": "SUCCESS", "errors": []})
        return answer({"validationResponse": results})

    def preview(self, call: Call) -> Response:
        """``POST /mappingSets/preview`` ``{data, mappingSet}``: one record through a mapping
        set, nothing stored → ``{"data": row}``, or ``{"data": {}, "errors": [...]}``.

        ``data`` is the record (Adobe's example) or a list holding one (its schema).
        """
        body = call.json(SERVICE)
        if not isinstance(body, dict):
            raise problem(400, "the body must be an object {data, mappingSet}", service=SERVICE)
        data = body.get("data")
        if isinstance(data, list):
            if len(data) != 1:
                raise problem(
                    400,
                    f"data: preview one record at a time (got a list of {len(data)})",
                    service=SERVICE,
                )
            data = data[0]
        if not isinstance(data, dict):
            raise problem(400, "data: must be the JSON object of one record", service=SERVICE)
        mapping_set = _compiled(
            resources.parse(body.get("mappingSet"), MappingSet, service=SERVICE)
        )
        from sourceflow.errors import SourceflowError
        from sourceflow.mapping import compile_mapping

        try:
            row = compile_mapping(mapping_set)(data)
        except SourceflowError as exc:
            return answer({"data": {}, "errors": [{"exception": str(exc)}]})
        return answer({"data": row})

    def update(self, call: Call) -> Response:
        """``PUT /mappingSets/{id}``: replace the mappings (and output schema) → the set, its
        ``version`` one higher. Flows that use it map with the new version from then on."""
        stored = self._stored(call)
        mapping_set = _compiled(resources.parse(call.json(SERVICE), MappingSet, service=SERVICE))
        new = evolve(
            mapping_set,
            id=stored["id"],
            version=int(stored.get("version") or 0) + 1,
            created_date=stored.get("createdDate"),
            created_by=stored.get("createdBy"),
            modified_date=iso_now(),
            modified_by=call.who.client_id,
            mappings=_with_ids(mapping_set.mappings),
        )
        doc = wire.to_json(new)
        with self.p.store.transaction() as db:
            self.p.store.put(db, "mappingSets", doc["id"], call.scope, resources.now_ms(), doc)
        return answer(doc)

    def mappings(self, call: Call) -> Response:
        """``GET /mappingSets/{id}/mappings``: the set's mappings, as Data Prep's
        ``MappingOperation`` objects."""
        stored = self._stored(call)
        return answer([_operation(stored, i, m) for i, m in enumerate(stored["mappings"])])

    def mapping(self, call: Call) -> Response:
        """``GET /mappingSets/{id}/mappings/{mappingId}``: one of them."""
        stored = self._stored(call)
        for i, m in enumerate(stored["mappings"]):
            found = _operation(stored, i, m)
            if found["id"] == call.params["mapping"]:
                return answer(found)
        raise problem(
            404,
            f"mapping set {stored['id']} has no mapping {call.params['mapping']!r}",
            service=SERVICE,
        )

    def _stored(self, call: Call) -> dict[str, Any]:
        doc = self.p.store.get("mappingSets", call.params["id"], call.scope)
        if doc is None:
            raise problem(404, f"no mapping set {call.params['id']!r}", service=SERVICE)
        return doc

    def get(self, call: Call) -> Response:
        """One mapping set."""
        return answer(self._stored(call))

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


def _compiled(mapping_set: MappingSet) -> MappingSet:
    """``mapping_set`` when it compiles; a 400 listing every problem when it does not."""
    from sourceflow.mapping import MappingError, compile_mapping

    try:
        compile_mapping(mapping_set)
    except MappingError as exc:
        raise findings(
            400, exc.problems, lead="the mapping set cannot be compiled: ", service=SERVICE
        ) from None
    return mapping_set


def _with_ids(rules: list[MappingRule]) -> list[MappingRule]:
    # Data Prep gives each mapping an id of its own (GET /mappingSets/{id}/mappings/{id}).
    return [r if r.id else evolve(r, id=secrets.token_hex(16)) for r in rules]


def _operation(stored: dict[str, Any], index: int, rule: dict[str, Any]) -> dict[str, Any]:
    """A stored mapping as Data Prep's ``MappingOperation`` (``source``/``destination``)."""
    # Sets stored before mappings had ids get a stable one from the set's id and position.
    rule_id = rule.get("id") or hashlib.sha256(f"{stored['id']}:{index}".encode()).hexdigest()[:32]
    found = {
        "id": rule_id,
        "version": stored.get("version", 0),
        "sourceType": rule.get("sourceType", "ATTRIBUTE"),
        "source": rule.get("sourceAttribute"),
        "destination": rule.get("destinationXdmPath"),
        "createdDate": stored.get("createdDate"),
        "modifiedDate": stored.get("modifiedDate"),
        "createdBy": stored.get("createdBy"),
        "modifiedBy": stored.get("modifiedBy"),
    }
    if rule.get("description") is not None:
        found["description"] = rule["description"]
    return {k: v for k, v in found.items() if v is not None}


def _error(rule: MappingRule, message: str) -> dict[str, Any]:
    """A mapping's problem as Data Prep's ``TransformErrorInfo``."""
    return {
        "source": rule.source_attribute,
        "destination": rule.destination_xdm_path,
        "sourceType": rule.source_type,
        "exception": message,
    }
