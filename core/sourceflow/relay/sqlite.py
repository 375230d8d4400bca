"""The relay's store on one machine: one SQLite file (WAL, ``synchronous=FULL``).

One relay process owns the file: its ingress writes share transactions through the group
commit, and its one forwarder reads the oldest rows outside any transaction, posts them, then
settles Adobe's answer in a short write transaction, so a slow or absent Adobe never holds
SQLite's single write lock while senders wait.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from sourceflow.relay.outbox import DB, Outbox, Send, take

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS relay_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        flow_id TEXT NOT NULL,
        inlet_id TEXT NOT NULL,
        xaction_id TEXT NOT NULL,
        received_ms INTEGER NOT NULL,
        body BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS relay_outbox_flow ON relay_outbox (flow_id, seq)",
    """CREATE TABLE IF NOT EXISTS relay_deliveries (
        flow_id TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        xaction_id TEXT NOT NULL,
        received_ms INTEGER NOT NULL,
        PRIMARY KEY (flow_id, delivery_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS relay_deliveries_age ON relay_deliveries (received_ms)",
    """CREATE TABLE IF NOT EXISTS relay_dead (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        flow_id TEXT NOT NULL,
        inlet_id TEXT NOT NULL,
        xaction_id TEXT NOT NULL,
        received_ms INTEGER NOT NULL,
        body BLOB NOT NULL,
        status INTEGER NOT NULL,
        answer TEXT NOT NULL,
        refused_ms INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS relay_counts (
        flow_id TEXT PRIMARY KEY,
        forwarded INTEGER NOT NULL DEFAULT 0,
        refused INTEGER NOT NULL DEFAULT 0
    )""",
)


class SqliteOutbox(Outbox):
    """The outbox in one SQLite file.

    :param path: the file (its folder is created).
    """

    kind = "sqlite"
    schema = SCHEMA

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)

    def connect(self) -> DB:
        """A connection in WAL mode with ``synchronous=FULL``: a commit survives a power cut."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    @contextmanager
    def begin(self, db: DB) -> Iterator[DB]:
        """``BEGIN IMMEDIATE``: the write lock up front, so a transaction never fails halfway
        for want of it."""
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextmanager
    def begin_read(self, db: DB) -> Iterator[DB]:
        """A deferred transaction: a consistent snapshot, without the write lock (status and
        health checks never make a delivery wait)."""
        db.execute("BEGIN")
        try:
            yield db
        finally:
            db.execute("COMMIT")

    def forward_once(
        self, send: Send, flows: Collection[str], max_messages: int, max_bytes: int
    ) -> int:
        """Read the oldest rows of the longest-waiting flow, send them, settle the answer."""
        db = self.conn("forwarder")
        for flow in self.candidates(db, flows):
            pending = take(self.oldest(db, flow, max_messages), max_bytes)
            if not pending:
                continue
            settlement = send(flow, pending)
            with self.begin(db):
                self.settle(db, flow, pending, settlement)
            return len(pending)
        return 0
