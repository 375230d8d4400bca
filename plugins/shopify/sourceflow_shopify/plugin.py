"""Hook implementations for the Shopify Streaming source.

A generic streaming source: no base connection; the flow (spec ``e77fde5a-…``) owns the inlet.
What ``connect`` takes (``--param KEY=VALUE``; the settings in :mod:`sourceflow_shopify.settings`,
each with one environment variable read when the param is not given), and where each lives:

- ``clientSecret`` (``SHOPIFY_CLIENT_SECRET``): the app's client secret. Kept in the source
  connection's params (masked in every answer), so that the inlet's ``Delivery.config`` carries
  it to :func:`sourceflow_verify_delivery`, which checks ``X-Shopify-Hmac-Sha256`` on each
  delivery.
- ``shop``: the ``*.myshopify.com`` host. Kept in the params too (deliveries from another shop
  are refused). With it, :func:`sourceflow_source_params` checks that the shop answers and the
  token works before anything is created, and :func:`sourceflow_endpoint` subscribes the topics
  through the Admin API; without it, the webhook URL is printed for the app's own configuration.
- ``accessToken`` (``SHOPIFY_ACCESS_TOKEN``): used for the Admin API calls, never stored by
  sourceflow (without it, the token comes from ``sourceflow shopify login``'s token file).
- ``topics`` (comma-separated; default: ``--object``, else ``orders/create``), ``apiVersion``
  (default ``2024-10``), ``adminApi`` (``rest`` or ``graphql``), ``adminUrl``
  (``SOURCEFLOW_SHOPIFY_ADMIN_URL``; instead of ``https://{shop}``): recorded for teardown,
  which deletes the subscriptions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sourceflow
from sourceflow import (
    PROVIDER_STREAMING,
    ConnectionSpec,
    Source,
    SourceflowError,
    SourceSpec,
    generic_streaming_flow_spec,
)
from sourceflow_shopify import SHOP_PATTERN
from sourceflow_shopify.settings import (
    ADMIN_API,
    ADMIN_URL,
    API_VERSION,
    CLIENT_SECRET,
    CONNECT,
    SHOP,
    TOPICS,
)

# Loading the plugin builds its Source only: the Admin API client (httpx), OAuth, signatures,
# the token file and the resource models are imported by the hooks that use them, so listing
# the plugins does not pay for them.
if TYPE_CHECKING:
    from sourceflow import Delivery, Endpoint, Flow, MappingRule, SourceParams, Verdict
    from sourceflow_shopify.admin import AdminClient
    from sourceflow_shopify.tokens import FoundToken

CONNECTION_SPEC_ID = "e77fd9d2-22a8-11ed-861d-0242ac120002"
FLOW_HEADER = "x-adobe-flow-id"
DEFAULT_TOPIC = "orders/create"
PARAMS = tuple(setting.name for setting in CONNECT)
API_VERSION_PATTERN = re.compile(r"^\d{4}-\d{2}$|^unstable$")

SOURCE_PARAMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "shop": {"type": "string", "pattern": SHOP_PATTERN.pattern},
        "clientSecret": {"type": "string", "minLength": 1},
    },
    "additionalProperties": False,
}

SOURCE = Source(
    name="shopify",
    title="Shopify Streaming",
    description="Orders, customers and products from Shopify webhooks, as they happen.",
    connection_spec=ConnectionSpec(
        id=CONNECTION_SPEC_ID,
        name="Shopify Streaming",
        provider_id=PROVIDER_STREAMING,
        type="streaming",
        source_spec=SourceSpec(
            name="Shopify Streaming",
            type="streaming",
            spec=SOURCE_PARAMS_SCHEMA,
            attributes={"format": ["json"]},
        ),
        attributes={"category": "ecommerce", "isSource": True, "beta": True},
    ),
    flow_specs=(generic_streaming_flow_spec(CONNECTION_SPEC_ID),),
    mode="streaming",
    inlet_on="flow",
    delivery_secret="clientSecret",  # noqa: S106 (the param's name, not a secret)
    needs_base_connection=False,
    # The generic streaming tutorial's target connection (the same flow spec as Chatlio's).
    target_format="json",
)


@sourceflow.hookimpl
def sourceflow_sources() -> list[Source]:
    """The Shopify Streaming source."""
    return [SOURCE]


# --- connect ----------------------------------------------------------------------------------


def _check_params(credentials: Mapping[str, Any]) -> None:
    unknown = sorted(set(credentials) - set(PARAMS))
    if unknown:
        raise SourceflowError(
            f"Shopify takes no --param {', '.join(unknown)}",
            hint=f"it takes: {', '.join(PARAMS)}",
        )
    for key in PARAMS:
        if key in credentials and not str(credentials[key]).strip():
            raise SourceflowError(
                f"--param {key} is empty", hint=f"give {key}=VALUE or leave it out"
            )
    api = ADMIN_API.read(credentials) or "rest"
    if api not in ("rest", "graphql"):
        raise SourceflowError(f"--param adminApi must be rest or graphql (got {api!r})")
    version = API_VERSION.read(credentials)
    if version and not API_VERSION_PATTERN.match(version):
        raise SourceflowError(
            f"--param apiVersion must be YYYY-MM (got {version!r})",
            hint="e.g. apiVersion=2024-10; Shopify supports each version for a year",
        )


def topics_of(object: str | None, credentials: Mapping[str, Any]) -> list[str]:
    """The topics to subscribe: ``topics`` (comma-separated), else ``object``, else
    ``orders/create``."""
    given = TOPICS.read(credentials) or object or DEFAULT_TOPIC
    topics = [t.strip() for t in given.split(",") if t.strip()]
    for topic in topics:
        if topic.count("/") != 1:
            raise SourceflowError(
                f"{topic!r} is not a Shopify webhook topic",
                hint="topics look like orders/create, customers/update, products/delete",
            )
    return topics


def _shop_settings(credentials: Mapping[str, Any]) -> dict[str, str]:
    """What the Admin API calls need and teardown must find again: shop, version, API, URL."""
    from sourceflow_shopify.admin import DEFAULT_API_VERSION
    from sourceflow_shopify.oauth import check_shop

    shop = SHOP.read(credentials)
    if not shop:
        return {}
    chosen = {
        "shop": check_shop(shop),
        "apiVersion": API_VERSION.read(credentials) or DEFAULT_API_VERSION,
        "adminApi": ADMIN_API.read(credentials) or "rest",
    }
    admin_url = ADMIN_URL.read(credentials)
    if admin_url:
        chosen["adminUrl"] = admin_url
    return chosen


@sourceflow.hookimpl
def sourceflow_source_params(
    source: Source, object: str | None, credentials: Mapping[str, Any]
) -> SourceParams:
    """``data.format: json``; params ``shop`` and ``clientSecret`` when given (see the module).

    Runs before the first resource is created on the Flow Service side, so a shop that cannot
    be reached, or a token that does not work or lacks a topic's scope, stops ``connect``
    before anything exists that would need tearing down.
    """
    from sourceflow import redact

    _check_params(credentials)
    topics = topics_of(object, credentials)
    chosen = _shop_settings(credentials)
    params: dict[str, Any] = {}
    if chosen:
        params["shop"] = chosen["shop"]
        with _admin(chosen, _token(chosen, credentials)) as admin:
            admin.check(topics)
    secret = CLIENT_SECRET.read(credentials)
    if secret:
        redact.register(secret)
        params["clientSecret"] = secret
    return sourceflow.SourceParams(data_format="json", params=params or None)


def _order_rules(t: str) -> list[MappingRule]:
    from sourceflow import MappingRule

    return [
        MappingRule.in_tenant("id", "shopify.order.id", t, identity=True),
        MappingRule.in_tenant("name", "shopify.order.name", t),
        MappingRule.in_tenant("order_number", "shopify.order.number", t),
        MappingRule.in_tenant("email", "shopify.order.email", t),
        MappingRule.in_tenant("created_at", "shopify.order.createdAt", t),
        MappingRule.in_tenant("updated_at", "shopify.order.updatedAt", t),
        MappingRule.in_tenant("processed_at", "shopify.order.processedAt", t),
        MappingRule.in_tenant("currency", "shopify.order.currency", t),
        MappingRule.in_tenant("total_price", "shopify.order.totalPrice", t),
        MappingRule.in_tenant("subtotal_price", "shopify.order.subtotalPrice", t),
        MappingRule.in_tenant("total_tax", "shopify.order.totalTax", t),
        MappingRule.in_tenant("total_discounts", "shopify.order.totalDiscounts", t),
        MappingRule.in_tenant("financial_status", "shopify.order.financialStatus", t),
        MappingRule.in_tenant("fulfillment_status", "shopify.order.fulfillmentStatus", t),
        MappingRule.in_tenant("source_name", "shopify.order.sourceName", t),
        MappingRule.in_tenant("tags", "shopify.order.tags", t),
        MappingRule.in_tenant("test", "shopify.order.test", t),
        MappingRule.in_tenant("line_items[0].sku", "shopify.order.firstItemSku", t),
        MappingRule.in_tenant("billing_address.country_code", "shopify.order.billingCountry", t),
        MappingRule.in_tenant("shipping_address.city", "shopify.order.shippingCity", t),
        MappingRule.in_tenant("customer.id", "shopify.customer.id", t),
        MappingRule.in_tenant("customer.email", "shopify.customer.email", t),
        MappingRule.in_tenant("customer.first_name", "shopify.customer.firstName", t),
        MappingRule.in_tenant("customer.last_name", "shopify.customer.lastName", t),
    ]


def _customer_rules(t: str) -> list[MappingRule]:
    from sourceflow import MappingRule

    return [
        MappingRule.in_tenant("id", "shopify.customer.id", t, identity=True),
        MappingRule.in_tenant("email", "shopify.customer.email", t),
        MappingRule.in_tenant("first_name", "shopify.customer.firstName", t),
        MappingRule.in_tenant("last_name", "shopify.customer.lastName", t),
        MappingRule.in_tenant("phone", "shopify.customer.phone", t),
        MappingRule.in_tenant("state", "shopify.customer.state", t),
        MappingRule.in_tenant("verified_email", "shopify.customer.verifiedEmail", t),
        MappingRule.in_tenant("currency", "shopify.customer.currency", t),
        MappingRule.in_tenant("tags", "shopify.customer.tags", t),
        MappingRule.in_tenant("created_at", "shopify.customer.createdAt", t),
        MappingRule.in_tenant("updated_at", "shopify.customer.updatedAt", t),
        MappingRule.in_tenant(
            "email_marketing_consent.state", "shopify.customer.emailMarketingConsent", t
        ),
        MappingRule.in_tenant("default_address.city", "shopify.customer.city", t),
        MappingRule.in_tenant("default_address.country_code", "shopify.customer.countryCode", t),
    ]


def _product_rules(t: str) -> list[MappingRule]:
    from sourceflow import MappingRule

    return [
        MappingRule.in_tenant("id", "shopify.product.id", t, identity=True),
        MappingRule.in_tenant("title", "shopify.product.title", t),
        MappingRule.in_tenant("handle", "shopify.product.handle", t),
        MappingRule.in_tenant("vendor", "shopify.product.vendor", t),
        MappingRule.in_tenant("product_type", "shopify.product.productType", t),
        MappingRule.in_tenant("status", "shopify.product.status", t),
        MappingRule.in_tenant("tags", "shopify.product.tags", t),
        MappingRule.in_tenant("created_at", "shopify.product.createdAt", t),
        MappingRule.in_tenant("updated_at", "shopify.product.updatedAt", t),
        MappingRule.in_tenant("published_at", "shopify.product.publishedAt", t),
        MappingRule.in_tenant("variants[0].sku", "shopify.product.firstVariantSku", t),
        MappingRule.in_tenant("variants[0].price", "shopify.product.firstVariantPrice", t),
    ]


MAPPED_TOPICS = {
    "orders/create": _order_rules,
    "orders/updated": _order_rules,
    "customers/create": _customer_rules,
    "products/create": _product_rules,
    "products/update": _product_rules,
}


@sourceflow.hookimpl
def sourceflow_mapping_defaults(
    source: Source, object: str | None, tenant: str
) -> list[MappingRule] | None:
    """Rules for a topic's payload (``object``; None is ``orders/create``)."""
    rules = MAPPED_TOPICS.get(object or DEFAULT_TOPIC)
    if rules is None:
        raise SourceflowError(
            f"there is no default mapping for Shopify topic {object!r}",
            hint=f"give --mapping FILE, or --object one of: {', '.join(MAPPED_TOPICS)}",
        )
    return rules(tenant)


