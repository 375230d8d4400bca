"""The one ingress pipeline: every route that can put a message into a flow runs these checks,
from here, in this order. Only the framing (one message, a batch) differs per route.

1. **Size**: the body is read up to the route's limit and refused with 413 past it
   (:func:`sourceflow.platform.http.web.read_body`).
2. **Inlet and token**: an unknown inlet is 404; an inlet whose connection sets
   ``authenticationRequired`` wants an IMS bearer token (401 with Adobe's body otherwise).
3. **JSON, exact or refused** (the route's framing): 400 naming the path of any value that
   could not be stored as sent (:mod:`sourceflow.platform.http.jsonbytes`).
4. **Flow**: each message is resolved to the flow it will land in (the ``x-adobe-flow-id``
   header or query parameter, else the envelope's ``header.flowId``, else the inlet's only
   flow); 400 when none fits.
5. **Verification, fail closed**, against the flow the message lands in: a source that names
   a :attr:`~sourceflow.hooktypes.Source.delivery_secret` refuses every delivery (401) to a
   flow without that secret; then the plugin's ``sourceflow_verify_delivery`` judges the
   delivery. A refusal, no verdict from a signing source, or a plugin that raises is a 401:
   nothing a sender controls is a 5xx, and nothing unverified is stored.
   Then, when the sender asks for it with ``?syncValidation=true`` (Adobe's development aid),
   a message to a flow that takes XDM envelopes is checked as one (:func:`xdm_problems`): 400
   naming what is wrong, and nothing stored. Without it the ingest worker makes the same check
   after the acknowledgement and records a failure instead of a row.
6. **De-duplication**: a delivery id seen before for the flow answers the first receipt and
   stores nothing again.
7. **Durable write**: the message is committed (one transaction shared with concurrent
   requests) before it is acknowledged.

Steps 6 and 7 happen in the sink's one transaction (:class:`Sink`); the local platform's sink
is its ``messages`` table, which the ingest worker maps into datasets, and the relay's is its
outbox (:mod:`sourceflow.relay`). Both serve the two framings of :class:`Collection`, Adobe's
``POST /collection/{inletId}`` and ``POST /collection/batch/{inletId}``.
"""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import secrets
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, Protocol, overload

import anyio.to_thread
from attrs import field, frozen
from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.routing import Route

from sourceflow import redact, wire
from sourceflow.hooktypes import Delivery, Source, Verdict
from sourceflow.log import get_logger
from sourceflow.model import BatchItemResult
from sourceflow.platform.http import jsonbytes, problems
from sourceflow.platform.http.problems import Refused, problem
from sourceflow.platform.http.web import Call, Endpoint, answer, parse_json
from sourceflow.platform.ingress.commits import Insert
from sourceflow.platform.store.sqlite import Scope

if TYPE_CHECKING:
    from sourceflow.platform.ingress.commits import GroupCommit
    from sourceflow.plugins import Registry

JSON = dict[str, Any]

SERVICE = "DCS"
FLOW_HEADER = "x-adobe-flow-id"

_node = secrets.randbelow(10_000)
_counter = itertools.count(1)


def xaction_id(received_ms: int) -> str:
    """A new transaction id shaped like Adobe's: receive time, node, sequence
    (``1584479347507:2153:240``)."""
    return f"{received_ms}:{_node:04d}:{next(_counter)}"


@frozen
class InletInfo:
    """An inlet as a delivery sees it: whose it is, its flows, their source and configs.

    ``configs`` maps each flow to what its plugin may need to verify a delivery (secrets
    included); ``authentication_required`` asks for an IMS token on every delivery.
    """

    inlet_id: str
    scope: Scope
    owner_kind: str
    owner_id: str
    authentication_required: bool
    flows: tuple[str, ...]
    source: Source | None
    configs: dict[str, JSON]
    xdm: Mapping[str, str | None] = field(factory=dict)
    """The flows that take XDM envelopes, each with the schema id its target wants (None when
    the flow names none); the other flows' messages are raw records for a mapping."""


class Inlets(Protocol):
    """Where the pipeline looks inlets up (the local platform's directory, the relay's config)."""

    def cached_inlet(self, inlet_id: str) -> tuple[bool, InletInfo | None]:
        """``(True, info or None)`` when known without blocking, else ``(False, None)``."""
        ...

    def inlet(self, inlet_id: str) -> InletInfo | None:
        """The inlet, or None; may block (it runs in a worker thread)."""
        ...


