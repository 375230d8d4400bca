"""Default Data Prep rules for the six resource paths.

Records are read as ``{"data": <Stripe object>}`` (see :mod:`.reader`), so source attributes
start with ``data.``, as in Adobe's Stripe tutorial; destinations live under the tenant
namespace, one object per resource: ``_{tenant}.charges_data.amount``.
"""

from __future__ import annotations

from sourceflow import MappingRule

_ADDRESS = tuple(
    f"address.{f}" for f in ("city", "country", "line1", "line2", "postal_code", "state")
)

FIELDS: dict[str, tuple[str, ...]] = {
    "charges": (
        "id",
        "object",
        "amount",
        "amount_captured",
        "amount_refunded",
        "currency",
        "status",
        "customer",
        "created",
        "description",
        "paid",
        "refunded",
        "disputed",
        "captured",
        "livemode",
        "receipt_email",
        "failure_code",
        "failure_message",
        "payment_intent",
        "balance_transaction",
        "billing_details.name",
        "billing_details.email",
        "billing_details.phone",
        *(f"billing_details.{a}" for a in _ADDRESS),
        "payment_method_details.type",
        "payment_method_details.card.brand",
        "payment_method_details.card.last4",
        "payment_method_details.card.exp_month",
        "payment_method_details.card.exp_year",
        "payment_method_details.card.country",
        "payment_method_details.card.funding",
        "outcome.type",
        "outcome.network_status",
        "outcome.reason",
        "outcome.risk_level",
        "outcome.seller_message",
    ),
    "subscriptions": (
        "id",
        "object",
        "customer",
        "status",
        "currency",
        "created",
        "start_date",
        "current_period_start",
        "current_period_end",
        "cancel_at",
        "cancel_at_period_end",
        "canceled_at",
        "ended_at",
        "trial_start",
        "trial_end",
        "collection_method",
        "description",
        "livemode",
        "latest_invoice",
        "default_payment_method",
    ),
    "refunds": (
        "id",
        "object",
        "amount",
        "currency",
        "charge",
        "payment_intent",
        "created",
        "reason",
        "status",
        "receipt_number",
        "balance_transaction",
    ),
    "balance_transactions": (
        "id",
        "object",
        "amount",
        "currency",
        "net",
        "fee",
        "type",
        "status",
        "reporting_category",
        "source",
        "description",
        "created",
        "available_on",
        "exchange_rate",
    ),
    "customers": (
        "id",
        "object",
        "email",
        "name",
        "phone",
        "description",
        "created",
        "currency",
        "balance",
        "delinquent",
        "livemode",
        "invoice_prefix",
        *_ADDRESS,
    ),
    "prices": (
        "id",
        "object",
        "product",
        "active",
        "currency",
        "unit_amount",
        "unit_amount_decimal",
        "type",
        "billing_scheme",
        "recurring.interval",
        "recurring.interval_count",
        "recurring.usage_type",
        "nickname",
        "lookup_key",
        "tax_behavior",
        "created",
        "livemode",
    ),
}


def default_rules(resource: str, tenant: str) -> list[MappingRule]:
    """The rules for ``resource``: ``data.{field}`` to ``_{tenant}.{resource}_data.{field}``."""
    return [
        MappingRule.in_tenant(f"data.{field}", f"{resource}_data.{field}", tenant)
        for field in FIELDS[resource]
    ]
