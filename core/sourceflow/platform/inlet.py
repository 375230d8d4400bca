"""The streaming inlet: ``POST /collection/{inletId}`` and ``POST /collection/batch/{inletId}``.

A message is **committed to SQLite before it is acknowledged**; mapping it into a dataset row
happens later, in the ingest worker. The handlers run on the event loop: the commit is awaited,
and shared with the messages of concurrent requests (:mod:`~.commits`).

No Platform headers are needed; an authenticated inlet (``authenticationRequired: true``)
wants an IMS bearer token and answers the exact 401 body of Adobe's docs without one. A plugin
implementing ``sourceflow_verify_delivery`` judges each delivery first: unauthentic ones are
refused with 401, and a delivery id seen before for the flow is answered with the original
receipt and not stored again.
"""

from __future__ import annotations

import itertools
import secrets
import sqlite3
import time
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.responses import Response
from starlette.routing import Route

from sourceflow import redact, wire
from sourceflow.hooktypes import Delivery, Verdict
from sourceflow.model import BatchItemResult, BatchReceipt, Receipt
from sourceflow.platform import jsonbytes, problems
from sourceflow.platform.directory import InletInfo
from sourceflow.platform.problems import Refused, problem
from sourceflow.platform.web import Call, answer, parse_json, route

if TYPE_CHECKING:
    from sourceflow.platform.core import Platform

SERVICE = "DCS"
FLOW_HEADER = "x-adobe-flow-id"

Stored = tuple[str, str, str, int, str | None, bytes]
"""A message row: xaction id, inlet id, flow id, received ms, delivery id, body."""

_node = secrets.randbelow(10_000)
_counter = itertools.count(1)


def _xaction(received_ms: int) -> str:
    # Adobe's look like "1584479347507:2153:240": receive time, node, sequence.
    return f"{received_ms}:{_node:04d}:{next(_counter)}"