class TokenCheck(Protocol):
    """Checks an IMS bearer token for an inlet that asks for one."""

    def inlet_check(self, headers: Mapping[str, str], org: str) -> str | None:
        """Why the headers are refused, or None when the token is good."""
        ...


@frozen
class Admitted:
    """A message that passed every check before the write: where it goes and what it is."""

    xaction_id: str
    flow_id: str
    body: bytes
    delivery_id: str | None


Receipts = Awaitable[list[tuple[str, int]]]
"""Per message, the receipt ``(xaction id, received ms)``, once the messages are stored."""


class Sink(Protocol):
    """Where admitted messages go: de-duplicated and made durable in one step."""

    def write(self, inlet: InletInfo, received_ms: int, messages: Sequence[Admitted]) -> Receipts:
        """Store the messages; per message, the receipt: its own, or the first one's when its
        delivery id was stored before for its flow. (An ``async def`` will do; the platform's
        sink answers the commit's own future, one level of ``await`` less per message.)"""
        ...


class Ingress:
    """Steps 2, 4 and 5 of the pipeline, and the sink for 6 and 7.

    :param inlets: where inlets are looked up.
    :param tokens: the IMS token check for inlets that ask for one (None: such inlets refuse
        every delivery, fail closed).
    :param registry: the plugins, for ``sourceflow_verify_delivery``.
    :param sink: where admitted messages are de-duplicated and stored.
    """

    def __init__(
        self, inlets: Inlets, tokens: TokenCheck | None, registry: Registry, sink: Sink
    ) -> None:
        self.inlets = inlets
        self.tokens = tokens
        self.registry = registry
        self.sink = sink
        self.log = get_logger("sourceflow.platform.ingress")

    async def inlet(self, call: Call) -> InletInfo:
        """The inlet the call names, with its token checked when it asks for one."""
        inlet_id = call.params["inlet_id"]
        known, inlet = self.inlets.cached_inlet(inlet_id)
        if not known:  # reading it may take a lock: not on the event loop
            inlet = await anyio.to_thread.run_sync(self.inlets.inlet, inlet_id)
        if inlet is None:
            raise problem(404, f"no inlet {inlet_id!r}", service=SERVICE)
        if inlet.authentication_required:
            if self.tokens is None:
                raise problems.inlet_unauthorized(call.request_id, "Ims service token is invalid")
            reason = await anyio.to_thread.run_sync(
                self.tokens.inlet_check, call.headers, inlet.scope.org
            )
            if reason is not None:
                raise problems.inlet_unauthorized(call.request_id, reason)
        return inlet

    @staticmethod
    def requested_flow(call: Call) -> str | None:
        """The flow the sender named outside the body, if any."""
        # Chatlio cannot set headers, so its webhook URL carries the flow id in the query.
        return call.headers.get(FLOW_HEADER) or call.arg(FLOW_HEADER) or None

    def flow(self, inlet: InletInfo, requested: str | None, message: dict[str, Any]) -> str:
        """The flow ``message`` lands in, or a 400 saying why none fits."""
        header = message.get("header")
        from_envelope = header.get("flowId") if isinstance(header, dict) else None
        wanted, named_by = (
            (requested, FLOW_HEADER) if requested else (from_envelope, "header.flowId")
        )
        if wanted:
            if wanted not in inlet.flows:
                raise problem(
                    400,
                    f"{named_by}: flow {str(wanted)[:100]!r} does not take messages from inlet "
                    f"{inlet.inlet_id} (its flows: {', '.join(inlet.flows) or 'none'})",
                    service=SERVICE,
                )
            return str(wanted)
        if len(inlet.flows) == 1:
            return inlet.flows[0]
        if not inlet.flows:
            raise problem(
                400,
                f"inlet {inlet.inlet_id} has no dataflow yet: create a flow for its source "
                "connection (POST /flows) before sending data",
                service=SERVICE,
            )
        raise problem(
            400,
            f"inlet {inlet.inlet_id} feeds several flows ({', '.join(inlet.flows)}): name one "
            f"with the {FLOW_HEADER} header",
            service=SERVICE,
        )

    def verify(self, inlet: InletInfo, flow_id: str, call: Call) -> str | None:
        """Judge the delivery for the flow it lands in: its delivery id, or a 401."""
        source = inlet.source
        if source is None:
            # The plugin that owns the source was removed: nothing can verify the delivery.
            # Fail closed, and with a 503 the sender retries once the plugin is back.
            refused = problem(
                503,
                f"inlet {inlet.inlet_id} belongs to a source whose plugin is not installed: "
                "its deliveries cannot be verified (install the plugin and restart the server)",
                service=SERVICE,
            )
            refused.headers["Retry-After"] = "60"
            raise refused
        config = dict(inlet.configs.get(flow_id, {}))
        secret_key = source.delivery_secret
        if secret_key is not None and not config.get(secret_key):
            raise self._refused(
                f"flow {flow_id} has no {secret_key}, so no {source.title} delivery can be "
                f"verified; every delivery is refused until it is set (PATCH the flow's source "
                f"connection params, or connect again with --param {secret_key}=…)"
            )
        registry = self.registry
        if not registry.implements("sourceflow_verify_delivery", source):
            return None
        delivery = Delivery(
            inlet_id=inlet.inlet_id,
            flow_id=flow_id,
            headers={k.lower(): v for k, v in call.headers.items()},
            query=dict(call.query.items()),
            body=call.body,
            config=config,
        )
        plugin = registry.owner(source)
        try:
            verdict: Verdict | None = registry.call(
                "sourceflow_verify_delivery", source, request=delivery
            )
        except Exception as exc:
            # A plugin bug, but the sender chose the input that set it off: refuse (fail
            # closed, and a 4xx), and tell the operator whose code it was.
            self.log.error(
                "plugin failed verifying a delivery",
                plugin=plugin,
                hook="sourceflow_verify_delivery",
                error=f"{type(exc).__name__}: {redact.scrub(str(exc))[:300]}",
                request_id=call.request_id,
            )
            raise self._refused(
                f"{plugin} could not verify the delivery ({type(exc).__name__}); "
                f"it was not stored (request id {call.request_id})"
            ) from None
        if verdict is None:
            if secret_key is not None:
                raise self._refused(f"{plugin} gave no verdict on a signed source's delivery")
            return None
        if not verdict.authentic:
            raise self._refused(
                f"the delivery was refused by {plugin}: {verdict.reason or 'not authentic'}"
            )
        return verdict.delivery_id

    def validate(self, inlet: InletInfo, flow_id: str, message: Any) -> None:
        """``syncValidation``: a 400 naming every way ``message`` is not an XDM envelope for a
        flow that takes them; nothing for other flows."""
        if flow_id not in inlet.xdm:
            return
        found = xdm_problems(message, inlet.xdm[flow_id])
        if found:
            raise problems.xdm_invalid(inlet.inlet_id, inlet.scope.org, found)

    @staticmethod
    def _refused(detail: str) -> problems.Refused:
        return problem(401, redact.scrub(detail), service=SERVICE)

    def write(self, inlet: InletInfo, received_ms: int, messages: Sequence[Admitted]) -> Receipts:
        """Steps 6 and 7: de-duplicate and store, through the sink."""
        if not messages:
            nothing: asyncio.Future[list[tuple[str, int]]] = (
                asyncio.get_running_loop().create_future()
            )
            nothing.set_result([])
            return nothing
        return self.sink.write(inlet, received_ms, messages)


