"""The ingest worker: maps stored messages into dataset rows, off the acknowledgement path.

The inlet only commits a message and answers; this thread, woken when messages are stored,
takes the messages past its mark (``ingest_mark.through_seq``) in order and, for each, writes a
row to the flow's dataset or a failure with its error, and moves the mark past them **in the
same transaction**: a message becomes exactly one row or one failure, even across a crash. At
start it takes whatever an earlier run left past the mark.

- A flow with a Mapping transformation: the row is the mapping set applied to the message
  (compiled once per mapping set).
- A flow that takes XDM envelopes: the row is the envelope's ``body.xdmEntity``; a message
  that is no valid envelope for the flow is a failure (``XDM-400``), never a row.
- Otherwise: the row is the message (an envelope's ``body.xdmEntity`` when it is one).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import orjson

from sourceflow import redact, wire
from sourceflow.errors import SourceflowError
from sourceflow.log import get_logger
from sourceflow.model import MappingSet
from sourceflow.platform.http import jsonbytes
from sourceflow.platform.ingress.directory import Directory, FlowPlan
from sourceflow.platform.ingress.pipeline import xdm_problems
from sourceflow.platform.store.sqlite import Store

if TYPE_CHECKING:
    from sourceflow.plugins import Registry

BATCH = 500
LINGER = 0.02
"""Seconds the worker waits after a wake-up before it takes what is pending: a row lands this
much later, and a step under load takes about a hundred messages instead of a few."""
Compiled = Callable[[dict[str, Any]], dict[str, Any]]


# NamedTuples, not attrs classes: the worker makes two per message, and a frozen attrs
# instance costs half as much again to build (about 830 ns against 550 ns here).
class Outcome(NamedTuple):
    """What became of one message: a row for a dataset, or an error."""

    dataset_id: str | None = None
    row: dict[str, Any] | None = None
    code: str | None = None
    message: str | None = None


class _Event(Protocol):
    """A ``threading.Event`` or a ``multiprocessing`` one."""

    def set(self) -> None: ...
    def clear(self) -> None: ...
    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


def run_steps(
    worker: IngestWorker,
    wake: _Event,
    stopping: _Event,
    *,
    batch: int = BATCH,
    before_step: Callable[[], bool] | None = None,
) -> None:
    """The worker's loop, in its thread or its process: step while messages are pending,
    else wait for a wake-up; ``before_step`` returning False ends the loop."""
    log = get_logger("sourceflow.platform.ingest")
    while not stopping.is_set():
        if before_step is not None and not before_step():
            return
        wake.clear()
        try:
            done = worker.step(batch)
        except Exception as exc:  # the worker must outlive any one bad batch
            log.error("ingest step failed", error=f"{type(exc).__name__}: {exc}")
            done = 0
            stopping.wait(0.5)
        if not done:
            wake.wait(1.0)
            # Woken by a commit: let the messages of a burst gather a moment, so one step
            # (one transaction) takes many of them instead of a few each.
            stopping.wait(LINGER)


def _unpulled(db: sqlite3.Connection, items: list[Written], keys: list[str | None]) -> list[int]:
    """The indexes of the items whose record is new to its flow, each keyed in ``pulled`` as it
    goes (the scheduler's runs key theirs there too): one row per object version, pushed or
    pulled."""
    kept = []
    for index, (item, key) in enumerate(zip(items, keys, strict=True)):
        if key is not None:
            fresh = db.execute(
                "INSERT OR IGNORE INTO pulled (flow_id, record_key) VALUES (?, ?)",
                (item.flow_id, key),
            ).rowcount
            if not fresh:
                continue  # a run, or an earlier delivery, wrote this version already
        kept.append(index)
    return kept


def _failed(code: str, message: str) -> Outcome:
    return Outcome(code=code, message=redact.scrub(message))


class Written(NamedTuple):
    """One message or record to record an :class:`Outcome` for."""

    flow_id: str
    xaction_id: str
    received_ms: int
    outcome: Outcome
    body: bytes


def record_key(record: Any) -> str:
    """A record's identity for de-duplication: the hash of its canonical JSON (keys sorted,
    compact, UTF-8).

    orjson writes the same bytes as ``json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` six times faster (16 against 92 µs for a Stripe charge); what it
    refuses (integers beyond 64 bits, lone surrogates) is written by the standard library.
    """
    try:
        text = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8", "surrogatepass"
        )
    return hashlib.sha256(text).hexdigest()


def encode_rows(items: Sequence[Written]) -> list[str | None]:
    """The JSON text of each item's row (None for a failure): work to do before the write
    transaction, so the write lock is held for the inserts alone."""
    return [
        jsonbytes.dumps(i.outcome.row).decode()
        if i.outcome.row is not None and i.outcome.dataset_id is not None
        else None
        for i in items
    ]


def write_outcomes(
    db: sqlite3.Connection, items: Sequence[Written], encoded: Sequence[str | None] | None = None
) -> list[bool]:
    """Write a row for each outcome with one, else a failure keeping the original body, inside
    a transaction; for each item, True when a row was written. ``encoded`` is
    :func:`encode_rows` of the items, when done ahead."""
    rows: list[tuple[str, str, str, int, str]] = []
    failures: list[tuple[str, str, int, str, str, bytes]] = []
    written: list[bool] = []
    texts = encode_rows(items) if encoded is None else encoded
    for item, record in zip(items, texts, strict=True):
        outcome = item.outcome
        if record is not None and outcome.dataset_id is not None:
            rows.append(
                (outcome.dataset_id, item.flow_id, item.xaction_id, item.received_ms, record)
            )
            written.append(True)
        else:
            failures.append(
                (
                    item.flow_id,
                    item.xaction_id,
                    item.received_ms,
                    outcome.code or "INGEST-500",
                    outcome.message or "the message could not be ingested",
                    item.body,
                )
            )
            written.append(False)
    if rows:
        db.executemany(
            "INSERT INTO rows (dataset_id, flow_id, xaction_id, received_ms, record) "
            "VALUES (?, ?, ?, ?, ?)",
            rows,
        )
    if failures:
        db.executemany(
            "INSERT INTO failures (flow_id, xaction_id, received_ms, code, message, body) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            failures,
        )
    return written


def write_outcome(
    db: sqlite3.Connection,
    *,
    flow_id: str,
    xaction_id: str,
    received_ms: int,
    outcome: Outcome,
    body: bytes,
) -> bool:
    """:func:`write_outcomes` for one item."""
    return write_outcomes(db, [Written(flow_id, xaction_id, received_ms, outcome, body)])[0]


def unwrap(message: Any) -> Any:
    """An XDM envelope's ``body.xdmEntity``; any other message as it is."""
    if isinstance(message, dict):
        body = message.get("body")
        if isinstance(body, dict) and isinstance(body.get("xdmEntity"), dict):
            return body["xdmEntity"]
    return message


class IngestWorker:
    """One thread turning pending messages into rows and failures."""

    def __init__(self, store: Store, directory: Directory, registry: Registry) -> None:
        self.store = store
        self.directory = directory
        self.registry = registry
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._progress = threading.Condition()
        self._thread: threading.Thread | None = None
        self._compiled: dict[str, Compiled | SourceflowError] = {}
        self._compiled_generation = -1

    def start(self) -> None:
        """Start the thread; it first takes whatever is pending."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="sourceflow-ingest", daemon=True)
        self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the current batch and stop."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        """New messages were committed."""
        self._wake.set()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every message stored before this call is processed; False on timeout."""
        deadline = time.monotonic() + timeout
        last = self.store.row("SELECT max(seq) AS seq FROM messages")
        target = (last["seq"] if last else None) or 0
        self.wake()
        with self._progress:
            while True:
                if self.mark() >= target:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._progress.wait(min(remaining, 0.05))

    def _run(self) -> None:
        run_steps(self, self._wake, self._stopping)

    def mark(self) -> int:
        """The ``seq`` of the last message processed (0 before the first)."""
        row = self.store.row("SELECT through_seq FROM ingest_mark WHERE id = 1")
        return int(row["through_seq"]) if row else 0

    def step(self, batch: int = BATCH) -> int:
        """Process up to ``batch`` pending messages; how many were processed."""
        mark = self.mark()
        pending = self.store.tuples(
            "SELECT seq, xaction_id, flow_id, received_ms, body FROM messages "
            "WHERE seq > ? ORDER BY seq LIMIT ?",
            (mark, batch),
        )
        if not pending:
            return 0
        # Mapping runs outside the store's lock; only the writes take it. Each flow's plan,
        # and whether its plugin picks the record out of a delivery, is asked for once per
        # step, not once per message.
        flows: dict[str, tuple[FlowPlan | None, str | None]] = {}
        items = []
        keys: list[str | None] = []
        for _seq, xaction_id, flow_id, received_ms, body in pending:  # the SELECT's order
            if flow_id not in flows:
                flows[flow_id] = self._flow(flow_id)
            plan, picker = flows[flow_id]
            outcome, key = self._outcome(plan, flow_id, body, picker)
            items.append(Written(flow_id, xaction_id, received_ms, outcome, body))
            keys.append(key)
        encoded = encode_rows(items)
        with self.store.transaction(redoable=True) as db:
            if any(keys):
                kept = _unpulled(db, items, keys)
                items, encoded = [items[i] for i in kept], [encoded[i] for i in kept]
            write_outcomes(db, items, encoded)
            moved = db.execute(
                "UPDATE ingest_mark SET through_seq = ? WHERE id = 1 AND through_seq = ?",
                (pending[-1][0], mark),
            ).rowcount
            if moved != 1:  # another worker took these first: write nothing twice
                raise RuntimeError(f"the ingest mark moved past {mark} under this worker")
        with self._progress:
            self._progress.notify_all()
        return len(pending)

    def _flow(self, flow_id: str) -> tuple[FlowPlan | None, str | None]:
        """A flow's plan, and the plugin that picks its records out of deliveries, if any."""
        plan = self.directory.plan(flow_id)
        source = plan.source if plan is not None else None
        if source is not None and self.registry.implements("sourceflow_delivery_record", source):
            return plan, self.registry.owner(source)
        return plan, None

    def _outcome(
        self, plan: FlowPlan | None, flow_id: str, body: bytes, plugin: str | None
    ) -> tuple[Outcome, str | None]:
        """What becomes of one message, and its record's key when the flow's records are
        pulled too (a pushed and a pulled copy of one object version land once). ``plugin``
        implements ``sourceflow_delivery_record`` for the flow's source, if any does."""
        if plan is None:
            return _failed("INGEST-404", f"flow {flow_id} no longer exists"), None
        try:
            record = jsonbytes.loads_stored(body)
        except ValueError as exc:
            return _failed("INGEST-400", f"the message is not JSON: {exc}"), None
        source = plan.source
        if source is not None and plugin is not None:
            try:
                record = self.registry.call(
                    "sourceflow_delivery_record", source, object=plan.object, message=record
                )
            except Exception as exc:  # a plugin bug must not lose the message
                return _failed(
                    "INGEST-500", f"{plugin} failed in sourceflow_delivery_record: {exc!r}"
                ), None
            if record is None:
                return _failed(
                    "INGEST-422",
                    f"{plugin} found no record of {plan.object or 'the flow'} in this message",
                ), None
        key = record_key(record) if source is not None and source.mode == "scheduled" else None
        return self.transform(plan, record), key

    def transform(self, plan: FlowPlan, record: Any) -> Outcome:
        """One record through the flow's mapping set (compiled once, cached): a row or an
        error. The scheduler's runs use it too, so pulled and pushed records map alike."""
        if plan.dataset_id is None:
            return _failed(
                "INGEST-404", f"flow {plan.flow_id} has no target connection with a dataset"
            )
        if plan.mapping_id is None:
            if plan.xdm:
                invalid = xdm_problems(record, plan.schema_id)
                if invalid:
                    return _failed("XDM-400", "not a valid XDM envelope: " + "; ".join(invalid))
            return Outcome(dataset_id=plan.dataset_id, row=unwrap(record))
        compiled = self._compile(plan)
        if isinstance(compiled, SourceflowError):
            return _failed("MAPPING-400", f"mapping set {plan.mapping_id}: {compiled}")
        try:
            return Outcome(dataset_id=plan.dataset_id, row=compiled(record))
        except SourceflowError as exc:
            return _failed("MAPPING-400", str(exc))
        except Exception as exc:  # a mapping function bug must not lose the record
            return _failed("MAPPING-500", f"{type(exc).__name__}: {exc}")

    def _compile(self, plan: FlowPlan) -> Compiled | SourceflowError:
        assert plan.mapping_id is not None
        # A mapping set may be replaced (PUT /mappingSets/{id}): any write to the store may
        # be one, and they are rare next to messages, so compile again after any.
        if self._compiled_generation != self.store.generation:
            self._compiled.clear()
            self._compiled_generation = self.store.generation
        if plan.mapping_id not in self._compiled:
            self._compiled[plan.mapping_id] = self._compile_now(plan)
        return self._compiled[plan.mapping_id]

    def _compile_now(self, plan: FlowPlan) -> Compiled | SourceflowError:
        from sourceflow.mapping import MappingError, compile_mapping

        assert plan.mapping_id is not None
        doc = self.store.get("mappingSets", plan.mapping_id, plan.scope)
        if doc is None:
            return SourceflowError(f"mapping set {plan.mapping_id} does not exist")
        try:
            compiled: Compiled = compile_mapping(wire.from_json(doc, MappingSet))
        except MappingError as exc:
            return exc
        return compiled
