"""The platform's one SQLite file: schema, transactions and the resource documents.

Everything lives in ``{data_dir}/platform.db`` in WAL mode. One connection serves every
thread behind a lock: SQLite writes one transaction at a time anyway, and every statement here
takes well under a millisecond except the commit's ``fsync``, which is what durability costs.
With ``durability="full"`` (``PRAGMA synchronous=FULL``) a committed transaction survives a
power cut; ``"normal"`` survives a crash of this process but may lose the last transactions on
a power cut, and is several times faster on slow disks.

Flow Service, Data Prep and Catalog resources are JSON documents in one table, keyed by kind
and id and scoped by organization and sandbox; filtering and ordering happen in Python
(:mod:`sourceflow.platform.query`), which is plenty for one machine's worth of resources.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from attrs import frozen

Durability = Literal["full", "normal"]
FILENAME = "platform.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    org TEXT NOT NULL,
    sandbox TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS resources_scope ON resources (kind, org, sandbox, created_at);
CREATE TABLE IF NOT EXISTS inlets (
    inlet_id TEXT PRIMARY KEY,
    org TEXT NOT NULL,
    sandbox TEXT NOT NULL,
    owner_kind TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS inlets_owner ON inlets (owner_kind, owner_id);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    xaction_id TEXT NOT NULL UNIQUE,
    inlet_id TEXT NOT NULL,
    flow_id TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    delivery_id TEXT,
    body BLOB NOT NULL
);
-- How far the ingest worker has got: each message with seq <= through_seq became exactly one
-- row or one failure, in the transaction that moved the mark past it. One row per message
-- (a state to update) cost every message a second write of its whole record.
CREATE TABLE IF NOT EXISTS ingest_mark (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    through_seq INTEGER NOT NULL
);
-- Partial: most messages have no delivery id, and indexing their NULLs would cost every insert.
CREATE UNIQUE INDEX IF NOT EXISTS messages_delivery ON messages (flow_id, delivery_id)
    WHERE delivery_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS rows (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id TEXT NOT NULL,
    flow_id TEXT NOT NULL,
    xaction_id TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rows_dataset ON rows (dataset_id, seq);
CREATE TABLE IF NOT EXISTS failures (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    flow_id TEXT NOT NULL,
    xaction_id TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS failures_flow ON failures (flow_id, seq);
-- A failure mapped again into a row (sourceflow.platform.replay): marked in the transaction
-- that writes its row, so a record lands at most once however often it is replayed.
CREATE TABLE IF NOT EXISTS replayed (
    failure_seq INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    replayed_ms INTEGER NOT NULL
);
-- Runs of scheduled flows (sourceflow.platform.runs): the document is Adobe's run JSON.
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    flow_id TEXT NOT NULL,
    org TEXT NOT NULL,
    sandbox TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_flow ON runs (flow_id, created_at);
CREATE INDEX IF NOT EXISTS runs_open ON runs (status) WHERE status IN ('queued', 'inProgress');
-- Per scheduled flow: the source's cursor after the last committed run, and the last
-- schedule slot a run was started for.
CREATE TABLE IF NOT EXISTS flow_cursors (
    flow_id TEXT PRIMARY KEY,
    state TEXT NOT NULL DEFAULT '{}',
    last_slot INTEGER
);
-- One key per record a scheduled flow wrote, so a record read again is not written twice.
CREATE TABLE IF NOT EXISTS pulled (
    flow_id TEXT NOT NULL,
    record_key TEXT NOT NULL,
    PRIMARY KEY (flow_id, record_key)
) WITHOUT ROWID;
"""


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
        self._sync = "FULL" if durability == "full" else "NORMAL"
        self.generation = 0
        """Bumped by every resource write, so caches of derived facts know to refresh."""
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={self._sync}")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
            self._upgrade()

    def _upgrade(self) -> None:
        # A file written before the ingest mark existed marks each message's state instead:
        # its pending messages are the newest ones (the worker took them in order), so the
        # mark goes just below the first of them.
        if self._db.execute("SELECT 1 FROM ingest_mark").fetchone() is not None:
            return
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(messages)")}
        first_pending = last = None
        if "state" in columns:
            first_pending = self._db.execute(
                "SELECT min(seq) FROM messages WHERE state = 'pending'"
            ).fetchone()[0]
            last = self._db.execute("SELECT max(seq) FROM messages").fetchone()[0]
            self._db.execute("DROP INDEX IF EXISTS messages_pending")
        through = first_pending - 1 if first_pending is not None else (last or 0)
        self._db.execute("INSERT INTO ingest_mark (id, through_seq) VALUES (1, ?)", (through,))

    def close(self) -> None:
        """Close the connection (checkpointing the WAL into the main file)."""
        with self._lock:
            self._db.close()

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
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                if relaxed:
                    self._db.execute("PRAGMA synchronous=FULL")

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Every row a read query answers."""
        with self._lock:
            return self._db.execute(sql, params).fetchall()

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
