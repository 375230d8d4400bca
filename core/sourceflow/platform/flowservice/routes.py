"""Flow Service routes under ``/data/foundation/flowservice``.

Connection and flow specs (read from the plugins), and the four resource collections —
``connections``, ``sourceConnections``, ``targetConnections``, ``flows`` — each with create,
read, list, PATCH and DELETE, in Adobe's shapes: create answers 201 ``{id, etag}``, reads
answer ``{"items": [...]}``, updates need ``If-Match``.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import Route

from sourceflow import model, wire
from sourceflow.config import FLOWSERVICE_PATH as FS
from sourceflow.errors import SourceflowError
from sourceflow.platform.flowservice import resources
from sourceflow.platform.flowservice.explore import explore
from sourceflow.platform.flowservice.resources import (
    CONNECTIONS,
    FLOWS,
    KINDS,
    SOURCE_CONNECTIONS,
    Kind,
)
from sourceflow.platform.http import query
from sourceflow.platform.http.problems import problem
from sourceflow.platform.http.web import Call, Handler, answer, no_content, route
from sourceflow.platform.store.sqlite import Scope

if TYPE_CHECKING:
    from sourceflow.platform.core import Platform

# Which collection uses which: a resource cannot be deleted while one of these names it.
USERS = {
    "connections": (SOURCE_CONNECTIONS, "baseConnectionId"),
    "sourceConnections": (FLOWS, "sourceConnectionIds"),
    "targetConnections": (FLOWS, "targetConnectionIds"),
}


class FlowService:
    """The Flow Service routes of one platform."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform

    def routes(self) -> list[Route]:
        """Every Flow Service route."""
        guard = self.p.gateway
        found = [
            route(f"{FS}/connectionSpecs", self.connection_specs, ["GET"], guard=guard),
            route(f"{FS}/connectionSpecs/{{id}}", self.connection_spec, ["GET"], guard=guard),
            route(f"{FS}/flowSpecs", self.flow_specs, ["GET"], guard=guard),
            route(f"{FS}/flowSpecs/{{id}}", self.flow_spec, ["GET"], guard=guard),
            route(
                f"{FS}/connections/{{id}}/explore",
                lambda call: explore(self.p, call),
                ["GET"],
                guard=guard,
            ),
        ]
        found += [
            route(f"{FS}/connections/search", self._search(CONNECTIONS), ["POST"], guard=guard),
            route(f"{FS}/flows/search", self._search(FLOWS), ["POST"], guard=guard),
            route(f"{FS}/flowSpecs/search", self.search_flow_specs, ["POST"], guard=guard),
            route(f"{FS}/connections/{{id}}/test", self.test_connection, ["GET"], guard=guard),
        ]
        for kind in KINDS:
            found += [
                route(f"{FS}/{kind.name}", self._list(kind), ["GET"], guard=guard),
                route(f"{FS}/{kind.name}", self._create(kind), ["POST"], guard=guard),
                route(f"{FS}/{kind.name}/{{id}}", self._get(kind), ["GET"], guard=guard),
                route(f"{FS}/{kind.name}/{{id}}", self._patch(kind), ["PATCH"], guard=guard),
                route(f"{FS}/{kind.name}/{{id}}", self._delete(kind), ["DELETE"], guard=guard),
            ]
        return found

    # --- specs --------------------------------------------------------------------------------

    def connection_specs(self, call: Call) -> Response:
        """``GET /connectionSpecs``: the installed sources' specs and the data lake's."""
        docs = [self.p.specs.describe_connection_spec(s) for s in self.p.specs.connection_specs()]
        return answer(query.page(docs, query.parse(call.query.multi_items()), "/connectionSpecs"))

    def connection_spec(self, call: Call) -> Response:
        """``GET /connectionSpecs/{id}``."""
        spec = self.p.specs.connection_spec(call.params["id"])
        if spec is None:
            raise problem(
                404,
                f"no connection spec {call.params['id']!r}; known: "
                f"{self.p.specs.known_connection_specs()} ({self.p.specs.restart_hint()})",
            )
        return answer({"items": [self.p.specs.describe_connection_spec(spec)]})

    def flow_specs(self, call: Call) -> Response:
        """``GET /flowSpecs``: the flow specs of every installed source."""
        docs = [self.p.specs.describe_flow_spec(s) for s in self.p.specs.flow_specs()]
        return answer(query.page(docs, query.parse(call.query.multi_items()), "/flowSpecs"))

    def flow_spec(self, call: Call) -> Response:
        """``GET /flowSpecs/{id}``."""
        spec = self.p.specs.flow_spec(call.params["id"])
        if spec is None:
            raise problem(
                404,
                f"no flow spec {call.params['id']!r}; known: {self.p.specs.known_flow_specs()} "
                f"({self.p.specs.restart_hint()})",
            )
        return answer({"items": [self.p.specs.describe_flow_spec(spec)]})

    def search_flow_specs(self, call: Call) -> Response:
        """``POST /flowSpecs/search`` ``{queryString, limit, orderby, count}``."""
        wanted, _ = _search_query(call)
        docs = [self.p.specs.describe_flow_spec(s) for s in self.p.specs.flow_specs()]
        return answer(query.page(docs, wanted, "/flowSpecs/search"))

    def test_connection(self, call: Call) -> Response:
        """``GET /connections/{id}/test`` → ``{"result": true|false}``: whether the plugin
        still accepts the connection's credentials (its ``sourceflow_authenticate``); a source
        without that hook has nothing to check."""
        doc = self._stored(CONNECTIONS, call)
        source = self.p.specs.source(doc["connectionSpec"]["id"])
        if source is None:
            raise problem(
                400, f"no installed source provides connection spec {doc['connectionSpec']['id']}"
            )
        if not self.p.registry.implements("sourceflow_authenticate", source):
            return answer({"result": True})
        credentials = dict(((doc.get("auth") or {}).get("params")) or {})
        try:
            self.p.registry.call("sourceflow_authenticate", source, credentials=credentials)
        except SourceflowError:
            return answer({"result": False})
        except Exception as exc:
            plugin = self.p.registry.owner(source)
            raise problem(
                502,
                f"plugin {plugin!r} failed in sourceflow_authenticate: {type(exc).__name__}",
            ) from None
        return answer({"result": True})

    # --- resources ----------------------------------------------------------------------------

    def _stored(self, kind: Kind, call: Call) -> dict[str, Any]:
        doc = self.p.store.get(kind.name, call.params["id"], call.scope)
        if doc is None:
            raise problem(
                404, f"no {kind.label} {call.params['id']!r} in sandbox {call.scope.sandbox!r}"
            )
        return doc

    def _present(
        self, kind: Kind, doc: dict[str, Any], call: Call, inlets: dict[str, str] | None = None
    ) -> dict[str, Any]:
        shown = resources.masked(doc, kind)
        if kind not in (CONNECTIONS, FLOWS):
            return shown
        if kind is FLOWS:
            shown.update(self._flow_attributes(doc, call.scope))
        inlet_id = (
            inlets.get(doc["id"])
            if inlets is not None
            else self.p.directory.inlet_for(kind.name, doc["id"])
        )
        if inlet_id is None:
            return shown
        if kind is CONNECTIONS:
            holder = shown.setdefault("auth", {"specName": "", "params": {}}).setdefault(
                "params", {}
            )
        else:
            holder = shown.setdefault("options", {})
        holder["inletUrl"] = self.p.directory.url(inlet_id, call.base_url)
        holder["inletId"] = inlet_id
        return shown

    def _flow_attributes(self, flow: dict[str, Any], scope: Scope) -> dict[str, Any]:
        """What Adobe adds to a flow it answers: the specs of its connections
        (``inheritedAttributes``; aepp filters on ``properties.isSourceFlow``), the link to its
        runs, a provider reference and its last operation."""

        def meta(kind: str, ids: list[str]) -> list[dict[str, Any]]:
            found = []
            for rid in ids:
                doc = self.p.store.get(kind, rid, scope)
                if doc is not None:
                    found.append({"id": rid, "connectionSpec": doc["connectionSpec"]})
            return found

        return {
            "inheritedAttributes": {
                # Every flow here moves a source's data into the data lake.
                "properties": {"isSourceFlow": True},
                "sourceConnections": meta("sourceConnections", flow["sourceConnectionIds"]),
                "targetConnections": meta("targetConnections", flow["targetConnectionIds"]),
            },
            "runs": f"/runs?property=flowId=={flow['id']}",
            "providerRefId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sourceflow:flow:{flow['id']}")),
            "lastOperation": {
                "started": flow["updatedAt"],
                "updated": 0,
                "operation": "create" if flow["updatedAt"] == flow["createdAt"] else "update",
            },
        }

    def _list(self, kind: Kind) -> Handler:
        def list_resources(call: Call) -> Response:
            wanted = query.parse(call.query.multi_items())
            inlets = (
                self.p.directory.inlets_of(kind.name, call.scope)
                if kind in (CONNECTIONS, FLOWS)
                else None
            )
            docs = [
                self._present(kind, d, call, inlets)
                for d in self.p.store.all(kind.name, call.scope)
            ]
            return answer(query.page(docs, wanted, f"/{kind.name}"))

        return list_resources

    def _search(self, kind: Kind) -> Handler:
        def search_resources(call: Call) -> Response:
            """``POST /{kind}/search`` ``{queryString, limit, orderby, count}``: the listing
            ``GET /{kind}`` answers, with its query in the body."""
            wanted, fields = _search_query(call)
            inlets = self.p.directory.inlets_of(kind.name, call.scope)
            docs = [
                self._present(kind, d, call, inlets)
                for d in self.p.store.all(kind.name, call.scope)
            ]
            found = query.page(docs, wanted, f"/{kind.name}/search")
            if fields:
                found["items"] = [
                    {k: v for k, v in d.items() if k in fields or k == "id"} for d in found["items"]
                ]
            return answer(found)

        return search_resources

    def _get(self, kind: Kind) -> Handler:
        def get_resource(call: Call) -> Response:
            return answer({"items": [self._present(kind, self._stored(kind, call), call)]})

        return get_resource

    def _create(self, kind: Kind) -> Handler:
        def create_resource(call: Call) -> Response:
            body = call.json()
            if isinstance(body, dict):
                body = resources.without_inlet(dict(body))
            obj = resources.parse(body, kind.model)
            self.p.checks.check(kind.name, obj, call.scope)
            rid = str(uuid.uuid4())
            obj = resources.stamp(obj, call.who, id=rid, created=None)
            doc = resources.document(obj)
            owner = self._inlet_source(kind, doc, call.scope)
            with self.p.store.transaction() as db:
                self.p.store.put(db, kind.name, rid, call.scope, doc["createdAt"], doc)
                if owner:
                    self.p.directory.create_inlet(db, call.scope, kind.name, rid, doc["createdAt"])
            created = wire.to_json(model.CreatedRef(id=rid, etag=doc["etag"]))
            location = f"{call.base_url}{FS}/{kind.name}/{rid}"
            return answer(created, 201, {"Location": location})

        return create_resource

    def _inlet_source(self, kind: Kind, doc: dict[str, Any], scope: Scope) -> bool:
        """Whether creating this resource creates an inlet (the source's ``inlet_on``)."""
        if kind is CONNECTIONS:
            source = self.p.specs.source(doc["connectionSpec"]["id"])
            return source is not None and source.inlet_on == "connection"
        if kind is FLOWS:
            for sid in doc.get("sourceConnectionIds", [])[:1]:
                sc = self.p.store.get("sourceConnections", sid, scope)
                source = self.p.specs.source(sc["connectionSpec"]["id"]) if sc else None
                return source is not None and source.inlet_on == "flow"
        return False

    def _patch(self, kind: Kind) -> Handler:
        def patch_resource(call: Call) -> Response:
            stored = self._stored(kind, call)
            resources.check_if_match(call.headers, stored, kind)
            doc = resources.patched(stored, call.json(), kind)
            obj = resources.parse(doc, kind.model)
            self.p.checks.check(kind.name, obj, call.scope)
            new = resources.document(
                resources.stamp(obj, call.who, id=stored["id"], created=stored)
            )
            with self.p.store.transaction() as db:
                # Two PATCHes may race past the check above; only the first one wins.
                current = self.p.store.get(kind.name, stored["id"], call.scope)
                if current is None:
                    raise problem(404, f"{kind.label} {stored['id']} was deleted meanwhile")
                resources.check_if_match(call.headers, current, kind)
                self.p.store.put(db, kind.name, stored["id"], call.scope, stored["createdAt"], new)
            return answer(wire.to_json(model.CreatedRef(id=stored["id"], etag=new["etag"])))

        return patch_resource

    def _delete(self, kind: Kind) -> Handler:
        def delete_resource(call: Call) -> Response:
            stored = self._stored(kind, call)
            if kind.name in USERS:
                user_kind, key = USERS[kind.name]
                users = [
                    f"{u['id']} ({u.get('name', '')})"
                    for u in self.p.store.all(user_kind.name, call.scope)
                    if stored["id"] in _as_list(u.get(key))
                ]
                if users:
                    # Adobe's Flow Service refuses this with a 400, not a 409.
                    raise problem(
                        400,
                        f"{kind.label} {stored['id']} is still used by {user_kind.label}"
                        f"{'s' if len(users) > 1 else ''} {', '.join(users)}; delete "
                        f"{'them' if len(users) > 1 else 'it'} first",
                        title="Resource in use",
                    )
            with self.p.store.transaction() as db:
                self.p.store.delete(db, kind.name, stored["id"], call.scope)
                self.p.directory.delete_inlets(db, kind.name, stored["id"])
            return no_content()

        return delete_resource


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _search_query(call: Call) -> tuple[query.ListQuery, set[str]]:
    """The listing query of a ``/search`` body: ``queryString`` holds ``property`` conditions
    (``name==x``, several joined by ``&``; a leading ``property=`` is allowed), ``limit`` (at
    most 1000), ``orderby``, ``count``, and for flows ``projectionFields`` (the top-level fields
    to answer). A ``continuationToken`` in the URL carries all of it instead."""
    token = call.arg("continuationToken")
    if token is not None:
        return query.parse([("continuationToken", token)]), set()
    body = call.json()
    if not isinstance(body, dict):
        raise problem(400, 'the body must be a JSON object such as {"queryString": "name==x"}')
    items: list[tuple[str, str]] = []
    text = body.get("queryString")
    if text is not None:
        if not isinstance(text, str):
            raise problem(400, f"queryString: must be a string (got {json.dumps(text)[:40]})")
        for part in text.split("&"):
            part = part.strip().removeprefix("property=")
            if part:
                items.append(("property", part))
    limit = body.get("limit")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise problem(400, f"limit: must be a whole number from 1 to 1000 (got {limit!r:.40})")
        items.append(("limit", str(limit)))
    orderby = body.get("orderby")
    if orderby is not None:
        if not isinstance(orderby, str):
            raise problem(400, f"orderby: must be a string (got {orderby!r:.40})")
        items.append(("orderby", orderby))
    count = body.get("count")
    if count is not None:
        if not isinstance(count, bool):
            raise problem(400, f"count: must be true or false (got {count!r:.40})")
        items.append(("count", str(count).lower()))
    fields = body.get("projectionFields")
    if fields is not None and not isinstance(fields, str):
        raise problem(400, f"projectionFields: must be a string (got {fields!r:.40})")
    names = {f.strip() for f in (fields or "").split(",") if f.strip()}
    return query.parse(items), names