class Collection:
    """The two framings of the pipeline, Adobe's inlet routes: ``/collection/{inletId}`` (one
    message) and ``/collection/batch/{inletId}`` (many). The local platform's inlet and the
    relay serve them over their own :class:`Ingress`.

    :param ingress: gives the pipeline (called per request, so that it may be built lazily).
    :param limit: the body limit of either route, in bytes (Adobe's: 1 MB).
    """

    def __init__(self, ingress: Callable[[], Ingress], limit: int) -> None:
        self.ingress = ingress
        self.limit = limit

    def routes(self) -> list[Route]:
        """``/collection/batch/{inletId}`` and ``/collection/{inletId}``."""
        return [
            Route(template, endpoint, methods=["POST"], name=endpoint.handler.__name__)
            for template, endpoint in self._endpoints.items()
        ]

    def front_routes(self) -> list[tuple[str, str, Endpoint]]:
        """The same routes' endpoints for a :class:`~.web.Front`, ahead of any middleware."""
        return [
            (template.removesuffix("{inlet_id}"), "inlet_id", endpoint)
            for template, endpoint in self._endpoints.items()
        ]

    @cached_property
    def _endpoints(self) -> dict[str, Endpoint]:
        # The batch route first: "/collection/batch/x" would also fit "/collection/{inlet_id}"
        # were it a single segment.
        return {
            "/collection/batch/{inlet_id}": Endpoint(
                self.collect_batch, guard=None, service=SERVICE, limit=self.limit
            ),
            "/collection/{inlet_id}": Endpoint(
                self.collect, guard=None, service=SERVICE, limit=self.limit
            ),
        }

    async def collect(self, call: Call) -> Response:
        """One message: 200 ``{inletId, xactionId, receivedTimeMs}`` once it is committed."""
        ingress = self.ingress()
        inlet = await ingress.inlet(call)
        message = parse_json(call.body, service=SERVICE, what="the message")
        if not isinstance(message, dict):
            raise problem(
                400, f"a message must be a JSON object (got {_kind(message)})", service=SERVICE
            )
        flow_id = ingress.flow(inlet, ingress.requested_flow(call), message)
        delivery_id = ingress.verify(inlet, flow_id, call)
        if sync_validation(call):
            ingress.validate(inlet, flow_id, message)
        received = now_ms()
        admitted = Admitted(
            xaction_id=xaction_id(received),
            flow_id=flow_id,
            body=call.body,
            delivery_id=delivery_id,
        )
        [(xaction, when)] = await ingress.write(inlet, received, [admitted])
        # Receipt's wire form, built directly: converting the record costs more than the rest
        # of the answer (tests/platform/test_inlet.py holds the two equal).
        return answer({"inletId": inlet.inlet_id, "xactionId": xaction, "receivedTimeMs": when})

    async def collect_batch(self, call: Call) -> Response:
        """``{"messages": [...]}``: 207 with one result per message, in order.

        Each member is checked against the flow it lands in: the batch (one signed body) is
        verified once per flow its members land in, and refused whole when any of those
        refuses it. A batch's delivery id names each member by its position, so a redelivered
        batch is stored once. Every good member is committed in one transaction before the
        answer.

        Memory stays near the size of the body: each member is encoded as soon as its flow is
        known and its parsed value dropped, the stored rows are made while they are written
        (:class:`_Admissions`), and the receipt is written as bytes, not built as objects.
        """
        ingress = self.ingress()
        inlet = await ingress.inlet(call)
        batch = parse_json(call.body, service=SERVICE, what="the batch")
        messages = batch.get("messages") if isinstance(batch, dict) else None
        if not isinstance(messages, list):
            raise problem(
                400, 'the batch must be a JSON object {"messages": [...]}', service=SERVICE
            )
        del batch
        requested = ingress.requested_flow(call)
        sync = sync_validation(call)
        if requested:  # a header names the flow of every member: a wrong one fails them all
            ingress.flow(inlet, requested, {})
        errors: dict[int, str] = {}
        invalid: dict[int, str] = {}  # syncValidation's findings, per member of a known flow
        # Per member: its flow (one shared string per flow) and its stored bytes, or None.
        flows: list[str | None] = []
        bodies: list[bytes | None] = []
        for i, message in enumerate(messages):
            messages[i] = None  # the parsed value goes as soon as it is encoded
            flow_id: str | None = None
            if not isinstance(message, dict):
                errors[i] = f"must be a JSON object (got {_kind(message)})"
            else:
                try:
                    flow_id = sys.intern(ingress.flow(inlet, requested, message))
                    if sync:
                        ingress.validate(inlet, flow_id, message)
                except Refused as refused:
                    if flow_id is None:
                        errors[i] = _detail(refused)
                    else:  # told only once the batch is verified (below)
                        invalid[i] = _detail(refused)
            flows.append(flow_id)
            bodies.append(
                None if flow_id is None or i in invalid else jsonbytes.dumps_kept(message)
            )
        del messages
        delivery_ids = {flow: ingress.verify(inlet, flow, call) for flow in set(flows) if flow}
        # After verification: an unverified body earns no answer about its content. A member
        # that is not a valid envelope (syncValidation) is refused alone; the others land.
        for i, detail in invalid.items():
            flows[i], errors[i] = None, detail
        received = now_ms()
        batch_id = xaction_id(received)
        admitted = _Admissions(batch_id, flows, bodies, delivery_ids)
        receipts = iter(await ingress.write(inlet, received, admitted))
        del admitted, bodies
        head = {"inletId": inlet.inlet_id, "batchId": batch_id, "receivedTimeMs": received}
        out = bytearray(jsonbytes.dumps(head)[:-1])
        out += b',"responses":['
        for i, flow_id in enumerate(flows):
            if i:
                out += b","
            if flow_id is None:
                item = BatchItemResult(status_code=400, message=f"messages[{i}]: {errors[i]}")
                out += jsonbytes.dumps(wire.to_json(item))
            else:
                out += jsonbytes.dumps({"xactionId": next(receipts)[0]})
        out += b"]}"
        # Freed memory goes back to the system once the answer is out, not kept by the C
        # allocator for the next batch (measured: 100 MB held after one 1 MB batch).
        trim = BackgroundTask(release_memory) if len(call.body) >= TRIM_AFTER else None
        return Response(bytes(out), status_code=207, media_type="application/json", background=trim)


