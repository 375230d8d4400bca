"""The Admin API client against the fake shop: REST and GraphQL, throttling, errors."""

from __future__ import annotations

import pytest

from sourceflow.errors import SourceflowError
from sourceflow_shopify.admin import AdminClient, graphql_topic


def admin(shop, url, **options) -> AdminClient:
    waits: list[float] = []
    client = AdminClient(
        shop.shop, shop.token, admin_url=url, api_version="2024-10", sleep=waits.append, **options
    )
    client.waits = waits  # type: ignore[attr-defined]
    return client


def test_rest_create_list_delete(fake_shop):
    shop, url = fake_shop
    with admin(shop, url) as api:
        created = api.create_webhook("orders/create", "http://inlet/collection/x?x-adobe-flow-id=f")
        assert created["topic"] == "orders/create" and created["api_version"] == "2024-10"
        assert [h["id"] for h in api.list_webhooks("orders/create")] == [created["id"]]
        assert api.list_webhooks("products/create") == []
        assert api.delete_webhook(created["id"]) is True
        assert api.delete_webhook(created["id"]) is False  # already gone
    assert ("POST", "/admin/api/2024-10/webhooks.json") in [(m, p) for m, p, _ in shop.requests]


def test_graphql_create_and_delete(fake_shop):
    shop, url = fake_shop
    assert graphql_topic("orders/create") == "ORDERS_CREATE"
    with admin(shop, url) as api:
        gid = api.create_subscription("orders/create", "http://inlet/collection/x")
        assert gid.startswith("gid://shopify/WebhookSubscription/")
        assert [h["topic"] for h in shop.webhooks.values()] == ["orders/create"]
        assert api.delete_subscription(gid) is True
        assert api.delete_subscription(gid) is False
        with pytest.raises(SourceflowError, match="Invalid topic"):
            api.create_subscription("orders/exploded", "http://inlet")


def test_429_is_retried_after_retry_after(fake_shop):
    shop, url = fake_shop
    shop.throttle_next = 2
    with admin(shop, url) as api:
        api.create_webhook("orders/create", "http://inlet/a")
        assert api.waits == [0.05, 0.05]  # type: ignore[attr-defined]
    assert len(shop.requests) == 3


def test_429_past_the_retries_is_an_error(fake_shop):
    shop, url = fake_shop
    shop.throttle_next = 10
    with admin(shop, url, retries=1) as api, pytest.raises(SourceflowError) as caught:
        api.list_webhooks()
    assert "429" in str(caught.value)


def test_a_nearly_full_bucket_slows_the_next_call(fake_shop):
    shop, url = fake_shop
    shop.bucket_used = 39
    with admin(shop, url, leak_rate=100.0) as api:
        api.list_webhooks()
        assert api.waits == []  # type: ignore[attr-defined]
        api.list_webhooks()
        # 39 of 40 used, 2 places kept free: wait for 2 calls to drain at 100/s.
        (wait,) = api.waits  # type: ignore[attr-defined]
        assert 0.0 < wait <= 0.02


def test_a_wrong_token_is_a_clear_error_without_the_token(fake_shop):
    shop, url = fake_shop
    with (
        AdminClient(shop.shop, "shpca_wrongtoken000", admin_url=url) as api,
        pytest.raises(SourceflowError) as caught,
    ):
        api.list_webhooks()
    assert "401" in str(caught.value) and "shopify login" in caught.value.hint
    assert "shpca_wrongtoken000" not in str(caught.value)


def test_an_unknown_topic_is_refused_with_shopifys_message(fake_shop):
    shop, url = fake_shop
    with admin(shop, url) as api, pytest.raises(SourceflowError) as caught:
        api.create_webhook("orders/exploded", "http://inlet")
    assert "422" in str(caught.value) and "Invalid topic" in str(caught.value)
