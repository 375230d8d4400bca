"""``GET /metrics`` (Prometheus text format, through prometheus_client) and the access log.

What is counted, and where:

- ``sourceflow_inlet_messages_acknowledged_total``: messages the inlet acknowledged (a batch
  counts its accepted members), and ``sourceflow_inlet_messages_refused_total{status,reason}``:
  refused requests and batch members, by status and a short reason. Both are counted by
  :class:`Observe`, an ASGI middleware around the app, from the status of the answer: the
  inlet's own code is untouched, and a single message costs one counter increment (the
  labelled children are made once, not per request).
- ``sourceflow_mapping_failures_total{code}``, ``sourceflow_records_replayed_total``,
  ``sourceflow_runs_total{status}`` and ``sourceflow_run_duration_seconds{status}``: read from
  the store when scraped (:class:`StoreCollector`), so they cost the ingest worker and the
  scheduler nothing and agree with what the store holds, across restarts.
- ``sourceflow_retries_total{reason}``: HTTP retries this process made through the core's
  retry policy (:func:`sourceflow.client.retry.retries`: plugins' calls included), and
  ``sourceflow_run_retries_total``: runs the scheduler retried after an interruption.

The access log (:class:`Observe` with ``access_log=True``, on at ``--debug``) writes one
structlog event per request: method, path, query, status, bytes, duration, client and request
id. No header is logged, query values under secret-named keys are masked, and registered
secrets and token shapes are scrubbed from the path and the query
(:mod:`sourceflow.redact`), before the logging setup redacts the event once more.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sourceflow import redact
from sourceflow.log import get_logger

if TYPE_CHECKING:
    from sourceflow.platform.core import Platform

INLET_PREFIX = "/collection/"
BATCH_PREFIX = "/collection/batch/"
RUN_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
# A short reason per status the inlet answers; any other status is "other".
REASONS = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "unknown_inlet",
    405: "method",
    413: "too_large",
    429: "throttled",
    500: "error",
    503: "unavailable",
}
# In a batch's 207 receipt: an accepted member has an xactionId, a refused one a statusCode.
# Keys are written with their quotes; inside a JSON string a quote is escaped, so these bytes
# occur only as keys.
_ACCEPTED = b'"xactionId"'
_REFUSED_MEMBER = b'"statusCode"'


class Metrics:
    """One platform's metrics: its own registry, so two platforms in a process (tests) never
    mix their counts."""

    def __init__(self, platform: Platform) -> None:
        self.registry = CollectorRegistry()
        self.acknowledged = Counter(
            "sourceflow_inlet_messages_acknowledged",
            "Messages the inlet acknowledged (stored, or recognised as a repeated delivery).",
            registry=self.registry,
        )
        self.refused = Counter(
            "sourceflow_inlet_messages_refused",
            "Inlet requests and batch members refused, by status and reason.",
            ["status", "reason"],
            registry=self.registry,
        )
        self._refused_by_status = {
            status: self.refused.labels(str(status), reason) for status, reason in REASONS.items()
        }
        self.refused_member = self.refused.labels("400", "invalid_member")
        self.registry.register(StoreCollector(platform))

    def refusal(self, status: int) -> None:
        """Count one refused inlet request."""
        child = self._refused_by_status.get(status)
        if child is None:
            child = self.refused.labels(str(status), "other")
        child.inc()

    def endpoint(self, request: Request) -> Response:
        """``GET /metrics``: the text exposition format."""
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class StoreCollector:
    """Counts read from the store at scrape time (see the module's docstring)."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform

    def describe(self) -> list[Metric]:
        """Nothing to describe ahead: registering must not read the store."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The store's counts, and the process's retries."""
        from sourceflow.client.retry import retries

        store = self.p.store
        failures = CounterMetricFamily(
            "sourceflow_mapping_failures",
            "Messages and records that did not become rows, by error code.",
            labels=["code"],
        )
        for row in store.rows("SELECT code, count(*) AS n FROM failures GROUP BY code"):
            failures.add_metric([row["code"]], row["n"])
        yield failures
        replayed = store.row("SELECT count(*) AS n FROM replayed")
        yield CounterMetricFamily(
            "sourceflow_records_replayed",
            "Failed records a replay landed as rows.",
            value=replayed["n"] if replayed else 0,
        )
        yield from self._runs()
        by_reason = CounterMetricFamily(
            "sourceflow_retries",
            "HTTP requests this process retried, by what was retried (status or error).",
            labels=["reason"],
        )
        for reason, n in sorted(retries().items()):
            by_reason.add_metric([reason], n)
        yield by_reason

    def _runs(self) -> Iterator[Metric]:
        outcomes = CounterMetricFamily(
            "sourceflow_runs", "Finished runs, by outcome.", labels=["status"]
        )
        durations = HistogramMetricFamily(
            "sourceflow_run_duration_seconds",
            "How long finished runs took, by outcome.",
            labels=["status"],
        )
        retried = 0
        seen: dict[str, list[float]] = {}
        for row in self.p.store.rows(
            "SELECT status, doc FROM runs WHERE status NOT IN ('queued', 'inProgress')"
        ):
            metrics = json.loads(row["doc"]).get("metrics") or {}
            took = metrics.get("durationSummary") or {}
            start, end = took.get("startedAtUTC"), took.get("completedAtUTC")
            seconds = max(0.0, (end - start) / 1000) if start and end else 0.0
            seen.setdefault(row["status"], []).append(seconds)
            errors = (metrics.get("statusSummary") or {}).get("errors") or []
            retried += any(e.get("code") == "RUN-503" for e in errors)
        for status, values in sorted(seen.items()):
            outcomes.add_metric([status], len(values))
            buckets = [(_le(b), sum(v <= b for v in values)) for b in RUN_BUCKETS]
            buckets.append(("+Inf", len(values)))
            durations.add_metric([status], buckets, sum(values))
        yield outcomes
        yield durations
        yield CounterMetricFamily(
            "sourceflow_run_retries",
            "Runs interrupted (a crash or a shutdown) and retried by a new run.",
            value=retried,
        )


def _le(bound: float) -> str:
    return repr(float(bound))


class Observe:
    """ASGI middleware: counts the inlet's answers and, when asked, writes the access log.

    Built without an app, it only records the answers given ahead of the middleware
    (:meth:`finished`).
    """

    def __init__(self, app: ASGIApp | None, metrics: Metrics, access_log: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self.log = get_logger("sourceflow.platform.access") if access_log else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "an Observe without an app only records answers"
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        inlet = path.startswith(INLET_PREFIX)
        if not inlet and self.log is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        batch = inlet and path.startswith(BATCH_PREFIX)
        seen: dict[str, Any] = {"status": 0, "bytes": 0, "body": b""}

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                seen["bytes"] += len(chunk)
                if batch and seen["status"] == 207:
                    seen["body"] += chunk
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            status = seen["status"]
            if inlet:
                self._count(status, seen["body"])
            if self.log is not None:
                self._log(scope, path, status, seen["bytes"], time.perf_counter() - started)

    def finished(self, scope: Scope, status: int, body: bytes, took: float) -> None:
        """Count and log one inlet answer given ahead of this middleware
        (:class:`~.web.Front`), as :meth:`__call__` would have."""
        path: str = scope["path"]
        self._count(status, body if status == 207 else b"")
        if self.log is not None:
            self._log(scope, path, status, len(body), took)

    def _count(self, status: int, receipt: bytes) -> None:
        m = self.metrics
        if status == 200:
            m.acknowledged.inc()
        elif status == 207:
            m.acknowledged.inc(receipt.count(_ACCEPTED))
            refused = receipt.count(_REFUSED_MEMBER)
            if refused:
                m.refused_member.inc(refused)
        elif status:
            m.refusal(status)

    def _log(self, scope: Scope, path: str, status: int, size: int, took: float) -> None:
        assert self.log is not None
        client = scope.get("client")
        event: dict[str, Any] = {
            "method": scope["method"],
            "path": redact.scrub(path),
            "status": status,
            "bytes": size,
            "ms": round(took * 1000, 2),
            "client": client[0] if client else None,
            "request_id": (scope.get("state") or {}).get("request_id"),
        }
        raw = scope.get("query_string", b"")
        if raw:
            query = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
            event["query"] = redact.redact(dict(query))
        if status >= 500:
            self.log.error("request", **event)
        else:
            self.log.info("request", **event)
