"""Connection and flow specs: the data lake target's, plus whatever the installed plugins provide.

The core knows no source by name: every source spec comes from ``registry.sources()``. Two
sources may share a flow spec (generic streaming serves Shopify and Chatlio alike); its
source and target spec lists are then merged.
"""

from __future__ import annotations

from attrs import evolve

from sourceflow import wire
from sourceflow.errors import UnknownSource
from sourceflow.hooktypes import (
    DATA_LAKE_SPEC_ID,
    JSON,
    PROVIDER_STREAMING,
    ConnectionSpec,
    FlowSpec,
    Source,
)
from sourceflow.plugins import Registry

DATA_LAKE = ConnectionSpec(
    id=DATA_LAKE_SPEC_ID,
    # Adobe's name for it; aepp's createTargetConnectionDataLake looks the spec up by it.
    name="datalake",
    provider_id=PROVIDER_STREAMING,
    type="target",
    attributes={"category": "Data Lake", "isSource": False, "connectorName": "Data Lake"},
)
"""The data lake target: target connections name it and a dataset in ``params.dataSetId``."""


class Specs:
    """The specs served at ``/connectionSpecs`` and ``/flowSpecs``, read from the registry."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def connection_specs(self) -> list[ConnectionSpec]:
        """Every source's connection spec, then the data lake's."""
        return [s.connection_spec for s in self.registry.sources()] + [DATA_LAKE]

    def connection_spec(self, spec_id: str) -> ConnectionSpec | None:
        """The connection spec with this id, or None."""
        return next((c for c in self.connection_specs() if c.id == spec_id), None)

    def flow_specs(self) -> list[FlowSpec]:
        """Every flow spec of every source, merged by id."""
        merged: dict[str, FlowSpec] = {}
        for source in self.registry.sources():
            for spec in source.flow_specs:
                known = merged.get(spec.id)
                if known is None:
                    merged[spec.id] = evolve(
                        spec,
                        source_connection_spec_ids=list(spec.source_connection_spec_ids),
                        target_connection_spec_ids=list(spec.target_connection_spec_ids),
                    )
                    continue
                for mine, theirs in (
                    (known.source_connection_spec_ids, spec.source_connection_spec_ids),
                    (known.target_connection_spec_ids, spec.target_connection_spec_ids),
                ):
                    mine.extend(i for i in theirs if i not in mine)
        return list(merged.values())

    def flow_spec(self, spec_id: str) -> FlowSpec | None:
        """The flow spec with this id, or None."""
        return next((f for f in self.flow_specs() if f.id == spec_id), None)

    def source(self, spec_id: str) -> Source | None:
        """The installed source whose connection spec this is, or None."""
        try:
            return self.registry.source(spec_id)
        except UnknownSource:
            return None

    def describe_connection_spec(self, spec: ConnectionSpec) -> JSON:
        """A connection spec as ``/connectionSpecs`` answers it."""
        doc: JSON = wire.to_json(spec)
        return doc

    def describe_flow_spec(self, spec: FlowSpec) -> JSON:
        """A flow spec as ``/flowSpecs`` answers it."""
        doc: JSON = wire.to_json(spec)
        return doc

    def known_connection_specs(self) -> str:
        """The connection specs on offer, for error messages."""
        return ", ".join(f"{c.id} ({c.name})" for c in self.connection_specs())

    def known_flow_specs(self) -> str:
        """The flow specs on offer, for error messages."""
        return ", ".join(f"{f.id} ({f.name})" for f in self.flow_specs()) or "none"
