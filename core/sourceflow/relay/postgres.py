"""The relay's store for several replicas: one PostgreSQL database they all share.

- The de-duplication window is a primary key, ``(flow_id, delivery_id)``: two replicas given
  the same delivery at once both insert with ``ON CONFLICT DO NOTHING``; the second waits for
  the first's transaction and then stores nothing, and answers the first one's receipt.
- A forwarder claims a flow with a transaction-scoped advisory lock (one replica forwards a
  flow at a time, so its order is kept) and its oldest rows with ``FOR UPDATE SKIP LOCKED``;
  it holds the transaction while Adobe answers and deletes what was accepted in it. A replica
  killed mid-batch loses its connection, PostgreSQL rolls the transaction back, and another
  replica sends that batch again: never lost, at worst sent twice (Adobe's inlet removes no
  duplicates, so the window is one batch per killed replica).

Requires the ``relay-postgres`` extra (psycopg 3).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from sourceflow.errors import ConfigError
from sourceflow.relay.outbox import DB, Outbox, Send, take

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS relay_outbox (
        seq BIGSERIAL PRIMARY KEY,
        flow_id TEXT NOT NULL,
        inlet_id TEXT NOT NULL,
        xaction_id TEXT NOT NULL,
        received_ms BIGINT NOT NULL,
        body BYTEA NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS relay_outbox_flow ON relay_outbox (flow_id, seq)",
    """CREATE TABLE IF NOT EXISTS relay_deliveries (
        flow_id TEXT NOT NULL,
        delivery_id TEXT NOT NULL,
        xaction_id TEXT NOT NULL,
        received_ms BIGINT NOT NULL,
        PRIMARY KEY (flow_id, delivery_id)
    )""",
    "CREATE INDEX IF NOT EXISTS relay_deliveries_age ON relay_deliveries (received_ms)",
    """CREATE TABLE IF NOT EXISTS relay_dead (
        seq BIGSERIAL PRIMARY KEY,
        flow_id TEXT NOT NULL,
        inlet_id TEXT NOT NULL,
        xaction_id TEXT NOT NULL,
        received_ms BIGINT NOT NULL,
        body BYTEA NOT NULL,
        status INTEGER NOT NULL,
        answer TEXT NOT NULL,
        refused_ms BIGINT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS relay_counts (
        flow_id TEXT PRIMARY KEY,
        forwarded BIGINT NOT NULL DEFAULT 0,
        refused BIGINT NOT NULL DEFAULT 0
    )""",
)

# Replicas starting together would race on CREATE TABLE IF NOT EXISTS (it is not atomic in
# PostgreSQL); this lock makes them take turns.
_SCHEMA_LOCK = 0x736F7572  # "sour"


class PostgresOutbox(Outbox):
    """The outbox in a PostgreSQL database.

    :param url: a libpq URL (``postgresql://user@host:port/db``); the password is best left to
        ``PGPASSWORD`` or ``~/.pgpass``, or given through the config's ``store_env``.
    """

    kind = "postgresql"
    schema = SCHEMA

    def __init__(self, url: str) -> None:
        super().__init__()
        try:
            import psycopg
        except ImportError:
            raise ConfigError(
                "the relay's PostgreSQL store needs psycopg",
                hint="pip install 'sourceflow[relay-postgres]'",
            ) from None
        self._psycopg = psycopg
        self.url = url

    def connect(self) -> DB:
        """An autocommit connection: transactions are begun explicitly."""
        return self._psycopg.connect(self.url, autocommit=True, connect_timeout=10)

    @contextmanager
    def begin(self, db: DB) -> Iterator[DB]:
        """A transaction (READ COMMITTED, PostgreSQL's default)."""
        with db.transaction():
            yield db

    def sql(self, text: str) -> str:
        """psycopg's ``%s`` placeholders."""
        return text.replace("?", "%s")

    def is_disconnect(self, exc: BaseException) -> bool:
        """An operational error (a lost server, a closed connection)."""
        return isinstance(exc, self._psycopg.OperationalError | self._psycopg.InterfaceError)

    def open(self) -> None:
        """Create the tables, one replica at a time."""
        db = self.conn("writer")
        with self.begin(db):
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            for statement in self.schema:
                db.execute(statement)

    def forward_once(
        self, send: Send, flows: Collection[str], max_messages: int, max_bytes: int
    ) -> int:
        """Claim a flow no other replica is forwarding and its oldest rows, send them, and
        settle Adobe's answer in the same transaction."""
        try:
            return self._forward(send, flows, max_messages, max_bytes)
        except Exception as exc:
            if self.is_disconnect(exc):
                self.drop("forwarder")
            raise

    def _forward(
        self, send: Send, flows: Collection[str], max_messages: int, max_bytes: int
    ) -> int:
        db = self.conn("forwarder")
        with self.begin(db):
            for flow in self.candidates(db, flows):
                locked: Any = db.execute(
                    "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))",
                    ("sourceflow.relay:" + flow,),
                ).fetchone()
                if not locked[0]:
                    continue
                rows = self.oldest(db, flow, max_messages, " FOR UPDATE SKIP LOCKED")
                pending = take(rows, max_bytes)
                if not pending:
                    continue
                self.settle(db, flow, pending, send(flow, pending))
                return len(pending)
        return 0
