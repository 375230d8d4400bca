"""A small Stripe API client: Bearer key, rate budget, Stripe's retry rules, its list protocol.

- Requests go through :func:`sourceflow.http.send`, the core's retry policy, with Stripe's
  rules as its verdict (those of Stripe's own client libraries for these idempotent GETs):
  ``Stripe-Should-Retry: false`` is final and ``true`` always retried; otherwise a 409, a 429,
  a 5xx or a lost connection is tried again, with exponential backoff and jitter, a
  ``Retry-After`` obeyed, at most :data:`RETRY` ``.attempts`` tries.
- Every try, retries included, waits for its slot from the key's :class:`~.ratelimit.Pacer`.
- :attr:`StripeAPI.counters` counts retries (``retries``) and 429s (``throttled``).
- An error answer carries Stripe's error object (``{"error": {type, code, message, param}}``)
  and becomes a :class:`StripeError` naming the request, what Stripe said and what to do; its
  class says what kind of trouble it is: :class:`StripeUnavailable` (transient),
  :class:`StripeRefused` (the key), :class:`StripeBadData` (an answer Stripe's protocol rules
  out).
- Lists page with ``limit=100`` and ``starting_after`` the last id until ``has_more`` is false.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

import sourceflow
from sourceflow import redact
from sourceflow.http import Retry, RetryPolicy, parse_json, send
from sourceflow_stripe.ratelimit import Pacer, pacer_for

DEFAULT_API_BASE = "https://api.stripe.com"
API_BASE_ENV = "SOURCEFLOW_STRIPE_API_BASE"
PAGE_SIZE = 100
RETRY = RetryPolicy(attempts=6, total_seconds=120.0, base=0.5, cap=8.0)
"""Six tries, 0.5 s doubling to at most 8 s between them (read when a client is made)."""
CHECK = RetryPolicy(attempts=3, total_seconds=10.0, base=0.5, cap=2.0)
"""The key check of ``connect``: a person waits for it, so a base that does not answer fails
it within seconds (a run's pull is patient instead)."""

_HINTS = {
    "authentication_error": "copy a secret key (sk_test_… or sk_live_…) or a restricted key "
    "(rk_…) from the Stripe Dashboard, Developers > API keys, and PATCH the connection with it",
    "permission_error": "give the restricted key read access to this resource in the Stripe "
    "Dashboard, or use a secret key",
    "rate_limit_error": "Stripe kept refusing for too many requests; other clients share this "
    "key's budget: lower requestsPerSecond on the connection, or let the next run resume",
    "invalid_request_error": "the request was refused as written; the message names the parameter",
    "unavailable": "Stripe kept failing after every retry; the next run resumes where this one "
    "stopped (https://status.stripe.com says whether Stripe is down)",
    "not_stripe": "check the API base URL (apiBase) points at Stripe's API",
}


class StripeError(sourceflow.SourceflowError):
    """Stripe answered an error; ``status``, ``type``, ``code`` and ``param`` say which."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        super().__init__(redact.scrub(message), hint=hint)


class StripeUnavailable(StripeError, sourceflow.SourceUnavailable):
    """Stripe could not answer for now: a 5xx, a 409 or 429 that outlasted the retries, no
    connection."""


class StripeRefused(StripeError, sourceflow.CredentialsRefused):
    """Stripe refused the key (401) or the key lacks a permission (403)."""


class StripeBadData(StripeError, sourceflow.BadSourceData):
    """An answer Stripe's protocol rules out: not a JSON object, a list without ``data``, an
    object without its ``id`` or ``created``."""


def api_base(configured: str | None = None) -> str:
    """The API base URL: the connection's ``apiBase``, else ``SOURCEFLOW_STRIPE_API_BASE``, else
    Stripe's."""
    return (configured or os.environ.get(API_BASE_ENV) or DEFAULT_API_BASE).rstrip("/")


def should_retry(response: httpx.Response) -> bool | None:
    """Stripe's verdict on an answer, as its client libraries apply it to a GET."""
    flag: str = response.headers.get("stripe-should-retry", "").lower()
    if flag in ("true", "false"):
        return flag == "true"
    status: int = response.status_code
    # 409: a lock another request holds; 429: the rate; 5xx: Stripe's own trouble.
    return status in (409, 429) or status >= 500


def _kind(status: int) -> type[StripeError]:
    if status in (401, 403):
        return StripeRefused
    if status in (409, 429) or status >= 500:
        return StripeUnavailable
    return StripeError


def error_from(response: httpx.Response, what: str) -> StripeError:
    """A :class:`StripeError` of the right kind from an error answer, whatever its body."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        kind = _kind(status)
        return kind(
            f"Stripe answered {status} to {what} without an error object",
            status=status,
            hint=_HINTS["unavailable"] if kind is StripeUnavailable else _HINTS["not_stripe"],
        )
    type_ = error.get("type")
    code = error.get("code")
    param = error.get("param")
    message = str(error.get("message") or "no message")
    details = ", ".join(str(x) for x in (type_, code) if x)
    if param:
        details += f", parameter {param}"
    kind = _kind(status)
    hint: str | None
    # By status first: Stripe answers a wrong key with 401 and type invalid_request_error.
    if status == 401:
        hint = _HINTS["authentication_error"]
    elif status == 403:
        hint = _HINTS["permission_error"]
    elif status == 429:
        hint = _HINTS["rate_limit_error"]
    elif kind is StripeUnavailable:
        hint = _HINTS["unavailable"]
    else:
        hint = _HINTS.get(str(type_))
    return kind(
        f"Stripe refused {what} ({status}, {details}): {message}",
        status=status,
        type=type_,
        code=code,
        param=param,
        hint=hint,
    )


class StripeAPI:
    """Calls Stripe with one key.

    :param key: the secret or restricted key (sent as a Bearer token; never logged).
    :param base_url: Stripe's API base (:func:`api_base`).
    :param pacer: the key's request budget; the process-wide one for the key by default.
    :param http: an httpx client to send through (one is made and owned otherwise).
    :param policy: how to retry (:data:`RETRY` by default).
    :param sleep: how to wait between retries (injectable for tests).
    :param page_size: objects per list page (Stripe's ``limit``, 1 to 100).
    """

    def __init__(
        self,
        key: str,
        *,
        base_url: str | None = None,
        pacer: Pacer | None = None,
        http: httpx.Client | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._key = key
        self.page_size = page_size
        redact.register(key)
        self.base_url = api_base(base_url)
        self.pacer = pacer if pacer is not None else pacer_for(key)
        self._own_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=30)
        self._policy = policy if policy is not None else RETRY
        self._sleep = sleep
        self.requests = 0
        """Requests sent, retries included."""
        self.counters: dict[str, int] = {}
        """``retries``: requests sent again; ``throttled``: 429 answers (retried or not)."""

    def close(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._own_http:
            self._http.close()

    def _before_try(self) -> None:
        self.pacer.acquire()
        self.requests += 1

    def _on_retry(self, retry: Retry) -> None:
        self.counters["retries"] = self.counters.get("retries", 0) + 1
        if retry.status == 429:
            self.counters["throttled"] = self.counters.get("throttled", 0) + 1

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``GET {base}{path}``: Stripe's JSON object, or a :class:`StripeError`."""
        what = f"GET {path}"
        try:
            response = send(
                self._http,
                "GET",
                self.base_url + path,
                policy=self._policy,
                should_retry=should_retry,
                on_retry=self._on_retry,
                before_try=self._before_try,
                sleep=self._sleep,
                params=dict(params or {}),
                headers={"Authorization": f"Bearer {self._key}"},
            )
        except httpx.TransportError as exc:
            raise StripeUnavailable(
                f"{what}: cannot reach Stripe at {self.base_url}: {type(exc).__name__}: {exc}",
                status=0,
                hint=f"check the network, or the API base URL (apiBase, or {API_BASE_ENV} where "
                "the connection was made): is a server listening there? The next run resumes "
                "where this one stopped",
            ) from None
        if response.status_code == 429:  # the last answer: on_retry counted the others
            self.counters["throttled"] = self.counters.get("throttled", 0) + 1
        if response.status_code >= 400:
            raise error_from(response, what)
        try:
            body = parse_json(response)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise StripeBadData(
                f"Stripe answered {what} with something other than a JSON object",
                status=response.status_code,
                hint=_HINTS["not_stripe"],
            )
        return body

    def iter_pages(
        self, resource: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """The pages of a list endpoint (``/v1/{resource}``), newest first; each object is
        checked to have an ``id`` (``starting_after`` needs it)."""
        query: dict[str, Any] = {**(params or {}), "limit": self.page_size}
        path = f"/v1/{resource}"
        while True:
            page = self.get(path, query)
            data = page.get("data")
            if not isinstance(data, list):
                raise StripeBadData(
                    f"GET {path} answered no list (no 'data' array)",
                    status=200,
                    hint=_HINTS["not_stripe"],
                )
            for obj in data:
                if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
                    raise StripeBadData(f"GET {path} answered an object without an id", status=200)
            yield data
            if not page.get("has_more") or not data:
                return
            query["starting_after"] = data[-1]["id"]

    def iter_list(self, resource: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Every object of a list endpoint, newest first, page by page."""
        for page in self.iter_pages(resource, params):
            yield from page
