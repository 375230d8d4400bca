"""Webhook subscriptions through Shopify's Admin API: REST and GraphQL.

Every call sends ``X-Shopify-Access-Token``. Shopify's limits are honoured rather than hit:

- REST answers carry ``X-Shopify-Shop-Api-Call-Limit: used/size`` (a leaky bucket, 40 calls
  draining at 2 a second on standard plans). When the bucket is nearly full the next call
  waits until enough has drained.
- ``429 Too Many Requests`` is retried after its ``Retry-After`` seconds; GraphQL's
  ``THROTTLED`` error (answered with 200) after the time its ``throttleStatus`` says the
  query's cost needs to be restored.
- ``502``/``503``/``504`` are retried with a short backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from sourceflow import redact
from sourceflow.errors import SourceflowError

DEFAULT_API_VERSION = "2024-10"
CALL_LIMIT_HEADER = "X-Shopify-Shop-Api-Call-Limit"

_CREATE = """mutation webhookSubscriptionCreate($topic: WebhookSubscriptionTopic!,
  $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription { id topic }
    userErrors { field message }
  }
}"""
_DELETE = """mutation webhookSubscriptionDelete($id: ID!) {
  webhookSubscriptionDelete(id: $id) {
    deletedWebhookSubscriptionId
    userErrors { field message }
  }
}"""


def graphql_topic(topic: str) -> str:
    """REST's ``orders/create`` as GraphQL's enum ``ORDERS_CREATE``."""
    return topic.replace("/", "_").upper()


class AdminClient:
    """One shop's Admin API, for webhook subscriptions.

    :param shop: the ``*.myshopify.com`` host.
    :param access_token: the app's access token for the shop.
    :param admin_url: the API's base URL instead of ``https://{shop}`` (a proxy, a test double).
    :param api_version: ``YYYY-MM``; Shopify supports each version for a year.
    :param retries: how many times a throttled or unavailable call is retried.
    :param leak_rate: calls per second the REST bucket drains (2 on standard plans).
    :param margin: free places to keep in the bucket; fewer, and the next call waits.
    :param max_wait: the longest single wait, in seconds.
    :param sleep: how to wait (tests pass a recorder).
    """

    def __init__(
        self,
        shop: str,
        access_token: str,
        *,
        admin_url: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        http: httpx.Client | None = None,
        retries: int = 4,
        leak_rate: float = 2.0,
        margin: int = 2,
        max_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        redact.register(access_token)
        self.shop = shop
        self.api_version = api_version
        self.base = f"{(admin_url or f'https://{shop}').rstrip('/')}/admin/api/{api_version}"
        self._token = access_token
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=30)
        self.retries = retries
        self.leak_rate = leak_rate
        self.margin = margin
        self.max_wait = max_wait
        self._sleep = sleep
        self._not_before = 0.0

    def close(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- REST ---------------------------------------------------------------------------------

    def create_webhook(self, topic: str, address: str) -> dict[str, Any]:
        """``POST /webhooks.json``: subscribe ``address`` to ``topic``; the created webhook."""
        answer = self._call(
            "POST",
            "/webhooks.json",
            {"webhook": {"topic": topic, "address": address, "format": "json"}},
            what=f"subscribing {topic}",
        )
        webhook: dict[str, Any] = answer.json()["webhook"]
        return webhook

    def list_webhooks(self, topic: str | None = None) -> list[dict[str, Any]]:
        """``GET /webhooks.json``: the app's webhooks on the shop (of ``topic``, if given)."""
        path = "/webhooks.json" + (f"?topic={topic}" if topic else "")
        hooks: list[dict[str, Any]] = self._call("GET", path, what="listing webhooks").json()[
            "webhooks"
        ]
        return hooks

    def delete_webhook(self, webhook_id: str | int) -> bool:
        """``DELETE /webhooks/{id}.json``; False when it was already gone (404)."""
        answer = self._call(
            "DELETE", f"/webhooks/{webhook_id}.json", what=f"deleting webhook {webhook_id}", ok=404
        )
        return answer.status_code != 404

    # --- GraphQL ------------------------------------------------------------------------------

    def graphql(self, query: str, variables: dict[str, Any], what: str) -> dict[str, Any]:
        """Run a GraphQL query; its ``data``, once any throttling is waited out."""
        for attempt in range(self.retries + 1):
            answer = self._call(
                "POST", "/graphql.json", {"query": query, "variables": variables}, what=what
            )
            body = answer.json()
            wait = _throttled_for(body)
            if wait is not None and attempt < self.retries:
                self._sleep(min(wait, self.max_wait))
                continue
            errors = body.get("errors")
            if errors:
                messages = "; ".join(str(e.get("message", e)) for e in errors)
                raise SourceflowError(f"Shopify refused {what} on {self.shop}: {messages}")
            data: dict[str, Any] = body.get("data") or {}
            return data
        raise AssertionError("unreachable: the last attempt returns or raises")

    def create_subscription(self, topic: str, callback_url: str) -> str:
        """``webhookSubscriptionCreate``; the subscription's id (``gid://shopify/…``)."""
        data = self.graphql(
            _CREATE,
            {
                "topic": graphql_topic(topic),
                "webhookSubscription": {"callbackUrl": callback_url, "format": "JSON"},
            },
            what=f"subscribing {topic}",
        )["webhookSubscriptionCreate"]
        _user_errors(data, f"subscribing {topic}", self.shop)
        return str(data["webhookSubscription"]["id"])

    def delete_subscription(self, subscription_id: str) -> bool:
        """``webhookSubscriptionDelete``; False when it no longer existed."""
        data = self.graphql(
            _DELETE, {"id": subscription_id}, what=f"deleting subscription {subscription_id}"
        )["webhookSubscriptionDelete"]
        if any("not exist" in str(e.get("message", "")) for e in data.get("userErrors") or []):
            return False
        _user_errors(data, f"deleting subscription {subscription_id}", self.shop)
        return True

    # --- the call -----------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, body: Any = None, *, what: str, ok: int | None = None
    ) -> httpx.Response:
        url = self.base + path
        for attempt in range(self.retries + 1):
            self._pace()
            try:
                answer = self._http.request(
                    method,
                    url,
                    json=body,
                    headers={"X-Shopify-Access-Token": self._token, "Accept": "application/json"},
                )
            except httpx.HTTPError as exc:
                raise SourceflowError(
                    f"cannot reach {self.base} while {what}: {type(exc).__name__}",
                    hint="check the shop domain (or adminUrl) and your network",
                ) from None
            self._note_bucket(answer)
            retry = answer.status_code == 429 or answer.status_code in (502, 503, 504)
            if retry and attempt < self.retries:
                self._sleep(min(_retry_after(answer, attempt), self.max_wait))
                continue
            if answer.status_code < 300 or answer.status_code == ok:
                return answer
            raise _refused(answer, what, self.shop)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _pace(self) -> None:
        wait = self._not_before - time.monotonic()
        if wait > 0:
            self._sleep(min(wait, self.max_wait))

    def _note_bucket(self, answer: httpx.Response) -> None:
        used, _, size = answer.headers.get(CALL_LIMIT_HEADER, "").partition("/")
        if not (used.isdigit() and size.isdigit()):
            return
        over = int(used) - (int(size) - self.margin)
        if over >= 0:
            # Let the bucket drain enough for the next call to leave `margin` places free.
            self._not_before = time.monotonic() + (over + 1) / self.leak_rate


