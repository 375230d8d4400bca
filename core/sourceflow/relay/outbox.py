"""The relay's durable state: the outbox, the de-duplication window and the dead letters.

Four tables, the same on SQLite (:mod:`.sqlite`) and PostgreSQL (:mod:`.postgres`):

- ``relay_outbox``: admitted messages not yet accepted by Adobe, in arrival order (``seq``);
- ``relay_deliveries``: the de-duplication window, one row per ``(flow_id, delivery_id)``
  (the primary key): a delivery retried to this or any other replica is stored once;
- ``relay_dead``: messages Adobe refused for good (a 4xx for the message), with its answer,
  until ``relay replay`` puts them back in the outbox;
- ``relay_counts``: per flow, messages forwarded and refused so far.

A message enters the outbox and the window in one transaction, committed before the relay
answers the sender (:class:`OutboxSink`). The forwarder (:mod:`.forwarder`) takes the oldest
rows of one flow at a time, posts them, and deletes what Adobe accepted (and moves what it
refused) in one transaction after Adobe's answer: a crash in between sends that batch again,
never loses it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from attrs import field, frozen

from sourceflow.platform.ingress.commits import GroupCommit
from sourceflow.platform.ingress.pipeline import Admitted, InletInfo, Receipts

DB = Any
"""A DB-API connection (sqlite3 or psycopg); the SQL below runs on both."""


@frozen
class Pending:
    """An outbox row on its way to Adobe."""

    seq: int
    flow_id: str
    inlet_id: str
    xaction_id: str
    received_ms: int
    body: bytes = field(repr=False)


@frozen
class Settlement:
    """What Adobe made of a batch: accepted seqs, refused ``(seq, status, answer)``; the rest
    stay in the outbox and are sent again."""

    accepted: tuple[int, ...] = ()
    refused: tuple[tuple[int, int, str], ...] = ()


@frozen
class FlowStatus:
    """One flow's figures."""

    flow_id: str
    depth: int = 0
    oldest_ms: int | None = None
    forwarded: int = 0
    refused: int = 0
    dead: int = 0


@frozen
class DeadLetter:
    """A message Adobe refused for good, with its answer."""

    seq: int
    flow_id: str
    xaction_id: str
    received_ms: int
    status: int
    answer: str
    refused_ms: int


Send = Callable[[str, list[Pending]], Settlement]


def now_ms() -> int:
    """Milliseconds since the epoch."""
    return int(time.time() * 1000)


def take(rows: list[Pending], max_bytes: int) -> list[Pending]:
    """The leading rows whose batch request body stays within ``max_bytes`` (at least one:
    a message the ingress admitted fits Adobe's limit on its own)."""
    size = len(b'{"messages":[]}')
    for i, row in enumerate(rows):
        size += len(row.body) + (1 if i else 0)  # a comma between two messages
        if size > max_bytes and i > 0:
            return rows[:i]
    return rows


