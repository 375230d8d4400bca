"""The SQLite store: durable transactions wait for the disk, redoable ones do not; every
earlier schema is migrated to the current one, and a file from a newer sourceflow is refused."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sourceflow.platform.store import migrations
from sourceflow.platform.store.migrations import LATEST, StoreTooNew
from sourceflow.platform.store.sqlite import Store

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


def test_a_new_file_starts_with_nothing_processed(tmp_path: Path) -> None:
    store = Store(tmp_path)
    try:
        assert store.row("SELECT through_seq FROM ingest_mark")["through_seq"] == 0
    finally:
        store.close()


# --- migrations ---------------------------------------------------------------------------------
# The layouts sourceflow wrote before it recorded a schema version (user_version 0), as the
# SCHEMA text of each release had them (git history of core/sourceflow/platform/store/sqlite.py).

_COMMON = """
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, org_id TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL, id TEXT NOT NULL, org TEXT NOT NULL, sandbox TEXT NOT NULL,
    created_at INTEGER NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS resources_scope ON resources (kind, org, sandbox, created_at);
CREATE TABLE IF NOT EXISTS inlets (
    inlet_id TEXT PRIMARY KEY, org TEXT NOT NULL, sandbox TEXT NOT NULL,
    owner_kind TEXT NOT NULL, owner_id TEXT NOT NULL, created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS inlets_owner ON inlets (owner_kind, owner_id);
CREATE TABLE IF NOT EXISTS rows (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, dataset_id TEXT NOT NULL, flow_id TEXT NOT NULL,
    xaction_id TEXT NOT NULL, received_ms INTEGER NOT NULL, record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rows_dataset ON rows (dataset_id, seq);
CREATE TABLE IF NOT EXISTS failures (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, flow_id TEXT NOT NULL, xaction_id TEXT NOT NULL,
    received_ms INTEGER NOT NULL, code TEXT NOT NULL, message TEXT NOT NULL, body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS failures_flow ON failures (flow_id, seq);
"""
_RUNS = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, flow_id TEXT NOT NULL, org TEXT NOT NULL, sandbox TEXT NOT NULL,
    status TEXT NOT NULL, created_at INTEGER NOT NULL, doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_flow ON runs (flow_id, created_at);
CREATE INDEX IF NOT EXISTS runs_open ON runs (status) WHERE status IN ('queued', 'inProgress');
CREATE TABLE IF NOT EXISTS flow_cursors (
    flow_id TEXT PRIMARY KEY, state TEXT NOT NULL DEFAULT '{}', last_slot INTEGER
);
CREATE TABLE IF NOT EXISTS pulled (
    flow_id TEXT NOT NULL, record_key TEXT NOT NULL, PRIMARY KEY (flow_id, record_key)
) WITHOUT ROWID;
"""
_MESSAGES_COLUMNS = """
    seq INTEGER PRIMARY KEY AUTOINCREMENT, xaction_id TEXT NOT NULL UNIQUE,
    inlet_id TEXT NOT NULL, flow_id TEXT NOT NULL, received_ms INTEGER NOT NULL,
    delivery_id TEXT, body BLOB NOT NULL"""
_STATE = "state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed'))"
_PENDING_INDEX = (
    "CREATE INDEX IF NOT EXISTS messages_pending ON messages (seq) WHERE state = 'pending';"
)
_DELIVERY_INDEX = """CREATE UNIQUE INDEX IF NOT EXISTS messages_delivery
    ON messages (flow_id, delivery_id) WHERE delivery_id IS NOT NULL;"""
_MARK = """CREATE TABLE IF NOT EXISTS ingest_mark (
    id INTEGER PRIMARY KEY CHECK (id = 1), through_seq INTEGER NOT NULL
);"""

# The local platform's first release: a state per message and a full unique constraint.
FIRST = f"""{_COMMON}
CREATE TABLE IF NOT EXISTS messages ({_MESSAGES_COLUMNS},
    {_STATE},
    UNIQUE (flow_id, delivery_id)
);
{_PENDING_INDEX}"""
# + scheduled runs.
RUNS = FIRST + _RUNS
# The unique constraint became a partial index (a file from before kept its constraint).
DELIVERY_INDEX = f"""{_COMMON}
CREATE TABLE IF NOT EXISTS messages ({_MESSAGES_COLUMNS},
    {_STATE}
);
{_DELIVERY_INDEX}
{_PENDING_INDEX}
{_RUNS}"""
# The ingest mark replaced the state; files from before kept the column, and were given a mark.
MARK = f"""{_COMMON}
CREATE TABLE IF NOT EXISTS messages ({_MESSAGES_COLUMNS}
);
{_MARK}
{_DELIVERY_INDEX}
{_RUNS}"""

LAYOUTS = {"first": FIRST, "runs": RUNS, "delivery-index": DELIVERY_INDEX, "mark": MARK}
STATES = ["done", "failed", "pending", "pending", "done"]  # the last one is deleted below


def _old_file(directory: Path, layout: str) -> Path:
    """A data directory as a release before versions left it, with data in every table."""
    directory.mkdir()
    path = directory / "platform.db"
    with sqlite3.connect(path) as db:
        db.executescript(LAYOUTS[layout])
        has_state = "state" in {r[1] for r in db.execute("PRAGMA table_info(messages)")}
        for n, state in enumerate(STATES, start=1):
            columns = "xaction_id, inlet_id, flow_id, received_ms, delivery_id, body"
            values = [f"x{n}", "i", "f", n, f"d{n}" if n % 2 else None, b"{}"]
            if has_state:
                columns, values = columns + ", state", [*values, state]
            marks = ", ".join("?" * len(values))
            db.execute(f"INSERT INTO messages ({columns}) VALUES ({marks})", values)  # noqa: S608
        db.execute("DELETE FROM messages WHERE seq = 5")  # AUTOINCREMENT must not reuse 5
        if layout == "mark":
            db.execute("INSERT INTO ingest_mark VALUES (1, 2)")
        db.execute("INSERT INTO resources VALUES ('flows', 'F1', 'o', 'prod', 1, '{\"id\": 1}')")
        db.execute("INSERT INTO rows VALUES (NULL, 'ds', 'f', 'x1', 1, '{}')")
        db.execute("INSERT INTO tokens VALUES ('h', 'c', 'o', 1e12)")
        if layout != "first":
            db.execute("INSERT INTO runs VALUES ('r', 'f', 'o', 'prod', 'success', 1, '{}')")
    return path


def _first_opened_by_the_mark_release(directory: Path) -> Path:
    """A first-release file that the release with the ingest mark opened: that release ran
    its SCHEMA (CREATE … IF NOT EXISTS) over it and moved the states into a mark, leaving the
    state column and the unique constraint in place."""
    path = _old_file(directory, "first")
    with sqlite3.connect(path) as db:
        db.executescript(MARK)
        db.execute("INSERT INTO ingest_mark VALUES (1, 2)")  # seq 3 was the first pending
        db.execute("DROP INDEX messages_pending")
    return path


def _structure(path: Path) -> dict[str, object]:
    """Every table's columns and every index (columns, uniqueness, partial condition)."""
    with sqlite3.connect(path) as db:
        shape: dict[str, object] = {}
        objects = db.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master "
            "WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
        for kind, name, table, sql in objects:
            if kind == "table":
                shape[name] = [tuple(r[1:]) for r in db.execute(f"PRAGMA table_xinfo({name})")]
            else:
                where = sql.split(" WHERE ", 1)[1] if sql and " WHERE " in sql else None
                columns = [r[2] for r in db.execute(f"PRAGMA index_info({name})")]
                shape[name] = (table, columns, " ".join(where.split()) if where else None)
        for table in [n for k, n, _, _ in objects if k == "table"]:
            shape[f"{table} (unique)"] = sorted(
                (r[2], r[3], r[4]) for r in db.execute(f"PRAGMA index_list({table})")
            )
    return shape


@pytest.fixture(scope="module")
def current(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    directory = tmp_path_factory.mktemp("fresh")
    Store(directory).close()
    return _structure(directory / "platform.db")


@pytest.mark.parametrize("layout", [*LAYOUTS, "first, then opened by the mark release"])
def test_every_layout_from_before_versions_is_migrated_with_its_data(
    tmp_path: Path, layout: str, current: dict[str, object]
) -> None:
    if layout in LAYOUTS:
        path = _old_file(tmp_path / "data", layout)
    else:
        path = _first_opened_by_the_mark_release(tmp_path / "data")
    store = Store(path.parent)
    try:
        assert store.schema_was == 0
        assert store.row("PRAGMA user_version")[0] == LATEST
        # processed through seq 2; 3 and 4 are still to be mapped
        assert store.row("SELECT through_seq FROM ingest_mark")["through_seq"] == 2
        assert [r["xaction_id"] for r in store.rows("SELECT * FROM messages ORDER BY seq")] == [
            "x1",
            "x2",
            "x3",
            "x4",
        ]
        assert store.get("flows", "F1", _scope()) == {"id": 1}
        assert store.row("SELECT count(*) FROM rows")[0] == 1
        with store.transaction() as db:
            db.execute(
                "INSERT INTO messages (xaction_id, inlet_id, flow_id, received_ms, body) "
                "VALUES ('x6', 'i', 'f', 6, x'7b7d')"
            )
            # the partial index holds: a delivery id once per flow
            with pytest.raises(sqlite3.IntegrityError):
                db.execute(
                    "INSERT INTO messages (xaction_id, inlet_id, flow_id, received_ms, "
                    "delivery_id, body) VALUES ('x7', 'i', 'f', 7, 'd1', x'7b7d')"
                )
        assert store.row("SELECT seq FROM messages WHERE xaction_id = 'x6'")["seq"] == 6
    finally:
        store.close()
    assert _structure(path) == current
    # Opened again, nothing changes.
    store = Store(path.parent)
    try:
        assert store.schema_was == LATEST
        assert store.row("SELECT through_seq FROM ingest_mark")["through_seq"] == 2
    finally:
        store.close()


def _scope() -> object:
    from sourceflow.platform.store.sqlite import Scope

    return Scope(org="o", sandbox="prod")


@pytest.mark.parametrize("version", range(1, LATEST))
def test_every_numbered_version_is_migrated(
    tmp_path: Path, version: int, current: dict[str, object]
) -> None:
    path = tmp_path / "platform.db"
    with sqlite3.connect(path) as db:
        for migration in migrations.MIGRATIONS[:version]:
            migration.apply(db)
        db.execute(f"PRAGMA user_version = {version}")
        if version < 4:  # before the ingest mark, each message had a state
            db.execute(
                "INSERT INTO messages (xaction_id, inlet_id, flow_id, received_ms, body, state) "
                "VALUES ('x1', 'i', 'f', 1, x'7b7d', 'done')"
            )
        else:
            db.execute(
                "INSERT INTO messages (xaction_id, inlet_id, flow_id, received_ms, body) "
                "VALUES ('x1', 'i', 'f', 1, x'7b7d')"
            )
            db.execute("UPDATE ingest_mark SET through_seq = 1")
    store = Store(tmp_path)
    try:
        assert store.schema_was == version
        assert store.row("PRAGMA user_version")[0] == LATEST
        assert store.row("SELECT through_seq FROM ingest_mark")["through_seq"] == 1
    finally:
        store.close()
    assert _structure(path) == current


def test_the_versions_are_numbered_one_by_one() -> None:
    assert [m.version for m in migrations.MIGRATIONS] == list(range(1, LATEST + 1))


def test_a_file_from_a_newer_sourceflow_is_refused_and_left_alone(tmp_path: Path) -> None:
    Store(tmp_path).close()
    path = tmp_path / "platform.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {LATEST + 1}")
        db.execute("CREATE TABLE from_the_future (x)")
    before = _structure(path)
    with pytest.raises(StoreTooNew) as caught:
        Store(tmp_path)
    message = str(caught.value)
    assert str(path) in message
    assert f"version {LATEST + 1}" in message and f"up to {LATEST}" in message
    assert "upgrade sourceflow" in message
    assert _structure(path) == before
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == LATEST + 1


def test_a_migration_that_fails_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = _old_file(tmp_path / "data", "delivery-index")
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE messages_next (x)")  # in the way of the table rebuild
    before = _structure(path)
    with pytest.raises(sqlite3.OperationalError, match="messages_next"):
        Store(path.parent)
    assert _structure(path) == before
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        states = [r[0] for r in db.execute("SELECT state FROM messages ORDER BY seq")]
        assert states == STATES[:4]


@pytest.mark.skipif(sys.platform == "win32", reason="no fcntl: one writer process there")
def test_writers_in_other_processes_queue_on_the_writer_lock(tmp_path):
    """A write transaction waits while another process holds the writer lock, and goes on as
    soon as it is let go (blocked, not polling SQLite's busy handler)."""
    store = Store(tmp_path)
    other = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(store.path) + ".writer"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
        done = threading.Event()

        def write() -> None:
            with store.transaction() as db:
                db.execute("UPDATE ingest_mark SET through_seq = through_seq")
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        assert not done.wait(0.5), "the transaction did not wait for the other process's lock"
        assert other.stdin is not None
        other.stdin.write("go\n")
        other.stdin.flush()
        assert done.wait(10), "the transaction did not go on once the lock was let go"
        writer.join()
    finally:
        other.kill()
        other.wait()
        store.close()


_HOLD_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
fcntl.flock(fd, fcntl.LOCK_UN)
"""
