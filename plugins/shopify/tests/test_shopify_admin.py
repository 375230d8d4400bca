"""The Admin API client against the fake shop: REST and GraphQL, throttling, errors, and
creates settled after a lost answer."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shopify_fake import FAULTS, FakeShop

from sourceflow import SourceflowError
from sourceflow.http import RetryPolicy
from sourceflow_shopify.admin import AdminClient, graphql_topic

FAST = RetryPolicy(attempts=5, base=0.001, cap=0.01)
CLIENT_TIMEOUT = 0.4  # the fake holds a "timeout" answer longer (FakeShop.stall)


def admin(shop: FakeShop, url: str, **options) -> AdminClient:
    waits: list[float] = []
    options.setdefault("policy", FAST)
    client = AdminClient(
        shop.shop,
        shop.token,
        admin_url=url,
        api_version="2024-10",
        sleep=waits.append,
        timeout=CLIENT_TIMEOUT,
        **options,
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
        assert api.list_webhooks("orders/create", "http://elsewhere") == []
        assert api.delete_webhook(created["id"]) is True
        assert api.delete_webhook(created["id"]) is False  # already gone
    assert ("POST", "/admin/api/2024-10/webhooks.json") in [(m, p) for m, p, _ in shop.requests]


def test_graphql_create_find_and_delete(fake_shop):
    shop, url = fake_shop
    assert graphql_topic("orders/create") == "ORDERS_CREATE"
    with admin(shop, url) as api:
        gid = api.create_subscription("orders/create", "http://inlet/collection/x")
        assert gid.startswith("gid://shopify/WebhookSubscription/")
        assert shop.subscriptions() == [("orders/create", "http://inlet/collection/x")]
        assert api.list_subscriptions("orders/create", "http://inlet/collection/x") == [gid]
        assert api.list_subscriptions("orders/updated", "http://inlet/collection/x") == []
        assert api.delete_subscription(gid) is True
        assert api.delete_subscription(gid) is False
        with pytest.raises(SourceflowError, match="Invalid topic"):
            api.create_subscription("orders/exploded", "http://inlet")


def test_429_is_retried_after_retry_after(fake_shop):
    shop, url = fake_shop
    shop.throttle_next = 2
    with admin(shop, url) as api:
        api.subscribe("orders/create", "http://inlet/a")
        assert api.waits == [0.05, 0.05]  # type: ignore[attr-defined]
    assert len(shop.requests) == 3
    assert len(shop.webhooks) == 1


def test_graphql_throttled_is_waited_out_for_its_cost(fake_shop):
    shop, url = fake_shop
    shop.throttle_next = 2
    with admin(shop, url) as api:
        api.subscribe("orders/create", "http://inlet/a", "graphql")
        # The fake's cost: 10 wanted, 5 available, 100 restored a second: 0.05 s each time.
        paced = [w for w in api.waits if w > FAST.cap]  # type: ignore[attr-defined]
        assert len(paced) == 2 and all(0.03 < w <= 0.05 for w in paced)
    assert len(shop.requests) == 3
    assert len(shop.webhooks) == 1


def test_429_past_the_retries_is_an_error(fake_shop):
    shop, url = fake_shop
    shop.throttle_next = 10
    policy = RetryPolicy(attempts=2, base=0.001)
    with admin(shop, url, policy=policy) as api, pytest.raises(SourceflowError) as caught:
        api.list_webhooks()
    assert "429" in str(caught.value) and "try again in a minute" in str(caught.value.hint)
    assert len(shop.requests) == 2


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
        AdminClient(shop.shop, "shpca_wrongtoken000", admin_url=url, token_from="MY_VAR") as api,
        pytest.raises(SourceflowError) as caught,
    ):
        api.list_webhooks()
    assert "401" in str(caught.value) and "shopify login" in str(caught.value.hint)
    assert "MY_VAR" in str(caught.value.hint)  # which token to fix
    assert "shpca_wrongtoken000" not in str(caught.value)


def test_an_unknown_topic_is_refused_with_shopifys_message(fake_shop):
    shop, url = fake_shop
    with admin(shop, url) as api, pytest.raises(SourceflowError) as caught:
        api.subscribe("orders/exploded", "http://inlet")
    assert "422" in str(caught.value) and "Invalid topic" in str(caught.value)
    assert shop.webhooks == {}


def test_the_check_names_the_scope_a_topic_lacks(fake_shop):
    shop, url = fake_shop
    shop.scopes = "read_orders,write_customers"
    with admin(shop, url) as api:
        assert api.check(["orders/create", "customers/create"]) == [
            "read_orders",
            "write_customers",
        ]
        with pytest.raises(SourceflowError) as caught:
            api.check(["orders/create", "products/update"])
    assert "lacks read_products" in str(caught.value)
    assert "--scopes including read_products" in str(caught.value.hint)


def test_a_shop_that_does_not_resolve_says_so():
    with (
        AdminClient(
            "acme.myshopify.com", "shpca_x0000000", admin_url="http://acme.invalid", policy=FAST
        ) as api,
        pytest.raises(SourceflowError) as caught,
    ):
        api.check(["orders/create"])
    assert "acme.invalid does not resolve" in str(caught.value)
    assert "ConnectError" not in str(caught.value)


@pytest.mark.parametrize("api_name", ["rest", "graphql"])
@pytest.mark.parametrize("fault", FAULTS)
def test_a_lost_create_answer_is_settled_by_lookup(fake_shop, api_name, fault):
    """The issue's orphan: the shop made the subscription, its answer was lost."""
    shop, url = fake_shop
    shop.stall = CLIENT_TIMEOUT * 2
    shop.faults = [fault]
    address = "http://inlet/collection/x?x-adobe-flow-id=f"
    with admin(shop, url) as api:
        made = api.subscribe("orders/create", address, api_name)
        assert api.find("orders/create", address, api_name) == [made]
    assert shop.dropped[0][:2] == (fault, "POST")
    assert shop.subscriptions() == [("orders/create", address)]  # one, neither lost nor doubled


