"""Cross-checks between resources, made on create and again on every PATCH.

Each check collects every problem it finds, one ``field: what is wrong, and what would be
right`` line each, and refuses with one 400 listing them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from sourceflow import model, redact
from sourceflow.hooktypes import DATA_LAKE_SPEC_ID, FlowSpec
from sourceflow.platform.flowservice.specs import Specs
from sourceflow.platform.http.problems import findings, problem
from sourceflow.platform.ingress.directory import INLET_KEYS
from sourceflow.platform.store.sqlite import Scope, Store
from sourceflow.plugins import Registry


class Checks:
    """The checks, with the store and specs they read."""

    def __init__(self, store: Store, specs: Specs, registry: Registry) -> None:
        self.store = store
        self.specs = specs
        self.registry = registry

    def check(self, kind: str, obj: model.Meta, scope: Scope) -> None:
        """Refuse ``obj`` (of collection ``kind``) with 400 when it does not fit the others."""
        checker: dict[str, Callable[[Any, Scope], list[str]]] = {
            "connections": self._connection,
            "sourceConnections": self._source_connection,
            "targetConnections": self._target_connection,
            "flows": self._flow,
        }
        found = checker[kind](obj, scope)
        if found:
            raise findings(400, found)

    def _source_spec_problem(self, spec_id: str) -> str | None:
        if self.specs.source(spec_id) is not None:
            return None
        known = ", ".join(f"{s.id} ({s.title})" for s in self.registry.sources()) or "none"
        return (
            f"connectionSpec.id: {spec_id!r} is not the connection spec of an installed "
            f"source; installed: {known} ({self.specs.restart_hint()})"
        )

    def _connection(self, conn: model.Connection, scope: Scope) -> list[str]:
        spec_id = conn.connection_spec.id
        unknown = self._source_spec_problem(spec_id)
        if unknown:
            return [unknown]
        spec = self.specs.connection_spec(spec_id)
        assert spec is not None
        names = [a.name for a in spec.auth_spec or []]
        if not names:
            return []
        if conn.auth is None:
            return [f"auth: is required; connection spec {spec_id} takes auth.specName {names}"]
        auth_spec = spec.auth_spec_named(conn.auth.spec_name)
        if auth_spec is None:
            return [
                f"auth.specName: {conn.auth.spec_name!r} is not an auth spec of connection "
                f"spec {spec_id} ({spec.name}); use one of {names}"
            ]
        params = {k: v for k, v in conn.auth.params.items() if k not in INLET_KEYS}
        return self._schema(auth_spec.spec, params, "auth.params", spec_id)

    def _source_connection(self, sc: model.SourceConnection, scope: Scope) -> list[str]:
        spec_id = sc.connection_spec.id
        unknown = self._source_spec_problem(spec_id)
        if unknown:
            return [unknown]
        source = self.specs.source(spec_id)
        spec = self.specs.connection_spec(spec_id)
        assert source is not None and spec is not None
        found: list[str] = []
        if sc.base_connection_id:
            base = self.store.get("connections", sc.base_connection_id, scope)
            if base is None:
                found.append(
                    f"baseConnectionId: no base connection {sc.base_connection_id!r} in "
                    f"sandbox {scope.sandbox!r}"
                )
            elif base["connectionSpec"]["id"] != spec_id:
                found.append(
                    f"baseConnectionId: base connection {sc.base_connection_id} is a "
                    f"{base['connectionSpec']['id']} connection, not {spec_id}"
                )
        elif source.needs_base_connection:
            found.append(
                f"baseConnectionId: is required for {source.title} ({spec_id}); create a base "
                "connection first (POST /connections)"
            )
        elif not sc.provider_id:
            found.append(
                f"providerId: is required when there is no baseConnectionId (for "
                f"{source.title}: {spec.provider_id})"
            )
        elif sc.provider_id != spec.provider_id:
            found.append(
                f"providerId: {sc.provider_id!r} is not the provider of {source.title} "
                f"(expected {spec.provider_id})"
            )
        schema = spec.source_spec.spec if spec.source_spec else None
        if isinstance(schema, dict) and ("properties" in schema or "required" in schema):
            found += self._schema(schema, sc.params or {}, "params", spec_id)
        return found

    def _target_connection(self, tc: model.TargetConnection, scope: Scope) -> list[str]:
        if tc.connection_spec.id != DATA_LAKE_SPEC_ID:
            return [
                f"connectionSpec.id: {tc.connection_spec.id!r} is not a target this platform "
                f"has; the data lake is {DATA_LAKE_SPEC_ID}"
            ]
        dataset_id = tc.dataset_id
        if not dataset_id:
            return [
                "params.dataSetId: is required: the dataset the rows land in "
                "(create one with POST /data/foundation/catalog/dataSets)"
            ]
        if self.store.get("dataSets", dataset_id, scope) is None:
            return [f"params.dataSetId: no dataset {dataset_id!r} in sandbox {scope.sandbox!r}"]
        return []

    def _flow(self, flow: model.Flow, scope: Scope) -> list[str]:
        spec = self.specs.flow_spec(flow.flow_spec.id)
        if spec is None:
            return [
                f"flowSpec.id: unknown flow spec {flow.flow_spec.id!r}; known: "
                f"{self.specs.known_flow_specs()}"
            ]
        found: list[str] = []
        if not flow.source_connection_ids:
            found.append("sourceConnectionIds: at least one source connection is required")
        if not flow.target_connection_ids:
            found.append("targetConnectionIds: at least one target connection is required")
        for field, kind, ids, allowed in (
            ("sourceConnectionIds", "sourceConnections", flow.source_connection_ids,
             spec.source_connection_spec_ids),
            ("targetConnectionIds", "targetConnections", flow.target_connection_ids,
             spec.target_connection_spec_ids),
        ):  # fmt: skip
            for i, rid in enumerate(ids):
                doc = self.store.get(kind, rid, scope)
                label = "source" if kind == "sourceConnections" else "target"
                if doc is None:
                    found.append(
                        f"{field}[{i}]: no {label} connection {rid!r} in sandbox {scope.sandbox!r}"
                    )
                elif doc["connectionSpec"]["id"] not in allowed:
                    found.append(
                        f"{field}[{i}]: {label} connection {rid} uses connection spec "
                        f"{doc['connectionSpec']['id']}, which flow spec {spec.id} "
                        f"({spec.name}) does not take (it takes {', '.join(allowed)})"
                    )
        found += self._transformations(flow, spec, scope)
        return found

    def _transformations(self, flow: model.Flow, spec: FlowSpec, scope: Scope) -> list[str]:
        found: list[str] = []
        for i, t in enumerate(flow.transformations or []):
            if t.name.lower() != "mapping":
                continue
            if not t.mapping_id:
                found.append(f"transformations[{i}].params.mappingId: is required for Mapping")
            elif self.store.get("mappingSets", t.mapping_id, scope) is None:
                found.append(
                    f"transformations[{i}].params.mappingId: no mapping set {t.mapping_id!r} "
                    f"in sandbox {scope.sandbox!r} (create one with POST "
                    "/data/foundation/conversion/mappingSets)"
                )
            if not spec.transformations:
                better = self._mapping_flow_spec(flow, scope)
                if better and better != spec.id:
                    found.append(
                        f"transformations[{i}]: flow spec {spec.id} ({spec.name}) takes no "
                        f"mapping; use flow spec {better}"
                    )
        return found

    def _mapping_flow_spec(self, flow: model.Flow, scope: Scope) -> str | None:
        for rid in flow.source_connection_ids[:1]:
            doc = self.store.get("sourceConnections", rid, scope)
            source = self.specs.source(doc["connectionSpec"]["id"]) if doc else None
            if source is not None:
                return source.mapping_flow_spec
        return None

    def _schema(self, schema: Any, value: Any, prefix: str, spec_id: str) -> list[str]:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
        try:
            cls.check_schema(schema)
        except SchemaError as exc:
            raise problem(
                500,
                f"connection spec {spec_id} carries an invalid JSON schema at {prefix} "
                f"({exc.message}); report it to the plugin that provides it",
            ) from None
        found: list[str] = []
        for err in sorted(cls(schema).iter_errors(value), key=lambda e: list(e.absolute_path)):
            path = ".".join([prefix, *(str(p) for p in err.absolute_path)])
            if err.validator == "required" and isinstance(err.instance, dict):
                found += [
                    f"{path}.{name}: is required"
                    for name in err.validator_value
                    if name not in err.instance
                ]
            elif err.validator == "additionalProperties" and isinstance(err.instance, dict):
                known = sorted((err.schema.get("properties") or {}).keys())
                found += [
                    f"{path}.{name}: is not a field of this spec (known: {', '.join(known)})"
                    for name in err.instance
                    if name not in known
                ]
            else:
                secret = any(redact.is_secret_key(str(p)) for p in err.absolute_path)
                message = (
                    err.message.replace(repr(err.instance), redact.MASK)
                    if secret
                    else (err.message)
                )
                found.append(f"{path}: {message}")
        return found
