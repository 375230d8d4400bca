"""The forwarder: the outbox, in order per flow, to each flow's Adobe inlet, in batches.

One thread per relay process. Each round it claims the oldest rows of the flow that has waited
longest (and that no other replica is forwarding), within Adobe's limits (``batch_max_bytes``,
at most 1 MB a request; ``batch_max_messages``), and posts them to ``/collection/batch/{inletId}``
through the core's :class:`~sourceflow.client.inlet.InletSender` (the core's retry policy for
429 and 503, an IMS token when the inlet is authenticated). Then, by Adobe's answer:

- a ``207`` is read message by message: accepted ones leave the outbox; one refused with a 4xx
  (other than 429) goes to the dead letters with its answer; any other stays and is sent again;
- a ``400``/``413``/``422`` for the whole batch is a message Adobe will never take: each message
  is sent alone, so only the bad one is dead-lettered;
- anything else (no answer, 429 or 5xx past the request's retries, 401/403, 404) leaves every
  row where it is, and the flow waits (exponential backoff up to ``retry_cap_seconds``) before
  trying again. Nothing Adobe has not accepted is ever dropped.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Mapping, Sequence

import httpx

import sourceflow
from sourceflow import redact
from sourceflow.client.ims import IMSTokenProvider
from sourceflow.client.inlet import InletSender
from sourceflow.client.retry import RetryPolicy
from sourceflow.client.tokens import TokenSource
from sourceflow.config import Settings
from sourceflow.errors import PlatformError, SourceflowError
from sourceflow.log import get_logger
from sourceflow.model import BatchReceipt
from sourceflow.relay.config import FlowEntry, RelayConfig
from sourceflow.relay.outbox import Outbox, Pending, Settlement

# A message Adobe will not take however often it is sent: dead-lettered, not retried.
PERMANENT = frozenset({400, 413, 422})
PRUNE_EVERY = 60.0


class FlowFailed(SourceflowError):
    """Sending a flow's batch failed in a way worth retrying later."""

    def __init__(self, flow_id: str, status: int, reason: str) -> None:
        self.flow_id = flow_id
        self.status = status
        super().__init__(reason)