class _Admissions(Sequence[Admitted]):
    """A batch's admitted members, made one at a time as the sink reads them (a batch of
    100,000 small messages would otherwise hold 100,000 objects besides their bytes)."""

    def __init__(
        self,
        batch_id: str,
        flows: list[str | None],
        bodies: list[bytes | None],
        delivery_ids: dict[str, str | None],
    ) -> None:
        self.batch_id = batch_id
        self.flows = flows
        self.bodies = bodies
        self.delivery_ids = delivery_ids
        self.members = [i for i, flow in enumerate(flows) if flow is not None]

    def __len__(self) -> int:
        return len(self.members)

    @overload
    def __getitem__(self, index: int) -> Admitted: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Admitted]: ...

    def __getitem__(self, index: int | slice) -> Admitted | Sequence[Admitted]:
        if isinstance(index, slice):
            return [self[j] for j in range(*index.indices(len(self)))]
        i = self.members[index]
        flow_id, body = self.flows[i], self.bodies[i]
        assert flow_id is not None and body is not None
        return Admitted(
            xaction_id=f"{self.batch_id}:{i}",
            flow_id=flow_id,
            body=body,
            delivery_id=_member_id(self.delivery_ids[flow_id], i),
        )

    def __iter__(self) -> Iterator[Admitted]:
        return (self[n] for n in range(len(self.members)))


