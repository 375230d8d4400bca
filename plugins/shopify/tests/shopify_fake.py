"""A stand-in for one Shopify shop, served on loopback: OAuth and the Admin API's webhooks.

It follows Shopify's documented protocol: ``/admin/oauth/authorize`` redirects with
``code, hmac, host, shop, state, timestamp`` (hmac signed as Shopify signs it);
``POST /admin/oauth/access_token`` answers ``{access_token, scope}``; the REST webhook routes
(``/admin/api/{version}/webhooks.json``, ``/webhooks/{id}.json``) and GraphQL's
``webhookSubscriptionCreate``/``Delete`` want ``X-Shopify-Access-Token``, answer
``X-Shopify-Shop-Api-Call-Limit`` and, when told to, ``429`` with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

PAYLOADS = Path(__file__).parent / "payloads"
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
THROTTLED = (
    "Exceeded 2 calls per second for api client. Reduce request rates to resume "
    "uninterrupted service."
)
TOPICS = {
    "orders/create",
    "orders/updated",
    "customers/create",
    "products/create",
    "products/update",
}


def payload(topic: str) -> bytes:
    """The raw sample payload of a topic (``orders/create`` -> payloads/orders_create.json)."""
    return (PAYLOADS / f"{topic.replace('/', '_')}.json").read_bytes()


def payload_json(topic: str) -> dict[str, Any]:
    """The sample payload of a topic, parsed."""
    data: dict[str, Any] = json.loads(payload(topic))
    return data


def shopify_hmac(secret: str, params: dict[str, str]) -> str:
    """Written apart from the plugin's signing module, from Shopify's description."""
    message = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "hmac")
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


class FakeShop:
    # The fake's own made-up credentials.
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
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, float]] = []
        self.throttle_next = 0  # answer this many calls with 429
        self.bucket_used = 1  # what X-Shopify-Shop-Api-Call-Limit reports as used
        self.redirect_overrides: dict[str, str] = {}
        self._ids = itertools.count(1091138715786)
        self.app = Starlette(
            routes=[
                Route("/admin/oauth/authorize", self.authorize, methods=["GET"]),
                Route("/admin/oauth/access_token", self.access_token, methods=["POST"]),
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
            hooks = [h for h in self.webhooks.values() if not topic or h["topic"] == topic]
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
                {"errors": {"address": ["for this topic has already been taken"]}},
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
        variables = body.get("variables") or {}
        if "webhookSubscriptionCreate" in body.get("query", ""):
            topic = str(variables.get("topic", "")).lower().replace("_", "/", 1)
            if topic not in TOPICS:
                return JSONResponse(
                    {
                        "data": {
                            "webhookSubscriptionCreate": {
                                "webhookSubscription": None,
                                "userErrors": [{"field": ["topic"], "message": "Invalid topic"}],
                            }
                        }
                    }
                )
            hook_id = next(self._ids)
            gid = f"gid://shopify/WebhookSubscription/{hook_id}"
            self.webhooks[hook_id] = {
                "id": hook_id,
                "topic": topic,
                "address": variables["webhookSubscription"]["callbackUrl"],
                "gid": gid,
            }
            return JSONResponse(
                {
                    "data": {
                        "webhookSubscriptionCreate": {
                            "webhookSubscription": {"id": gid, "topic": variables["topic"]},
                            "userErrors": [],
                        }
                    }
                }
            )
        if "webhookSubscriptionDelete" in body.get("query", ""):
            gid = str(variables.get("id", ""))
            hook_id = int(gid.rsplit("/", 1)[-1]) if gid.rsplit("/", 1)[-1].isdigit() else -1
            if self.webhooks.pop(hook_id, None) is None:
                return JSONResponse(
                    {
                        "data": {
                            "webhookSubscriptionDelete": {
                                "deletedWebhookSubscriptionId": None,
                                "userErrors": [
                                    {
                                        "field": ["id"],
                                        "message": "Webhook subscription does not exist",
                                    }
                                ],
                            }
                        }
                    }
                )
            return JSONResponse(
                {
                    "data": {
                        "webhookSubscriptionDelete": {
                            "deletedWebhookSubscriptionId": gid,
                            "userErrors": [],
                        }
                    }
                }
            )
        return JSONResponse({"errors": [{"message": "unsupported query in the fake"}]}, 400)
