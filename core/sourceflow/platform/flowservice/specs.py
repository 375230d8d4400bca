"""Connection and flow specs: the data lake target's, plus whatever the installed plugins provide.

The core knows no source by name: every source spec comes from ``registry.sources()``. Two
sources may share a flow spec (generic streaming serves Shopify and Chatlio alike); its
source and target spec lists are then merged.
"""

from __future__ import annotations

import importlib
import threading
import time
from dataclasses import replace

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


LOOK_AGAIN_SECONDS = 2.0
"""The shortest time between two looks for newly installed plugins."""


class Specs:
    """The specs served at ``/connectionSpecs`` and ``/flowSpecs``, read from the registry.

    :param registry: the plugins.
    :param look_again: when a spec or source id is unknown, look for plugins installed since
        the platform started (the ``sourceflow`` entry points, at most every
        :data:`LOOK_AGAIN_SECONDS`), so that ``pip install`` while ``platform serve`` runs needs
        no restart. Only for a registry loaded from the entry points: a host that registered
        its own plugins chose them.
    """

    def __init__(self, registry: Registry, *, look_again: bool = False) -> None:
        self.registry = registry
        self.look_again = look_again
        self._looked_at = float("-inf")  # the first unknown id looks at once
        self._look_lock = threading.Lock()

    def look_for_new_plugins(self) -> bool:
        """Load plugins installed since the last look; True when a source was added.

        Rate-limited: a caller that keeps asking for an unknown id costs one scan of the
        entry points every :data:`LOOK_AGAIN_SECONDS`, not one per request.
        """
        if not self.look_again:
            return False
        with self._look_lock:
            now = time.monotonic()
            if now - self._looked_at < LOOK_AGAIN_SECONDS:
                return False
            self._looked_at = now
            before = {s.id for s in self.registry.sources()}
            # Finders cache directory listings; a dist-info written since must be seen.
            importlib.invalidate_caches()
            self.registry.load_entry_points()
            # A plugin that fails to load is tried again on each look: report it once.
            self.registry.failures[:] = list(dict.fromkeys(self.registry.failures))
            added = [s for s in self.registry.sources() if s.id not in before]
        if added:
            from sourceflow.log import get_logger

            get_logger("sourceflow.platform").info(
                "plugins installed while serving were loaded", sources=[s.name for s in added]
            )
        return bool(added)

    def restart_hint(self) -> str:
        """What to do about a source that may have been installed after the platform started."""
        if self.look_again:
            return (
                "a plugin installed while the platform runs is looked for at most every "
                f"{LOOK_AGAIN_SECONDS:.0f} s: install it into the platform's environment "
                "and try again"
            )
        return "a plugin installed after the platform started is seen after a restart"

    def connection_specs(self) -> list[ConnectionSpec]:
        """Every source's connection spec, then the data lake's."""
        return [s.connection_spec for s in self.registry.sources()] + [DATA_LAKE]

    def connection_spec(self, spec_id: str) -> ConnectionSpec | None:
        """The connection spec with this id, or None (after looking for new plugins)."""
        found = next((c for c in self.connection_specs() if c.id == spec_id), None)
        if found is None and self.look_for_new_plugins():
            return self.connection_spec(spec_id)
        return found

    def flow_specs(self) -> list[FlowSpec]:
        """Every flow spec of every source, merged by id."""
        merged: dict[str, FlowSpec] = {}
        for source in self.registry.sources():
            for spec in source.flow_specs:
                known = merged.get(spec.id)
                if known is None:
                    merged[spec.id] = replace(
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
        """The flow spec with this id, or None (after looking for new plugins)."""
        found = next((f for f in self.flow_specs() if f.id == spec_id), None)
        if found is None and self.look_for_new_plugins():
            return self.flow_spec(spec_id)
        return found

    def source(self, spec_id: str) -> Source | None:
        """The installed source whose connection spec this is, or None (after looking for
        new plugins)."""
        try:
            return self.registry.source(spec_id)
        except UnknownSource:
            if self.look_for_new_plugins():
                return self.source(spec_id)
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
