"""Failed records, kept and replayed.

A message (or a scheduled run's record) that did not become a row is a *failure*: the
``failures`` table keeps the original body with the error. Once the mapping is fixed,
:func:`replay` maps the failures of a flow again with the flow's **current** mapping set:

- one that now maps is written as a row and marked in ``replayed`` **in the same
  transaction**; the mark's primary key is the failure, so a failure lands at most once,
  however often or however concurrently it is replayed;
- one that fails again stays a failure, with its error updated to the new one.

Each replay is recorded as a run of the flow (Adobe's run JSON, :mod:`~.routes`) whose
``recordSummary`` counts what it read, wrote and failed, so a flow's runs account for every
record a replay landed. Failures already replayed are no longer listed as failures.
"""

from __future__ import annotations

import re
import sqlite3
from typing import TYPE_CHECKING, Any

from attrs import frozen

from sourceflow import redact
from sourceflow.platform.flowservice import resources
from sourceflow.platform.http import jsonbytes
from sourceflow.platform.ingest.worker import Outcome, Written, write_outcomes
from sourceflow.platform.runs import records as runs
from sourceflow.platform.store.sqlite import Scope, Store

if TYPE_CHECKING:
    from sourceflow.platform.core import Platform

MAX_BATCH = 10_000
"""Failures one replay takes at most; the answer says how many remain."""
REPLAY_CLIENT = "sourceflow-replay"

_RULE = re.compile(r"in mappings\[(\d+)\] -> ([^:]+):")


def failed_rule(message: str) -> tuple[int, str] | None:
    """The rule a mapping error names (``in mappings[2] -> person.age:``): its index in the
    mapping set and its destination, or None when the error names no rule."""
    found = _RULE.search(message)
    return (int(found.group(1)), found.group(2).strip()) if found else None


