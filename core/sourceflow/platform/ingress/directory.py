"""Inlets, and what the inlet and the ingest worker need to know about them and their flows.

An inlet belongs to a base connection (HTTP API: ``Source.inlet_on == "connection"``) or to a
flow (generic streaming: ``inlet_on == "flow"``). Which flows an inlet feeds, whether it wants a
token, and where each flow's rows land are read from the resource documents and cached until
any resource changes (:attr:`Store.generation`), so a message costs no document reads.
"""

from __future__ import annotations

import secrets
import sqlite3
import threading
from typing import Any

from attrs import frozen

from sourceflow.hooktypes import JSON, Source
from sourceflow.platform.flowservice.specs import Specs
from sourceflow.platform.ingress.pipeline import InletInfo
from sourceflow.platform.store.sqlite import Scope, Store

_UNKNOWN: Any = object()

# Set by the platform in answers; never part of what a caller stores.
INLET_KEYS = ("inletUrl", "inletId")


@frozen
class FlowPlan:
    """Where a flow's records go: its dataset, and the mapping set applied on the way."""

    flow_id: str
    scope: Scope
    dataset_id: str | None
    mapping_id: str | None
    source: Source | None = None
    """The flow's source, when its plugin turns delivered messages into records or its
    records are pulled too (what ingest asks the plugin, and whether it de-duplicates)."""
    object: str | None = None
    """The source connection's object (:func:`object_of`)."""
    xdm: bool = False
    """Whether the flow's messages are XDM envelopes (:meth:`Directory.xdm_target`): ingest
    stores a valid one's ``body.xdmEntity`` and records any other message as a failure."""
    schema_id: str | None = None
    """The schema the flow's target names, which an envelope's references must name."""


def object_of(source_connection: JSON | None) -> str | None:
    """What a source connection reads: ``params.resourcePath``, as Adobe's batch sources
    name it (None when it names nothing)."""
    value = ((source_connection or {}).get("params") or {}).get("resourcePath")
    return str(value) if value else None


