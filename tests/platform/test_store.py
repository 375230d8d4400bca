"""The SQLite store: durable transactions wait for the disk, redoable ones do not."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sourceflow.platform.store import Store

FULL, NORMAL = 2, 1  # PRAGMA synchronous values


@pytest.mark.parametrize(("durability", "outside"), [("full", FULL), ("normal", NORMAL)])
def test_a_redoable_transaction_commits_without_waiting_for_the_disk(
    tmp_path: Path, durability: str, outside: int
) -> None:
    store = Store(tmp_path, durability)  # type: ignore[arg-type]
    try:
        with store.transaction() as db:
            assert db.execute("PRAGMA synchronous").fetchone()[0] == outside
        with store.transaction(redoable=True) as db:
            assert db.execute("PRAGMA synchronous").fetchone()[0] == NORMAL
        with pytest.raises(RuntimeError), store.transaction(redoable=True):
            raise RuntimeError("rolled back")
        # the setting is restored after a commit and after a rollback alike
        with store.transaction() as db:
            assert db.execute("PRAGMA synchronous").fetchone()[0] == outside
    finally:
        store.close()


def test_a_file_from_before_the_ingest_mark_keeps_its_pending_messages(tmp_path: Path) -> None:
    # The messages table as it was when each message carried its own state.
    with sqlite3.connect(tmp_path / "platform.db") as db:
        db.executescript(
            """
            CREATE TABLE messages (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                xaction_id TEXT NOT NULL UNIQUE,
                inlet_id TEXT NOT NULL,
                flow_id TEXT NOT NULL,
                received_ms INTEGER NOT NULL,
                delivery_id TEXT,
                body BLOB NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending',
                UNIQUE (flow_id, delivery_id)
            );
            CREATE INDEX messages_pending ON messages (seq) WHERE state = 'pending';
            """
        )
        for n, state in enumerate(["done", "failed", "pending", "pending"], start=1):
            db.execute(
                "INSERT INTO messages (xaction_id, inlet_id, flow_id, received_ms, body, state) "
                "VALUES (?, 'i', 'f', 0, x'7b7d', ?)",
                (f"x{n}", state),
            )
    store = Store(tmp_path)
    try:
        # processed through seq 2; 3 and 4 are still to be mapped
        assert store.row("SELECT through_seq FROM ingest_mark")["through_seq"] == 2
        indexes = {r["name"] for r in store.rows("PRAGMA index_list(messages)")}
        assert "messages_pending" not in indexes
    finally:
        store.close()
    # Opening it again leaves the mark where it is.
    store = Store(tmp_path)
    try:
        assert store.row("SELECT through_seq FROM ingest_mark")["through_seq"] == 2
    finally:
        store.close()


def test_a_new_file_starts_with_nothing_processed(tmp_path: Path) -> None:
    store = Store(tmp_path)
    try:
        assert store.row("SELECT through_seq FROM ingest_mark")["through_seq"] == 0
    finally:
        store.close()