def _retry_after(answer: httpx.Response, attempt: int) -> float:
    try:
        return max(0.0, float(answer.headers.get("Retry-After", "")))
    except ValueError:
        return 0.5 * 2.0**attempt


def _throttled_for(body: Any) -> float | None:
    # {"errors": [{"extensions": {"code": "THROTTLED"}}], "extensions": {"cost": {...}}}
    if not isinstance(body, dict):
        return None
    errors = body.get("errors") or []
    if not any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors):
        return None
    cost = (body.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    try:
        missing = float(cost.get("requestedQueryCost", 0)) - float(
            status.get("currentlyAvailable", 0)
        )
        return max(0.0, missing) / float(status.get("restoreRate") or 50)
    except (TypeError, ValueError):
        return 1.0


def _user_errors(data: dict[str, Any], what: str, shop: str) -> None:
    errors = data.get("userErrors") or []
    if errors:
        messages = "; ".join(
            f"{'.'.join(e.get('field') or []) or '(input)'}: {e.get('message')}" for e in errors
        )
        raise SourceflowError(f"Shopify refused {what} on {shop}: {messages}")


_HINTS = {
    401: "the access token is wrong or revoked: run sourceflow shopify login again",
    403: "the app lacks the scope for this topic: log in again with --scopes including it "
    "(orders/*: read_orders, customers/*: read_customers, products/*: read_products)",
    404: "check the shop domain and the API version (apiVersion=YYYY-MM, supported for a year)",
    422: "Shopify refused the subscription: see the message (a topic name or an address "
    "already subscribed to it)",
}


def _refused(answer: httpx.Response, what: str, shop: str) -> SourceflowError:
    try:
        detail: Any = answer.json().get("errors", answer.text)
    except ValueError:
        detail = answer.text
    return SourceflowError(
        f"Shopify answered {answer.status_code} while {what} on {shop}: "
        f"{redact.scrub(str(detail))[:300]}",
        hint=_HINTS.get(answer.status_code, "try again later"),
    )
