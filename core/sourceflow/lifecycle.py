"""Connect a source and tear it down: the front end of the reconcile engine for one source.

``connect`` brings one source's resources (base connection → source connection → target
connection → mapping → flow → endpoint) in line with a :class:`ConnectRequest`, through the
same engine as the project file (:mod:`sourceflow.engine`): a first run creates them, a re-run
resumes where a failed one stopped, and a re-run with other options updates in place or stops
saying what differs. ``teardown`` deletes what was created, in reverse order.

The core knows no source by name: what differs between sources comes from the hooks and from
the :class:`~sourceflow.hooktypes.Source` record (base connection or provider id, where the
inlet lives, which flow spec).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sourceflow.client import FlowServiceClient
from sourceflow.engine import lock
from sourceflow.engine.credentials import check_credentials, with_defaults
from sourceflow.engine.reconcile import STEPS, Connected, ConnectRequest, Engine
from sourceflow.errors import SourceflowError
from sourceflow.plugins import Registry
from sourceflow.state import Record, StateFile

__all__ = [
    "STEPS",
    "ConnectRequest",
    "Connected",
    "Lifecycle",
    "check_credentials",
    "with_defaults",
]


Progress = Callable[[str, str, str], None]
"""Called as ``progress(step, status, detail)``; status: ``created``, ``updated``, ``reused``,
``deleted``, ``warning``."""


def _quiet(step: str, status: str, detail: str) -> None:
    pass


class Lifecycle:
    """``connect`` and ``teardown`` for one source at a time: a front end to the reconcile
    engine (:class:`sourceflow.engine.Engine`), which the project file drives too."""

    def __init__(
        self,
        client: FlowServiceClient,
        registry: Registry,
        state: StateFile,
        *,
        progress: Progress = _quiet,
    ) -> None:
        self.client = client
        self.registry = registry
        self.state = state
        self.progress = progress
        self.engine = Engine(client, registry, state, progress=progress)

    def connect(self, request: ConnectRequest, *, allow_replace: bool = False) -> Connected:
        """Create what a source needs to deliver into a dataset, or bring what an earlier run
        created in line with ``request``.

        A change the API makes in place (another dataset, an authenticated inlet, new params,
        another mapping) is applied and reported in ``Connected.plan``; one that needs a new
        resource raises :class:`~sourceflow.engine.ChangeRefused` naming what differs, unless
        ``allow_replace``. Holds the local lock of ``request.name`` while it runs.
        """
        with lock.held(self.client.settings, request.name, waiting=self._waiting):
            record = self.engine.record_for(request, None)
            if record.project is not None:
                raise SourceflowError(
                    f"{request.name!r} belongs to the project {record.project!r}",
                    hint="change it in that project's sourceflow.toml and run sourceflow apply",
                )
            _, connected = self.engine.apply(request, allow_replace=allow_replace)
        return connected

    def _waiting(self, path: Any) -> None:
        self.progress("lock", "waiting", f"another run holds {path}")

    def teardown(self, record: Record) -> list[str]:
        """Delete what ``record`` holds, newest first; returns the steps undone.

        Mapping sets stay: Data Prep has no delete. A resource already gone counts as deleted.
        """
        with lock.held(self.client.settings, record.name, waiting=self._waiting):
            return self.engine.teardown(record)


def endpoint_url(record: Record) -> str:
    """The inlet URL recorded for a run, or an empty string."""
    return str(record.endpoint.get("inletUrl", ""))
