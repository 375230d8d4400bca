"""An observer plugin: logs every lifecycle step the host application drives.

It implements only the three observer hooks, so registering it changes nothing about which
plugin answers for a source. The core calls observers for every step of ``connect`` and
``teardown`` and never lets one that raises stop the lifecycle, so an audit trail cannot
break a connection.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sourceflow
from sourceflow.hooktypes import Step
from sourceflow.redact import redact

# The name a host app registers it under: `registry.register(AuditLog(), AUDIT_PLUGIN)`.
AUDIT_PLUGIN = "host-app-audit"

log = logging.getLogger("host_app.audit")


@dataclass(frozen=True)
class Entry:
    """One observed event: ``before``, ``after`` or ``error`` of a step."""

    event: str
    step: str
    source: str
    detail: Mapping[str, Any]

    def __str__(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in self.detail.items())
        return f"{self.event:<6} {self.step:<17} {self.source} {extra}".rstrip()


# eq=False keeps the default identity hash: pluggy keeps plugins in sets, and a dataclass
# that compares by value is unhashable.
@dataclass(eq=False)
class AuditLog:
    """Keeps (and logs) what happened, in order, for the host app to show or store."""

    entries: list[Entry] = field(default_factory=list)

    def _record(self, event: str, step: Step, detail: Mapping[str, Any]) -> None:
        # Step details carry ids, never credentials; redact anyway, since an audit log is
        # kept for a long time and read by many.
        entry = Entry(event=event, step=step.name, source=step.source, detail=redact(detail))
        self.entries.append(entry)
        log.info("%s", entry)

    @sourceflow.hookimpl
    def sourceflow_before_step(self, step: Step) -> None:
        """A step is about to run."""
        self._record("before", step, dict(step.detail))

    @sourceflow.hookimpl
    def sourceflow_after_step(self, step: Step, result: Mapping[str, Any]) -> None:
        """A step succeeded; ``result`` holds the ids it produced."""
        self._record("after", step, {**step.detail, **result})

    @sourceflow.hookimpl
    def sourceflow_on_step_error(self, step: Step, error: BaseException) -> None:
        """A step failed; the lifecycle raises ``error`` right after this returns."""
        self._record("error", step, {**step.detail, "error": type(error).__name__})

    def steps(self) -> list[str]:
        """The log as ``"event step"`` strings, e.g. ``["before flow", "after flow"]``."""
        return [f"{e.event} {e.step}" for e in self.entries]
