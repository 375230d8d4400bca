"""The streaming inlet: ``POST /collection/{inletId}`` and ``POST /collection/batch/{inletId}``.

Both routes are framings of the one ingress pipeline (:mod:`~.ingress`): size, inlet and token,
exact JSON, flow, verification against the flow each message lands in, de-duplication, and a
commit before the acknowledgement. Mapping a stored message into a dataset row happens later,
in the ingest worker. The handlers run on the event loop: the commit is awaited, and shared
with the messages of concurrent requests (:mod:`~.commits`).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import Route

from sourceflow import wire
from sourceflow.model import BatchItemResult, BatchReceipt, Receipt
from sourceflow.platform import jsonbytes
from sourceflow.platform.ingress import (
    SERVICE,
    Admitted,
    Ingress,
    MessageTable,
    now_ms,
    xaction_id,
)
from sourceflow.platform.problems import Refused, problem
from sourceflow.platform.web import Call, answer, parse_json, route

if TYPE_CHECKING:
    from sourceflow.platform.core import Platform


class Inlet:
    """The collection routes of one platform."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform

    @cached_property
    def ingress(self) -> Ingress:
        """The pipeline, built on first use: the platform opens its store lazily."""
        p = self.p
        return Ingress(p.directory, p.tokens, p.registry, MessageTable(p))

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

    async def collect(self, call: Call) -> Response:
        """One message: 200 ``{inletId, xactionId, receivedTimeMs}`` once it is committed."""
        ingress = self.ingress
        inlet = await ingress.inlet(call)
        message = parse_json(call.body, service=SERVICE, what="the message")
        if not isinstance(message, dict):
            raise problem(
                400, f"a message must be a JSON object (got {_kind(message)})", service=SERVICE
            )
        flow_id = ingress.flow(inlet, ingress.requested_flow(call), message)
        delivery_id = ingress.verify(inlet, flow_id, call)
        received = now_ms()
        admitted = Admitted(
            xaction_id=xaction_id(received),
            flow_id=flow_id,
            body=call.body,
            delivery_id=delivery_id,
        )
        [(xaction, when)] = await ingress.write(inlet, received, [admitted])
        receipt = Receipt(inlet_id=inlet.inlet_id, xaction_id=xaction, received_time_ms=when)
        return answer(wire.to_json(receipt))

    async def collect_batch(self, call: Call) -> Response:
        """``{"messages": [...]}``: 207 with one result per message, in order.

        Each member is checked against the flow it lands in: the batch (one signed body) is
        verified once per flow its members land in, and refused whole when any of those
        refuses it. A batch's delivery id names each member by its position, so a redelivered
        batch is stored once. Every good member is committed in one transaction before the
        answer.
        """
        ingress = self.ingress
        inlet = await ingress.inlet(call)
        batch = parse_json(call.body, service=SERVICE, what="the batch")
        messages = batch.get("messages") if isinstance(batch, dict) else None
        if not isinstance(messages, list):
            raise problem(
                400, 'the batch must be a JSON object {"messages": [...]}', service=SERVICE
            )
        requested = ingress.requested_flow(call)
        if requested:  # a header names the flow of every member: a wrong one fails them all
            ingress.flow(inlet, requested, {})
        results: list[BatchItemResult | None] = []
        landing: list[tuple[int, str, dict[str, Any]]] = []
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                results.append(_item_error(i, f"must be a JSON object (got {_kind(message)})"))
                continue
            try:
                flow_id = ingress.flow(inlet, requested, message)
            except Refused as refused:
                results.append(_item_error(i, _detail(refused)))
                continue
            landing.append((i, flow_id, message))
            results.append(None)
        delivery_ids = {flow: ingress.verify(inlet, flow, call) for _, flow, _ in landing}
        received = now_ms()
        batch_id = xaction_id(received)
        admitted = [
            Admitted(
                xaction_id=f"{batch_id}:{i}",
                flow_id=flow_id,
                body=jsonbytes.dumps(message),
                delivery_id=_member_id(delivery_ids[flow_id], i),
            )
            for i, flow_id, message in landing
        ]
        receipts = await ingress.write(inlet, received, admitted)
        for (i, _, _), (xaction, _) in zip(landing, receipts, strict=True):
            results[i] = BatchItemResult(xaction_id=xaction)
        receipt = BatchReceipt(
            inlet_id=inlet.inlet_id,
            batch_id=batch_id,
            received_time_ms=received,
            responses=[r for r in results if r is not None],
        )
        return answer(wire.to_json(receipt), 207)


def _member_id(delivery_id: str | None, index: int) -> str | None:
    return None if delivery_id is None else f"{delivery_id}#{index}"


def _item_error(index: int, detail: str) -> BatchItemResult:
    return BatchItemResult(status_code=400, message=f"messages[{index}]: {detail}")


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "true or false", type(None): "null"}.get(
        type(value), "a number"
    )


def _detail(refused: Refused) -> str:
    body = refused.body
    return str(body.get("detail")) if isinstance(body, dict) else str(body)
