"""The Shopify plugin passes sourceflow's conformance suite: webhooks subscribed on the fake
shop, signed deliveries of the sample payloads, subscriptions deleted at teardown."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from shopify_fake import PAYLOADS, FakeShop

from sourceflow.testing import PluginConformance, delivery_id
from sourceflow_shopify.signing import webhook_signature


class TestShopifyConformance(PluginConformance):
    plugin = "sourceflow-shopify"
    samples = {
        "orders/create": PAYLOADS / "orders_create.json",
        "orders/updated": PAYLOADS / "orders_updated.json",
        "customers/create": PAYLOADS / "customers_create.json",
        "products/create": PAYLOADS / "products_create.json",
        "products/update": PAYLOADS / "products_update.json",
    }

    @pytest.fixture
    def plugin_credentials(
        self, fake_shop: tuple[FakeShop, str], monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[dict[str, Any]]:
        """The fake shop's credentials; after the test, no webhook may be left subscribed."""
        shop, admin_url = fake_shop
        # Teardown reads the Admin API token from the environment, as a user's shell has it.
        monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", shop.token)
        yield {
            "shop": shop.shop,
            "clientSecret": shop.client_secret,
            "accessToken": shop.token,
            "adminUrl": admin_url,
        }
        assert shop.webhooks == {}, f"teardown left webhooks subscribed: {shop.webhooks}"

    def sign(self, body: bytes, credentials: Mapping[str, Any]) -> dict[str, str]:
        """Shopify's headers: the body's HMAC with the app's secret and a webhook id."""
        return {
            "X-Shopify-Hmac-Sha256": webhook_signature(str(credentials["clientSecret"]), body),
            "X-Shopify-Webhook-Id": delivery_id(),
            "X-Shopify-Shop-Domain": str(credentials["shop"]),
        }