@pytest.mark.parametrize("api_name", ["rest", "graphql"])
def test_an_existing_subscription_is_adopted(fake_shop, api_name):
    shop, url = fake_shop
    with admin(shop, url) as api:
        first = api.subscribe("orders/create", "http://inlet/a", api_name)
        shop.requests.clear()
        assert api.subscribe("orders/create", "http://inlet/a", api_name) == first
    assert len(shop.webhooks) == 1
    # The second create was refused as taken, and the lookup found the first.
    assert [m for m, _, _ in shop.requests] == ["POST", "POST" if api_name == "graphql" else "GET"]


def test_a_create_whose_lookup_fails_too_says_to_run_connect_again(fake_shop):
    shop, url = fake_shop
    # The create's answer is lost; every try of the lookup fails as well.
    shop.faults = ["504"] + ["502"] * FAST.attempts
    with admin(shop, url) as api, pytest.raises(SourceflowError) as caught:
        api.subscribe("orders/create", "http://inlet/a")
    assert "could not be asked" in str(caught.value)
    assert "run connect again" in str(caught.value.hint)
    with admin(shop, url) as api:  # which adopts the subscription the shop made
        assert api.subscribe("orders/create", "http://inlet/a") == str(next(iter(shop.webhooks)))
    assert len(shop.webhooks) == 1


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    plan=st.lists(st.sampled_from([None, None, *FAULTS]), max_size=12),
    api_name=st.sampled_from(["rest", "graphql"]),
    topics=st.lists(
        st.sampled_from(["orders/create", "orders/updated", "customers/create"]),
        min_size=1,
        max_size=3,
        unique=True,
    ),
)
def test_whatever_answers_are_lost_each_topic_is_subscribed_once(fake_shop, plan, api_name, topics):
    shop, url = fake_shop
    shop.webhooks.clear()
    shop.stall = CLIENT_TIMEOUT * 2
    shop.faults = list(plan)
    address = "http://inlet/collection/x?x-adobe-flow-id=f"
    made: dict[str, str] = {}
    with admin(shop, url) as api:
        for topic in topics:
            before = len(shop.dropped)
            try:
                made[topic] = api.subscribe(topic, address, api_name)
            except SourceflowError as exc:
                failure = str(exc)
                # Only when the shop's answers were lost try after try, and it says so.
                assert len(shop.dropped) - before >= FAST.attempts
                assert "could not be asked" in failure or "no answer from" in failure
        shop.faults = []
        for topic in topics:  # once the shop answers again, a second try settles the rest
            made[topic] = made.get(topic) or api.subscribe(topic, address, api_name)
        ids = {t: api.find(t, address, api_name) for t in topics}
    assert sorted(shop.subscriptions(address)) == sorted((t, address) for t in topics)
    assert ids == {t: [made[t]] for t in topics}
