"""The ingest worker in a process of its own, so a second core maps while the inlet answers.

In a thread the worker shares the inlet's interpreter lock: under load the inlet acknowledged
about 45,000 messages/s while the thread mapped under 10,000. The process opens the same
SQLite file and runs the same :class:`~sourceflow.platform.ingest.IngestWorker` steps (rows
and the mark in one transaction, so every guarantee of :mod:`sourceflow.platform.ingest`
holds); SQLite's write-ahead log lets it read messages while the inlet commits, and its steps
take larger batches so it asks for the write lock less often.

The server process keeps an :class:`IngestProcess` in the worker's place: it wakes the process
after each commit, tells it when resources change (a replaced mapping set must not map with
the old one), reads the mark for :meth:`wait_idle`, and maps scheduled runs' records itself
with the inherited :meth:`transform`.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sourceflow.platform.directory import Directory
from sourceflow.platform.ingest import IngestWorker, run_steps
from sourceflow.platform.store import Store

if TYPE_CHECKING:
    from multiprocessing.context import SpawnProcess
    from multiprocessing.synchronize import Event

    from sourceflow.plugins import Registry

PROCESS_BATCH = 2000
"""Messages per step (one transaction) in the process: the inlet's group commits wait while it
holds the write lock, so it takes it less often, for longer."""


class IngestProcess(IngestWorker):
    """The ingest worker run in a spawned process; the same interface as the thread's."""

    def __init__(
        self,
        store: Store,
        directory: Directory,
        registry: Registry,
        *,
        durability: str,
        inlet_base_url: str | None,
    ) -> None:
        super().__init__(store, directory, registry)
        self._ctx = multiprocessing.get_context("spawn")
        self._durability = durability
        self._inlet_base_url = inlet_base_url
        self._process: SpawnProcess | None = None
        self._pwake: Event = self._ctx.Event()
        self._pstop: Event = self._ctx.Event()
        self._generation: Synchronized[int] = self._ctx.Value("q", 0)
        store.on_change = self._changed

    def _changed(self, generation: int) -> None:
        # Set when the resource is written, before any message that relies on it commits.
        self._generation.value = generation

    def start(self) -> None:
        """Spawn the process (if not running); it first takes whatever is pending."""
        if self._process is not None and self._process.is_alive():
            return
        self._pstop.clear()
        self._generation.value = self.store.generation
        self._process = self._ctx.Process(
            target=_main,
            args=(
                str(self.store.path.parent),
                self._durability,
                self._inlet_base_url,
                self._pwake,
                self._pstop,
                self._generation,
            ),
            name="sourceflow-ingest",
            daemon=True,
        )
        self._process.start()
        self._pwake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Let the process finish its current batch, and wait for it to end."""
        self._pstop.set()
        self._pwake.set()
        if self._process is not None:
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.terminate()  # its open transaction rolls back: nothing is lost
                self._process.join(timeout)
            self._process = None

    def wake(self) -> None:
        """New messages were committed."""
        self._pwake.set()


def _main(
    data_dir: str,
    durability: Any,
    inlet_base_url: str | None,
    wake: Event,
    stopping: Event,
    generation: Synchronized[int],
) -> None:
    """The process: the worker over its own connection to the store, until told to stop or
    until the server process is gone (killed: a new server spawns its own worker)."""
    from sourceflow import plugins
    from sourceflow.platform.specs import Specs

    parent = multiprocessing.parent_process()
    store = Store(Path(data_dir), durability)
    registry = plugins.load()
    worker = IngestWorker(store, Directory(store, Specs(registry), inlet_base_url), registry)
    seen = generation.value

    def before_step() -> bool:
        nonlocal seen
        if parent is not None and not parent.is_alive():
            return False
        current = generation.value
        if current != seen:
            seen = current
            store.generation += 1  # this process's caches of plans and mappings refresh
        return True

    try:
        run_steps(worker, wake, stopping, batch=PROCESS_BATCH, before_step=before_step)
    finally:
        store.close()
