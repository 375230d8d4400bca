"""A sample Shopify shop, served on loopback: OAuth and the Admin API's webhooks.

``python -m sourceflow_shopify.sample`` serves one, with a made-up app's client ID and secret,
so that ``sourceflow shopify login`` (and ``connect shopify``) can be tried without a shop: it
prints the settings to use. Its authorize page approves at once (no merchant to ask), so the
URL ``login`` prints can be opened with ``curl -sL`` as well as a browser. The plugin's tests
serve the same shop, and use the faults below.

It follows Shopify's documented protocol: ``/admin/oauth/authorize`` redirects with
``code, hmac, host, shop, state, timestamp`` (hmac signed as Shopify signs it);
``POST /admin/oauth/access_token`` answers ``{access_token, scope}`` (``401 invalid_client``
for wrong app credentials, ``400`` for a code used or unknown);
``GET /admin/oauth/access_scopes.json`` lists the token's scopes; the REST webhook routes
(``/admin/api/{version}/webhooks.json`` with its ``topic`` and ``address`` filters,
``/webhooks/{id}.json``) and GraphQL's ``webhookSubscriptionCreate``/``Delete`` and
``webhookSubscriptions(topics:, callbackUrl:)`` want ``X-Shopify-Access-Token`` and answer
``X-Shopify-Shop-Api-Call-Limit``. A second subscription of one address to one topic is refused
("for this topic has already been taken"), through REST (422) and GraphQL (a user error).
When told to, REST answers ``429`` with ``Retry-After`` and GraphQL ``THROTTLED`` with its
cost's ``throttleStatus``.

Between the client and the shop sits a proxy that can lose answers (:attr:`FakeShop.faults`):
``502`` before the shop sees the request; after the shop has acted on it, ``504`` (a proxy's
timeout), ``reset`` (the connection dropped mid-answer) or ``timeout`` (no answer until the
client gives up).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

import sourceflow

Message = MutableMapping[str, Any]

# Shopify's error message, not a secret.
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"  # noqa: S105
THROTTLED = (
    "Exceeded 2 calls per second for api client. Reduce request rates to resume "
    "uninterrupted service."
)
TAKEN = "for this topic has already been taken"
FAULTS = ("502", "504", "reset", "timeout")
TOPICS = {
    "orders/create",
    "orders/updated",
    "customers/create",
    "products/create",
    "products/update",
}


def shopify_hmac(secret: str, params: dict[str, str]) -> str:
    """Written apart from the plugin's signing module, from Shopify's description."""
    message = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "hmac")
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


class SampleShop:
    """One shop and its app, with made-up credentials; :attr:`app` is the ASGI app to serve."""

    def __init__(
        self,
        shop: str = "acme.myshopify.com",
        client_id: str = "client-id-123",
        client_secret: str = "shpss_fakeclientsecret",  # noqa: S107
        token: str = "shpca_faketoken0123456789",  # noqa: S107
    ) -> None:
        self.shop, self.client_id, self.client_secret, self.token = (
            shop,
            client_id,
            client_secret,
            token,
        )
        self.codes: dict[str, str] = {}
        self.scopes = "read_orders,read_customers,read_products"  # what self.token grants
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, float]] = []
        self.throttle_next = 0  # answer this many calls with 429 (GraphQL: THROTTLED)
        # What the proxy does to the next Admin API answers, in order (None: nothing).
        self.faults: list[str | None] = []
        self.dropped: list[tuple[str, str, str]] = []  # (fault, method, path) as applied
        self.stall = 1.0  # seconds a "timeout" answer is held back
        self.bucket_used = 1  # what X-Shopify-Shop-Api-Call-Limit reports as used
        self.redirect_overrides: dict[str, str] = {}
        self._ids = itertools.count(1091138715786)
        self.shop_app = Starlette(
            routes=[
                Route("/admin/oauth/authorize", self.authorize, methods=["GET"]),
                Route("/admin/oauth/access_token", self.access_token, methods=["POST"]),
                Route("/admin/oauth/access_scopes.json", self.access_scopes, methods=["GET"]),
                Route(
                    "/admin/api/{version}/webhooks.json",
                    self.webhooks_route,
                    methods=["GET", "POST"],
                ),
                Route(
                    "/admin/api/{version}/webhooks/{id:int}.json",
                    self.webhook_delete,
                    methods=["DELETE"],
                ),
                Route("/admin/api/{version}/graphql.json", self.graphql, methods=["POST"]),
            ]
        )

    # --- the proxy in front -------------------------------------------------------------------

    @property
    def app(self) -> Callable[..., Awaitable[None]]:
        """The ASGI app to serve: the shop behind its proxy."""

        async def proxied(scope: Message, receive: Any, send: Any) -> None:
            await self.proxy(scope, receive, send)

        return proxied

    async def proxy(
        self,
        scope: Message,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        """The shop behind a proxy that loses the answers :attr:`faults` says to lose."""
        path = str(scope.get("path", ""))
        admin = path.startswith("/admin/api/") or path == "/admin/oauth/access_scopes.json"
        fault = self.faults.pop(0) if admin and scope["type"] == "http" and self.faults else None
        if fault is None:
            await self.shop_app(scope, receive, send)
            return
        self.dropped.append((fault, str(scope["method"]), path))
        if fault == "502":  # the proxy could not reach the shop: nothing was done
            await _plain(send, 502, b"502 Bad Gateway")
            return

        async def lost(message: Message) -> None:
            pass

        await self.shop_app(scope, receive, lost)  # the shop acts; its answer goes nowhere
        if fault == "504":
            await _plain(send, 504, b"504 Gateway Time-out")
        elif fault == "timeout":
            await asyncio.sleep(self.stall)
            await _plain(send, 504, b"504 Gateway Time-out")
        else:  # reset: the status line and headers, then the connection drops
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"webh', "more_body": True})
            raise ConnectionResetError("the fake proxy drops the connection")

    def subscriptions(self, address: str | None = None) -> list[tuple[str, str]]:
        """(topic, address) of every subscription (to ``address``, when given)."""
        return [
            (h["topic"], h["address"])
            for h in self.webhooks.values()
            if address is None or h["address"] == address
        ]

    # --- OAuth --------------------------------------------------------------------------------

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != self.client_id:
            return JSONResponse({"errors": "Invalid API key"}, 400)
        code = f"code{next(self._ids)}"
        self.codes[code] = q.get("scope", "")
        params = {
            "code": code,
            "host": "YWNtZS5teXNob3BpZnkuY29tL2FkbWlu",
            "shop": self.shop,
            "state": q.get("state", ""),
            "timestamp": str(int(time.time())),
        }
        params.update(self.redirect_overrides)
        params["hmac"] = shopify_hmac(self.client_secret, params)
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode(params)}", 302)

    async def access_token(self, request: Request) -> Response:
        body = await request.json()
        if (
            body.get("client_id") != self.client_id
            or body.get("client_secret") != self.client_secret
        ):
            return JSONResponse({"error": "invalid_client"}, 401)
        scope = self.codes.pop(body.get("code", ""), None)
        if scope is None:
            return JSONResponse(
                {
                    "error": "invalid_request",
                    "error_description": "The authorization code was not found or was already used",
                },
                400,
            )
        return JSONResponse({"access_token": self.token, "scope": scope})

    async def access_scopes(self, request: Request) -> Response:
        refused = self._gate(request)
        if refused:
            return refused
        handles = [h for h in self.scopes.split(",") if h]
        return JSONResponse({"access_scopes": [{"handle": h} for h in handles]})

    # --- Admin API ----------------------------------------------------------------------------

    def _gate(self, request: Request) -> Response | None:
        self.requests.append((request.method, request.url.path, time.monotonic()))
        if request.headers.get("x-shopify-access-token") != self.token:
            return JSONResponse(
                {"errors": INVALID_TOKEN},
                401,
            )
        if self.throttle_next > 0:
            self.throttle_next -= 1
            if request.url.path.endswith("/graphql.json"):
                # GraphQL's cost limit: 200, the query not run, and when its cost is restored.
                return JSONResponse(
                    {
                        "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                        "extensions": {
                            "cost": {
                                "requestedQueryCost": 10,
                                "actualQueryCost": None,
                                "throttleStatus": {
                                    "maximumAvailable": 2000.0,
                                    "currentlyAvailable": 5,
                                    "restoreRate": 100.0,
                                },
                            }
                        },
                    }
                )
            return JSONResponse(
                {"errors": THROTTLED},
                429,
                headers={"Retry-After": "0.05"},
            )
        return None

    def _limit(self) -> dict[str, str]:
        return {"X-Shopify-Shop-Api-Call-Limit": f"{self.bucket_used}/40"}

    async def webhooks_route(self, request: Request) -> Response:
        refused = self._gate(request)
        if refused:
            return refused
        version = request.path_params["version"]
        if request.method == "GET":
            topic = request.query_params.get("topic")
            address = request.query_params.get("address")
            hooks = [
                h
                for h in self.webhooks.values()
                if (not topic or h["topic"] == topic) and (not address or h["address"] == address)
            ]
            return JSONResponse({"webhooks": hooks}, headers=self._limit())
        spec = (await request.json()).get("webhook") or {}
        if spec.get("topic") not in TOPICS:
            return JSONResponse(
                {"errors": {"topic": ["Invalid topic specified: " + str(spec.get("topic"))]}},
                422,
                headers=self._limit(),
            )
        if any(
            h["topic"] == spec["topic"] and h["address"] == spec.get("address")
            for h in self.webhooks.values()
        ):
            return JSONResponse(
                {"errors": {"address": [TAKEN]}},
                422,
                headers=self._limit(),
            )
        hook = {
            "id": next(self._ids),
            "address": spec["address"],
            "topic": spec["topic"],
            "created_at": "2024-05-02T10:15:23-04:00",
            "updated_at": "2024-05-02T10:15:23-04:00",
            "format": spec.get("format", "json"),
            "fields": [],
            "metafield_namespaces": [],
            "api_version": version,
            "private_metafield_namespaces": [],
        }
        self.webhooks[hook["id"]] = hook
        return JSONResponse({"webhook": hook}, 201, headers=self._limit())

    async def webhook_delete(self, request: Request) -> Response:
        refused = self._gate(request)
        if refused:
            return refused
        if self.webhooks.pop(request.path_params["id"], None) is None:
            return JSONResponse({"errors": "Not Found"}, 404, headers=self._limit())
        return JSONResponse({}, 200, headers=self._limit())

    async def graphql(self, request: Request) -> Response:
        refused = self._gate(request)
        if refused:
            return refused
        body = await request.json()
        query = str(body.get("query", ""))
        variables = body.get("variables") or {}
        if "webhookSubscriptionCreate" in query:
            return JSONResponse(
                {"data": {"webhookSubscriptionCreate": self._gql_create(variables)}}
            )
        if "webhookSubscriptionDelete" in query:
            return JSONResponse(
                {"data": {"webhookSubscriptionDelete": self._gql_delete(variables)}}
            )
        if "webhookSubscriptions(" in query:
            return JSONResponse({"data": {"webhookSubscriptions": self._gql_list(variables)}})
        return JSONResponse({"errors": [{"message": "unsupported query in the fake"}]}, 400)

    def _gql_create(self, variables: dict[str, Any]) -> dict[str, Any]:
        topic = str(variables.get("topic", "")).lower().replace("_", "/", 1)
        address = str((variables.get("webhookSubscription") or {}).get("callbackUrl", ""))
        error = None
        if topic not in TOPICS:
            error = {"field": ["topic"], "message": "Invalid topic"}
        elif (topic, address) in self.subscriptions():
            error = {
                "field": ["webhookSubscription", "callbackUrl"],
                "message": f"Address {TAKEN}",
            }
        if error:
            return {"webhookSubscription": None, "userErrors": [error]}
        hook_id = next(self._ids)
        self.webhooks[hook_id] = {"id": hook_id, "topic": topic, "address": address}
        return {
            "webhookSubscription": {"id": _gid(hook_id), "topic": variables["topic"]},
            "userErrors": [],
        }

    def _gql_delete(self, variables: dict[str, Any]) -> dict[str, Any]:
        gid = str(variables.get("id", ""))
        tail = gid.rsplit("/", 1)[-1]
        if self.webhooks.pop(int(tail) if tail.isdigit() else -1, None) is None:
            return {
                "deletedWebhookSubscriptionId": None,
                "userErrors": [{"field": ["id"], "message": "Webhook subscription does not exist"}],
            }
        return {"deletedWebhookSubscriptionId": gid, "userErrors": []}

    def _gql_list(self, variables: dict[str, Any]) -> dict[str, Any]:
        topics = variables.get("topics") or []
        address = variables.get("callbackUrl")
        nodes = [
            {
                "id": _gid(h["id"]),
                "topic": h["topic"].replace("/", "_").upper(),
                "endpoint": {"__typename": "WebhookHttpEndpoint", "callbackUrl": h["address"]},
            }
            for h in self.webhooks.values()
            if (not topics or h["topic"].replace("/", "_").upper() in topics)
            and (not address or h["address"] == address)
        ]
        return {"edges": [{"node": n} for n in nodes[:50]]}

    def gid(self, address: str, topic: str) -> str:
        """The GraphQL id of the subscription of ``topic`` to ``address``."""
        (hook_id,) = [
            i for i, h in self.webhooks.items() if (h["topic"], h["address"]) == (topic, address)
        ]
        return _gid(hook_id)


def _gid(hook_id: int) -> str:
    return f"gid://shopify/WebhookSubscription/{hook_id}"


async def _plain(send: Callable[[Message], Awaitable[None]], status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/html"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


SAMPLE_SHOP = "sample-shop.myshopify.com"
SAMPLE_CLIENT_ID = "sample-client-id"
SAMPLE_CLIENT_SECRET = "shpss_sample_client_secret"  # noqa: S105 (made up, printed on purpose)
SAMPLE_TOKEN = "shpca_sample_access_token"  # noqa: S105 (made up)
DEFAULT_PORT = 8766
"""Beside ``shopify login``'s listener (8765)."""