def _original(body: bytes) -> Any:
    try:
        return jsonbytes.loads_stored(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def failures(store: Store, flow_id: str, *, limit: int, start: int = 0) -> list[dict[str, Any]]:
    """A flow's failures not yet replayed, oldest first: ``{"failureId", "xactionId",
    "receivedTimeMs", "error": {"code", "message", "rule"?}, "body"}``."""
    found = store.rows(
        "SELECT f.seq, f.xaction_id, f.received_ms, f.code, f.message, f.body FROM failures f "
        "WHERE f.flow_id = ? AND NOT EXISTS (SELECT 1 FROM replayed r WHERE r.failure_seq = f.seq) "
        "ORDER BY f.seq LIMIT ? OFFSET ?",
        (flow_id, limit, start),
    )
    return [_item(r) for r in found]


def failure(store: Store, flow_id: str, failure_id: int) -> dict[str, Any] | None:
    """One failure of a flow (replayed or not: ``replayedBy`` names the run that landed it)."""
    row = store.row(
        "SELECT f.seq, f.xaction_id, f.received_ms, f.code, f.message, f.body, r.run_id "
        "FROM failures f LEFT JOIN replayed r ON r.failure_seq = f.seq "
        "WHERE f.flow_id = ? AND f.seq = ?",
        (flow_id, failure_id),
    )
    if row is None:
        return None
    item = _item(row)
    if row["run_id"]:
        item["replayedBy"] = row["run_id"]
    return item


def count(store: Store, flow_id: str) -> int:
    """How many failures of a flow wait for a replay."""
    row = store.row(
        "SELECT count(*) AS n FROM failures f WHERE f.flow_id = ? AND NOT EXISTS "
        "(SELECT 1 FROM replayed r WHERE r.failure_seq = f.seq)",
        (flow_id,),
    )
    return int(row["n"]) if row else 0


def _item(row: sqlite3.Row) -> dict[str, Any]:
    error: dict[str, Any] = {"code": row["code"], "message": row["message"]}
    rule = failed_rule(row["message"])
    if rule is not None:
        error["rule"] = {"index": rule[0], "destination": rule[1]}
    return {
        "failureId": row["seq"],
        "xactionId": row["xaction_id"],
        "receivedTimeMs": row["received_ms"],
        "error": error,
        "body": _original(row["body"]),
    }


@frozen
class Replayed:
    """What one replay did: the run recording it, the failures that now landed as rows (by
    xaction id), how many failed again, and how many were left for another replay."""

    run_id: str | None
    landed: tuple[str, ...]
    failed_again: int
    remaining: int
    last_failure: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The API's answer."""
        return {
            "runId": self.run_id,
            "replayed": len(self.landed),
            "failed": self.failed_again,
            "remaining": self.remaining,
            "lastFailureId": self.last_failure,
            "xactionIds": list(self.landed),
        }


def replay(
    platform: Platform,
    flow: dict[str, Any],
    scope: Scope,
    who: str,
    *,
    limit: int = MAX_BATCH,
    after: int = 0,
) -> Replayed:
    """Map a flow's failures (those with ``failureId > after``, up to ``limit``) again with its
    current mapping set; see the module's docstring for the guarantees."""
    store = platform.store
    pending = store.rows(
        "SELECT f.seq, f.xaction_id, f.received_ms, f.body FROM failures f "
        "WHERE f.flow_id = ? AND f.seq > ? AND NOT EXISTS "
        "(SELECT 1 FROM replayed r WHERE r.failure_seq = f.seq) ORDER BY f.seq LIMIT ?",
        (flow["id"], after, limit),
    )
    if not pending:
        return Replayed(None, (), 0, 0)
    plan = platform.directory.plan(flow["id"])
    # Mapping runs before the transaction (it may be slow); the transaction re-checks the marks.
    outcomes: list[tuple[sqlite3.Row, Outcome]] = []
    for row in pending:
        if plan is None:
            outcome = Outcome(code="INGEST-404", message=f"flow {flow['id']} no longer exists")
        else:
            try:
                record = jsonbytes.loads_stored(row["body"])
            except ValueError as exc:
                outcome = Outcome(code="INGEST-400", message=f"the message is not JSON: {exc}")
            else:
                outcome = platform.ingest.transform(plan, record)
        outcomes.append((row, outcome))
    now = resources.now_ms()
    doc = runs.new_run(flow, scope, who, now)
    # The client names the replay among the flow's runs; createdBy keeps who asked for it.
    doc["createdClient"] = doc["updatedClient"] = REPLAY_CLIENT
    summary = doc["metrics"]["recordSummary"]
    landed: list[str] = []
    failed_again = 0
    with store.transaction() as db:
        for row, outcome in outcomes:
            if outcome.row is None:
                db.execute(
                    "UPDATE failures SET code = ?, message = ? WHERE seq = ?",
                    (outcome.code, redact.scrub(outcome.message or ""), row["seq"]),
                )
                failed_again += 1
                continue
            fresh = db.execute(
                "INSERT OR IGNORE INTO replayed (failure_seq, run_id, replayed_ms) "
                "VALUES (?, ?, ?)",
                (row["seq"], doc["id"], now),
            ).rowcount
            if not fresh:  # another replay landed it meanwhile
                continue
            write_outcomes(
                db, [Written(flow["id"], row["xaction_id"], row["received_ms"], outcome, b"")]
            )
            landed.append(row["xaction_id"])
        summary["inputRecordCount"] = len(landed) + failed_again
        summary["outputRecordCount"] = len(landed)
        summary["failedRecordCount"] = failed_again
        metrics = doc["metrics"]
        metrics["durationSummary"]["completedAtUTC"] = resources.now_ms()
        errors = (
            [
                {
                    "code": "MAPPING-400",
                    "message": f"{failed_again} replayed record(s) failed mapping again; GET "
                    f"/sourceflow/flows/{flow['id']}/failures lists them with their errors",
                }
            ]
            if failed_again
            else []
        )
        status = "failed" if failed_again and not landed else "success"
        metrics["statusSummary"] = {"status": status, **({"errors": errors} if errors else {})}
        if landed or failed_again:
            runs.insert(db, doc, scope, status)
    last = pending[-1]["seq"]
    left = store.row(
        "SELECT count(*) AS n FROM failures f WHERE f.flow_id = ? AND f.seq > ? AND NOT EXISTS "
        "(SELECT 1 FROM replayed r WHERE r.failure_seq = f.seq)",
        (flow["id"], last),
    )
    run_id = doc["id"] if landed or failed_again else None
    return Replayed(run_id, tuple(landed), failed_again, int(left["n"]) if left else 0, last)