class Forwarder:
    """Forwards the outbox from a thread until stopped.

    :param outbox: the store.
    :param config: the flows and the batch and retry settings.
    :param settings: IMS credentials for authenticated inlets (``SOURCEFLOW_*``).
    :param retry: the per-request retry policy (429 and 503 inside one attempt to forward).
    :param transport: an httpx transport to send through (tests).
    """

    def __init__(
        self,
        outbox: Outbox,
        config: RelayConfig,
        settings: Settings,
        *,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.outbox = outbox
        self.config = config
        self.retry = retry or RetryPolicy(attempts=3, total_seconds=10.0, base=0.2, cap=2.0)
        self.flows: Mapping[str, FlowEntry] = {f.flow_id: f for f in config.flows}
        self.http = httpx.Client(
            timeout=httpx.Timeout(30.0),
            transport=transport,
            headers={"User-Agent": f"sourceflow-relay/{sourceflow.__version__}"},
        )
        tokens: TokenSource | None = None
        if any(f.authenticated for f in config.flows):
            tokens = IMSTokenProvider(settings, self.http, self.retry)
        self.senders = {
            f.flow_id: InletSender(
                f.inlet_url,
                flow_id=f.flow_id,
                token=tokens if f.authenticated else None,
                sandbox=f.sandbox,
                retry=self.retry,
                http=self.http,
            )
            for f in config.flows
        }
        self.log = get_logger("sourceflow.relay")
        self.forwarded = 0
        self.refused = 0
        self.batches = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failures: dict[str, tuple[int, float]] = {}

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="sourceflow-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 40.0) -> None:
        """Finish the batch in flight, then stop (rows not yet accepted stay in the outbox)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.http.close()

    @property
    def alive(self) -> bool:
        """Whether the thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def wake(self) -> None:
        """New rows were committed: look now rather than at the next poll."""
        self._wake.set()

    # --- the loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        next_prune = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_prune:
                next_prune = now + PRUNE_EVERY
                self._prune()
            ready = [f for f in self.flows if self._failures.get(f, (0, 0.0))[1] <= now]
            self._wake.clear()
            try:
                sent = self.outbox.forward_once(
                    self._send, ready, self.config.batch_max_messages, self.config.batch_max_bytes
                )
            except FlowFailed as failed:
                self._back_off(failed)
                continue
            except Exception as exc:
                # The store itself failed (PostgreSQL restarting, a full disk): wait, retry.
                self.log.error("outbox unavailable", error=_describe(exc))
                self._stop.wait(min(self.config.retry_cap_seconds, 2.0))
                continue
            if sent:
                continue
            self._wake.wait(self._idle_wait(now))

    def _idle_wait(self, now: float) -> float:
        waits = [t - now for _, t in self._failures.values() if t > now]
        return max(0.01, min([self.config.poll_seconds, *waits]))

    def _prune(self) -> None:
        cutoff = int((time.time() - self.config.dedupe_hours * 3600) * 1000)
        try:
            dropped = self.outbox.prune(cutoff)
        except Exception as exc:
            self.log.warning("could not prune the de-duplication window", error=_describe(exc))
            return
        if dropped:
            self.log.info("de-duplication window pruned", delivery_ids=dropped)

    def _back_off(self, failed: FlowFailed) -> None:
        count = self._failures.get(failed.flow_id, (0, 0.0))[0] + 1
        base, cap = self.retry.base, self.config.retry_cap_seconds
        wait = min(cap, base * 2 ** min(count, 30)) + random.uniform(0, base)
        self._failures[failed.flow_id] = (count, time.monotonic() + wait)
        self.log.warning(
            "forwarding failed; the rows stay in the outbox",
            flow=self.flows[failed.flow_id].name,
            flow_id=failed.flow_id,
            status=failed.status,
            error=redact.scrub(str(failed))[:300],
            attempt=count,
            retry_in_s=round(wait, 2),
        )

    # --- one batch -----------------------------------------------------------------------------

    def _send(self, flow_id: str, pending: list[Pending]) -> Settlement:
        sender = self.senders[flow_id]
        try:
            settlement = self._post(sender, flow_id, pending)
        except FlowFailed:
            raise
        except PlatformError as exc:
            if exc.status in PERMANENT:
                settlement = (
                    Settlement(refused=((pending[0].seq, exc.status, _answer(exc)),))
                    if len(pending) == 1
                    else self._one_by_one(sender, flow_id, pending)
                )
            else:
                raise FlowFailed(flow_id, exc.status, str(exc)) from None
        except httpx.HTTPError as exc:
            raise FlowFailed(flow_id, 0, _describe(exc)) from None
        self._settled(flow_id, settlement)
        return settlement

    def _post(self, sender: InletSender, flow_id: str, pending: Sequence[Pending]) -> Settlement:
        receipt = sender.send_encoded_batch([p.body for p in pending])
        return _judge(flow_id, pending, receipt)

    def _one_by_one(
        self, sender: InletSender, flow_id: str, pending: Sequence[Pending]
    ) -> Settlement:
        # Adobe refused the batch whole: find the message it objects to by sending each alone.
        # Stop at the first failure worth retrying, keeping what was settled: a message
        # Adobe accepted must leave the outbox, or it would be sent twice.
        accepted: list[int] = []
        refused: list[tuple[int, int, str]] = []
        for p in pending:
            try:
                s = self._post(sender, flow_id, [p])
            except PlatformError as exc:
                if exc.status not in PERMANENT:
                    break
                s = Settlement(refused=((p.seq, exc.status, _answer(exc)),))
            except (httpx.HTTPError, FlowFailed):
                break
            accepted.extend(s.accepted)
            refused.extend(s.refused)
        return Settlement(accepted=tuple(accepted), refused=tuple(refused))

    def _settled(self, flow_id: str, s: Settlement) -> None:
        if flow_id in self._failures:
            self.log.info("forwarding recovered", flow=self.flows[flow_id].name)
            del self._failures[flow_id]
        self.batches += 1
        self.forwarded += len(s.accepted)
        self.refused += len(s.refused)
        for seq, status, answer in s.refused:
            self.log.warning(
                "message refused by the inlet: dead-lettered",
                flow=self.flows[flow_id].name,
                seq=seq,
                status=status,
                answer=answer[:300],
            )
        self.log.debug(
            "batch forwarded",
            flow=self.flows[flow_id].name,
            accepted=len(s.accepted),
            refused=len(s.refused),
        )


def _judge(flow_id: str, pending: Sequence[Pending], receipt: BatchReceipt) -> Settlement:
    results = receipt.responses
    if len(results) != len(pending):
        # Without one result per message nothing can be told apart: send it all again.
        raise FlowFailed(
            flow_id, 207, f"the inlet answered {len(results)} results for {len(pending)} messages"
        )
    accepted: list[int] = []
    refused: list[tuple[int, int, str]] = []
    for p, r in zip(pending, results, strict=True):
        if r.status_code is None or r.status_code < 300:
            accepted.append(p.seq)
        elif 400 <= r.status_code < 500 and r.status_code != 429:
            refused.append((p.seq, r.status_code, redact.scrub(r.message or "")))
    return Settlement(accepted=tuple(accepted), refused=tuple(refused))


def _answer(exc: PlatformError) -> str:
    # Adobe's own body says what is wrong with the message; the message names the request.
    body = exc.body if exc.body not in (None, "", {}) else str(exc)
    text = body if isinstance(body, str) else json.dumps(body, default=str)
    return redact.scrub(text)[:4000]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {redact.scrub(str(exc))[:300]}"
