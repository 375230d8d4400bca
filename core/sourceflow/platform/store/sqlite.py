"""The platform's one SQLite file: schema, transactions and the resource documents.

Everything lives in ``{data_dir}/platform.db`` in WAL mode; its schema is the numbered
migrations of :mod:`sourceflow.platform.store.migrations`, applied when the file is opened (a file
from a newer sourceflow is refused). One connection serves every thread behind a lock: SQLite
writes one transaction at a time anyway, and every statement here takes well under a
millisecond except the commit's ``fsync``, which is what durability costs.
With ``durability="full"`` (``PRAGMA synchronous=FULL``) a committed transaction survives a
power cut; ``"normal"`` survives a crash of this process but may lose the last transactions on
a power cut, and is several times faster on slow disks.

Flow Service, Data Prep and Catalog resources are JSON documents in one table, keyed by kind
and id and scoped by organization and sandbox; filtering and ordering happen in Python
(:mod:`sourceflow.platform.http.query`), which is plenty for one machine's worth of resources.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from attrs import frozen

from sourceflow.platform.store import migrations

try:
    import fcntl
except ImportError:  # Windows: no second writer process there (the ingest worker is a thread)
    fcntl = None  # type: ignore[assignment]

Durability = Literal["full", "normal"]
FILENAME = "platform.db"


@frozen
class Scope:
    """Who a resource belongs to: an IMS organization and one of its sandboxes."""

    org: str
    sandbox: str


class Store:
    """The SQLite file, one connection, one lock."""

    def __init__(self, data_dir: Path, durability: Durability = "full") -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / FILENAME
        # isolation_level=None: transactions are begun explicitly, so a read never
        # holds a write lock by accident.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        # Writers in other processes (the ingest process) queue on this file's lock instead of
        # on SQLite's busy handler, which polls with sleeps growing to 100 ms: against an inlet
        # that commits back to back, a polling writer was starved (mapped 15,000 messages/s
        # while 50,000/s arrived, and 52,000/s once they stopped). A blocked flock is woken
        # when the lock is let go.
        self._writer = (
            os.open(f"{self.path}.writer", os.O_RDWR | os.O_CREAT, 0o600) if fcntl else None
        )
        self._sync = "FULL" if durability == "full" else "NORMAL"
        self.generation = 0
        """Bumped by every resource write, so caches of derived facts know to refresh."""
        self.on_change: Callable[[int], None] | None = None
        """Told the new generation after each transaction that wrote resources commits (the
        ingest process's caches: it reads over a connection of its own, so not before)."""
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={self._sync}")
            self._db.execute("PRAGMA foreign_keys=ON")
            try:
                self.schema_was = migrations.migrate(self._db, self.path)
                """The schema version the file had when it was opened (0: new, or unversioned)."""
            except BaseException:
                self._db.close()
                raise

    def close(self) -> None:
        """Close the connection (checkpointing the WAL into the main file)."""
        with self._lock:
            self._db.close()
            if self._writer is not None:
                os.close(self._writer)
                self._writer = None

    @contextmanager
    def transaction(self, *, redoable: bool = False) -> Iterator[sqlite3.Connection]:
        """A write transaction, committed when the block ends and rolled back on error.

        :param redoable: the transaction only derives data from what is already committed and
            would be redone if it were lost (the ingest worker's rows: their messages stay
            pending until the rows commit). It then commits without waiting for the disk
            (``synchronous=NORMAL``): a power cut may lose it, never a message. The write-ahead
            log keeps order, so the next durable commit makes it durable too.
        """
        relaxed = redoable and self._sync == "FULL"
        with self._lock:
            if relaxed:
                self._db.execute("PRAGMA synchronous=NORMAL")
            generation = self.generation
            if self._writer is not None:
                fcntl.flock(self._writer, fcntl.LOCK_EX)
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                if self._writer is not None:
                    fcntl.flock(self._writer, fcntl.LOCK_UN)
                if relaxed:
                    self._db.execute("PRAGMA synchronous=FULL")
            if self.on_change is not None and self.generation != generation:
                self.on_change(self.generation)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Every row a read query answers."""
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def tuples(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Every row a read query answers, as plain tuples: for hot paths that unpack each
        row (a :class:`sqlite3.Row` is unpacked item by item, several times slower)."""
        with self._lock:
            cursor = self._db.cursor()
            cursor.row_factory = None
            return cursor.execute(sql, params).fetchall()

    def row(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        """The first row a read query answers, or None."""
        with self._lock:
            found: sqlite3.Row | None = self._db.execute(sql, params).fetchone()
            return found

    # --- resource documents -------------------------------------------------------------------

    def get(self, kind: str, id: str, scope: Scope) -> dict[str, Any] | None:
        """The document of one resource in ``scope``, or None."""
        found = self.row(
            "SELECT doc FROM resources WHERE kind = ? AND id = ? AND org = ? AND sandbox = ?",
            (kind, id, scope.org, scope.sandbox),
        )
        return None if found is None else _load(found["doc"])

    def all(self, kind: str, scope: Scope) -> list[dict[str, Any]]:
        """Every document of ``kind`` in ``scope``, oldest first."""
        found = self.rows(
            "SELECT doc FROM resources WHERE kind = ? AND org = ? AND sandbox = ? "
            "ORDER BY created_at, rowid",
            (kind, scope.org, scope.sandbox),
        )
        return [_load(r["doc"]) for r in found]

    def put(
        self,
        db: sqlite3.Connection,
        kind: str,
        id: str,
        scope: Scope,
        created_at: int,
        doc: dict[str, Any],
    ) -> None:
        """Insert or replace a document, inside a :meth:`transaction`."""
        db.execute(
            "INSERT OR REPLACE INTO resources (kind, id, org, sandbox, created_at, doc) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (kind, id, scope.org, scope.sandbox, created_at, json.dumps(doc)),
        )
        self.generation += 1

    def delete(self, db: sqlite3.Connection, kind: str, id: str, scope: Scope) -> None:
        """Delete a document, inside a :meth:`transaction`."""
        db.execute(
            "DELETE FROM resources WHERE kind = ? AND id = ? AND org = ? AND sandbox = ?",
            (kind, id, scope.org, scope.sandbox),
        )
        self.generation += 1


def _load(text: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(text)
    return doc
