"""Hook implementations for the Shopify Streaming source.

A generic streaming source: no base connection; the flow (spec ``e77fde5a-…``) owns the inlet.
What ``connect`` takes (``--param KEY=VALUE``), and where each value lives:

- ``clientSecret``: the app's client secret. Kept in the source connection's params (masked in
  every answer), so that the inlet's ``Delivery.config`` carries it to
  :func:`sourceflow_verify_delivery`, which checks ``X-Shopify-Hmac-Sha256`` on each delivery.
- ``shop``: the ``*.myshopify.com`` host. Kept in the params too (deliveries from another shop
  are refused). With it, :func:`sourceflow_endpoint` subscribes the topics through the Admin
  API; without it, the webhook URL is printed for the app's own configuration.
- ``accessToken``: used for the Admin API calls, never stored by sourceflow (without it, the
  token comes from ``SHOPIFY_ACCESS_TOKEN`` or ``sourceflow shopify login``'s token file).
- ``topics`` (comma-separated; default: ``--object``, else ``orders/create``), ``apiVersion``
  (default ``2024-10``), ``adminApi`` (``rest`` or ``graphql``), ``adminUrl`` (instead of
  ``https://{shop}``): recorded for teardown, which deletes the subscriptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import sourceflow
from sourceflow.errors import SourceflowError
from sourceflow.hooktypes import (
    PROVIDER_STREAMING,
    ConnectionSpec,
    Delivery,
    Endpoint,
    Source,
    SourceParams,
    SourceSpec,
    Verdict,
    generic_streaming_flow_spec,
)
from sourceflow_shopify import SHOP_PATTERN

# Loading the plugin builds its Source only: the Admin API client (httpx), OAuth, signatures,
# the token file and the resource models are imported by the hooks that use them, so listing
# the plugins does not pay for them.
if TYPE_CHECKING:
    from sourceflow.model import Flow, MappingRule
    from sourceflow_shopify.admin import AdminClient

CONNECTION_SPEC_ID = "e77fd9d2-22a8-11ed-861d-0242ac120002"
FLOW_HEADER = "x-adobe-flow-id"
DEFAULT_TOPIC = "orders/create"
PARAMS = ("clientSecret", "shop", "accessToken", "topics", "apiVersion", "adminApi", "adminUrl")

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
    if credentials.get("adminApi", "rest") not in ("rest", "graphql"):
        raise SourceflowError(
            f"--param adminApi must be rest or graphql (got {credentials['adminApi']!r})"
        )


def topics_of(object: str | None, credentials: Mapping[str, Any]) -> list[str]:
    """The topics to subscribe: ``topics`` (comma-separated), else ``object``, else
    ``orders/create``."""
    given = str(credentials.get("topics") or object or DEFAULT_TOPIC)
    topics = [t.strip() for t in given.split(",") if t.strip()]
    for topic in topics:
        if topic.count("/") != 1:
            raise SourceflowError(
                f"{topic!r} is not a Shopify webhook topic",
                hint="topics look like orders/create, customers/update, products/delete",
            )
    return topics


@sourceflow.hookimpl
def sourceflow_source_params(
    source: Source, object: str | None, credentials: Mapping[str, Any]
) -> SourceParams:
    """``data.format: json``; params ``shop`` and ``clientSecret`` when given (see the module)."""
    from sourceflow import redact
    from sourceflow_shopify.oauth import check_shop

    _check_params(credentials)
    topics_of(object, credentials)
    params: dict[str, Any] = {}
    if credentials.get("shop"):
        params["shop"] = check_shop(str(credentials["shop"]))
    if credentials.get("clientSecret"):
        redact.register(str(credentials["clientSecret"]))
        params["clientSecret"] = str(credentials["clientSecret"])
    return SourceParams(data_format="json", params=params or None)


def _order_rules(t: str) -> list[MappingRule]:
    from sourceflow.model import MappingRule

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
    from sourceflow.model import MappingRule

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
    from sourceflow.model import MappingRule

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
    """The inlet URL with the flow in its query: Shopify cannot add headers to a delivery."""
    joiner = "&" if "?" in endpoint.inlet_url else "?"
    return f"{endpoint.inlet_url}{joiner}{urlencode({FLOW_HEADER: endpoint.flow_id})}"


def _admin(recorded: Mapping[str, Any], credentials: Mapping[str, Any] | None) -> AdminClient:
    from sourceflow_shopify.admin import DEFAULT_API_VERSION, AdminClient
    from sourceflow_shopify.tokens import access_token

    shop = str(recorded["shop"])
    return AdminClient(
        shop,
        access_token(shop, credentials),
        admin_url=recorded.get("adminUrl") or None,
        api_version=str(recorded.get("apiVersion") or DEFAULT_API_VERSION),
    )


@sourceflow.hookimpl
def sourceflow_endpoint(
    source: Source, flow: Flow, endpoint: Endpoint, credentials: Mapping[str, Any]
) -> dict[str, Any]:
    """Subscribe the topics to the flow's inlet (when a shop is given); what was created."""
    from sourceflow_shopify.admin import DEFAULT_API_VERSION
    from sourceflow_shopify.oauth import check_shop

    _check_params(credentials)
    url = delivery_url(endpoint)
    topics = topics_of(endpoint.object, credentials)
    facts: dict[str, Any] = {"webhookUrl": url}
    if not credentials.get("clientSecret"):
        facts["warning"] = (
            "no --param clientSecret: deliveries are not signature-checked (only de-duplicated)"
        )
    if not credentials.get("shop"):
        facts["subscriptions"] = (
            "none (no --param shop): subscribe your topics to webhookUrl in the app's configuration"
        )
        return facts
    facts.update(
        shop=check_shop(str(credentials["shop"])),
        apiVersion=str(credentials.get("apiVersion") or DEFAULT_API_VERSION),
        adminApi=str(credentials.get("adminApi") or "rest"),
    )
    if credentials.get("adminUrl"):
        facts["adminUrl"] = str(credentials["adminUrl"])
    created: list[str] = []
    with _admin(facts, credentials) as admin:
        try:
            for topic in topics:
                if facts["adminApi"] == "graphql":
                    created.append(admin.create_subscription(topic, url))
                else:
                    created.append(str(admin.create_webhook(topic, url)["id"]))
        except Exception:
            # Leave nothing half-subscribed: a re-run of connect subscribes them all again.
            _delete(admin, str(facts["adminApi"]), created)
            raise
    facts.update(topics=",".join(topics), webhookIds=",".join(created))
    return facts


