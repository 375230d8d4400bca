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

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sourceflow.errors import ConfigError
from sourceflow.platform.ingress.pipeline import Admitted, InletInfo
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

# Claim the delivery id; when this statement inserted it, store the message too and answer its
# receipt; when it was there already (another request, another replica), answer that one's.
# A concurrent insert of the same id makes ON CONFLICT wait for the other transaction; its row
# is then newer than this statement's snapshot, so the caller reads it in a statement of its own.
_ADMIT = """
WITH claimed AS (
    INSERT INTO relay_deliveries (flow_id, delivery_id, xaction_id, received_ms)
    VALUES (%(flow)s, %(delivery)s, %(xaction)s, %(received)s)
    ON CONFLICT DO NOTHING
    RETURNING xaction_id, received_ms
), stored AS (
    INSERT INTO relay_outbox (flow_id, inlet_id, xaction_id, received_ms, body)
    SELECT %(flow)s, %(inlet)s, xaction_id, received_ms, %(body)s FROM claimed
)
SELECT xaction_id, received_ms FROM claimed
UNION ALL
SELECT xaction_id, received_ms FROM relay_deliveries
WHERE flow_id = %(flow)s AND delivery_id = %(delivery)s AND NOT EXISTS (SELECT 1 FROM claimed)
"""

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

    def store(
        self, db: DB, inlet: InletInfo, received_ms: int, messages: Sequence[Admitted]
    ) -> list[tuple[str, int]]:
        """As :meth:`Outbox.store`, with one round trip per message: the window's insert and
        the outbox's are one statement, the second fed by what the first inserted."""
        receipts: list[tuple[str, int]] = []
        plain: list[tuple[str, str, str, int, bytes]] = []
        for m in messages:
            if m.delivery_id is None:
                plain.append((m.flow_id, inlet.inlet_id, m.xaction_id, received_ms, m.body))
                receipts.append((m.xaction_id, received_ms))
                continue
            found: Any = db.execute(
                _ADMIT,
                {
                    "flow": m.flow_id,
                    "delivery": m.delivery_id,
                    "xaction": m.xaction_id,
                    "received": received_ms,
                    "inlet": inlet.inlet_id,
                    "body": m.body,
                },
            ).fetchone()
            if found is None:
                # The id was inserted by a transaction that committed while this statement
                # waited on it, after the statement's snapshot: a new statement sees it.
                found = db.execute(
                    "SELECT xaction_id, received_ms FROM relay_deliveries "
                    "WHERE flow_id = %s AND delivery_id = %s",
                    (m.flow_id, m.delivery_id),
                ).fetchone()
            receipts.append((str(found[0]), int(found[1])))
        if plain:
            db.cursor().executemany(
                "INSERT INTO relay_outbox (flow_id, inlet_id, xaction_id, received_ms, body) "
                "VALUES (%s, %s, %s, %s, %s)",
                plain,
            )
        return receipts

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
