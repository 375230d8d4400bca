"""What came through the inlet and what became of it: our extension routes under
``/sourceflow/`` (not Adobe paths), read by the console and by anyone with a token.

- ``GET /sourceflow/flows/{id}/messages?limit=`` → ``{"items": [...]}``, newest first: each
  stored message with its ``outcome`` (``pending``, ``row`` with its dataset, ``failed`` with
  its error and ``failureId``, or ``replayed`` when a replay landed it later);
- ``GET /sourceflow/flows/{id}/messages/{xactionId}``: one message, its body and outcome (with
  the row's record);
- ``GET /sourceflow/flows/{id}/failures/{failureId}``: one failed record;
- ``POST /sourceflow/flows/{id}/replay?limit=&after=``: map the flow's failures again
  (:mod:`~.replay`);
- ``GET /sourceflow/traffic?seconds=&step=`` → messages received per ``step`` seconds over the
  last ``seconds``, in the caller's sandbox.

Every route is gateway-checked and scoped to the caller's organization and sandbox, like the
Flow Service routes.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from starlette.responses import Response
from starlette.routing import Route

from sourceflow.platform.http import jsonbytes
from sourceflow.platform.http.problems import problem
from sourceflow.platform.http.query import whole
from sourceflow.platform.http.web import Call, answer, route
from sourceflow.platform.ingest import replay
from sourceflow.platform.store.sqlite import Store

if TYPE_CHECKING:
    from sourceflow.platform.core import Platform

EXTENSION = "/sourceflow"
SCAN = 5000
"""Messages read per step when scanning back through time (newest first)."""
WINDOW = 2000
"""How far back (rows, failures) the outcome of a recent message is looked for."""


def _body(raw: bytes) -> Any:
    try:
        return jsonbytes.loads_stored(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def received_per_step(
    store: Store, flow_ids: set[str], *, seconds: int, step: int, now_ms: int
) -> list[int]:
    """Messages received by ``flow_ids`` in each ``step``-second bucket of the last
    ``seconds``, oldest bucket first."""
    buckets = [0] * max(1, seconds // step)
    since = now_ms - len(buckets) * step * 1000
    # Messages are numbered in arrival order: walk back from the newest until the window ends,
    # so the cost is the window's messages, not the table's.
    before: int | None = None
    while True:
        rows = store.rows(
            "SELECT seq, flow_id, received_ms FROM messages WHERE seq < ? "
            "ORDER BY seq DESC LIMIT ?",
            (before if before is not None else 1 << 62, SCAN),
        )
        for row in rows:
            at = row["received_ms"]
            if at >= since and row["flow_id"] in flow_ids:
                index = min(len(buckets) - 1, (at - since) // (step * 1000))
                buckets[index] += 1
        if len(rows) < SCAN or rows[-1]["received_ms"] < since:
            return buckets
        before = rows[-1]["seq"]


def recent_messages(platform: Platform, flow_id: str, *, limit: int) -> list[dict[str, Any]]:
    """A flow's newest messages with what became of each (see the module's docstring)."""
    store = platform.store
    found = store.rows(
        "SELECT seq, xaction_id, received_ms, delivery_id, body FROM messages WHERE flow_id = ? "
        "ORDER BY seq DESC LIMIT ?",
        (flow_id, limit),
    )
    if not found:
        return []
    mark = platform.ingest.mark()
    plan = platform.directory.plan(flow_id)
    wanted = {r["xaction_id"] for r in found}
    rows: dict[str, str] = {}
    if plan is not None and plan.dataset_id is not None:
        for r in store.rows(
            "SELECT xaction_id, dataset_id FROM rows WHERE dataset_id = ? ORDER BY seq DESC "
            "LIMIT ?",
            (plan.dataset_id, WINDOW),
        ):
            if r["xaction_id"] in wanted:
                rows.setdefault(r["xaction_id"], r["dataset_id"])
    failed: dict[str, Any] = {}
    for f in store.rows(
        "SELECT f.seq, f.xaction_id, f.code, f.message, r.run_id FROM failures f "
        "LEFT JOIN replayed r ON r.failure_seq = f.seq WHERE f.flow_id = ? "
        "ORDER BY f.seq DESC LIMIT ?",
        (flow_id, WINDOW),
    ):
        if f["xaction_id"] in wanted:
            failed.setdefault(f["xaction_id"], f)
    items = []
    for m in found:
        outcome = _outcome(m["xaction_id"], m["seq"], mark, rows, failed, plan)
        items.append(
            {
                "xactionId": m["xaction_id"],
                "receivedTimeMs": m["received_ms"],
                "deliveryId": m["delivery_id"],
                "body": _body(m["body"]),
                "outcome": outcome,
            }
        )
    return items


def _outcome(
    xaction: str,
    seq: int,
    mark: int,
    rows: dict[str, str],
    failed: dict[str, Any],
    plan: Any,
) -> dict[str, Any]:
    if seq > mark:
        return {"state": "pending"}
    f = failed.get(xaction)
    if f is not None:
        state = "replayed" if f["run_id"] else "failed"
        outcome: dict[str, Any] = {
            "state": state,
            "failureId": f["seq"],
            "error": {"code": f["code"], "message": f["message"]},
        }
        if f["run_id"]:
            outcome["runId"] = f["run_id"]
            if plan is not None and plan.dataset_id:
                outcome["datasetId"] = plan.dataset_id
        return outcome
    if xaction in rows:
        return {"state": "row", "datasetId": rows[xaction]}
    # Processed, but older than the window of rows and failures looked at.
    return {"state": "processed"}


def message(platform: Platform, flow_id: str, xaction_id: str) -> dict[str, Any] | None:
    """One message of a flow with its outcome, the row's record included."""
    store = platform.store
    m = store.row(
        "SELECT seq, xaction_id, received_ms, delivery_id, body FROM messages "
        "WHERE flow_id = ? AND xaction_id = ?",
        (flow_id, xaction_id),
    )
    if m is None:
        return None
    item: dict[str, Any] = {
        "xactionId": m["xaction_id"],
        "receivedTimeMs": m["received_ms"],
        "deliveryId": m["delivery_id"],
        "body": _body(m["body"]),
    }
    if m["seq"] > platform.ingest.mark():
        item["outcome"] = {"state": "pending"}
        return item
    row = store.row(
        "SELECT dataset_id, record FROM rows WHERE flow_id = ? AND xaction_id = ?",
        (flow_id, xaction_id),
    )
    f = store.row(
        "SELECT f.seq, f.code, f.message, r.run_id FROM failures f LEFT JOIN replayed r "
        "ON r.failure_seq = f.seq WHERE f.flow_id = ? AND f.xaction_id = ?",
        (flow_id, xaction_id),
    )
    outcome: dict[str, Any] = {"state": "processed"}
    if f is not None:
        outcome = {
            "state": "replayed" if f["run_id"] else "failed",
            "failureId": f["seq"],
            "error": {"code": f["code"], "message": f["message"]},
        }
        if f["run_id"]:
            outcome["runId"] = f["run_id"]
    if row is not None:
        if f is None:
            outcome = {"state": "row"}
        outcome["datasetId"] = row["dataset_id"]
        outcome["record"] = json.loads(row["record"])
    item["outcome"] = outcome
    return item