def instructions(url: str) -> str:
    """How to sign in to the sample shop served on ``url``."""
    from sourceflow_shopify.settings import ADMIN_URL, CLIENT_ID, CLIENT_SECRET

    return f"""Sample Shopify shop {SAMPLE_SHOP} on {url} (not a real shop: made-up app
credentials, and its authorize page approves every request at once).
Sign in to it, in the shell you run sourceflow from:
export {ADMIN_URL.env}={url}
export {CLIENT_ID.env}={SAMPLE_CLIENT_ID}
export {CLIENT_SECRET.env}={SAMPLE_CLIENT_SECRET}
sourceflow shopify login --shop {SAMPLE_SHOP} --no-browser
then open the URL it prints (a browser, or curl -sL URL): the shop redirects to login's
listener at once. connect takes the same shop: --param shop={SAMPLE_SHOP}
(adminUrl and clientSecret come from the variables above).
Ctrl-C stops it."""


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the sample shop until interrupted (``python -m sourceflow_shopify.sample``)."""
    shop = SampleShop(SAMPLE_SHOP, SAMPLE_CLIENT_ID, SAMPLE_CLIENT_SECRET, SAMPLE_TOKEN)
    return sourceflow.serve_sample(
        shop.app,
        prog="python -m sourceflow_shopify.sample",
        description="Serve a sample Shopify shop (OAuth and webhooks), to try sourceflow "
        "shopify login and connect without a shop.",
        default_port=DEFAULT_PORT,
        instructions=instructions,
        argv=argv,
    )


if __name__ == "__main__":
    sys.exit(main())
