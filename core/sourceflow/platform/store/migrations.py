"""The store's schema as numbered migrations, and the code that brings a file up to date.

A file records the last migration applied to it in SQLite's ``PRAGMA user_version``. Opening
a file runs the migrations it has not had, in order, in one transaction with the version they
reach, so a crash leaves the file as it was. A file
whose version is higher than :data:`LATEST` was written by a newer sourceflow: it is refused
rather than written to by code that does not know its layout.

Files from before versions were recorded have ``user_version`` 0, as does an empty file. They
come in the layouts sourceflow wrote over time (the first tables; then scheduled runs; then a
partial index for delivery ids; then the ingest mark instead of a state per message), so every
migration inspects what is there (``IF NOT EXISTS``, the table's columns) instead of assuming
the layout of the version before it.

To change the schema, append a migration; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from attrs import frozen

from sourceflow.errors import ConfigError


class StoreTooNew(ConfigError):
    """The store file was written by a newer sourceflow, whose schema this one does not know."""


@frozen
class Migration:
    """One step of the schema: ``apply`` runs inside the transaction that records ``version``."""

    version: int
    summary: str
    apply: Callable[[sqlite3.Connection], None]


def _run(db: sqlite3.Connection, statements: tuple[str, ...]) -> None:
    # executescript would commit the migration's transaction first; one statement at a time.
    for statement in statements:
        db.execute(statement)


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in db.execute(f"PRAGMA table_info({table})")}


_FIRST_TABLES = (
    """CREATE TABLE IF NOT EXISTS tokens (
        hash TEXT PRIMARY KEY,
        client_id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        expires_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS resources (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        org TEXT NOT NULL,
        sandbox TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (kind, id)
    )""",
    "CREATE INDEX IF NOT EXISTS resources_scope ON resources (kind, org, sandbox, created_at)",
    """CREATE TABLE IF NOT EXISTS inlets (
        inlet_id TEXT PRIMARY KEY,
        org TEXT NOT NULL,
        sandbox TEXT NOT NULL,
        owner_kind TEXT NOT NULL,
        owner_id TEXT NOT NULL,
        created_at INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS inlets_owner ON inlets (owner_kind, owner_id)",
    # Each message carried its ingest state then; migration 4 replaces it with one mark.
    """CREATE TABLE IF NOT EXISTS messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        xaction_id TEXT NOT NULL UNIQUE,
        inlet_id TEXT NOT NULL,
        flow_id TEXT NOT NULL,
        received_ms INTEGER NOT NULL,
        delivery_id TEXT,
        body BLOB NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed'))
    )""",
    """CREATE TABLE IF NOT EXISTS rows (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        dataset_id TEXT NOT NULL,
        flow_id TEXT NOT NULL,
        xaction_id TEXT NOT NULL,
        received_ms INTEGER NOT NULL,
        record TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS rows_dataset ON rows (dataset_id, seq)",
    """CREATE TABLE IF NOT EXISTS failures (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        flow_id TEXT NOT NULL,
        xaction_id TEXT NOT NULL,
        received_ms INTEGER NOT NULL,
        code TEXT NOT NULL,
        message TEXT NOT NULL,
        body BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS failures_flow ON failures (flow_id, seq)",
)

_RUN_TABLES = (
    # Runs of scheduled flows (sourceflow.platform.runs.routes): the document is Adobe's run JSON.
    """CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY,
        flow_id TEXT NOT NULL,
        org TEXT NOT NULL,
        sandbox TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        doc TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS runs_flow ON runs (flow_id, created_at)",
    "CREATE INDEX IF NOT EXISTS runs_open ON runs (status) "
    "WHERE status IN ('queued', 'inProgress')",
    # Per scheduled flow: the source's cursor after the last committed run, and the last
    # schedule slot a run was started for.
    """CREATE TABLE IF NOT EXISTS flow_cursors (
        flow_id TEXT PRIMARY KEY,
        state TEXT NOT NULL DEFAULT '{}',
        last_slot INTEGER
    )""",
    # One key per record a scheduled flow wrote, so a record read again is not written twice.
    """CREATE TABLE IF NOT EXISTS pulled (
        flow_id TEXT NOT NULL,
        record_key TEXT NOT NULL,
        PRIMARY KEY (flow_id, record_key)
    ) WITHOUT ROWID""",
)

# Partial: most messages have no delivery id, and indexing their NULLs would cost every insert.
# (The first files had a table constraint UNIQUE (flow_id, delivery_id) instead, which indexed
# them; migration 4 rebuilds the table without it.)
_DELIVERY_INDEX = (
    "CREATE UNIQUE INDEX IF NOT EXISTS messages_delivery ON messages (flow_id, delivery_id) "
    "WHERE delivery_id IS NOT NULL",
)

_MESSAGES = """CREATE TABLE {name} (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    xaction_id TEXT NOT NULL UNIQUE,
    inlet_id TEXT NOT NULL,
    flow_id TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    delivery_id TEXT,
    body BLOB NOT NULL
)"""
_MESSAGE_COLUMNS = "seq, xaction_id, inlet_id, flow_id, received_ms, delivery_id, body"


def _first_tables(db: sqlite3.Connection) -> None:
    _run(db, _FIRST_TABLES)
    # A file from after migration 4's layout has no state column to index.
    if "state" in _columns(db, "messages"):
        db.execute(
            "CREATE INDEX IF NOT EXISTS messages_pending ON messages (seq) WHERE state = 'pending'"
        )


def _run_tables(db: sqlite3.Connection) -> None:
    _run(db, _RUN_TABLES)


def _delivery_index(db: sqlite3.Connection) -> None:
    _run(db, _DELIVERY_INDEX)


def _ingest_mark(db: sqlite3.Connection) -> None:
    """One mark for how far ingest has got, instead of a state rewritten on every message.

    Each message with ``seq <= through_seq`` became exactly one row or one failure, in the
    transaction that moved the mark past it. The pending messages of a file that kept a state
    per message are its newest (the worker took them in order), so the mark goes just below
    the first of them. The messages table is then rebuilt without the state column and
    without the full unique constraint on delivery ids, keeping the sequence where it was.
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS ingest_mark ("
        "id INTEGER PRIMARY KEY CHECK (id = 1), through_seq INTEGER NOT NULL)"
    )
    # A file from the release that introduced the mark has one already, and may still have
    # the state column (that release left it in place) and the first files' constraint.
    if db.execute("SELECT 1 FROM ingest_mark").fetchone() is None:
        first_pending: int | None = None
        if "state" in _columns(db, "messages"):
            pending = db.execute("SELECT min(seq) FROM messages WHERE state = 'pending'")
            first_pending = pending.fetchone()[0]
        last = db.execute("SELECT max(seq) FROM messages").fetchone()[0]
        through = first_pending - 1 if first_pending is not None else (last or 0)
        db.execute("INSERT INTO ingest_mark (id, through_seq) VALUES (1, ?)", (through,))
    db.execute("DROP INDEX IF EXISTS messages_pending")
    if "state" not in _columns(db, "messages") and not _has_full_delivery_constraint(db):
        return
    # SQLite drops neither a column with a CHECK nor a table constraint: copy the table.
    sequence = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").fetchone()
    db.execute(_MESSAGES.format(name="messages_next"))
    db.execute(
        f"INSERT INTO messages_next ({_MESSAGE_COLUMNS}) "  # noqa: S608 - constant column list
        f"SELECT {_MESSAGE_COLUMNS} FROM messages ORDER BY seq"
    )
    db.execute("DROP TABLE messages")  # its indexes go with it
    db.execute("ALTER TABLE messages_next RENAME TO messages")
    if sequence is not None:
        # AUTOINCREMENT never reuses a number, even of a message since deleted; keep that.
        db.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'messages'", (sequence[0],))
    _run(db, _DELIVERY_INDEX)


_REPLAYED = (
    # A failure mapped again into a row (sourceflow.platform.ingest.replay): marked in the
    # transaction that writes its row, so a record lands at most once however often it is
    # replayed.
    """CREATE TABLE IF NOT EXISTS replayed (
    failure_seq INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    replayed_ms INTEGER NOT NULL
)""",
)


def _replayed(db: sqlite3.Connection) -> None:
    _run(db, _REPLAYED)


def _has_full_delivery_constraint(db: sqlite3.Connection) -> bool:
    for index in db.execute("PRAGMA index_list(messages)").fetchall():
        # origin "u": made by a UNIQUE table constraint; partial indexes are origin "c".
        columns = [r[2] for r in db.execute(f"PRAGMA index_info({index[1]})")]
        if index[3] == "u" and columns == ["flow_id", "delivery_id"]:
            return True
    return False


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "tokens, resources, inlets, messages, rows, failures", _first_tables),
    Migration(2, "runs, flow cursors and pulled record keys of scheduled flows", _run_tables),
    Migration(3, "a partial unique index for delivery ids", _delivery_index),
    Migration(4, "the ingest mark replaces the state of each message", _ingest_mark),
    Migration(5, "failures replayed into rows", _replayed),
)
LATEST = MIGRATIONS[-1].version


def version(db: sqlite3.Connection) -> int:
    """The last migration applied to the file (0: none recorded)."""
    found: int = db.execute("PRAGMA user_version").fetchone()[0]
    return found


def migrate(db: sqlite3.Connection, path: Path) -> int:
    """Apply the migrations ``db`` has not had; return the version it started at.

    ``db`` is in autocommit mode (``isolation_level=None``). The pending migrations run in one
    transaction with the version they reach, so a crash leaves the file as it was; it takes
    the write lock (``BEGIN IMMEDIATE``) and reads the version again under it, so two
    processes opening one file at once do not both migrate it.

    :raises StoreTooNew: the file's version is higher than :data:`LATEST`.
    """
    started = version(db)
    _refuse_newer(started, path)
    if started == LATEST:
        return started
    db.execute("BEGIN IMMEDIATE")
    try:
        started = version(db)
        _refuse_newer(started, path)
        for migration in MIGRATIONS:
            if migration.version > started:
                migration.apply(db)
        # PRAGMA takes no parameters; LATEST is an int from MIGRATIONS.
        db.execute(f"PRAGMA user_version = {int(LATEST)}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return started


def _refuse_newer(found: int, path: Path) -> None:
    if found > LATEST:
        from sourceflow import __version__

        raise StoreTooNew(
            f"{path} has store schema version {found}, and sourceflow {__version__} knows "
            f"versions up to {LATEST}: it was written by a newer sourceflow",
            hint="upgrade sourceflow (pip install -U sourceflow), or point the platform at "
            "another data directory; the file is left untouched",
        )
