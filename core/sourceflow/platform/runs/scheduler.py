"""The scheduler: starts runs of scheduled flows when due, and executes them.

A flow is *scheduled* when its source's plugin declares ``mode="scheduled"``. Its
``scheduleParams`` (``startTime`` epoch seconds, default the flow's creation; ``frequency``;
``interval``) define slots: ``once`` has one, at ``startTime``; the others one every
``interval`` minutes/hours/days/weeks from ``startTime``. On each tick the latest slot that has
passed is due unless a run was already started for it; slots missed while the platform was
down are not run one by one: one run catches up, since it reads from the last cursor anyway.

A run calls the plugin's ``sourceflow_read`` with the stored cursor, maps the records with the
flow's mapping set (the ingest worker's compiled cache) and writes rows and failures in
transactions of :data:`CHUNK` records, while a thread of the run reads the next pages
(:data:`DEPTH` ahead), so waiting for the source and writing overlap. Each record written
leaves a key (the hash of its JSON) in ``pulled``, in the same transaction as its row, so a
record read again is skipped. A plugin that reads in pages (``ReadResult.pages``) has each
page's cursor stored in the transaction of the page's last rows: a run that fails or is killed
resumes after the last page written. A plain read's cursor (``ReadResult.state``) is stored
only in the transaction that ends the run successfully. A run that the platform's stop or crash
interrupted is marked failed at the next start and a new run retries it from the stored cursor:
nothing is lost, nothing written twice.

Time comes from ``PlatformConfig.clock``, and :meth:`Scheduler.tick` can be called directly,
so tests move time instead of waiting for it.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import queue
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from sourceflow import model, redact, wire
from sourceflow.errors import (
    BadSourceData,
    CredentialsRefused,
    PluginError,
    SourceflowError,
    SourceUnavailable,
)
from sourceflow.hooktypes import Page, ReadResult, Source
from sourceflow.log import get_logger
from sourceflow.platform.flowservice import resources
from sourceflow.platform.ingest.worker import Written, record_key, write_outcomes
from sourceflow.platform.ingress.directory import FlowPlan, object_of
from sourceflow.platform.runs import records as runs
from sourceflow.platform.store.sqlite import Scope

if TYPE_CHECKING:
    from sourceflow.platform.flowservice.specs import Specs
    from sourceflow.platform.ingest.worker import IngestWorker
    from sourceflow.platform.ingress.directory import Directory
    from sourceflow.platform.store.sqlite import Store
    from sourceflow.plugins import Registry

CHUNK = 100
"""Records per transaction: what a crash can cost is re-reading at most this many."""
DEPTH = 4
"""Pages a run reads ahead of what it has written."""
SCHEDULER = "sourceflow-scheduler"
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}


class RunFailed(Exception):
    """Ends a run as failed with ``code`` and ``message``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = redact.scrub(message)


