"""A run in the store: Adobe's run JSON (``FlowRunItemDTO``) in the ``runs`` table, with its
status beside it so the scheduler finds open runs without reading documents.

The scheduler (:mod:`~.scheduler`), a replay (:mod:`sourceflow.platform.ingest.replay`) and the
``/runs`` routes (:mod:`~.routes`) all write runs through these functions.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from sourceflow import model, wire
from sourceflow.platform.flowservice import resources
from sourceflow.platform.store.sqlite import Scope, Store

OPEN = ("queued", "inProgress")
"""Statuses of a run that has not finished (the ``runs.status`` column)."""


def new_run(flow: dict[str, Any], scope: Scope, who: str, now_ms: int) -> dict[str, Any]:
    """The document of a run of ``flow`` about to start, as Adobe shows one."""
    etag = resources.new_etag()
    run = model.Run(
        id=str(uuid.uuid4()),
        flow_id=flow["id"],
        flow_spec=model.SpecRef(
            id=flow["flowSpec"]["id"], version=flow["flowSpec"].get("version", "1.0")
        ),
        created_at=now_ms,
        updated_at=now_ms,
        created_by=who,
        updated_by=who,
        created_client=who,
        updated_client=who,
        sandbox_id=resources.sandbox_id(scope),
        sandbox_name=scope.sandbox,
        ims_org_id=scope.org,
        etag=etag,
        metrics=model.RunMetrics(
            duration_summary=model.DurationSummary(started_at_utc=now_ms),
            status_summary=model.StatusSummary(status="inProgress"),
        ),
    )
    doc: dict[str, Any] = wire.to_json(run)
    return doc


def insert(db: sqlite3.Connection, doc: dict[str, Any], scope: Scope, status: str) -> None:
    """Store a new run, inside a transaction."""
    db.execute(
        "INSERT INTO runs (id, flow_id, org, sandbox, status, created_at, doc) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (doc["id"], doc["flowId"], scope.org, scope.sandbox, status, doc["createdAt"],
         json.dumps(doc)),
    )  # fmt: skip


def save(db: sqlite3.Connection, doc: dict[str, Any], status: str) -> None:
    """Store a run's new state, inside a transaction."""
    db.execute(
        "UPDATE runs SET status = ?, doc = ? WHERE id = ?", (status, json.dumps(doc), doc["id"])
    )


def load(store: Store, run_id: str) -> tuple[dict[str, Any], Scope, str] | None:
    """A run's document, scope and status, or None."""
    row = store.row("SELECT org, sandbox, status, doc FROM runs WHERE id = ?", (run_id,))
    if row is None:
        return None
    doc: dict[str, Any] = json.loads(row["doc"])
    return doc, Scope(row["org"], row["sandbox"]), str(row["status"])