# --- endpoint ---------------------------------------------------------------------------------


def delivery_url(endpoint: Endpoint) -> str:
    """Where Shopify delivers (the relay in front of the inlet, or the inlet), with the flow
    in its query: Shopify cannot add headers to a delivery."""
    # Imported here: urllib.parse costs loading the plugin 12 M instructions (callgrind).
    from urllib.parse import urlencode

    url = endpoint.deliver_to
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}{urlencode({FLOW_HEADER: endpoint.flow_id})}"


def _token(chosen: Mapping[str, Any], credentials: Mapping[str, Any] | None) -> FoundToken:
    from sourceflow_shopify.tokens import find_token

    return find_token(str(chosen["shop"]), credentials, chosen.get("tokenFile"))


def _admin(chosen: Mapping[str, Any], token: FoundToken) -> AdminClient:
    from sourceflow_shopify.admin import DEFAULT_API_VERSION, AdminClient

    return AdminClient(
        str(chosen["shop"]),
        token.token,
        admin_url=chosen.get("adminUrl") or None,
        api_version=str(chosen.get("apiVersion") or DEFAULT_API_VERSION),
        token_from=token.origin,
    )


@sourceflow.hookimpl
def sourceflow_endpoint(
    source: Source, flow: Flow, endpoint: Endpoint, credentials: Mapping[str, Any]
) -> dict[str, Any]:
    """Subscribe the topics to the flow's inlet (when a shop is given); what was subscribed.

    A subscription the shop already has for this inlet and topic (made by an earlier run whose
    answer was lost) is adopted rather than duplicated; see :meth:`AdminClient.subscribe`.
    """
    _check_params(credentials)
    url = delivery_url(endpoint)
    topics = topics_of(endpoint.object, credentials)
    facts: dict[str, Any] = {"webhookUrl": url}
    chosen = _shop_settings(credentials)
    if not chosen:
        facts["subscriptions"] = (
            "none (no --param shop): subscribe your topics to webhookUrl in the app's configuration"
        )
        return facts
    facts.update(chosen)
    api = chosen["adminApi"]
    made: list[str] = []
    token = _token(chosen, credentials)
    if token.path is not None:
        # Teardown, run from any directory, reads the token from the file this run used.
        facts["tokenFile"] = str(token.path)
    with _admin(chosen, token) as admin:
        try:
            for topic in topics:
                made.append(admin.subscribe(topic, url, api))
        except Exception as exc:
            # Leave nothing subscribed that no record names: a re-run subscribes them all again.
            _undo(admin, api, made, exc)
            raise
    facts.update(topics=",".join(topics), webhookIds=",".join(made))
    return facts


