"""HTTP for plugins: one request to a provider's API under the core's retry policy.

A plugin that calls its provider (Stripe's API, Shopify's Admin API) sends through
:func:`send`, so every source retries the same way the core's Flow Service client does
(:class:`RetryPolicy`): idempotent requests on 429, 502, 503, 504 and transport errors, other
methods only when the provider cannot have acted on them; exponential backoff with jitter, a
``Retry-After`` header (seconds or an HTTP date) obeyed; a cap on tries and on total time. A
provider's own signal goes in ``should_retry`` (``Stripe-Should-Retry``, a GraphQL
``THROTTLED`` error inside a 200), and ``on_retry`` sees each retry, to count it or to say so.

Example::

    from sourceflow.http import RetryPolicy, parse_json, send

    response = send(client, "GET", url, policy=RetryPolicy(attempts=6))
    page = parse_json(response)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import tenacity
from attrs import frozen

from sourceflow import redact
from sourceflow.client.retry import RetryPolicy, retry_after
from sourceflow.log import get_logger
from sourceflow.platform.http import jsonbytes

__all__ = ["Retry", "RetryPolicy", "parse_json", "retry_after", "send"]


@frozen
class Retry:
    """One retry about to happen: after try ``attempt`` failed, a wait of ``wait`` seconds.

    ``status`` is the answer's status, or None when no answer came (``error`` says why).
    """

    attempt: int
    wait: float
    status: int | None
    error: str | None
    response: httpx.Response | None


def send(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    policy: RetryPolicy | None = None,
    idempotent: bool | None = None,
    should_retry: Callable[[httpx.Response], bool | None] | None = None,
    on_retry: Callable[[Retry], None] | None = None,
    before_try: Callable[[], None] | None = None,
    sleep: Callable[[float], None] | None = None,
    **request: Any,
) -> httpx.Response:
    """Send ``method url`` through ``client`` with retries; the last answer, whatever its status.

    :param policy: how often and how patiently (the core's default when None).
    :param idempotent: overrides what the method implies (a POST that creates nothing).
    :param should_retry: the provider's verdict on an answer: True, False, or None for the
        policy's status rules.
    :param on_retry: called before each wait, with what failed and how long the wait is.
    :param before_try: called before every try, retries included (a rate limiter's slot).
    :param sleep: how to wait (tests pass a recorder).
    :param request: passed to :meth:`httpx.Client.request` (``params``, ``json``, ``headers`` …).
    :raises httpx.TransportError: when the last try got no answer.
    """
    log = get_logger("sourceflow.http")

    def attempt() -> httpx.Response:
        if before_try is not None:
            before_try()
        return client.request(method, url, **request)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        outcome = state.outcome
        response: httpx.Response | None = None
        error: str | None = None
        if outcome is not None and outcome.failed:
            exc = outcome.exception()
            error = redact.scrub(f"{type(exc).__name__}: {exc}")
        elif outcome is not None:
            response = outcome.result()
        retry = Retry(
            attempt=state.attempt_number,
            wait=round(state.upcoming_sleep, 3),
            status=response.status_code if response is not None else None,
            error=error,
            response=response,
        )
        log.info(
            "retrying request",
            method=method,
            url=redact.scrub(url),
            attempt=retry.attempt,
            wait_s=retry.wait,
            status=retry.status,
            error=retry.error,
        )
        if on_retry is not None:
            on_retry(retry)

    retrying = (policy or RetryPolicy()).retrying(
        method=method,
        idempotent=idempotent,
        before_sleep=before_sleep,
        should_retry=should_retry,
        sleep=sleep,
    )
    response: httpx.Response = retrying(attempt)
    return response


def parse_json(response: httpx.Response) -> Any:
    """The JSON of an answer, parsed as the platform parses its own (orjson, about twice as
    fast as :meth:`httpx.Response.json` on a page of Stripe objects, with integers of any
    size kept exact); :class:`ValueError` when the body is not JSON."""
    return jsonbytes.loads(response.content)