def _delete(admin: AdminClient, api: str, ids: list[str]) -> None:
    for webhook_id in ids:
        if api == "graphql":
            admin.delete_subscription(webhook_id)
        else:
            admin.delete_webhook(webhook_id)


@sourceflow.hookimpl
def sourceflow_remove_endpoint(
    source: Source, flow: Flow, endpoint: Endpoint, recorded: Mapping[str, Any]
) -> None:
    """Delete the subscriptions ``sourceflow_endpoint`` created (already gone is fine)."""
    ids = [i for i in str(recorded.get("webhookIds") or "").split(",") if i]
    if not ids or not recorded.get("shop"):
        return
    with _admin(recorded, None) as admin:
        _delete(admin, str(recorded.get("adminApi") or "rest"), ids)


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
        return Verdict(
            authentic=False,
            reason="this flow has no clientSecret, so no delivery can be verified",
        )
    given = request.headers.get("x-shopify-hmac-sha256")
    if not given:
        return Verdict(
            authentic=False,
            reason="no X-Shopify-Hmac-Sha256 header: Shopify signs every webhook it sends",
        )
    if not webhook_is_authentic(str(secret), request.body, given):
        return Verdict(
            authentic=False,
            reason="X-Shopify-Hmac-Sha256 does not match the body signed with the app's "
            "client secret",
        )
    shop = request.config.get("shop")
    sender = request.headers.get("x-shopify-shop-domain")
    if shop and sender and sender.lower() != str(shop).lower():
        return Verdict(authentic=False, reason=f"the delivery comes from {sender}, not {shop}")
    return Verdict(authentic=True, delivery_id=delivery_id)