def sync_validation(call: Call) -> bool:
    """Whether the sender asked for ``syncValidation`` (``true`` or ``false``, any case; a 400
    for anything else, as the parameter is a boolean)."""
    if not call.request.scope["query_string"]:  # the common case: no query to parse
        return False
    value = call.arg("syncValidation")
    if value is None or value.lower() == "false":
        return False
    if value.lower() == "true":
        return True
    raise problem(
        400,
        f"syncValidation: must be true or false (got {value[:20]!r})",
        service=SERVICE,
    )


def xdm_problems(message: Any, schema_id: str | None = None) -> list[str]:
    """Every way ``message`` is not an XDM envelope as Adobe's streaming inlet documents one
    (``header.schemaRef``, ``body.xdmMeta.schemaRef``, ``body.xdmEntity``), each naming its
    path; empty when it is one. ``schema_id``, when the flow's target names a schema, is the
    one both references must name."""
    if not isinstance(message, dict):
        return [f"the message must be an XDM envelope, a JSON object (got {_kind(message)})"]
    found: list[str] = []
    header = _member(message, "header", "", found)
    body = _member(message, "body", "", found)
    header_ref = _schema_ref(header, "header.", found) if header is not None else None
    meta = _member(body, "xdmMeta", "body.", found) if body is not None else None
    meta_ref = _schema_ref(meta, "body.xdmMeta.", found) if meta is not None else None
    if body is not None:
        _member(body, "xdmEntity", "body.", found)
    if header_ref is not None and meta_ref is not None and header_ref != meta_ref:
        found.append(
            f"body.xdmMeta.schemaRef.id: {_short(meta_ref)} is not the schema the header names "
            f"({_short(header_ref)}); both must name the dataset's schema"
        )
    if schema_id is not None:
        for path, ref in (("header", header_ref), ("body.xdmMeta", meta_ref)):
            if ref is not None and ref != schema_id:
                found.append(
                    f"{path}.schemaRef.id: {_short(ref)} is not the schema of the flow's "
                    f"dataset ({_short(schema_id)})"
                )
    return found


