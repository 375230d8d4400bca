"""sourceflow: bring sources into Adobe Experience Platform through the Flow Service.

Plugins implement the hook specs in :mod:`sourceflow.hookspecs` with :data:`hookimpl`::

    import sourceflow

    @sourceflow.hookimpl
    def sourceflow_sources():
        return [sourceflow.Source(name="acme", ...)]

Only what a plugin needs is imported eagerly, so ``sourceflow plugins`` starts fast; the rest
of the public API is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("sourceflow")
"""Marker for hook implementations: ``@sourceflow.hookimpl``."""

_LAZY = {
    "Source": "sourceflow.hooktypes",
    "ExploreRequest": "sourceflow.hooktypes",
    "ExploreResult": "sourceflow.hooktypes",
    "SourceParams": "sourceflow.hooktypes",
    "Endpoint": "sourceflow.hooktypes",
    "ReadResult": "sourceflow.hooktypes",
    "Delivery": "sourceflow.hooktypes",
    "Verdict": "sourceflow.hooktypes",
    "Step": "sourceflow.hooktypes",
    "SourceflowError": "sourceflow.errors",
    "model": "sourceflow.model",
}

if TYPE_CHECKING:
    from sourceflow import model
    from sourceflow.errors import SourceflowError
    from sourceflow.hooktypes import (
        Delivery,
        Endpoint,
        ExploreRequest,
        ExploreResult,
        ReadResult,
        Source,
        SourceParams,
        Step,
        Verdict,
    )

__all__ = [
    "Delivery",
    "Endpoint",
    "ExploreRequest",
    "ExploreResult",
    "ReadResult",
    "Source",
    "SourceParams",
    "SourceflowError",
    "Step",
    "Verdict",
    "__version__",
    "hookimpl",
    "model",
]


def __getattr__(name: str) -> Any:
    import importlib

    if name not in _LAZY:
        raise AttributeError(f"module 'sourceflow' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    return module if name == "model" else getattr(module, name)
