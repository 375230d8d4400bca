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

The hand-over is on the inlet's hot path, so it is kept short: a write is queued on a C queue
and answered through a future (no coroutine levels between), and an :class:`Insert` (a write
that only inserts rows) is merged with its group's other inserts into one ``executemany``.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar, cast

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


class Insert:
    """A write that inserts rows and answers a value known in advance.

    The commit thread runs consecutive inserts of one statement as one ``executemany``: one
    call into SQLite per group instead of one per request. Called on its own (when its group
    failed and each write is retried alone), it inserts its own rows.
    """

    __slots__ = ("rows", "sql", "value")

    def __init__(self, sql: str, rows: list[tuple[Any, ...]], value: Any) -> None:
        self.sql = sql
        self.rows = rows
        self.value = value

    def __call__(self, db: Any) -> Any:
        """Insert the rows; the value."""
        db.executemany(self.sql, self.rows)
        return self.value


def _gather(queued: queue.SimpleQueue[Any], group: list[_Pending]) -> bool:
    """Wait for a write, then add to ``group`` everything that arrived while the last commit
    was on the disk, at most :data:`MAX_GROUP`; True when :data:`_STOP` came."""
    item = queued.get()
    while item is not _STOP:
        group.append(item)
        if len(group) >= MAX_GROUP:
            return False
        try:
            item = queued.get_nowait()
        except queue.Empty:
            return False
    return True


def _run_group(db: Any, group: list[_Pending]) -> None:
    run: list[_Pending] = []  # consecutive inserts of one statement, not yet written
    for pending in group:
        write = pending.write
        if type(write) is Insert:
            if run and cast(Insert, run[0].write).sql != write.sql:
                _insert_run(db, run)
                run = []
            run.append(pending)
            continue
        if run:
            _insert_run(db, run)
            run = []
        pending.value = write(db)
    if run:
        _insert_run(db, run)


def _insert_run(db: Any, run: list[_Pending]) -> None:
    inserts = [cast(Insert, p.write) for p in run]
    db.executemany(inserts[0].sql, [row for insert in inserts for row in insert.rows])
    for pending, insert in zip(run, inserts, strict=True):
        pending.value = insert.value


class _Pending:
    __slots__ = ("future", "loop", "ok", "value", "write")

    def __init__(self, write: Write, future: asyncio.Future[Any], loop: asyncio.AbstractEventLoop):
        self.write = write
        self.future = future
        self.loop = loop
        self.ok = False
        self.value: Any = None


_STOP = object()
"""Queued by :meth:`GroupCommit.stop` after the last write it lets in."""


class GroupCommit:
    """One committing thread for the writes awaited on event loops.

    :param store: the store whose transactions the writes run in.
    :param on_commit: called (on the committing thread) after each transaction that committed
        at least one write: the ingest worker's wake-up.
    """

    def __init__(self, store: Transactional, on_commit: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.on_commit = on_commit
        # A C queue, not a Condition over a list: handing a write over is on the inlet's hot
        # path, and a Condition's wait and notify are Python code and a lock made per wait.
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        # Taken to let a write in and to close the door: no write is queued behind _STOP.
        self._door = threading.Lock()
        self._running = False
        self._thread: threading.Thread | None = None
        self.transactions = 0
        """Transactions committed so far (the benchmark reports writes per transaction)."""
        self.writes = 0
        """Writes committed so far."""

    def start(self) -> None:
        """Start the committing thread (a no-op when it runs)."""
        with self._door:
            if self._running:
                return
            self._running = True
            # A queue per run: a thread still finishing an earlier run keeps its own.
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(
                target=self._run, args=(self._queue,), name="sourceflow-commits", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then stop the thread."""
        with self._door:
            was_running, self._running = self._running, False
            thread, self._thread = self._thread, None
            if was_running:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout)

    def write(self, write: Callable[[Any], T]) -> asyncio.Future[T]:
        """Queue ``write(db)`` to run inside a transaction shared with other writes; await the
        answer for its result once that transaction is committed (its exception, if it raised).

        A future, not a coroutine: every level of ``await`` between the request and this wait
        is walked twice per message (to suspend and to resume).

        :raises RuntimeError: the commit thread is stopped.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._door:
            if not self._running:
                raise RuntimeError("the platform is not running: its commit thread is stopped")
            self._queue.put(_Pending(write, future, loop))
        return future

    def _run(self, queued: queue.SimpleQueue[Any]) -> None:
        group: list[_Pending] = []
        try:
            while True:
                # The group is gathered in a function of its own: no local here keeps the last
                # write (a whole batch's bodies) alive while the thread waits for the next one.
                stopping = _gather(queued, group)
                if group:
                    self._commit(group)
                    self._answer(group)
                    group = []
                if stopping:
                    return
        finally:
            # Were this thread to die of a bug, nobody may be left waiting: what was committed
            # is answered as committed, the rest with an error (their senders retry).
            with self._door:
                if self._queue is queued:
                    self._running = False
            stranded = group
            while True:
                try:
                    item = queued.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    stranded.append(item)
            for pending in stranded:
                if not pending.ok:
                    pending.value = RuntimeError("the commit thread stopped")
            self._answer(stranded)

    def _commit(self, group: list[_Pending]) -> None:
        try:
            with self.store.transaction() as db:
                _run_group(db, group)
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
