"""Webhook subscriptions through Shopify's Admin API: REST and GraphQL.

Every call sends ``X-Shopify-Access-Token`` and goes through :func:`sourceflow.http.send`, the
core's retry policy, so Shopify's limits are honoured rather than hit:

- ``429 Too Many Requests`` is retried after its ``Retry-After``; GraphQL's ``THROTTLED`` error
  (answered with 200, the query not run) is retried once the time its ``throttleStatus`` says
  the query's cost needs has passed.
- REST answers carry ``X-Shopify-Shop-Api-Call-Limit: used/size`` (a leaky bucket, 40 calls
  draining at 2 a second on standard plans). When the bucket is nearly full the next call
  waits until enough has drained.
- Reads and deletes are retried on ``502``/``503``/``504`` and lost connections; a create is
  not sent again blindly: the policy forbids it (the shop may have acted on it), so
  :meth:`AdminClient.subscribe` settles a lost answer by looking the subscription up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from sourceflow import SourceflowError, redact
from sourceflow.http import Retry, RetryPolicy, send
from sourceflow_shopify.problems import unreachable
from sourceflow_shopify.settings import ADMIN_URL

DEFAULT_API_VERSION = "2024-10"
CALL_LIMIT_HEADER = "X-Shopify-Shop-Api-Call-Limit"
RETRY = RetryPolicy(attempts=5, total_seconds=60.0)
"""The policy an :class:`AdminClient` gets when it is given none."""
TIMEOUT = 30.0
"""Seconds an :class:`AdminClient` given no ``timeout`` waits for an answer."""

# Each topic's read scope; a write scope grants the read one too.
TOPIC_SCOPES = {"orders": "orders", "customers": "customers", "products": "products"}

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
_FIND = """query webhookSubscriptions($topics: [WebhookSubscriptionTopic!], $callbackUrl: URL) {
  webhookSubscriptions(first: 50, topics: $topics, callbackUrl: $callbackUrl) {
    edges { node { id topic endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } } } }
  }
}"""


def graphql_topic(topic: str) -> str:
    """REST's ``orders/create`` as GraphQL's enum ``ORDERS_CREATE``."""
    return topic.replace("/", "_").upper()


class Lost(Exception):
    """A create got no usable answer: the shop may or may not have acted on it."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class AdminClient:
    """One shop's Admin API, for webhook subscriptions.

    :param shop: the ``*.myshopify.com`` host.
    :param access_token: the app's access token for the shop.
    :param admin_url: the API's base URL instead of ``https://{shop}`` (a proxy, a test double).
    :param api_version: ``YYYY-MM``; Shopify supports each version for a year.
    :param token_from: where the token came from (``SHOPIFY_ACCESS_TOKEN``, a token file), so
        a refusal can say which to fix.
    :param policy: how often and how patiently to retry (default :data:`RETRY`).
    :param timeout: seconds to wait for an answer before counting it lost (default
        :data:`TIMEOUT`).
    :param leak_rate: calls per second the REST bucket drains (2 on standard plans).
    :param margin: free places to keep in the bucket; fewer, and the next call waits.
    :param max_wait: the longest wait for the bucket or the GraphQL cost to refill, in seconds.
    :param sleep: how to wait (tests pass a recorder).
    """

    def __init__(
        self,
        shop: str,
        access_token: str,
        *,
        admin_url: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        token_from: str = "the access token",  # noqa: S107 (a description)
        http: httpx.Client | None = None,
        policy: RetryPolicy | None = None,
        timeout: float | None = None,
        leak_rate: float = 2.0,
        margin: int = 2,
        max_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        redact.register(access_token)
        self.shop = shop
        self.api_version = api_version
        self.root = (admin_url or f"https://{shop}").rstrip("/")
        self.base = f"{self.root}/admin/api/{api_version}"
        self.token_from = token_from
        self.policy = policy or RETRY
        self._token = access_token
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=TIMEOUT if timeout is None else timeout)
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

    # --- before anything is made --------------------------------------------------------------

    def check(self, topics: list[str]) -> list[str]:
        """Check that the shop answers, the token works and grants the topics' scopes.

        ``GET /admin/oauth/access_scopes.json``; the scopes the token has.
        """
        answer = self._call("GET", f"{self.root}/admin/oauth/access_scopes.json", what="checking")
        granted = [str(s.get("handle")) for s in answer.json().get("access_scopes") or []]
        missing = sorted(
            {
                f"read_{TOPIC_SCOPES[resource]}"
                for resource in (t.split("/", 1)[0] for t in topics)
                if resource in TOPIC_SCOPES
                and not {f"read_{resource}", f"write_{resource}"} & set(granted)
            }
        )
        if missing:
            raise SourceflowError(
                f"the access token for {self.shop} lacks {', '.join(missing)} "
                f"(it has: {', '.join(granted) or 'no scopes'}), which the topics need",
                hint=f"log in again with --scopes including {','.join(missing)}",
            )
        return granted

    # --- REST ---------------------------------------------------------------------------------

    def create_webhook(self, topic: str, address: str) -> dict[str, Any]:
        """``POST /webhooks.json``: subscribe ``address`` to ``topic``; the created webhook.

        Sent once; a lost answer raises :class:`Lost` (see :meth:`subscribe`).
        """
        body = {"webhook": {"topic": topic, "address": address, "format": "json"}}
        answer = self._create("POST", f"{self.base}/webhooks.json", body, f"subscribing {topic}")
        if answer.status_code == 422 and _taken(_detail(answer)):
            raise Taken(_detail(answer))
        if answer.status_code >= 300:
            raise _refused(answer, f"subscribing {topic}", self.shop, self.token_from)
        webhook: dict[str, Any] = answer.json()["webhook"]
        return webhook

    def list_webhooks(
        self, topic: str | None = None, address: str | None = None
    ) -> list[dict[str, Any]]:
        """``GET /webhooks.json``: the app's webhooks on the shop (of ``topic``, to ``address``)."""
        params = {k: v for k, v in (("topic", topic), ("address", address)) if v}
        answer = self._call("GET", f"{self.base}/webhooks.json", params=params, what="listing")
        hooks: list[dict[str, Any]] = answer.json()["webhooks"]
        return [
            h
            for h in hooks
            if h.get("topic") == (topic or h.get("topic"))
            and h.get("address") == (address or h.get("address"))
        ]

    def delete_webhook(self, webhook_id: str | int) -> bool:
        """``DELETE /webhooks/{id}.json``; False when it was already gone (404)."""
        answer = self._call(
            "DELETE", f"{self.base}/webhooks/{webhook_id}.json", what=f"deleting {webhook_id}"
        )
        return answer.status_code != 404

    # --- GraphQL ------------------------------------------------------------------------------

    def graphql(
        self, query: str, variables: dict[str, Any], what: str, *, creates: bool = False
    ) -> dict[str, Any]:
        """Run a GraphQL query; its ``data``, once any throttling is waited out.

        :param creates: the query creates something: a lost answer raises :class:`Lost`
            instead of sending it again. Other queries are safe to repeat.
        """
        url = f"{self.base}/graphql.json"
        body = {"query": query, "variables": variables}
        if creates:
            answer = self._create("POST", url, body, what, graphql=True)
            if answer.status_code >= 300:
                raise _refused(answer, what, self.shop, self.token_from)
        else:
            answer = self._call("POST", url, json=body, what=what, graphql=True)
        payload = answer.json()
        errors = payload.get("errors")
        if errors:
            messages = "; ".join(str(e.get("message", e)) for e in errors)
            raise SourceflowError(
                f"Shopify refused {what} on {self.shop}: {redact.scrub(messages)[:300]}",
                hint="try again later" if _throttled_for(payload) is not None else None,
            )
        data: dict[str, Any] = payload.get("data") or {}
        return data

    def create_subscription(self, topic: str, callback_url: str) -> str:
        """``webhookSubscriptionCreate``; the subscription's id (``gid://shopify/…``).

        Sent once; a lost answer raises :class:`Lost` (see :meth:`subscribe`).
        """
        what = f"subscribing {topic}"
        data = self.graphql(
            _CREATE,
            {
                "topic": graphql_topic(topic),
                "webhookSubscription": {"callbackUrl": callback_url, "format": "JSON"},
            },
            what,
            creates=True,
        )["webhookSubscriptionCreate"]
        messages = [str(e.get("message", "")) for e in data.get("userErrors") or []]
        if any(_taken(m) for m in messages):
            raise Taken("; ".join(messages))
        _user_errors(data, what, self.shop)
        return str(data["webhookSubscription"]["id"])

    def list_subscriptions(self, topic: str, callback_url: str) -> list[str]:
        """``webhookSubscriptions`` of ``topic`` to ``callback_url``: their ids."""
        data = self.graphql(
            _FIND,
            {"topics": [graphql_topic(topic)], "callbackUrl": callback_url},
            f"looking up {topic} subscriptions",
        )
        edges = (data.get("webhookSubscriptions") or {}).get("edges") or []
        return [
            str(node["id"])
            for node in (e.get("node") or {} for e in edges)
            if node.get("topic") == graphql_topic(topic)
            and (node.get("endpoint") or {}).get("callbackUrl") == callback_url
        ]

    def delete_subscription(self, subscription_id: str) -> bool:
        """``webhookSubscriptionDelete``; False when it no longer existed."""
        data = self.graphql(
            _DELETE, {"id": subscription_id}, what=f"deleting subscription {subscription_id}"
        )["webhookSubscriptionDelete"]
        if any("not exist" in str(e.get("message", "")) for e in data.get("userErrors") or []):
            return False
        _user_errors(data, f"deleting subscription {subscription_id}", self.shop)
        return True

    # --- creates settled ----------------------------------------------------------------------

    def subscribe(self, topic: str, address: str, api: str = "rest") -> str:
        """Subscribe ``address`` to ``topic`` through ``api`` (``rest`` or ``graphql``): its id.

        A subscription the shop already has for this address and topic is adopted, not
        duplicated (Shopify refuses a second one as "already been taken"). When a create's
        answer is lost (a timeout, a 5xx, a reset) the shop may have made the subscription:
        it is looked up and adopted if it exists, and the create is sent again only if it
        does not, at most as many times as the retry policy allows.
        """
        graphql = api == "graphql"
        lost = ""
        for attempt in range(self.policy.attempts):
            if attempt:
                self._sleep(min(self.policy.cap, self.policy.base * 2.0 ** (attempt - 1)))
            try:
                if graphql:
                    return self.create_subscription(topic, address)
                return str(self.create_webhook(topic, address)["id"])
            except Taken:
                lost = ""
            except Lost as exc:
                lost = exc.why
            try:
                found = self.find(topic, address, api)
            except SourceflowError as exc:
                happened = f"the answer was lost ({lost})" if lost else "it was refused as taken"
                raise SourceflowError(
                    f"subscribing {topic} on {self.shop}: {happened}, and the shop could not be "
                    f"asked whether it has the subscription: {exc}",
                    hint="run connect again: it adopts a subscription the shop made",
                ) from None
            if found:
                return found[0]
            if not lost:
                raise SourceflowError(
                    f"Shopify says {address} is already subscribed to {topic} on {self.shop}, "
                    "but does not list it",
                    hint="run connect again in a minute",
                )
            # The shop made nothing: sending the create again cannot duplicate it.
        raise SourceflowError(
            f"no answer from {self.shop} while subscribing {topic}, {self.policy.attempts} "
            f"times (last: {lost}); it made no subscription",
            hint="the shop or the network is failing: try again later",
        )

    def find(self, topic: str, address: str, api: str = "rest") -> list[str]:
        """The ids of the subscriptions of ``topic`` to ``address``, through ``api``."""
        if api == "graphql":
            return self.list_subscriptions(topic, address)
        return [str(h["id"]) for h in self.list_webhooks(topic, address)]

    def unsubscribe(self, subscription_id: str, api: str = "rest") -> bool:
        """Delete a subscription through ``api``; False when it was already gone."""
        if api == "graphql":
            return self.delete_subscription(subscription_id)
        return self.delete_webhook(subscription_id)

    # --- the call -----------------------------------------------------------------------------

    def _send(self, method: str, url: str, *, graphql: bool, **request: Any) -> httpx.Response:
        answer = send(
            self._http,
            method,
            url,
            policy=self.policy,
            idempotent=request.pop("idempotent", None),
            should_retry=self._graphql_verdict if graphql else None,
            on_retry=self._on_retry,
            before_try=self._pace,
            sleep=self._sleep,
            headers={"X-Shopify-Access-Token": self._token, "Accept": "application/json"},
            **request,
        )
        self._note_bucket(answer)
        return answer

    def _call(
        self, method: str, url: str, *, what: str, graphql: bool = False, **request: Any
    ) -> httpx.Response:
        """A request safe to repeat (a read, a delete): retried by the policy; the answer,
        which is 2xx or a 404 (gone) — anything else raises a :class:`SourceflowError`."""
        try:
            answer = self._send(method, url, graphql=graphql, idempotent=True, **request)
        except httpx.HTTPError as exc:
            raise unreachable(
                exc, self.root, f"{what} on {self.shop}", setting=ADMIN_URL.name
            ) from None
        if answer.status_code < 300 or (answer.status_code == 404 and method == "DELETE"):
            return answer
        raise _refused(answer, f"{what}", self.shop, self.token_from)

    def _create(
        self, method: str, url: str, body: Any, what: str, *, graphql: bool = False
    ) -> httpx.Response:
        """A request that creates: the policy resends it only when the shop cannot have acted
        on it (a 429, a 503, a connection never made). Raises :class:`Lost` when it may have."""
        try:
            answer = self._send(method, url, graphql=graphql, json=body)
        except httpx.HTTPError as exc:
            if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                # Never sent: nothing can have been made, and a lookup would fail the same way.
                raise unreachable(
                    exc, self.root, f"{what} on {self.shop}", setting=ADMIN_URL.name
                ) from None
            raise Lost(type(exc).__name__) from None
        if answer.status_code >= 500 and answer.status_code != 503:
            raise Lost(f"{answer.status_code}")
        return answer

    def _graphql_verdict(self, answer: httpx.Response) -> bool | None:
        # THROTTLED comes with 200, and the query was not run: safe to send again, a create too.
        try:
            wait = _throttled_for(answer.json()) if answer.status_code == 200 else None
        except ValueError:
            return None
        if wait is None:
            return None
        self._not_before = max(self._not_before, time.monotonic() + min(wait, self.max_wait))
        return True

    def _on_retry(self, retry: Retry) -> None:
        if retry.response is not None:
            self._note_bucket(retry.response)

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


