"""sourceflow: bring sources into Adobe Experience Platform through the Flow Service.

Plugins implement the hook specs in :mod:`sourceflow.hookspecs` with :data:`hookimpl`::

    import sourceflow

    @sourceflow.hookimpl
    def sourceflow_sources():
        return [sourceflow.Source(name="acme", ...)]

**The package root is the plugin author's API**: a plugin and its tests import only
``sourceflow`` (these names) and :mod:`sourceflow.testing`. Everything else is the core's own
and may change without notice. ``docs/authoring.md`` lists each name and what it is for.

Only pluggy and the ``hookimpl`` marker are imported eagerly; the rest of the public API is
imported on first use (``_LAZY``). Every ``import sourceflow.…`` runs this module: importing
the hook records and errors here would cost every command and every pytest run (this
package's pytest plugin) 100 M instructions more (``import sourceflow.cli``: 224 M -> 324 M;
callgrind), the models and ``sourceflow.http`` (httpx) several times that.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("sourceflow")
"""Marker for hook implementations: ``@sourceflow.hookimpl``."""

_LAZY = {
    "DATA_LAKE_SPEC_ID": "sourceflow.hooktypes",
    "PROVIDER_STREAMING": "sourceflow.hooktypes",
    "AuthSpec": "sourceflow.hooktypes",
    "ConnectionSpec": "sourceflow.hooktypes",
    "ExploreSpec": "sourceflow.hooktypes",
    "FlowSpec": "sourceflow.hooktypes",
    "SourceSpec": "sourceflow.hooktypes",
    "generic_streaming_flow_spec": "sourceflow.hooktypes",
    "Source": "sourceflow.hooktypes",
    "ExploreRequest": "sourceflow.hooktypes",
    "ExploreResult": "sourceflow.hooktypes",
    "SourceParams": "sourceflow.hooktypes",
    "Endpoint": "sourceflow.hooktypes",
    "ReadResult": "sourceflow.hooktypes",
    "Page": "sourceflow.hooktypes",
    "Delivery": "sourceflow.hooktypes",
    "Verdict": "sourceflow.hooktypes",
    "Step": "sourceflow.hooktypes",
    "SourceflowError": "sourceflow.errors",
    "ConfigError": "sourceflow.errors",
    "SourceUnavailable": "sourceflow.errors",
    "CredentialsRefused": "sourceflow.errors",
    "BadSourceData": "sourceflow.errors",
    "Auth": "sourceflow.model",
    "Connection": "sourceflow.model",
    "Flow": "sourceflow.model",
    "MappingRule": "sourceflow.model",
    "model": "sourceflow.model",
    "redact": "sourceflow.redact",
    "http": "sourceflow.http",
    "signatures": "sourceflow.signatures",
    "serve_sample": "sourceflow.sample_server",
}
_MODULES = frozenset({"model", "redact", "http", "signatures"})

if TYPE_CHECKING:
    from sourceflow import http, model, redact, signatures
    from sourceflow.errors import (
        BadSourceData,
        ConfigError,
        CredentialsRefused,
        SourceflowError,
        SourceUnavailable,
    )
    from sourceflow.hooktypes import (
        DATA_LAKE_SPEC_ID,
        PROVIDER_STREAMING,
        AuthSpec,
        ConnectionSpec,
        Delivery,
        Endpoint,
        ExploreRequest,
        ExploreResult,
        ExploreSpec,
        FlowSpec,
        Page,
        ReadResult,
        Source,
        SourceParams,
        SourceSpec,
        Step,
        Verdict,
        generic_streaming_flow_spec,
    )
    from sourceflow.model import Auth, Connection, Flow, MappingRule
    from sourceflow.sample_server import serve_sample

__all__ = [
    "DATA_LAKE_SPEC_ID",
    "PROVIDER_STREAMING",
    "Auth",
    "AuthSpec",
    "BadSourceData",
    "ConfigError",
    "Connection",
    "ConnectionSpec",
    "CredentialsRefused",
    "Delivery",
    "Endpoint",
    "ExploreRequest",
    "ExploreResult",
    "ExploreSpec",
    "Flow",
    "FlowSpec",
    "MappingRule",
    "Page",
    "ReadResult",
    "Source",
    "SourceParams",
    "SourceSpec",
    "SourceUnavailable",
    "SourceflowError",
    "Step",
    "Verdict",
    "__version__",
    "generic_streaming_flow_spec",
    "hookimpl",
    "http",
    "model",
    "redact",
    "serve_sample",
    "signatures",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'sourceflow' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    return module if name in _MODULES else getattr(module, name)