def latest_slot(schedule: dict[str, Any] | None, created_at_ms: int, now: float) -> int | None:
    """The latest schedule slot (epoch seconds) at or before ``now``, or None before the first."""
    params = schedule or {}
    given = params.get("startTime")
    start = int(given) if given is not None else created_at_ms // 1000
    if now < start:
        return None
    frequency = params.get("frequency") or "once"
    if frequency == "once":
        return start
    period = int(params["interval"]) * UNIT_SECONDS[frequency]
    return start + int((now - start) // period) * period


class Scheduler:
    """Ticks (finding due flows) in one thread and executes runs in a few worker threads."""

    def __init__(
        self,
        store: Store,
        specs: Specs,
        directory: Directory,
        registry: Registry,
        ingest: IngestWorker,
        *,
        clock: Callable[[], float],
        run_workers: int,
        poll: float,
    ) -> None:
        self.store = store
        self.specs = specs
        self.directory = directory
        self.registry = registry
        self.ingest = ingest
        self.clock = clock
        self.run_workers = run_workers
        self.poll = poll
        self._stopping = threading.Event()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._tick_lock = threading.Lock()
        self._flow_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._idle = threading.Condition()
        self._open = 0
        self._flows_at = -1
        self._flows: list[tuple[dict[str, Any], Scope]] = []
        self._log = get_logger("sourceflow.platform.scheduler")

    # --- life -----------------------------------------------------------------------------

    def start(self, *, ticking: bool = True) -> None:
        """Recover runs an earlier process left open, start the workers and (if ``ticking``)
        the thread that ticks every ``poll`` seconds."""
        if self._threads:
            return
        self._stopping.clear()
        for n in range(max(1, self.run_workers)):
            self._spawn(self._work, f"sourceflow-run-{n}")
        self.recover()
        if ticking:
            self._spawn(self._tick_loop, "sourceflow-scheduler")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        # Daemon threads: a run stuck on a slow source must not keep the process alive.
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop ticking and executing. A run still in progress stays open in the store and is
        retried at the next start."""
        self._stopping.set()
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
        self._queue = queue.Queue()
        with self._idle:
            self._open = 0
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every run started so far has finished; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._open == 0, timeout)

    def _tick_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception as exc:  # the scheduler must outlive one bad tick
                self._log.error("scheduler tick failed", error=f"{type(exc).__name__}: {exc}")
            self._stopping.wait(self.poll)

    # --- what is due ----------------------------------------------------------------------

    def source_of(self, flow: dict[str, Any], scope: Scope) -> Source | None:
        """The installed source of a flow (through its first source connection), or None."""
        ids = flow.get("sourceConnectionIds") or []
        sc = self.store.get("sourceConnections", ids[0], scope) if ids else None
        return self.specs.source(sc["connectionSpec"]["id"]) if sc else None

    def _scheduled(self) -> list[tuple[dict[str, Any], Scope]]:
        generation = self.store.generation
        if generation != self._flows_at:
            rows = self.store.rows(
                "SELECT org, sandbox, doc FROM resources WHERE kind = 'flows' "
                "ORDER BY created_at, rowid"
            )
            found = []
            for row in rows:
                scope, flow = Scope(row["org"], row["sandbox"]), json.loads(row["doc"])
                source = self.source_of(flow, scope)
                if source is not None and source.mode == "scheduled":
                    found.append((flow, scope))
            self._flows, self._flows_at = found, generation
        return self._flows

    def tick(self) -> list[str]:
        """Start a run of every scheduled flow that is due now; answers the new run ids."""
        started: list[str] = []
        with self._tick_lock:
            now = self.clock()
            for flow, scope in self._scheduled():
                if flow.get("state") == "disabled":
                    continue
                slot = latest_slot(flow.get("scheduleParams"), flow["createdAt"], now)
                if slot is None:
                    continue
                row = self.store.row(
                    "SELECT last_slot FROM flow_cursors WHERE flow_id = ?", (flow["id"],)
                )
                last = row["last_slot"] if row else None
                if last is not None and slot <= last:
                    continue
                doc = self._new(flow, scope, SCHEDULER, slot=slot)
                started.append(doc["id"])
        return started

    def start_run(self, flow: dict[str, Any], scope: Scope, who: str) -> dict[str, Any]:
        """Start a run of ``flow`` now, outside its schedule (``POST /runs``)."""
        return self._new(flow, scope, who)

    def _new(
        self, flow: dict[str, Any], scope: Scope, who: str, *, slot: int | None = None
    ) -> dict[str, Any]:
        doc = runs.new_run(flow, scope, who, self._now_ms())
        with self.store.transaction() as db:
            runs.insert(db, doc, scope, "queued")
            if slot is not None:
                db.execute(
                    "INSERT INTO flow_cursors (flow_id, last_slot) VALUES (?, ?) "
                    "ON CONFLICT (flow_id) DO UPDATE SET last_slot = excluded.last_slot",
                    (flow["id"], slot),
                )
        self._submit(doc["id"])
        return doc

    def _submit(self, run_id: str) -> None:
        with self._idle:
            self._open += 1
        self._queue.put(run_id)

    def recover(self) -> None:
        """Take up the runs an earlier process left open: queued ones run now; one that was in
        progress was interrupted: it is marked failed and a new run retries it."""
        for row in self.store.rows(
            "SELECT id, status FROM runs WHERE status IN ('queued', 'inProgress') "
            "ORDER BY created_at, rowid"
        ):
            if row["status"] == "queued":
                self._submit(row["id"])
                continue
            found = runs.load(self.store, row["id"])
            if found is None:
                continue
            doc, scope, _ = found
            flow = self.store.get("flows", doc["flowId"], scope)
            retry = runs.new_run(flow, scope, SCHEDULER, self._now_ms()) if flow else None
            note = f"; run {retry['id']} retries it" if retry else "; its flow no longer exists"
            error = RunFailed(
                "RUN-503",
                "the platform stopped while this run was in progress (a crash or a shutdown)"
                + note,
            )
            self._finish(doc, error=error, retry=(retry, scope) if retry else None)
            if retry:
                self._submit(retry["id"])

    # --- executing ------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            run_id = self._queue.get()
            if run_id is None or self._stopping.is_set():
                return
            try:
                self.execute(run_id)
            except Exception as exc:  # a worker must outlive one bad run
                self._log.error("run failed", run=run_id, error=f"{type(exc).__name__}: {exc}")
            finally:
                with self._idle:
                    self._open = max(0, self._open - 1)
                    self._idle.notify_all()

    def execute(self, run_id: str) -> None:
        """Execute one queued run to its end (runs of one flow take turns)."""
        found = runs.load(self.store, run_id)
        if found is None or found[2] != "queued":
            return
        doc, scope, _ = found
        with self._flow_locks[doc["flowId"]]:
            doc["metrics"]["durationSummary"]["startedAtUTC"] = self._now_ms()
            with self.store.transaction() as db:
                runs.save(db, doc, "inProgress")
            try:
                state = self._pull(doc, scope)
            except RunFailed as failed:
                self._finish(doc, error=failed)
            except _Stopped:
                return  # left open: the next start retries it
            else:
                self._finish(doc, cursor=state)

    def _pull(self, doc: dict[str, Any], scope: Scope) -> Any:
        flow_id = doc["flowId"]
        flow = self.store.get("flows", flow_id, scope)
        if flow is None:
            raise RunFailed("RUN-404", f"flow {flow_id} no longer exists")
        source, connection, obj = self._inputs(flow, scope)
        plan = self.directory.plan(flow_id)
        if plan is None or plan.dataset_id is None:
            raise RunFailed("RUN-404", f"flow {flow_id} has no target connection with a dataset")
        row = self.store.row("SELECT state FROM flow_cursors WHERE flow_id = ?", (flow_id,))
        cursor = json.loads(row["state"]) if row and row["state"] else {}
        plugin = self.registry.owner(source)
        result: ReadResult | None = None
        try:
            result = self.registry.call(
                "sourceflow_read", source, connection=connection, object=obj, state=cursor
            )
            if not isinstance(result, ReadResult):
                raise RunFailed(
                    "CONNECTOR-500", f"plugin {plugin!r} answered no ReadResult to sourceflow_read"
                )
            seq = itertools.count(1)
            counters = result.counters
            with _Prefetch(_pages(result, plugin), DEPTH, self._stopping) as pages:
                for records, state in pages:
                    self._page(doc, plan, records, state, seq, counters)
        except (RunFailed, _Stopped):
            raise
        except PluginError as exc:
            raise RunFailed("CONNECTOR-500", str(exc)) from None
        except SourceflowError as exc:
            raise classify(source.name, exc) from None
        except Exception as exc:
            raise RunFailed(
                "CONNECTOR-500",
                f"plugin {plugin!r} failed in sourceflow_read: {type(exc).__name__}: {exc}",
            ) from None
        finally:
            if isinstance(result, ReadResult):
                _count(doc, result.counters)
        # Paged reads stored their cursor with their last page; a plain read's state is read
        # once its records are exhausted: the plugin may fill it as they are consumed.
        return None if result.pages is not None else result.state

    def _inputs(self, flow: dict[str, Any], scope: Scope) -> tuple[Source, model.Connection, Any]:
        ids = flow.get("sourceConnectionIds") or []
        sc = self.store.get("sourceConnections", ids[0], scope) if ids else None
        if sc is None:
            raise RunFailed("RUN-404", f"flow {flow['id']} has no source connection")
        source = self.specs.source(sc["connectionSpec"]["id"])
        if source is None:
            raise RunFailed(
                "RUN-404",
                f"no installed source provides connection spec {sc['connectionSpec']['id']}",
            )
        base_id = sc.get("baseConnectionId")
        base = self.store.get("connections", base_id, scope) if base_id else None
        if base_id and base is None:
            raise RunFailed("RUN-404", f"base connection {base_id} no longer exists")
        connection = (
            wire.from_json(base, model.Connection)
            if base
            else model.Connection(
                name=sc.get("name", ""),
                connection_spec=model.SpecRef(id=source.id),
                provider_id=sc.get("providerId"),
            )
        )
        return source, connection, object_of(sc)

    def _page(
        self,
        doc: dict[str, Any],
        plan: FlowPlan,
        records: list[Any],
        state: Any,
        seq: Iterator[int],
        counters: dict[str, int],
    ) -> None:
        # A page's rows go in transactions of CHUNK; its cursor goes with the last of them.
        last = max(0, len(records) - 1) // CHUNK * CHUNK
        for start in range(0, max(1, len(records)), CHUNK):
            if self._stopping.is_set():
                raise _Stopped
            chunk = records[start : start + CHUNK]
            _count(doc, counters)
            self._write(doc, plan, chunk, seq, state if start == last else _NO_STATE)

    def _write(
        self,
        doc: dict[str, Any],
        plan: FlowPlan,
        chunk: list[Any],
        seq: Iterator[int],
        state: Any,
    ) -> None:
        # Mapping, hashing and encoding happen before the transaction: the store's one writer
        # is held for the inserts only, so that the runs of other flows write meanwhile.
        flow_id = plan.flow_id
        keyed = [(record_key(r), r, self.ingest.transform(plan, r)) for r in chunk]
        summary = doc["metrics"]["recordSummary"]
        summary["inputRecordCount"] += len(chunk)
        now = self._now_ms()
        # Redoable: a transaction lost with the machine's power takes its cursor with it, so
        # the next run reads those records again; the run's end commits durably, and with it,
        # in the write-ahead log's order, everything before.
        with self.store.transaction(redoable=True) as db:
            fresh = _fresh_keys(db, flow_id, [k for k, _, _ in keyed])
            db.executemany(
                "INSERT INTO pulled (flow_id, record_key) VALUES (?, ?)",
                [(flow_id, k) for k in fresh],
            )
            items = []
            for key, record, outcome in keyed:
                if key not in fresh:
                    continue  # written by an earlier run (the overlap of a retry), or just now
                del fresh[key]
                body = b"" if outcome.row is not None else _body(record)
                items.append(Written(flow_id, f"{doc['id']}-{next(seq)}", now, outcome, body))
            written = write_outcomes(db, items)
            summary["outputRecordCount"] += sum(written)
            summary["failedRecordCount"] += len(written) - sum(written)
            if state is not _NO_STATE:
                _store_cursor(db, flow_id, state)
            doc["updatedAt"] = now
            runs.save(db, doc, "inProgress")

    def _finish(
        self,
        doc: dict[str, Any],
        *,
        cursor: Any = None,
        error: RunFailed | None = None,
        retry: tuple[dict[str, Any], Scope] | None = None,
    ) -> None:
        now = self._now_ms()
        metrics = doc["metrics"]
        metrics["durationSummary"]["completedAtUTC"] = now
        errors = [{"code": error.code, "message": error.message}] if error else []
        failed = metrics["recordSummary"]["failedRecordCount"]
        if failed:
            errors.append(
                {
                    "code": "MAPPING-400",
                    "message": f"{failed} record(s) failed mapping; GET "
                    f"/sourceflow/flows/{doc['flowId']}/failures lists them with their errors",
                }
            )
        status = "failed" if error else "success"
        extensions = metrics["statusSummary"].get("extensions")
        metrics["statusSummary"] = {
            "status": status,
            **({"errors": errors} if errors else {}),
            **({"extensions": extensions} if extensions else {}),
        }
        doc["updatedAt"] = now
        doc["eTag"] = resources.new_etag()
        with self.store.transaction() as db:
            runs.save(db, doc, status)
            if error is None and isinstance(cursor, dict):
                _store_cursor(db, doc["flowId"], cursor)
            if retry is not None:
                runs.insert(db, retry[0], retry[1], "queued")

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)


class _Stopped(Exception):
    """The platform is stopping: leave the run open for the next start."""


_NO_STATE: Any = object()
"""The state of a chunk of records that carries no cursor (a plain read's records)."""

# (error class, code, what the user does about it); the first that matches names the run's.
_KINDS: tuple[tuple[type[SourceflowError], str], ...] = (
    (SourceUnavailable, "CONNECTOR-503"),
    (CredentialsRefused, "CONNECTOR-401"),
    (BadSourceData, "CONNECTOR-422"),
)


def classify(source: str, error: SourceflowError) -> RunFailed:
    """The run error for what a plugin raised: transient trouble at the source (503), refused
    credentials (401), data the source should not have sent (422), or a refusal of the request
    as made (400); the message is the plugin's, with its hint."""
    code = next((c for kind, c in _KINDS if isinstance(error, kind)), "CONNECTOR-400")
    return RunFailed(code, f"{source}: {error}")


def _count(doc: dict[str, Any], counters: dict[str, int]) -> None:
    if not isinstance(counters, dict):
        return
    # copy() is one C call: safe while the reading thread adds a key.
    found = {str(k): v for k, v in counters.copy().items() if type(v) is int}
    if found:
        doc["metrics"]["statusSummary"]["extensions"] = found


def _fresh_keys(db: sqlite3.Connection, flow_id: str, keys: list[str]) -> dict[str, None]:
    """The keys of ``keys`` no earlier run of the flow wrote, each once (as a dict's keys)."""
    unique = dict.fromkeys(keys)
    found: set[str] = set()
    listed = list(unique)
    for start in range(0, len(listed), 500):  # under SQLite's limit on bound parameters
        part = listed[start : start + 500]
        marks = ",".join("?" * len(part))
        found.update(
            row[0]
            for row in db.execute(
                f"SELECT record_key FROM pulled WHERE flow_id = ? AND record_key IN ({marks})",  # noqa: S608 (only ? marks)
                (flow_id, *part),
            )
        )
    return {k: None for k in unique if k not in found}


def _body(record: Any) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode()


def _store_cursor(db: sqlite3.Connection, flow_id: str, state: Any) -> None:
    db.execute(
        "INSERT INTO flow_cursors (flow_id, state) VALUES (?, ?) "
        "ON CONFLICT (flow_id) DO UPDATE SET state = excluded.state",
        (flow_id, json.dumps(state)),
    )


def _pages(result: ReadResult, plugin: str) -> Iterator[tuple[list[Any], Any]]:
    """A read as pages of (records, cursor): the plugin's own pages, or its records in pages of
    :data:`CHUNK` without a cursor, the records before an error included."""
    if result.pages is not None:
        for page in result.pages:
            if not isinstance(page, Page):
                raise PluginError(
                    f"plugin {plugin!r} gave a {type(page).__name__} among its ReadResult.pages, "
                    "expected sourceflow.Page"
                )
            yield list(page.records), page.state
        return
    chunk: list[Any] = []
    try:
        for record in result.records:
            chunk.append(record)
            if len(chunk) >= CHUNK:
                yield chunk, _NO_STATE
                chunk = []
    except Exception:
        if chunk:  # what was read before a failure is written too: a retry skips it
            yield chunk, _NO_STATE
        raise
    if chunk:
        yield chunk, _NO_STATE


class _Prefetch:
    """Reads pages in a thread of its own, ``depth`` ahead of the writer, so that a run waits
    for the source and writes to the store at the same time; the reader's error is raised in
    the writer once the pages before it are written."""

    def __init__(
        self, pages: Iterator[tuple[list[Any], Any]], depth: int, stopping: threading.Event
    ) -> None:
        self._pages = pages
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
        self._cancel = threading.Event()
        self._stopping = stopping
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._read,), name="sourceflow-read", daemon=True
        )

    def __enter__(self) -> Iterator[tuple[list[Any], Any]]:
        self._thread.start()
        return self._drain()

    def __exit__(self, *exc: object) -> None:
        self._cancel.set()

    def _put(self, item: tuple[str, Any]) -> bool:
        while not (self._cancel.is_set() or self._stopping.is_set()):
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self) -> None:
        try:
            for page in self._pages:
                if not self._put(("page", page)):
                    return
        except BaseException as exc:  # handed to the writer, which classifies it
            self._put(("error", exc))
        else:
            self._put(("end", None))

    def _drain(self) -> Iterator[tuple[list[Any], Any]]:
        while True:
            try:
                kind, value = self._queue.get(timeout=0.1)
            except queue.Empty:
                if self._stopping.is_set():
                    raise _Stopped from None
                continue
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