def _member(parent: dict[str, Any], key: str, prefix: str, found: list[str]) -> Any:
    value = parent.get(key)
    if isinstance(value, dict):
        return value
    found.append(
        f"{prefix}{key}: missing"
        if value is None
        else f"{prefix}{key}: must be an object (got {_kind(value)})"
    )
    return None


def _schema_ref(parent: dict[str, Any], prefix: str, found: list[str]) -> str | None:
    ref = _member(parent, "schemaRef", prefix, found)
    if ref is None:
        return None
    value = ref.get("id")
    if isinstance(value, str) and value:
        return value
    found.append(
        f"{prefix}schemaRef.id: missing"
        if value is None
        else f"{prefix}schemaRef.id: must be the schema's id, a non-empty string"
    )
    return None


def _short(value: str) -> str:
    return repr(value[:120] + "…" if len(value) > 120 else value)


def _member_id(delivery_id: str | None, index: int) -> str | None:
    return None if delivery_id is None else f"{delivery_id}#{index}"


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "true or false",
        type(None): "null",
    }.get(type(value), "a number")


def _detail(refused: Refused) -> str:
    body = refused.body
    return str(body.get("detail")) if isinstance(body, dict) else str(body)


TRIM_AFTER = 256 * 1024
"""A batch body this large gives its memory back to the system after its answer."""


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        trim: Callable[[int], int] = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None
    return trim


def release_memory() -> None:
    """Hand the C allocator's free memory back to the system (glibc's ``malloc_trim``)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def now_ms() -> int:
    """Milliseconds since the epoch: a message's receive time."""
    return int(time.time() * 1000)


class MessageTable:
    """The local platform's sink: the ``messages`` table, committed before the answer."""

    def __init__(self, commits: GroupCommit) -> None:
        self.commits = commits

    def write(self, inlet: InletInfo, received_ms: int, messages: Sequence[Admitted]) -> Receipts:
        """Insert the new messages in one shared transaction; a repeated delivery id gets the
        receipt it was first given."""
        if len(messages) <= _MERGED:
            small = list(messages)
            if not any(m.delivery_id for m in small):
                # Nothing to look up first: a plain insert, merged with the group's others.
                return self.commits.write(
                    Insert(
                        _INSERT,
                        [
                            (m.xaction_id, inlet.inlet_id, m.flow_id, received_ms, None, m.body)
                            for m in small
                        ],
                        [(m.xaction_id, received_ms) for m in small],
                    )
                )

        def store(db: sqlite3.Connection) -> list[tuple[str, int]]:
            receipts: list[tuple[str, int]] = []
            rows = []
            for m in messages:
                earlier = _earlier(db, m.flow_id, m.delivery_id)
                if earlier is not None:
                    receipts.append(earlier)
                    continue
                rows.append(
                    (m.xaction_id, inlet.inlet_id, m.flow_id, received_ms, m.delivery_id, m.body)
                )
                receipts.append((m.xaction_id, received_ms))
                if len(rows) == _CHUNK:  # a big batch is written in chunks, not held as rows
                    db.executemany(_INSERT, rows)
                    rows = []
            db.executemany(_INSERT, rows)
            return receipts

        return self.commits.write(store)


_INSERT = (
    "INSERT INTO messages (xaction_id, inlet_id, flow_id, received_ms, delivery_id, body) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_CHUNK = 1000
_MERGED = 16
"""Writes of at most this many messages (single messages, small batches) are merged with
their group's others; larger batches make their rows in the commit thread, a chunk at a time,
not on the event loop all at once."""


def _earlier(
    db: sqlite3.Connection, flow_id: str, delivery_id: str | None
) -> tuple[str, int] | None:
    if delivery_id is None:
        return None
    row = db.execute(
        "SELECT xaction_id, received_ms FROM messages WHERE flow_id = ? AND delivery_id = ?",
        (flow_id, delivery_id),
    ).fetchone()
    return None if row is None else (row["xaction_id"], row["received_ms"])