def _undo(admin: AdminClient, api: str, ids: list[str], error: Exception) -> None:
    left = []
    for webhook_id in ids:
        try:
            admin.unsubscribe(webhook_id, api)
        except SourceflowError:
            left.append(webhook_id)
    if left:
        raise SourceflowError(
            f"{error}; and the subscriptions made before it could not be removed "
            f"({', '.join(left)})",
            hint="run connect again when the shop answers: it adopts them, and teardown "
            "then removes them",
        ) from error


@sourceflow.hookimpl
def sourceflow_remove_endpoint(
    source: Source, flow: Flow, endpoint: Endpoint, recorded: Mapping[str, Any]
) -> None:
    """Delete the subscriptions ``sourceflow_endpoint`` made (already gone is fine)."""
    ids = [i for i in str(recorded.get("webhookIds") or "").split(",") if i]
    if not ids or not recorded.get("shop"):
        return
    api = str(recorded.get("adminApi") or "rest")
    with _admin(recorded, _token(recorded, None)) as admin:
        for webhook_id in ids:
            admin.unsubscribe(webhook_id, api)


# --- inlet ------------------------------------------------------------------------------------


@sourceflow.hookimpl
def sourceflow_verify_delivery(source: Source, request: Delivery) -> Verdict:
    """Check ``X-Shopify-Hmac-Sha256`` against the raw body with the app's client secret;
    name the delivery by ``X-Shopify-Webhook-Id`` (else ``X-Shopify-Event-Id``).

    Fails closed: without a client secret every delivery is refused.
    """
    from sourceflow_shopify.signing import webhook_is_authentic

    delivery_id = request.headers.get("x-shopify-webhook-id") or request.headers.get(
        "x-shopify-event-id"
    )
    secret = request.config.get("clientSecret")
    if not secret:
        return sourceflow.Verdict(
            authentic=False,
            reason="this flow has no clientSecret, so no delivery can be verified",
        )
    given = request.headers.get("x-shopify-hmac-sha256")
    if not given:
        return sourceflow.Verdict(
            authentic=False,
            reason="no X-Shopify-Hmac-Sha256 header: Shopify signs every webhook it sends",
        )
    if not webhook_is_authentic(str(secret), request.body, given):
        return sourceflow.Verdict(
            authentic=False,
            reason="X-Shopify-Hmac-Sha256 does not match the body signed with the app's "
            "client secret",
        )
    shop = request.config.get("shop")
    sender = request.headers.get("x-shopify-shop-domain")
    if shop and sender and sender.lower() != str(shop).lower():
        return sourceflow.Verdict(
            authentic=False, reason=f"the delivery comes from {sender}, not {shop}"
        )
    return sourceflow.Verdict(authentic=True, delivery_id=delivery_id)