class Directory:
    """Creates inlets and answers cached questions about inlets and flows."""

    def __init__(self, store: Store, specs: Specs, inlet_base_url: str | None) -> None:
        self.store = store
        self.specs = specs
        self.inlet_base_url = inlet_base_url.rstrip("/") if inlet_base_url else None
        self._lock = threading.Lock()
        self._generation = -1
        self._inlets: dict[str, InletInfo | None] = {}
        self._plans: dict[str, FlowPlan | None] = {}

    # --- inlets as resources ------------------------------------------------------------------

    def create_inlet(
        self, db: sqlite3.Connection, scope: Scope, owner_kind: str, owner_id: str, now: int
    ) -> str:
        """A new inlet for a connection or flow, inside the transaction that creates it."""
        inlet_id = secrets.token_hex(32)  # 64 hex characters, like Adobe's inlet ids
        db.execute(
            "INSERT INTO inlets (inlet_id, org, sandbox, owner_kind, owner_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (inlet_id, scope.org, scope.sandbox, owner_kind, owner_id, now),
        )
        return inlet_id

    def delete_inlets(self, db: sqlite3.Connection, owner_kind: str, owner_id: str) -> None:
        """Drop the inlets of a resource being deleted (their stored messages stay)."""
        db.execute(
            "DELETE FROM inlets WHERE owner_kind = ? AND owner_id = ?", (owner_kind, owner_id)
        )

    def inlets_of(self, owner_kind: str, scope: Scope) -> dict[str, str]:
        """Owner id to inlet id, for every inlet of ``owner_kind`` in ``scope``."""
        rows = self.store.rows(
            "SELECT inlet_id, owner_id FROM inlets WHERE owner_kind = ? AND org = ? "
            "AND sandbox = ?",
            (owner_kind, scope.org, scope.sandbox),
        )
        return {r["owner_id"]: r["inlet_id"] for r in rows}

    def inlet_for(self, owner_kind: str, owner_id: str) -> str | None:
        """The inlet of one connection or flow, or None."""
        row = self.store.row(
            "SELECT inlet_id FROM inlets WHERE owner_kind = ? AND owner_id = ?",
            (owner_kind, owner_id),
        )
        return None if row is None else str(row["inlet_id"])

    def url(self, inlet_id: str, base_url: str) -> str:
        """The URL senders post to: ``{inlet base or this server}/collection/{inletId}``."""
        return f"{self.inlet_base_url or base_url}/collection/{inlet_id}"

    # --- cached facts -------------------------------------------------------------------------

    def _fresh(self) -> None:
        if self._generation != self.store.generation:
            self._inlets.clear()
            self._plans.clear()
            self._generation = self.store.generation

    def inlet(self, inlet_id: str) -> InletInfo | None:
        """What a delivery to ``inlet_id`` needs to know, or None for an unknown inlet."""
        with self._lock:
            self._fresh()
            if inlet_id not in self._inlets:
                self._inlets[inlet_id] = self._read_inlet(inlet_id)
            return self._inlets[inlet_id]

    def cached_inlet(self, inlet_id: str) -> tuple[bool, InletInfo | None]:
        """``(True, inlet(inlet_id))`` when that answer is cached, else ``(False, None)``;
        never reads the store or waits for a lock, so the event loop may ask."""
        if self._generation != self.store.generation:
            return False, None
        # One lookup: another thread may clear the cache between a membership test and a get.
        found = self._inlets.get(inlet_id, _UNKNOWN)
        return (False, None) if found is _UNKNOWN else (True, found)

    def plan(self, flow_id: str) -> FlowPlan | None:
        """Where a flow's records go, or None when the flow no longer exists."""
        with self._lock:
            self._fresh()
            if flow_id not in self._plans:
                self._plans[flow_id] = self._read_plan(flow_id)
            return self._plans[flow_id]

    def _read_inlet(self, inlet_id: str) -> InletInfo | None:
        row = self.store.row("SELECT * FROM inlets WHERE inlet_id = ?", (inlet_id,))
        if row is None:
            return None
        scope = Scope(row["org"], row["sandbox"])
        owner = self.store.get(row["owner_kind"], row["owner_id"], scope)
        if owner is None:
            return None
        flows: list[dict[str, Any]]
        if row["owner_kind"] == "connections":
            sources = [
                s["id"]
                for s in self.store.all("sourceConnections", scope)
                if s.get("baseConnectionId") == owner["id"]
            ]
            flows = [
                f
                for f in self.store.all("flows", scope)
                if any(s in sources for s in f.get("sourceConnectionIds", []))
            ]
            spec_id = owner["connectionSpec"]["id"]
            required = (owner.get("auth") or {}).get("params", {}).get("authenticationRequired")
        else:
            flows = [owner]
            first = self._first_source_connection(owner, scope)
            spec_id = first["connectionSpec"]["id"] if first else ""
            required = (owner.get("options") or {}).get("authenticationRequired")
        xdm: dict[str, str | None] = {}
        for f in flows:
            takes_xdm, schema = self.xdm_target(f, scope)
            if takes_xdm:
                xdm[f["id"]] = schema
        return InletInfo(
            inlet_id=inlet_id,
            scope=scope,
            owner_kind=row["owner_kind"],
            owner_id=row["owner_id"],
            authentication_required=required is True,
            flows=tuple(f["id"] for f in flows),
            source=self.specs.source(spec_id),
            configs={f["id"]: self._config(f, scope) for f in flows},
            xdm=xdm,
        )

    def xdm_target(self, flow: JSON, scope: Scope) -> tuple[bool, str | None]:
        """Whether a flow takes XDM envelopes, and the schema its target names (None when it
        names none). An HTTP API connection says which it takes (``auth.params.dataType``:
        ``xdm``, or ``raw`` records for a mapping); a flow with a mapping reads raw records
        whatever the connection says, and a flow without a base connection has no say."""
        if _mapping_id(flow) is not None:
            return False, None
        source = self._first_source_connection(flow, scope)
        base_id = (source or {}).get("baseConnectionId")
        base = self.store.get("connections", base_id, scope) if base_id else None
        if ((base or {}).get("auth") or {}).get("params", {}).get("dataType") != "xdm":
            return False, None
        for target_id in flow.get("targetConnectionIds") or []:
            target = self.store.get("targetConnections", target_id, scope) or {}
            schema = ((target.get("data") or {}).get("schema") or {}).get("id")
            if schema:
                return True, str(schema)
            dataset_id = (target.get("params") or {}).get("dataSetId")
            dataset = self.store.get("dataSets", dataset_id, scope) if dataset_id else None
            schema = ((dataset or {}).get("schemaRef") or {}).get("id")
            if schema:
                return True, str(schema)
        return True, None

    def _first_source_connection(self, flow: dict[str, Any], scope: Scope) -> JSON | None:
        ids = flow.get("sourceConnectionIds") or []
        return self.store.get("sourceConnections", ids[0], scope) if ids else None

    def _config(self, flow: dict[str, Any], scope: Scope) -> JSON:
        # What a plugin may need to verify a delivery: the base connection's auth params,
        # the source connection's params and the flow's options, secrets included.
        config: JSON = {}
        source = self._first_source_connection(flow, scope)
        if source and source.get("baseConnectionId"):
            base = self.store.get("connections", source["baseConnectionId"], scope)
            config.update(((base or {}).get("auth") or {}).get("params") or {})
        config.update((source or {}).get("params") or {})
        config.update(flow.get("options") or {})
        for key in INLET_KEYS:
            config.pop(key, None)
        return config

    def _read_plan(self, flow_id: str) -> FlowPlan | None:
        row = self.store.row(
            "SELECT org, sandbox FROM resources WHERE kind = 'flows' AND id = ?", (flow_id,)
        )
        if row is None:
            return None
        scope = Scope(row["org"], row["sandbox"])
        flow = self.store.get("flows", flow_id, scope)
        if flow is None:
            return None
        dataset_id = None
        for target_id in flow.get("targetConnectionIds") or []:
            target = self.store.get("targetConnections", target_id, scope) or {}
            dataset_id = (target.get("params") or {}).get("dataSetId")
            if dataset_id:
                break
        mapping_id = _mapping_id(flow)
        first = self._first_source_connection(flow, scope)
        xdm, schema_id = self.xdm_target(flow, scope)
        return FlowPlan(
            flow_id=flow_id,
            scope=scope,
            dataset_id=str(dataset_id) if dataset_id else None,
            mapping_id=mapping_id,
            source=self.specs.source(first["connectionSpec"]["id"]) if first else None,
            object=object_of(first),
            xdm=xdm,
            schema_id=schema_id,
        )


def _mapping_id(flow: JSON) -> str | None:
    for t in flow.get("transformations") or []:
        if str(t.get("name", "")).lower() == "mapping" and (t.get("params") or {}).get("mappingId"):
            return str(t["params"]["mappingId"])
    return None