class Traffic:
    """The messages, failures, replay and traffic routes of one platform."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform

    def routes(self) -> list[Route]:
        """The routes listed in the module's docstring."""
        guard = self.p.gateway
        flow = f"{EXTENSION}/flows/{{id}}"
        return [
            route(f"{flow}/messages", self.messages, ["GET"], guard=guard),
            route(f"{flow}/messages/{{xaction}}", self.message, ["GET"], guard=guard),
            route(f"{flow}/failures/{{failure}}", self.failure, ["GET"], guard=guard),
            route(f"{flow}/replay", self.replay, ["POST"], guard=guard),
            route(f"{EXTENSION}/traffic", self.traffic, ["GET"], guard=guard),
        ]

    def _flow(self, call: Call) -> dict[str, Any]:
        flow = self.p.store.get("flows", call.params["id"], call.scope)
        if flow is None:
            raise problem(404, f"no flow {call.params['id']!r} in sandbox {call.scope.sandbox!r}")
        return flow

    def messages(self, call: Call) -> Response:
        """A flow's newest messages and their outcomes."""
        flow = self._flow(call)
        limit = whole(call.arg("limit"), "limit", 50, least=1, most=1000)
        return answer({"items": recent_messages(self.p, flow["id"], limit=limit)})

    def message(self, call: Call) -> Response:
        """One message and its outcome."""
        flow = self._flow(call)
        found = message(self.p, flow["id"], call.params["xaction"])
        if found is None:
            raise problem(404, f"flow {flow['id']} has no message {call.params['xaction']!r}")
        return answer(found)

    def failure(self, call: Call) -> Response:
        """One failed record of a flow."""
        flow = self._flow(call)
        raw = call.params["failure"]
        found = replay.failure(self.p.store, flow["id"], int(raw)) if raw.isdigit() else None
        if found is None:
            raise problem(404, f"flow {flow['id']} has no failed record {raw!r}")
        return answer(found)

    def replay(self, call: Call) -> Response:
        """Map the flow's failures again with its current mapping set."""
        flow = self._flow(call)
        limit = whole(call.arg("limit"), "limit", replay.MAX_BATCH, least=1, most=replay.MAX_BATCH)
        after = whole(call.arg("after"), "after", 0, least=0)
        done = replay.replay(self.p, flow, call.scope, call.who.client_id, limit=limit, after=after)
        return answer(done.as_json())

    def traffic(self, call: Call) -> Response:
        """Messages received per step in the caller's sandbox."""
        seconds = whole(call.arg("seconds"), "seconds", 600, least=10, most=86_400)
        step = whole(call.arg("step"), "step", 10, least=1, most=3600)
        flows = {f["id"] for f in self.p.store.all("flows", call.scope)}
        now = int(time.time() * 1000)
        counts = received_per_step(self.p.store, flows, seconds=seconds, step=step, now_ms=now)
        start = now - len(counts) * step * 1000
        return answer({"step": step, "startTimeMs": start, "endTimeMs": now, "counts": counts})
