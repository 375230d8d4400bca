"""When to try a request again, and how long to wait: a small policy run by tenacity.

What is retried depends on whether repeating the request is safe:

* Idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS) are retried on 429, 502, 503 and 504
  and on any transport error (refused or reset connections, timeouts, truncated answers).
* Other methods (POST, PATCH) are retried only when the platform cannot have acted on them:
  a 429 or 503, which Adobe documents as "not processed, try again", and errors raised before
  the request left this machine (no connection could be made, or no pooled connection was
  free). A 502/504, a dropped connection or a read timeout after the request was sent may
  hide a request the platform did process, and sending it again could create a second
  connection or flow; the caller gets :class:`~sourceflow.errors.Unavailable` instead and can
  look before trying again.

A ``Retry-After`` header (seconds or an HTTP date) replaces the computed backoff for that
wait; every wait is otherwise exponential with jitter. Retrying stops after ``attempts``
tries, or before a wait would carry the call past ``total_seconds``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import tenacity
from attrs import define, field, validators

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Adobe documents these as refused before any processing: safe to send again, even a POST.
UNPROCESSED_STATUSES = frozenset({429, 503})
# Raised before a byte of the request was written: the server never saw it.
UNSENT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.PoolTimeout,
    httpx.ConnectTimeout,
)


@define(frozen=True)
class RetryNotice:
    """What a wait before trying a request again is about, for someone watching (the CLI prints
    it as ``platform answered 503; retrying in 2.0 s (attempt 3 of 4)``)."""

    method: str
    url: str
    status: int | None
    """The answer's status, or None when no answer came."""
    error: str | None
    """What went wrong when no answer came (``ConnectError: …``)."""
    wait_s: float
    attempt: int
    """The attempt about to be made after the wait, the first counted as 1."""
    attempts: int
    """The most attempts the policy makes (``total_seconds`` may stop it sooner)."""

    def describe(self) -> str:
        """One line: what was answered, how long the wait is, and which attempt comes next."""
        what = (
            f"platform answered {self.status}"
            if self.status
            else f"no answer from the platform ({self.error})"
        )
        return (
            f"{what}; retrying in {self.wait_s:.1f} s (attempt {self.attempt} of {self.attempts})"
        )


@define(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry.

    :param attempts: tries in all, the first included (1 disables retrying).
    :param total_seconds: no wait starts that would end later than this after the first try.
    :param base: the first backoff in seconds; it doubles on each retry.
    :param cap: the longest computed backoff (a ``Retry-After`` may ask for longer).
    :param on_wait: told before each wait of a client request (:class:`RetryNotice`), so that
        a person waiting sees why nothing happens; the CLI prints it on stderr.
    """

    attempts: int = field(default=5, validator=validators.ge(1))
    total_seconds: float = field(default=60.0, validator=validators.ge(0))
    base: float = field(default=0.5, validator=validators.ge(0))
    cap: float = field(default=10.0, validator=validators.ge(0))
    on_wait: Callable[[RetryNotice], None] | None = field(default=None, eq=False, kw_only=True)

    def retrying(
        self,
        *,
        method: str,
        idempotent: bool | None = None,
        before_sleep: Callable[[tenacity.RetryCallState], None] | None = None,
        should_retry: Callable[[httpx.Response], bool | None] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> tenacity.Retrying:
        """A tenacity controller for one request with ``method``.

        ``idempotent`` overrides what the method implies, for a POST that is safe to repeat
        (an IMS token request creates nothing). ``should_retry`` lets a provider's own signal
        decide for an answer (``Stripe-Should-Retry``, a GraphQL ``THROTTLED`` error in a 200):
        True retries it, False never does, None leaves it to the status rules.

        Attempts return an :class:`httpx.Response` (any status) or raise an
        :class:`httpx.TransportError`. When retrying stops, the last response is returned or
        the last error re-raised, so the caller turns either into one typed exception.
        """
        safe = method.upper() in IDEMPOTENT if idempotent is None else idempotent
        # base·2ⁿ up to cap, plus up to base of jitter so clients refused together spread out.
        # (wait_exponential + wait_random rather than wait_exponential_jitter, whose
        # parameters were renamed between the tenacity versions we accept.)
        backoff = tenacity.wait_exponential(multiplier=self.base, max=self.cap) + (
            tenacity.wait_random(0, self.base)
        )

        def wait(state: tenacity.RetryCallState) -> float:
            asked = retry_after(_response(state))
            return asked if asked is not None else float(backoff(state))

        def retry_answer(response: httpx.Response) -> bool:
            verdict = should_retry(response) if should_retry is not None else None
            if verdict is not None:
                return verdict
            return retryable_status(response.status_code, safe)

        def counted(state: tenacity.RetryCallState) -> None:
            _count(state)
            if before_sleep is not None:
                before_sleep(state)

        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts)
            | tenacity.stop_before_delay(self.total_seconds),
            wait=wait,
            retry=tenacity.retry_if_exception(lambda e: retryable_error(e, safe))
            | tenacity.retry_if_result(retry_answer),
            before_sleep=counted,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            sleep=sleep or time.sleep,
        )


def retryable_status(status: int, idempotent: bool) -> bool:
    """Whether an answer with ``status`` is worth sending the request again for."""
    return status in (RETRY_STATUSES if idempotent else UNPROCESSED_STATUSES)


def retryable_error(error: BaseException, idempotent: bool) -> bool:
    """Whether a transport error is worth sending the request again for."""
    if not isinstance(error, httpx.TransportError):
        return False
    return idempotent or isinstance(error, UNSENT_ERRORS)


def retry_after(
    response: httpx.Response | None, now: Callable[[], datetime] | None = None
) -> float | None:
    """Seconds the server asked us to wait (``Retry-After``: seconds or an HTTP date), if any."""
    if response is None:
        return None
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or _utcnow)()).total_seconds())


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _response(state: tenacity.RetryCallState) -> httpx.Response | None:
    outcome = state.outcome
    if outcome is None or outcome.failed:
        return None
    result: Any = outcome.result()
    return result if isinstance(result, httpx.Response) else None


_retries: dict[str, int] = {}
_retries_lock = threading.Lock()


def _count(state: tenacity.RetryCallState) -> None:
    response = _response(state)
    if response is not None:
        reason = str(response.status_code)
    else:
        error = state.outcome.exception() if state.outcome else None
        reason = type(error).__name__ if error is not None else "unknown"
    with _retries_lock:
        _retries[reason] = _retries.get(reason, 0) + 1


def retries() -> dict[str, int]:
    """Retries this process has made so far, by what was retried: a status (``"503"``) or a
    transport error's class (``"ConnectTimeout"``); the local platform's ``/metrics`` shows
    them."""
    with _retries_lock:
        return dict(_retries)
