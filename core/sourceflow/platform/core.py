"""The local platform's state: its settings, the SQLite store and the ingest worker.

:class:`Platform` is what ``app.state.platform`` holds: tests reach the store and
:meth:`Platform.wait_idle` through it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

from attrs import define, field

from sourceflow import config as settings
from sourceflow.platform.flowservice.checks import Checks
from sourceflow.platform.flowservice.specs import Specs
from sourceflow.platform.http.auth import Principal, Tokens
from sourceflow.platform.ingest.process import IngestProcess
from sourceflow.platform.ingest.worker import IngestWorker
from sourceflow.platform.ingress.commits import GroupCommit
from sourceflow.platform.ingress.directory import Directory
from sourceflow.platform.runs.scheduler import Scheduler
from sourceflow.platform.store.sqlite import Store
from sourceflow.plugins import Registry

MAX_MESSAGE_BYTES = 1_048_576


def _base_url(value: str | None) -> str | None:
    return value.rstrip("/") if value else None


@define(kw_only=True, frozen=True)
class PlatformConfig:
    """How the local platform runs.

    :param data_dir: where ``platform.db`` lives (created if missing).
    :param client_id: the one OAuth client IMS knows; also the API key.
    :param client_secret: its secret (never shown in ``repr``).
    :param org_id: the IMS organization every token belongs to.
    :param token_ttl: seconds an access token lives (Adobe's: 86399).
    :param inlet_base_url: the base of ``inletUrl`` when senders reach the inlet by another
        address than the one a request came in on (behind a proxy); None uses the request's.
    :param durability: ``"full"`` commits with ``synchronous=FULL`` (an acknowledged message
        survives a power cut); ``"normal"`` survives a crash of the process only.
    :param ingest: run the ingest worker; False leaves messages pending (to inspect them).
    :param ingest_process: run the ingest worker in a process of its own, so a second core
        maps while the inlet answers (``sourceflow platform serve`` does); that process loads
        the installed plugins itself, so an app built with a registry of its own (tests, an
        embedding host) keeps the default, a thread beside the inlet.
    :param max_message_bytes: the inlet's body limit (Adobe's: 1 MB).
    :param scheduler: tick the scheduler in a thread of its own; False leaves scheduled flows
        to :meth:`Scheduler.tick` calls and ``POST /runs`` (runs still execute).
    :param scheduler_poll: seconds between two ticks.
    :param run_workers: runs executed at once (runs of one flow always take turns); each
        mostly waits on its source, so flows sharing a rate budget need one each to use it
        in full (``sourceflow platform serve --run-workers``).
    :param clock: epoch seconds; the scheduler's notion of now (tests move it instead of
        waiting for a schedule).
    :param access_log: log every request (structlog, redacted; ``platform serve --debug``).
    :param console_loopback: the console opens a local-only session, without a login, for a
        browser on this machine (:mod:`sourceflow.platform.console`).
    """

    data_dir: Path = field(default=Path(".sourceflow") / "platform", converter=Path)
    client_id: str = settings.DEV_CLIENT_ID
    client_secret: str = field(default=settings.DEV_CLIENT_SECRET, repr=False)
    org_id: str = settings.DEV_ORG_ID
    token_ttl: float = 86399
    inlet_base_url: str | None = field(default=None, converter=_base_url)
    durability: Literal["full", "normal"] = "full"
    ingest: bool = True
    ingest_process: bool = False
    max_message_bytes: int = MAX_MESSAGE_BYTES
    scheduler: bool = True
    scheduler_poll: float = 1.0
    run_workers: int = 8
    clock: Callable[[], float] = field(default=time.time, repr=False)
    access_log: bool = False
    console_loopback: bool = True


class Platform:
    """The store, the token issuer, the directory of inlets and flows, and the ingest worker.

    The store opens on first use and :meth:`stop` closes it; :meth:`start` (called by the app's
    lifespan) also starts the worker, which first takes whatever was left pending.
    """

    def __init__(
        self, config: PlatformConfig, registry: Registry, *, look_for_plugins: bool = False
    ) -> None:
        self.config = config
        self.registry = registry
        # Only a registry read from the entry points is read again (Specs.look_again).
        self.specs = Specs(registry, look_again=look_for_plugins)
        self._store: Store | None = None
        self._tokens: Tokens | None = None
        self._directory: Directory | None = None
        self._checks: Checks | None = None
        self._ingest: IngestWorker | None = None
        self._commits: GroupCommit | None = None
        self._scheduler: Scheduler | None = None

    def _open(self) -> Store:
        if self._store is None:
            store = Store(self.config.data_dir, self.config.durability)
            self._tokens = Tokens(
                store,
                client_id=self.config.client_id,
                client_secret=self.config.client_secret,
                org_id=self.config.org_id,
                ttl=self.config.token_ttl,
            )
            self._directory = Directory(store, self.specs, self.config.inlet_base_url)
            self._checks = Checks(store, self.specs, self.registry)
            if self.config.ingest_process:
                self._ingest = IngestProcess(
                    store,
                    self._directory,
                    self.registry,
                    durability=self.config.durability,
                    inlet_base_url=self.config.inlet_base_url,
                )
            else:
                self._ingest = IngestWorker(store, self._directory, self.registry)
            self._commits = GroupCommit(store, on_commit=self._ingest.wake)
            self._scheduler = Scheduler(
                store,
                self.specs,
                self._directory,
                self.registry,
                self._ingest,
                clock=self.config.clock,
                run_workers=self.config.run_workers,
                poll=self.config.scheduler_poll,
            )
            self._store = store
        return self._store

    @property
    def store(self) -> Store:
        """The SQLite store."""
        return self._open()

    @property
    def tokens(self) -> Tokens:
        """Issues and checks access tokens."""
        self._open()
        assert self._tokens is not None
        return self._tokens

    @property
    def directory(self) -> Directory:
        """Inlets, and the cached facts about inlets and flows."""
        self._open()
        assert self._directory is not None
        return self._directory

    @property
    def checks(self) -> Checks:
        """Cross-checks between resources."""
        self._open()
        assert self._checks is not None
        return self._checks

    @property
    def ingest(self) -> IngestWorker:
        """The worker that maps stored messages into dataset rows."""
        self._open()
        assert self._ingest is not None
        return self._ingest

    @property
    def commits(self) -> GroupCommit:
        """Commits the inlet's writes, several requests to a transaction."""
        self._open()
        assert self._commits is not None
        return self._commits

    @property
    def scheduler(self) -> Scheduler:
        """Starts and executes the runs of scheduled flows."""
        self._open()
        assert self._scheduler is not None
        return self._scheduler

    def gateway(self, headers: Mapping[str, str]) -> Principal:
        """The gateway check of every Platform route (see :mod:`sourceflow.platform.http.auth`)."""
        return self.tokens.gateway(headers)

    def start(self) -> None:
        """Open the store; start the commit thread, the ingest worker (unless
        ``config.ingest`` is False) and the scheduler (which first takes up the runs an earlier
        process left open)."""
        self._open()
        self.commits.start()
        if self.config.ingest:
            self.ingest.start()
        self.scheduler.start(ticking=self.config.scheduler)

    def stop(self) -> None:
        """Stop the worker and close the store; :meth:`start` may open it again."""
        if self._store is None:
            return
        self.scheduler.stop()
        self.commits.stop()
        self.ingest.stop()
        self._store.close()
        self._store = None

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every message stored so far is processed; False on timeout."""
        return self.ingest.wait_idle(timeout)