class Taken(Exception):
    """Shopify refused a create because this address is already subscribed to the topic."""


def _taken(message: str) -> bool:
    return "already been taken" in message


def _throttled_for(body: Any) -> float | None:
    # {"errors": [{"extensions": {"code": "THROTTLED"}}], "extensions": {"cost": {...}}}
    if not isinstance(body, dict):
        return None
    errors = body.get("errors") or []
    if not isinstance(errors, list) or not any(
        isinstance(e, dict) and (e.get("extensions") or {}).get("code") == "THROTTLED"
        for e in errors
    ):
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
        raise SourceflowError(f"Shopify refused {what} on {shop}: {redact.scrub(messages)}")


def _detail(answer: httpx.Response) -> str:
    try:
        body = answer.json()
    except ValueError:
        return answer.text
    return str(body.get("errors", body)) if isinstance(body, dict) else str(body)


def _hint(status: int, token_from: str) -> str:
    return {
        401: f"the access token ({token_from}) is wrong or revoked: run sourceflow shopify "
        "login again, or fix the token you gave",
        403: "the app lacks the scope for this topic: log in again with --scopes including it "
        "(orders/*: read_orders, customers/*: read_customers, products/*: read_products)",
        404: "check the shop's name and apiVersion (YYYY-MM: Shopify supports a version for a "
        "year)",
        422: "see Shopify's message: a topic name it does not know, or an address it refuses",
        429: "Shopify kept throttling: try again in a minute",
    }.get(status, "try again later")


def _refused(answer: httpx.Response, what: str, shop: str, token_from: str) -> SourceflowError:
    return SourceflowError(
        f"Shopify answered {answer.status_code} while {what} on {shop}: "
        f"{redact.scrub(_detail(answer))[:300]}",
        hint=_hint(answer.status_code, token_from),
    )
