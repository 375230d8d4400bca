"""The ingest worker in a process of its own, so a second core maps while the inlet answers.

In a thread the worker shares the inlet's interpreter lock: under load the inlet acknowledged
about 45,000 messages/s while the thread mapped under 10,000. The process opens the same
SQLite file and runs the same :class:`~sourceflow.platform.ingest.worker.IngestWorker` steps (rows
and the mark in one transaction, so every guarantee of :mod:`sourceflow.platform.ingest.worker`
holds); SQLite's write-ahead log lets it read messages while the inlet commits, and its steps
take larger batches so it asks for the write lock less often.

The server process keeps an :class:`IngestProcess` in the worker's place: it wakes the process
after each commit (a byte down a pipe; the pipe's end stops it, so a killed server leaves no
worker behind), tells it when resources change (a replaced mapping set must not map with
the old one), reads the mark for :meth:`wait_idle`, and maps scheduled runs' records itself
with the inherited :meth:`transform`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sourceflow.platform.ingest.worker import IngestWorker, run_steps
from sourceflow.platform.ingress.directory import Directory
from sourceflow.platform.store.sqlite import Store

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import SpawnProcess

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
        self._bell: Connection | None = None
        self._bell_lock = threading.Lock()
        # Plain shared memory: no lock (one writer), and no named semaphore left to clean up.
        self._generation: Any = self._ctx.RawValue("q", 0)
        store.on_change = self._changed

    def _changed(self, generation: int) -> None:
        self._generation.value = generation

    def start(self) -> None:
        """Spawn the process (if not running); it first takes whatever is pending."""
        if self._process is not None and self._process.is_alive():
            return
        self._generation.value = self.store.generation
        listener, bell = self._ctx.Pipe(duplex=False)
        self._process = self._ctx.Process(
            target=_main,
            args=(
                str(self.store.path.parent),
                self._durability,
                self._inlet_base_url,
                listener,
                self._generation,
            ),
            name="sourceflow-ingest",
            daemon=True,
        )
        self._process.start()
        listener.close()  # the process holds the only reading end: it sees this one close
        os.set_blocking(bell.fileno(), False)
        with self._bell_lock:
            self._bell = bell

    def stop(self, timeout: float = 10.0) -> None:
        """Let the process finish its current batch, and wait for it to end."""
        with self._bell_lock:
            if self._bell is not None:
                self._bell.close()  # the process reads the end of the pipe as "stop"
                self._bell = None
        if self._process is not None:
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.terminate()  # its open transaction rolls back: nothing is lost
                self._process.join(timeout)
            self._process = None

    def wake(self) -> None:
        """New messages were committed: one byte down the pipe."""
        # Under the lock: a descriptor closed by stop() may be reused by another file at once.
        with self._bell_lock:
            if self._bell is None:
                return
            with contextlib.suppress(BlockingIOError):  # a full pipe holds wake-ups enough
                os.write(self._bell.fileno(), b"\1")


class _Listener:
    """The process's end of the pipe, as the two events :func:`run_steps` waits on: bytes
    wake it, the end of the pipe (the server stopping, or gone) stops it."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.fd = conn.fileno()
        os.set_blocking(self.fd, False)
        self.closed = False
        self.stopping = _Stopping(self)

    def _drain(self) -> bool:
        """Read what is there; whether anything was."""
        got = False
        while not self.closed:
            try:
                data = os.read(self.fd, 4096)
            except BlockingIOError:
                break
            if not data:
                self.closed = True
            got = True
        return got

    def _wait(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        return bool(ready) and self._drain()

    # the wake event

    def set(self) -> None:
        """Unused: only the server rings."""

    def clear(self) -> None:
        """Forget the wake-ups so far."""
        self._drain()

    def is_set(self) -> bool:
        """Whether a wake-up is waiting."""
        return self._wait(0)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a wake-up (or the end of the pipe)."""
        return self.closed or self._wait(1.0 if timeout is None else timeout)


class _Stopping:
    """The stop event: set once the pipe has ended."""

    def __init__(self, listener: _Listener) -> None:
        self.listener = listener

    def set(self) -> None:
        """Unused: the server stops the process by closing the pipe."""

    def clear(self) -> None:
        """Unused, as :meth:`set`."""

    def is_set(self) -> bool:
        """Whether the pipe has ended."""
        return self.listener.closed

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep ``timeout`` seconds (wake-ups meanwhile are read), or until the pipe ends."""
        deadline = time.monotonic() + (timeout or 0.0)
        while not self.listener.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.listener._wait(left)
        return self.listener.closed


def _main(
    data_dir: str,
    durability: Any,
    inlet_base_url: str | None,
    listener: Connection,
    generation: Any,
) -> None:
    """The process: the worker over its own connection to the store, until the pipe from the
    server ends (the server stopping, or killed: a new server spawns its own worker)."""
    from sourceflow import plugins
    from sourceflow.platform.flowservice.specs import Specs

    store = Store(Path(data_dir), durability)
    registry = plugins.load()
    worker = IngestWorker(store, Directory(store, Specs(registry), inlet_base_url), registry)
    seen = generation.value

    def before_step() -> bool:
        nonlocal seen
        current = generation.value
        if current != seen:
            seen = current
            store.generation += 1  # this process's caches of plans and mappings refresh
        return True

    bell = _Listener(listener)
    try:
        run_steps(worker, bell, bell.stopping, batch=PROCESS_BATCH, before_step=before_step)
    finally:
        store.close()
