"""Group commit: the inlet's writes from concurrent requests share one transaction.

With ``synchronous=FULL`` a commit waits for the disk (an ``fsync``); one commit per message
would cap the inlet at the disk's commit rate. A request hands its write to
:meth:`GroupCommit.write` and awaits it; one thread commits, in one transaction, everything that
arrived while the previous commit was on the disk, then answers each request. Nothing is
acknowledged before its own commit, so durability is unchanged: only the ``fsync`` is shared.

The store is anything with a ``transaction()`` context manager: the platform's SQLite file,
and the relay's SQLite or PostgreSQL outbox (:mod:`sourceflow.relay.stores`).

A write that fails (an integrity error, say) must not sink the others: when a group's
transaction fails, each of its writes is retried in a transaction of its own, and only the
failing ones get the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from sourceflow.log import get_logger

T = TypeVar("T")
Write = Callable[[Any], Any]


class Transactional(Protocol):
    """A store whose writes run in transactions (the connection type is the store's)."""

    def transaction(self) -> AbstractContextManager[Any]:
        """A write transaction, committed when the block ends and rolled back on error."""
        ...


MAX_GROUP = 2000
"""Writes per transaction at most: bounds how long one commit holds the store's lock."""


class _Pending:
    __slots__ = ("future", "loop", "ok", "value", "write")

    def __init__(self, write: Write, future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop):
        self.write = write
        self.future = future
        self.loop = loop
        self.ok = False
        self.value: Any = None


class GroupCommit:
    """One committing thread for the writes awaited on event loops.

    :param store: the store whose transactions the writes run in.
    :param on_commit: called (on the committing thread) after each transaction that committed
        at least one write: the ingest worker's wake-up.
    """

    def __init__(self, store: Transactional, on_commit: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.on_commit = on_commit
        self._queue: list[_Pending] = []
        self._ready = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.transactions = 0
        """Transactions committed so far (the benchmark reports writes per transaction)."""
        self.writes = 0
        """Writes committed so far."""

    def start(self) -> None:
        """Start the committing thread (a no-op when it runs)."""
        with self._ready:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run, name="sourceflow-commits", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then stop the thread."""
        with self._ready:
            self._stopping = True
            self._ready.notify()
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    async def write(self, write: Callable[[Any], T]) -> T:
        """Run ``write(db)`` inside a transaction shared with other writes; its result once
        that transaction is committed (its exception, if it raised)."""
        loop = asyncio.get_running_loop()
        pending = _Pending(write, loop.create_future(), loop)
        with self._ready:
            if self._thread is None or self._stopping or not self._thread.is_alive():
                raise RuntimeError("the platform is not running: its commit thread is stopped")
            self._queue.append(pending)
            self._ready.notify()
        result: T = await pending.future
        return result

    def _run(self) -> None:
        group: list[_Pending] = []
        try:
            while True:
                with self._ready:
                    while not self._queue and not self._stopping:
                        self._ready.wait()
                    if not self._queue:
                        return
                    group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
                self._commit(group)
                self._answer(group)
                group = []
        finally:
            # Were this thread to die of a bug, nobody may be left waiting: what was committed
            # is answered as committed, the rest with an error (their senders retry).
            with self._ready:
                self._stopping = True
                stranded, self._queue = group + self._queue, []
            for pending in stranded:
                if not pending.ok:
                    pending.value = RuntimeError("the commit thread stopped")
            self._answer(stranded)

    def _commit(self, group: list[_Pending]) -> None:
        try:
            with self.store.transaction() as db:
                for pending in group:
                    pending.value = pending.write(db)
            for pending in group:
                pending.ok = True
        except Exception:
            # Something in the group failed and the whole transaction rolled back: give each
            # write a transaction of its own, so only the failing ones fail.
            for pending in group:
                self._commit_alone(pending)
        committed = sum(1 for p in group if p.ok)
        self.writes += committed
        self.transactions += 1 if committed == len(group) else committed
        if committed:
            try:
                self.on_commit()
            except Exception as exc:
                get_logger("sourceflow.platform").error(
                    "after-commit hook failed", error=f"{type(exc).__name__}: {exc}"
                )

    def _commit_alone(self, pending: _Pending) -> None:
        try:
            with self.store.transaction() as db:
                pending.value = pending.write(db)
            pending.ok = True
        except Exception as exc:
            pending.ok, pending.value = False, exc

    def _answer(self, group: list[_Pending]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
        for pending in group:
            by_loop.setdefault(pending.loop, []).append(pending)
        for loop, settled in by_loop.items():
            # A closed loop raises RuntimeError: nobody is waiting there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_settle, settled)


def _settle(group: list[_Pending]) -> None:
    for pending in group:
        if pending.future.done():  # the request was cancelled (its client went away)
            continue
        if pending.ok:
            pending.future.set_result(pending.value)
        else:
            pending.future.set_exception(pending.value)
