"""A small Stripe API client: Bearer key, rate budget, Stripe's retry rules, its list protocol.

- Every request waits for its slot from the key's :class:`~.ratelimit.Pacer`, retries included.
- A request is sent again only when Stripe says so: ``429`` (unless ``Stripe-Should-Retry:
  false``) or any answer with ``Stripe-Should-Retry: true``; with exponential backoff. Nothing
  else is ever sent twice, not even after a lost connection.
- An error answer carries Stripe's error object (``{"error": {type, code, message, param}}``)
  and becomes a :class:`StripeError` naming the request, what Stripe said and what to do.
- Lists page with ``limit=100`` and ``starting_after`` the last id until ``has_more`` is false.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx
import tenacity

from sourceflow import redact
from sourceflow.errors import SourceflowError
from sourceflow_stripe.ratelimit import Pacer, pacer_for

DEFAULT_API_BASE = "https://api.stripe.com"
API_BASE_ENV = "SOURCEFLOW_STRIPE_API_BASE"
PAGE_SIZE = 100
ATTEMPTS = 6

_HINTS = {
    "authentication_error": "copy a secret key (sk_test_… or sk_live_…) or a restricted key "
    "(rk_…) from the Stripe Dashboard, Developers > API keys",
    "permission_error": "give the restricted key read access to this resource in the Stripe "
    "Dashboard, or use a secret key",
    "rate_limit_error": "Stripe kept refusing for too many requests; other clients share this "
    "key's budget: try again later",
    "invalid_request_error": "the request was refused as written; the message names the parameter",
}


class StripeError(SourceflowError):
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


def api_base(configured: str | None = None) -> str:
    """The API base URL: the connection's ``apiBase``, else ``SOURCEFLOW_STRIPE_API_BASE``, else
    Stripe's."""
    return (configured or os.environ.get(API_BASE_ENV) or DEFAULT_API_BASE).rstrip("/")


def _should_retry(response: httpx.Response) -> bool:
    flag = response.headers.get("stripe-should-retry", "").lower()
    if flag == "true":
        return True
    return response.status_code == 429 and flag != "false"


def error_from(response: httpx.Response, what: str) -> StripeError:
    """A :class:`StripeError` from an error answer, whatever its body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return StripeError(
            f"Stripe answered {response.status_code} to {what} without an error object",
            status=response.status_code,
            hint="check the API base URL (apiBase) points at Stripe's API",
        )
    kind = error.get("type")
    code = error.get("code")
    param = error.get("param")
    message = str(error.get("message") or "no message")
    details = ", ".join(str(x) for x in (kind, code) if x)
    if param:
        details += f", parameter {param}"
    return StripeError(
        f"Stripe refused {what} ({response.status_code}, {details}): {message}",
        status=response.status_code,
        type=kind,
        code=code,
        param=param,
        # Stripe answers a wrong key with 401 and type invalid_request_error.
        hint=_HINTS["authentication_error"]
        if response.status_code == 401
        else _HINTS.get(str(kind)),
    )


class StripeAPI:
    """Calls Stripe with one key.

    :param key: the secret or restricted key (sent as a Bearer token; never logged).
    :param base_url: Stripe's API base (:func:`api_base`).
    :param pacer: the key's request budget; the process-wide one for the key by default.
    :param http: an httpx client to send through (one is made and owned otherwise).
    :param backoff: seconds before the first retry; doubled each time, at most 8 s.
    :param sleep: how to wait between retries (injectable for tests).
    """

    def __init__(
        self,
        key: str,
        *,
        base_url: str | None = None,
        pacer: Pacer | None = None,
        http: httpx.Client | None = None,
        backoff: float = 0.5,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._key = key
        redact.register(key)
        self.base_url = api_base(base_url)
        self.pacer = pacer if pacer is not None else pacer_for(key)
        self._own_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=30)
        self._backoff = backoff
        self._sleep = sleep
        self.requests = 0
        """Requests sent, retries included."""

    def close(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._own_http:
            self._http.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``GET {base}{path}``: Stripe's JSON object, or :class:`StripeError`."""
        what = f"GET {path}"
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_result(_should_retry),
            wait=tenacity.wait_exponential(multiplier=self._backoff, max=8),
            stop=tenacity.stop_after_attempt(ATTEMPTS),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            sleep=self._sleep or time.sleep,
        )
        response: httpx.Response = retrying(self._send, path, params)
        if response.status_code >= 400:
            raise error_from(response, what)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise StripeError(
                f"Stripe answered {what} with something other than a JSON object",
                status=response.status_code,
                hint="check the API base URL (apiBase) points at Stripe's API",
            )
        return body

    def _send(self, path: str, params: Mapping[str, Any] | None) -> httpx.Response:
        self.pacer.acquire()
        self.requests += 1
        try:
            return self._http.get(
                self.base_url + path,
                params=dict(params or {}),
                headers={"Authorization": f"Bearer {self._key}"},
            )
        except httpx.HTTPError as exc:
            raise StripeError(
                f"GET {path}: cannot reach Stripe at {self.base_url}: {type(exc).__name__}: {exc}",
                status=0,
                hint="check the network, or the API base URL (apiBase)",
            ) from None

    def iter_list(self, resource: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Every object of a list endpoint (``/v1/{resource}``), newest first, page by page."""
        query: dict[str, Any] = {**(params or {}), "limit": PAGE_SIZE}
        path = f"/v1/{resource}"
        while True:
            page = self.get(path, query)
            data = page.get("data")
            if not isinstance(data, list):
                raise StripeError(
                    f"GET {path} answered no list (no 'data' array)",
                    status=200,
                    hint="check the API base URL (apiBase) points at Stripe's API",
                )
            yield from data
            if not page.get("has_more") or not data:
                return
            last = data[-1].get("id") if isinstance(data[-1], dict) else None
            if not last:
                raise StripeError(f"GET {path}: the last object of a page has no id", status=200)
            query["starting_after"] = last