class Inlet:
    """The collection routes of one platform."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform

    def routes(self) -> list[Route]:
        """``/collection/batch/{inletId}`` and ``/collection/{inletId}``."""
        limit = self.p.config.max_message_bytes
        return [
            route(
                "/collection/batch/{inlet_id}",
                self.collect_batch,
                ["POST"],
                guard=None,
                service=SERVICE,
                limit=limit,
            ),
            route(
                "/collection/{inlet_id}",
                self.collect,
                ["POST"],
                guard=None,
                service=SERVICE,
                limit=limit,
            ),
        ]

    # --- handlers -----------------------------------------------------------------------------

    async def collect(self, call: Call) -> Response:
        """One message: 200 ``{inletId, xactionId, receivedTimeMs}`` once it is committed."""
        inlet = await self._inlet(call)
        message = parse_json(call.body, service=SERVICE, what="the message")
        if not isinstance(message, dict):
            raise problem(
                400, f"a message must be a JSON object (got {_kind(message)})", service=SERVICE
            )
        flow_id = self._flow(inlet, self._requested_flow(call), message)
        delivery_id = self._verify(inlet, flow_id, call)
        now = int(time.time() * 1000)

        def store(db: sqlite3.Connection) -> tuple[str, int]:
            earlier = self._earlier(db, flow_id, delivery_id)
            if earlier is not None:
                return earlier  # a repeated delivery: its first receipt
            xaction = _xaction(now)
            self._insert(db, [(xaction, inlet.inlet_id, flow_id, now, delivery_id, call.body)])
            return xaction, now

        xaction, received = await self.p.commits.write(store)
        receipt = Receipt(inlet_id=inlet.inlet_id, xaction_id=xaction, received_time_ms=received)
        return answer(wire.to_json(receipt))

    async def collect_batch(self, call: Call) -> Response:
        """``{"messages": [...]}``: 207 with one result per message, in order.

        Every good message of the batch is committed in one transaction before the answer.
        """
        inlet = await self._inlet(call)
        batch = parse_json(call.body, service=SERVICE, what="the batch")
        messages = batch.get("messages") if isinstance(batch, dict) else None
        if not isinstance(messages, list):
            raise problem(
                400, 'the batch must be a JSON object {"messages": [...]}', service=SERVICE
            )
        requested = self._requested_flow(call)
        self._verify(inlet, requested, call)
        received = int(time.time() * 1000)
        batch_id = _xaction(received)
        results: list[BatchItemResult] = []
        good: list[Stored] = []
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                results.append(
                    BatchItemResult(
                        status_code=400,
                        message=f"messages[{i}]: must be a JSON object (got {_kind(message)})",
                    )
                )
                continue
            try:
                flow_id = self._flow(inlet, requested, message)
            except Refused as refused:
                results.append(
                    BatchItemResult(status_code=400, message=f"messages[{i}]: {_detail(refused)}")
                )
                continue
            xaction = f"{batch_id}:{i}"
            body = jsonbytes.dumps(message)
            good.append((xaction, inlet.inlet_id, flow_id, received, None, body))
            results.append(BatchItemResult(xaction_id=xaction))
        if good:
            await self.p.commits.write(lambda db: self._insert(db, good))
        receipt = BatchReceipt(
            inlet_id=inlet.inlet_id, batch_id=batch_id, received_time_ms=received, responses=results
        )
        return answer(wire.to_json(receipt), 207)

    # --- steps --------------------------------------------------------------------------------

    async def _inlet(self, call: Call) -> InletInfo:
        inlet_id = call.params["inlet_id"]
        known, inlet = self.p.directory.cached_inlet(inlet_id)
        if not known:  # reading it takes the store's lock: not on the event loop
            inlet = await anyio.to_thread.run_sync(self.p.directory.inlet, inlet_id)
        if inlet is None:
            raise problem(404, f"no inlet {inlet_id!r}", service=SERVICE)
        if inlet.authentication_required:
            reason = await anyio.to_thread.run_sync(
                self.p.tokens.inlet_check, call.headers, inlet.scope.org
            )
            if reason is not None:
                raise problems.inlet_unauthorized(call.request_id, reason)
        return inlet

    def _requested_flow(self, call: Call) -> str | None:
        # Chatlio cannot set headers, so its webhook URL carries the flow id in the query.
        return call.headers.get(FLOW_HEADER) or call.arg(FLOW_HEADER) or None

    def _flow(self, inlet: InletInfo, requested: str | None, message: dict[str, Any]) -> str:
        header = message.get("header")
        from_envelope = header.get("flowId") if isinstance(header, dict) else None
        wanted, named_by = (
            (requested, FLOW_HEADER) if requested else (from_envelope, "header.flowId")
        )
        if wanted:
            if wanted not in inlet.flows:
                raise problem(
                    400,
                    f"{named_by}: flow {wanted!r} does not take messages from inlet "
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

    def _verify(self, inlet: InletInfo, flow_id: str | None, call: Call) -> str | None:
        source = inlet.source
        registry = self.p.registry
        if source is None or not registry.implements("sourceflow_verify_delivery", source):
            return None
        delivery = Delivery(
            inlet_id=inlet.inlet_id,
            flow_id=flow_id,
            headers={k.lower(): v for k, v in call.headers.items()},
            query=dict(call.query.items()),
            body=call.body,
            config=dict(inlet.configs.get(flow_id or "", {})),
        )
        plugin = registry.owner(source)
        try:
            verdict: Verdict | None = registry.call(
                "sourceflow_verify_delivery", source, request=delivery
            )
        except Exception as exc:
            raise problem(
                500,
                f"plugin {plugin!r} failed in sourceflow_verify_delivery: "
                f"{type(exc).__name__}: {redact.scrub(str(exc))}",
                service=SERVICE,
            ) from None
        if verdict is None:
            return None
        if not verdict.authentic:
            raise problem(
                401,
                f"the delivery was refused by {plugin}: {verdict.reason or 'not authentic'}",
                service=SERVICE,
            )
        return verdict.delivery_id

    def _earlier(
        self, db: sqlite3.Connection, flow_id: str, delivery_id: str | None
    ) -> tuple[str, int] | None:
        if delivery_id is None:
            return None
        row = db.execute(
            "SELECT xaction_id, received_ms FROM messages WHERE flow_id = ? AND delivery_id = ?",
            (flow_id, delivery_id),
        ).fetchone()
        return None if row is None else (row["xaction_id"], row["received_ms"])

    def _insert(self, db: sqlite3.Connection, messages: list[Stored]) -> None:
        db.executemany(
            "INSERT INTO messages (xaction_id, inlet_id, flow_id, received_ms, delivery_id, body) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            messages,
        )


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "true or false", type(None): "null"}.get(
        type(value), "a number"
    )


def _detail(refused: Refused) -> str:
    body = refused.body
    return str(body.get("detail")) if isinstance(body, dict) else str(body)