class Outbox:
    """The tables and the SQL both stores share; a subclass says how to connect, how a
    transaction begins, and how a forwarder claims a flow.

    Connections: one for the group-commit thread (the ingress writes), one for the forwarder,
    one behind a lock for status and health questions.
    """

    kind = "sql"
    schema: tuple[str, ...] = ()

    def __init__(self) -> None:
        self._conns: dict[str, DB] = {}
        self._read_lock = threading.Lock()

    # --- what a store provides ---------------------------------------------------------------

    def connect(self) -> DB:
        """A new connection, set up for this store."""
        raise NotImplementedError

    def begin(self, db: DB) -> AbstractContextManager[DB]:
        """A write transaction on ``db``: committed at the end of the block, rolled back on
        error."""
        raise NotImplementedError

    def begin_read(self, db: DB) -> AbstractContextManager[DB]:
        """A transaction that only reads (the write transaction unless a store does better)."""
        return self.begin(db)

    def sql(self, text: str) -> str:
        """``text`` (written with ``?`` placeholders) in this driver's parameter style."""
        return text

    def forward_once(
        self, send: Send, flows: Collection[str], max_messages: int, max_bytes: int
    ) -> int:
        """Claim the oldest rows of one flow, ``send`` them and settle Adobe's answer; how many
        rows were settled or sent (0: nothing waits). ``send`` raising leaves every row."""
        raise NotImplementedError

    def is_disconnect(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the connection is gone (a new one is made next time)."""
        return False

    # --- connections ---------------------------------------------------------------------------

    def conn(self, role: str) -> DB:
        """The connection of one role (``writer``, ``forwarder``, ``reader``), made on first use."""
        db = self._conns.get(role)
        if db is None:
            db = self._conns[role] = self.connect()
        return db

    def drop(self, role: str) -> None:
        """Close a role's connection after an error; the next use makes a new one."""
        db = self._conns.pop(role, None)
        if db is not None:
            with contextlib.suppress(Exception):  # already broken: nothing more to learn
                db.close()

    def open(self) -> None:
        """Create the tables if needed."""
        db = self.conn("writer")
        with self.begin(db):
            for statement in self.schema:
                db.execute(statement)

    def close(self) -> None:
        """Close every connection."""
        for role in list(self._conns):
            self.drop(role)

    @contextmanager
    def transaction(self) -> Iterator[DB]:
        """A write transaction on the writer connection (the group commit's)."""
        db = self.conn("writer")
        try:
            with self.begin(db):
                yield db
        except Exception as exc:
            if self.is_disconnect(exc):
                self.drop("writer")
            raise

    def read(self, work: Callable[[DB], Any]) -> Any:
        """Run ``work(db)`` on the reader connection (status, health)."""
        with self._read_lock:
            db = self.conn("reader")
            try:
                with self.begin_read(db):
                    return work(db)
            except Exception as exc:
                if self.is_disconnect(exc):
                    self.drop("reader")
                raise

    # --- the ingress write ---------------------------------------------------------------------

    def store(
        self, db: DB, inlet: InletInfo, received_ms: int, messages: Sequence[Admitted]
    ) -> list[tuple[str, int]]:
        """Inside a transaction: record each message's delivery id in the window and the new
        messages in the outbox; per message, its receipt (the first one's for a delivery id
        seen before)."""
        receipts: list[tuple[str, int]] = []
        rows: list[tuple[str, str, str, int, bytes]] = []
        claim = self.sql(
            "INSERT INTO relay_deliveries (flow_id, delivery_id, xaction_id, received_ms) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
        )
        earlier = self.sql(
            "SELECT xaction_id, received_ms FROM relay_deliveries "
            "WHERE flow_id = ? AND delivery_id = ?"
        )
        for m in messages:
            if m.delivery_id is not None:
                # The unique key decides: on PostgreSQL a concurrent insert of the same id by
                # another replica waits for that one's transaction, then inserts nothing.
                cursor = db.execute(claim, (m.flow_id, m.delivery_id, m.xaction_id, received_ms))
                if cursor.rowcount == 0:
                    row = db.execute(earlier, (m.flow_id, m.delivery_id)).fetchone()
                    receipts.append((str(row[0]), int(row[1])))
                    continue
            rows.append((m.flow_id, inlet.inlet_id, m.xaction_id, received_ms, m.body))
            receipts.append((m.xaction_id, received_ms))
        if rows:
            db.cursor().executemany(
                self.sql(
                    "INSERT INTO relay_outbox (flow_id, inlet_id, xaction_id, received_ms, body) "
                    "VALUES (?, ?, ?, ?, ?)"
                ),
                rows,
            )
        return receipts

    # --- forwarding ----------------------------------------------------------------------------

    def candidates(self, db: DB, flows: Collection[str]) -> list[str]:
        """Flows among ``flows`` with rows waiting, the one waiting longest first (rows of a
        flow no longer configured stay, untouched, until it is configured again)."""
        rows = db.execute(
            "SELECT flow_id FROM relay_outbox GROUP BY flow_id ORDER BY MIN(seq)"
        ).fetchall()
        return [str(r[0]) for r in rows if r[0] in flows]

    def oldest(self, db: DB, flow_id: str, max_messages: int, lock: str = "") -> list[Pending]:
        """The oldest rows of a flow (``lock``: a locking clause)."""
        query = (
            "SELECT seq, flow_id, inlet_id, xaction_id, received_ms, body FROM relay_outbox "
            "WHERE flow_id = ? ORDER BY seq LIMIT ?"
        )
        rows = db.execute(self.sql(query + lock), (flow_id, max_messages)).fetchall()
        return [
            Pending(int(r[0]), str(r[1]), str(r[2]), str(r[3]), int(r[4]), bytes(r[5]))
            for r in rows
        ]

    def settle(self, db: DB, flow_id: str, pending: Sequence[Pending], s: Settlement) -> None:
        """Inside a transaction: drop what Adobe accepted, move what it refused to the dead
        letters, and count both."""
        by_seq = {p.seq: p for p in pending}
        done = [(seq,) for seq in (*s.accepted, *(r[0] for r in s.refused))]
        if done:
            db.cursor().executemany(self.sql("DELETE FROM relay_outbox WHERE seq = ?"), done)
        if s.refused:
            when = now_ms()
            db.cursor().executemany(
                self.sql(
                    "INSERT INTO relay_dead (flow_id, inlet_id, xaction_id, received_ms, body, "
                    "status, answer, refused_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                [
                    (
                        flow_id,
                        by_seq[seq].inlet_id,
                        by_seq[seq].xaction_id,
                        by_seq[seq].received_ms,
                        by_seq[seq].body,
                        status,
                        answer[:4000],
                        when,
                    )
                    for seq, status, answer in s.refused
                ],
            )
        if done:
            db.execute(
                self.sql(
                    "INSERT INTO relay_counts (flow_id, forwarded, refused) VALUES (?, ?, ?) "
                    "ON CONFLICT (flow_id) DO UPDATE SET "
                    "forwarded = relay_counts.forwarded + excluded.forwarded, "
                    "refused = relay_counts.refused + excluded.refused"
                ),
                (flow_id, len(s.accepted), len(s.refused)),
            )

    def prune(self, older_than_ms: int) -> int:
        """Forget delivery ids received before ``older_than_ms`` (the window's end)."""
        with self.transaction() as db:
            cursor = db.execute(
                self.sql("DELETE FROM relay_deliveries WHERE received_ms < ?"), (older_than_ms,)
            )
            return int(cursor.rowcount)

    # --- operators -----------------------------------------------------------------------------

    def status(self) -> list[FlowStatus]:
        """Per flow: outbox depth, oldest waiting message, forwarded, refused, dead letters."""

        def work(db: DB) -> list[FlowStatus]:
            figures: dict[str, dict[str, Any]] = {}
            for flow, depth, oldest in db.execute(
                "SELECT flow_id, COUNT(*), MIN(received_ms) FROM relay_outbox GROUP BY flow_id"
            ).fetchall():
                figures.setdefault(flow, {}).update(depth=int(depth), oldest_ms=int(oldest))
            for flow, forwarded, refused in db.execute(
                "SELECT flow_id, forwarded, refused FROM relay_counts"
            ).fetchall():
                figures.setdefault(flow, {}).update(forwarded=int(forwarded), refused=int(refused))
            for flow, dead in db.execute(
                "SELECT flow_id, COUNT(*) FROM relay_dead GROUP BY flow_id"
            ).fetchall():
                figures.setdefault(flow, {}).update(dead=int(dead))
            return [FlowStatus(flow_id=f, **v) for f, v in sorted(figures.items())]

        result: list[FlowStatus] = self.read(work)
        return result

    def dead_letters(self, flow_id: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """The oldest dead letters (of one flow)."""

        def work(db: DB) -> list[DeadLetter]:
            where, args = ("WHERE flow_id = ? ", [flow_id]) if flow_id else ("", [])
            columns = "seq, flow_id, xaction_id, received_ms, status, answer, refused_ms"
            query = f"SELECT {columns} FROM relay_dead {where}ORDER BY seq LIMIT ?"  # noqa: S608
            rows = db.execute(self.sql(query), (*args, limit)).fetchall()
            return [DeadLetter(*r) for r in rows]

        result: list[DeadLetter] = self.read(work)
        return result

    def replay(self, seqs: Sequence[int] | None = None, flow_id: str | None = None) -> int:
        """Put dead letters back at the end of the outbox (all of them, a flow's, or the given
        seqs); how many."""
        clauses: list[str] = []
        args: list[str | int] = []
        if flow_id:
            clauses.append("flow_id = ?")
            args.append(flow_id)
        if seqs is not None:
            if not seqs:
                return 0
            clauses.append(f"seq IN ({', '.join('?' * len(seqs))})")
            args.extend(seqs)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self.transaction() as db:
            columns = "flow_id, inlet_id, xaction_id, received_ms, body"
            moving = f"SELECT {columns} FROM relay_dead{where} ORDER BY seq"  # noqa: S608
            query = f"INSERT INTO relay_outbox ({columns}) {moving}"
            moved = db.execute(self.sql(query), args).rowcount
            db.execute(self.sql(f"DELETE FROM relay_dead{where}"), args)  # noqa: S608
            return int(moved)

    def ping(self) -> None:
        """Raise when the store cannot be read."""
        self.read(lambda db: db.execute("SELECT 1").fetchone())


class OutboxSink:
    """The ingress pipeline's sink: the outbox, written through a group commit."""

    def __init__(self, outbox: Outbox, commits: GroupCommit) -> None:
        self.outbox = outbox
        self.commits = commits

    def write(self, inlet: InletInfo, received_ms: int, messages: Sequence[Admitted]) -> Receipts:
        """Store the messages in one shared transaction; their receipts once it committed."""
        outbox = self.outbox
        return self.commits.write(lambda db: outbox.store(db, inlet, received_ms, messages))
