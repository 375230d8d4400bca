"""Runs of scheduled flows: ``POST /runs``, ``GET /runs`` and ``GET /runs/{id}``.

A run is stored as Adobe's run JSON (``FlowRunItemDTO``) in the ``runs`` table, with its
status beside it so the scheduler finds open runs without reading documents. Its ``metrics``
carry ``recordSummary`` (records read, written and failed), ``durationSummary`` (epoch ms) and
``statusSummary`` (``inProgress``, ``success`` or ``failed``, with ``errors`` of ``{code,
message}``). The scheduler (:mod:`sourceflow.platform.runs.scheduler`) executes them.
"""

from __future__ import annotations

import builtins
import json
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import Route

from sourceflow import model, wire
from sourceflow.config import FLOWSERVICE_PATH as FS
from sourceflow.platform.flowservice import resources
from sourceflow.platform.http import query
from sourceflow.platform.http.problems import problem
from sourceflow.platform.http.web import Call, answer, route
from sourceflow.platform.runs.records import OPEN, load, save

if TYPE_CHECKING:
    from sourceflow.platform.core import Platform


class Runs:
    """The ``/runs`` routes of one platform."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform

    def routes(self) -> list[Route]:
        """``POST /runs``, ``GET /runs``, ``GET /runs/{id}``."""
        guard = self.p.gateway
        return [
            route(f"{FS}/runs", self.create, ["POST"], guard=guard),
            route(f"{FS}/runs", self.list, ["GET"], guard=guard),
            route(f"{FS}/runs/{{id}}", self.get, ["GET"], guard=guard),
            *self.update_routes(),
        ]

    def create(self, call: Call) -> Response:
        """``POST /runs`` ``{"flowId"}``: start a run of a scheduled flow now."""
        request = resources.parse(call.json(), model.RunRequest)
        flow = self.p.store.get("flows", request.flow_id, call.scope)
        if flow is None:
            raise problem(
                400, f"flowId: no flow {request.flow_id!r} in sandbox {call.scope.sandbox!r}"
            )
        source = self.p.scheduler.source_of(flow, call.scope)
        if source is None or source.mode != "scheduled":
            what = f"a {source.title} flow" if source else "not a flow of an installed source"
            raise problem(
                400,
                f"flowId: flow {request.flow_id} is {what}, which is not scheduled: its records "
                "arrive through its inlet, not through runs",
            )
        doc = self.p.scheduler.start_run(flow, call.scope, call.who.client_id)
        created = wire.to_json(model.CreatedRef(id=doc["id"], etag=doc["eTag"]))
        return answer(created, 201, {"Location": f"{call.base_url}{FS}/runs/{doc['id']}"})

    def list(self, call: Call) -> Response:
        """``GET /runs?property=flowId==…``: runs, oldest first unless ``orderby`` says."""
        wanted = query.parse(call.query.multi_items())
        found = self.p.store.rows(
            "SELECT doc FROM runs WHERE org = ? AND sandbox = ? ORDER BY created_at, rowid",
            (call.scope.org, call.scope.sandbox),
        )
        docs = [json.loads(r["doc"]) for r in found]
        return answer(query.page(docs, wanted, "/runs"))

    def get(self, call: Call) -> Response:
        """``GET /runs/{id}``."""
        found = load(self.p.store, call.params["id"])
        if found is None or found[1] != call.scope:
            raise problem(404, f"no run {call.params['id']!r} in sandbox {call.scope.sandbox!r}")
        return answer({"items": [found[0]]})

    # --- PUT /runs/{id} -----------------------------------------------------------------------

    def update_routes(self) -> builtins.list[Route]:
        """``PUT /runs/{id}`` (Adobe's ``updateRun``)."""
        return [route(f"{FS}/runs/{{id}}", self.update, ["PUT"], guard=self.p.gateway)]

    def update(self, call: Call) -> Response:
        """``PUT /runs/{id}`` with ``UpdateFlowRunRequest``: set what a provider reports about a
        finished run (``providerRefId``, ``params``, ``activities`` …) → 200 and the run.

        ``flowId`` and ``flowSpec`` may be sent but not changed; ``metrics`` are measured here
        and are not taken from callers. A run still open is refused: the scheduler writes it.
        An ``If-Match`` naming an older ``eTag`` is refused with 412.
        """
        body = call.json()
        if not isinstance(body, dict):
            raise problem(400, 'the body must be a JSON object such as {"providerRefId": "..."}')
        changes = _run_changes(body)
        with self.p.store.transaction() as db:
            found = load(self.p.store, call.params["id"])
            if found is None or found[1] != call.scope:
                raise problem(
                    404, f"no run {call.params['id']!r} in sandbox {call.scope.sandbox!r}"
                )
            doc, _, status = found
            for key in ("flowId", "flowSpec", "metrics"):
                if key in body and body[key] != doc.get(key):
                    why = (
                        "is measured by the platform"
                        if key == "metrics"
                        else "is fixed when the run starts"
                    )
                    raise problem(400, f"{key}: cannot be changed: it {why}")
            if status in OPEN:
                raise problem(
                    400,
                    f"run {doc['id']} is {status}: update it once it has finished "
                    f"(GET /runs/{doc['id']} shows its status)",
                )
            given = call.headers.get("if-match")
            if given and given.strip() != "*" and _bare(given) != _bare(str(doc.get("eTag"))):
                raise problem(
                    412,
                    f"the run changed since etag {given.strip()} was read (it is now "
                    f"{doc.get('eTag')}); GET it again and re-apply your change",
                )
            etag = resources.new_etag()
            doc = {
                **doc,
                **changes,
                "updatedAt": resources.now_ms(),
                "updatedBy": call.who.client_id,
                "updatedClient": call.who.client_id,
                "eTag": etag,
            }
            save(db, doc, status)
        location = f"{call.base_url}{FS}/runs/{doc['id']}"
        return answer(doc, 200, {"Location": location, "ETag": etag})


# The fields of UpdateFlowRunRequest a caller may set, and what each must be.
_RUN_FIELDS: dict[str, tuple[type, type | None, str]] = {
    "providerRefId": (str, None, "a string"),
    "parentFlowRunId": (str, None, "a string"),
    "childFlowRunIds": (list, str, "a list of strings"),
    "recordTypes": (list, str, "a list of strings"),
    "params": (dict, None, "an object"),
    "predecessors": (list, dict, "a list of objects"),
    "activities": (list, dict, "a list of objects"),
}


def _run_changes(body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("flowId", "flowSpec", "metrics"):
            continue
        if key not in _RUN_FIELDS:
            known = ", ".join(sorted(_RUN_FIELDS))
            raise problem(400, f"{key}: not a field of a run update (known: {known})")
        kind, item, says = _RUN_FIELDS[key]
        members: list[Any] = value if isinstance(value, list) else []
        ok = isinstance(value, kind) and (item is None or all(isinstance(v, item) for v in members))
        if not ok:
            raise problem(400, f"{key}: must be {says} (got {json.dumps(value)[:40]})")
        changes[key] = value
    return changes


def _bare(etag: str) -> str:
    return etag.strip().removeprefix("W/").strip('"')
