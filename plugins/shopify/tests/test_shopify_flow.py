"""Shopify end to end: connect through the lifecycle against the local platform and the fake
shop, signed deliveries at the inlet, teardown; the mapping defaults against the samples;
`sourceflow shopify login` as a user runs it."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import threading
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shopify_fake import FAULTS, payload, payload_json

from sourceflow import SourceflowError
from sourceflow.http import RetryPolicy
from sourceflow.testing import (
    ConnectRequest,
    client_for,
    create_dataset,
    lifecycle_for,
    local_platform,
    map_record,
)
from sourceflow_shopify import admin
from sourceflow_shopify.plugin import MAPPED_TOPICS
from sourceflow_shopify.signing import webhook_signature
from sourceflow_shopify.tokens import TokenStore

SECRET = "shpss_fakeclientsecret"


@pytest.fixture
def registry(sourceflow_registry):
    sourceflow_registry.load_entry_points(allow=["sourceflow-shopify"])
    return sourceflow_registry


@pytest.fixture
def platform(tmp_path, registry):
    with local_platform(tmp_path / "platform", registry=registry) as served:
        yield served.app, served.url


@pytest.fixture
def client(platform):
    with client_for(platform[1]) as c:
        yield c


@pytest.fixture
def dataset(client):
    return create_dataset(client, "orders", schema="https://ns.adobe.com/t/o")


def deliver(url: str, body: bytes, *, webhook_id: str, secret: str = SECRET, **headers: str):
    sent = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": "acme.myshopify.com",
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-API-Version": "2024-10",
        "X-Shopify-Hmac-Sha256": webhook_signature(secret, body),
        **headers,
    }
    return httpx.post(url, content=body, headers=sent, timeout=10)


def test_connect_subscribes_verifies_deduplicates_and_tears_down(
    fake_shop, platform, client, registry, dataset, tmp_path, monkeypatch
):
    shop, admin_url = fake_shop
    app, _ = platform
    lifecycle = lifecycle_for(client, registry, tmp_path / "state.json")
    done = lifecycle.connect(
        ConnectRequest(
            source="shopify",
            name="shop",
            dataset_id=dataset,
            tenant="acme",
            credentials={
                "shop": shop.shop,
                "clientSecret": SECRET,
                "accessToken": shop.token,
                "adminUrl": admin_url,
                "topics": "orders/create,orders/updated",
            },
        )
    )
    assert "base_connection" not in done.ids
    (first, second) = shop.webhooks.values()
    assert [first["topic"], second["topic"]] == ["orders/create", "orders/updated"]
    assert first["address"] == f"{done.inlet_url}?x-adobe-flow-id={done.flow_id}"
    facts = done.endpoint_facts
    assert facts["webhookIds"] == f"{first['id']},{second['id']}"
    assert shop.token not in json.dumps(facts) and SECRET not in json.dumps(facts)

    # Secrets are stored for the inlet but masked in answers.
    source = client.source_connections.get(done.ids["source_connection"])
    assert source.params == {"shop": "acme.myshopify.com", "clientSecret": "***"}

    body = payload("orders/create")
    url = first["address"]
    ok = deliver(url, body, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    again = deliver(url, body, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    assert ok.status_code == again.status_code == 200
    assert again.json() == ok.json()
    forged = deliver(url, body, webhook_id="forged-1", secret="shpss_not_the_secret")
    assert forged.status_code == 401
    assert {"type", "title", "status", "detail"} <= set(forged.json())
    assert "X-Shopify-Hmac-Sha256 does not match" in forged.json()["detail"]
    unsigned = httpx.post(url, content=body, headers={"X-Shopify-Webhook-Id": "u-1"})
    assert unsigned.status_code == 401 and "no X-Shopify-Hmac-Sha256" in unsigned.json()["detail"]
    other_shop = deliver(
        url, body, webhook_id="o-1", **{"X-Shopify-Shop-Domain": "evil.myshopify.com"}
    )
    assert other_shop.status_code == 401
    assert app.state.platform.store.row("SELECT count(*) AS n FROM messages")["n"] == 1

    assert app.state.platform.wait_idle(5)
    (row,) = client.dataset_rows(dataset)
    order = row["record"]["_acme"]["shopify"]["order"]
    assert order["id"] == payload_json("orders/create")["id"]
    assert order["totalPrice"] == "57.60" and order["firstItemSku"] == "NOTE-A5"

    # Teardown finds the token in the environment and deletes the subscriptions.
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", shop.token)
    record = lifecycle.state.get("shop", client.settings.platform_url, client.settings.sandbox)
    assert record is not None
    lifecycle.teardown(record)
    assert shop.webhooks == {}


def test_graphql_subscriptions_and_the_topic_from_object(
    fake_shop, client, registry, dataset, tmp_path, monkeypatch
):
    shop, admin_url = fake_shop
    lifecycle = lifecycle_for(client, registry, tmp_path / "state.json")
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", shop.token)
    done = lifecycle.connect(
        ConnectRequest(
            source="shopify",
            name="products",
            dataset_id=dataset,
            object="products/update",
            credentials={
                "shop": shop.shop,
                "adminUrl": admin_url,
                "adminApi": "graphql",
                "clientSecret": shop.client_secret,
            },
        )
    )
    (hook,) = shop.webhooks.values()
    assert hook["topic"] == "products/update"
    assert done.endpoint_facts["webhookIds"] == shop.gid(hook["address"], hook["topic"])
    record = lifecycle.state.get("products", client.settings.platform_url, client.settings.sandbox)
    assert record is not None
    lifecycle.teardown(record)
    assert shop.webhooks == {}


def test_with_a_relay_in_front_the_shop_delivers_to_the_relay(
    fake_shop, client, registry, dataset, tmp_path, monkeypatch
):
    shop, admin_url = fake_shop
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", shop.token)  # teardown reads it, as a shell has
    lifecycle = lifecycle_for(client, registry, tmp_path / "state.json")
    relay = "https://relay.example.com"
    done = lifecycle.connect(
        ConnectRequest(
            source="shopify",
            name="relayed",
            dataset_id=dataset,
            credentials={
                "shop": shop.shop,
                "accessToken": shop.token,
                "adminUrl": admin_url,
                "clientSecret": shop.client_secret,
            },
            webhook_base=relay,
        )
    )
    (hook,) = shop.webhooks.values()
    # The relay serves the inlet's own path: only the host differs.
    assert done.inlet_url is not None and done.inlet_id is not None
    assert hook["address"].startswith(f"{relay}/collection/{done.inlet_id}?x-adobe-flow-id=")
    assert not hook["address"].startswith(done.inlet_url)
    record = lifecycle.state.get("relayed", client.settings.platform_url, client.settings.sandbox)
    assert record is not None
    lifecycle.teardown(record)
    assert shop.webhooks == {}


def test_a_refused_subscription_leaves_nothing_subscribed(
    fake_shop, client, registry, dataset, tmp_path
):
    shop, admin_url = fake_shop
    lifecycle = lifecycle_for(client, registry, tmp_path / "state.json")
    with pytest.raises(SourceflowError) as caught:
        lifecycle.connect(
            ConnectRequest(
                source="shopify",
                name="bad-topic",
                dataset_id=dataset,
                credentials={
                    "clientSecret": shop.client_secret,
                    "shop": shop.shop,
                    "accessToken": shop.token,
                    "adminUrl": admin_url,
                    "topics": "orders/create,orders/exploded",
                },
            )
        )
    assert "Invalid topic" in str(caught.value)
    assert shop.webhooks == {}


@pytest.mark.parametrize(
    ("credentials", "message"),
    [
        ({"shop": "acme.com"}, "is not a shop domain"),
        ({"secret": "x"}, "takes no --param secret"),
        ({"adminApi": "soap"}, "must be rest or graphql"),
        ({"topics": "orders"}, "is not a Shopify webhook topic"),
    ],
)
def test_bad_params_are_named_before_anything_is_created(
    client, registry, dataset, tmp_path, credentials, message
):
    lifecycle = lifecycle_for(client, registry, tmp_path / "state.json")
    with pytest.raises(SourceflowError, match=message):
        lifecycle.connect(
            ConnectRequest(
                source="shopify", name="bad", dataset_id=dataset, credentials=credentials
            )
        )
    assert list(client.source_connections.list()) == []


def has_path(value: object, path: str) -> bool:
    for step in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if step.startswith("["):
            index = int(step[1:-1])
            if not isinstance(value, list) or index >= len(value):
                return False
            value = value[index]
        elif isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return False
    return True


@pytest.mark.parametrize("topic", sorted(MAPPED_TOPICS))
def test_every_default_rule_reads_a_field_of_the_sample_payload(registry, topic):
    source = registry.source("shopify")
    rules = registry.call("sourceflow_mapping_defaults", source, object=topic, tenant="acme")
    sample = payload_json(topic)
    assert not has_path(sample, "no_such_field") and not has_path(sample, "id[0]")
    for rule in rules:
        # Present, though it may be null (fulfillment_status is, until an order ships).
        assert has_path(sample, rule.source_attribute), (
            f"{topic}: {rule.source_attribute} is not in the sample payload"
        )
    row = map_record(rules, sample)
    assert row["_acme"]["shopify"]


def test_login_command_runs_the_whole_grant(fake_shop, tmp_path):
    shop, admin_url = fake_shop
    tokens = tmp_path / "tokens.json"
    command = [sys.executable, "-m", "sourceflow.cli", "shopify", "login", "--shop", shop.shop]
    proc = subprocess.Popen(  # noqa: S603 (our own command)
        [*command, "--client-id", shop.client_id, "--port", "0", "--no-browser", "--timeout", "20"],
        env={
            **os.environ,
            "SHOPIFY_CLIENT_SECRET": shop.client_secret,
            "SOURCEFLOW_SHOPIFY_ADMIN_URL": admin_url,
            "SOURCEFLOW_SHOPIFY_TOKENS": str(tokens),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = ""
        deadline = time.monotonic() + 20
        while "/admin/oauth/authorize?" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
        authorize = line.strip()
        # The merchant approves: the browser follows Shopify's redirect to the listener.
        answer = httpx.get(authorize, follow_redirects=True, timeout=10)
        assert answer.status_code == 200 and "return to the terminal" in answer.text
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert shop.token not in out + err
    stored = json.loads(tokens.read_text())
    assert stored == {
        "acme.myshopify.com": {
            "accessToken": shop.token,
            "scope": "read_orders,read_customers,read_products",
        }
    }
    assert tokens.stat().st_mode & 0o777 == 0o600


def test_login_refuses_a_redirect_for_another_shop(fake_shop, tmp_path):
    shop, admin_url = fake_shop
    shop.redirect_overrides = {"shop": "evil.myshopify.com"}
    from sourceflow_shopify.login import login

    seen: list[str] = []

    def approve(url: str) -> None:
        seen.append(url)
        # A browser would follow this; a thread is not needed: the listener answers first.
        import threading

        threading.Thread(target=httpx.get, args=(url,), kwargs={"follow_redirects": True}).start()

    with pytest.raises(SourceflowError, match=r"not 'acme\.myshopify\.com'"):
        login(
            shop.shop,
            client_id=shop.client_id,
            client_secret=shop.client_secret,
            scopes="read_orders",
            admin_url=admin_url,
            timeout=10,
            show=approve,
        )
    assert seen and shop.codes  # the code was never exchanged


# --- lost answers, reachability, settings -----------------------------------------------------

FAST = RetryPolicy(attempts=5, base=0.001, cap=0.01)
CLIENT_TIMEOUT = 0.4


@pytest.fixture
def lossy(fake_shop, monkeypatch):
    """The fake shop, and the plugin's Admin API client made quick to give up and retry."""
    shop, admin_url = fake_shop
    monkeypatch.setattr(admin, "RETRY", FAST)
    monkeypatch.setattr(admin, "TIMEOUT", CLIENT_TIMEOUT)
    shop.stall = CLIENT_TIMEOUT * 2
    return shop, admin_url


def made_on_the_platform(client) -> list[str]:
    return [
        *(f"source {c.id}" for c in client.source_connections.list()),
        *(f"target {c.id}" for c in client.target_connections.list()),
        *(f"flow {f.id}" for f in client.flows.list()),
        *(f"mapping {m.id}" for m in client.mapping_sets.list()),
    ]


def shop_request(name, dataset, shop, admin_url, **credentials):
    return ConnectRequest(
        source="shopify",
        name=name,
        dataset_id=dataset,
        credentials={
            "shop": shop.shop,
            "accessToken": shop.token,
            "adminUrl": admin_url,
            "clientSecret": shop.client_secret,
            **credentials,
        },
    )


@pytest.mark.parametrize("api", ["rest", "graphql"])
def test_a_create_answer_lost_by_a_proxy_is_adopted_not_orphaned(
    lossy, client, registry, dataset, tmp_path, monkeypatch, api
):
    """The issue's case: the shop made the subscription, a 504 came back instead."""
    shop, admin_url = lossy
    lifecycle = lifecycle_for(client, registry, tmp_path / "state.json")
    # access_scopes answers; the create's answer is lost after the shop acted on it.
    shop.faults = [None, "504"]
    done = lifecycle.connect(
        shop_request("lost", dataset, shop, admin_url, adminApi=api, topics="orders/create")
    )
    assert [d[:2] for d in shop.dropped] == [("504", "POST")]
    address = f"{done.inlet_url}?x-adobe-flow-id={done.flow_id}"
    assert shop.subscriptions() == [("orders/create", address)]
    (hook_id,) = shop.webhooks
    recorded = done.endpoint_facts["webhookIds"]
    assert recorded == (str(hook_id) if api == "rest" else shop.gid(address, "orders/create"))
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", shop.token)
    record = lifecycle.state.get("lost", client.settings.platform_url, client.settings.sandbox)
    assert record is not None
    lifecycle.teardown(record)
    assert shop.webhooks == {}


_runs = itertools.count()


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    connect_plan=st.lists(st.sampled_from([None, None, *FAULTS]), max_size=14),
    teardown_plan=st.lists(st.sampled_from([None, *FAULTS]), max_size=6),
    api=st.sampled_from(["rest", "graphql"]),
)
def test_whatever_answers_are_lost_connect_records_what_it_made_and_teardown_removes_it(
    lossy, client, registry, dataset, tmp_path, monkeypatch, connect_plan, teardown_plan, api
):
    """Answers dropped at every step (the scope check, each create, each lookup, each undo,
    each delete): a connect that succeeds records exactly the shop's subscriptions to its
    inlet; one that fails does so only after the shop's answers were lost try after try, and
    running it again settles. Teardown then leaves nothing at the shop."""
    shop, admin_url = lossy
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", shop.token)
    lifecycle = lifecycle_for(client, registry, tmp_path / "state.json")
    name = f"lossy-{next(_runs)}"
    request = shop_request(
        name, dataset, shop, admin_url, adminApi=api, topics="orders/create,orders/updated"
    )
    shop.faults, shop.dropped = list(connect_plan), []
    try:
        done = lifecycle.connect(request)
    except SourceflowError:
        assert len(shop.dropped) >= FAST.attempts  # not given up on for less
        shop.faults = []  # the shop answers again
        done = lifecycle.connect(request)
    address = f"{done.inlet_url}?x-adobe-flow-id={done.flow_id}"
    recorded = done.endpoint_facts["webhookIds"].split(",")
    at_shop = sorted(shop.subscriptions(address))
    assert at_shop == [("orders/create", address), ("orders/updated", address)]
    ids = [str(i) for i, h in shop.webhooks.items() if h["address"] == address]
    if api == "graphql":
        ids = [
            shop.gid(address, h["topic"]) for h in shop.webhooks.values() if h["address"] == address
        ]
    assert sorted(recorded) == sorted(ids)

    record = lifecycle.state.get(name, client.settings.platform_url, client.settings.sandbox)
    assert record is not None
    shop.faults = list(teardown_plan)
    try:
        lifecycle.teardown(record)
    except SourceflowError:
        shop.faults = []
        record = lifecycle.state.get(name, client.settings.platform_url, client.settings.sandbox)
        assert record is not None and "endpoint" in record.ids  # kept, to be torn down again
        lifecycle.teardown(record)
    assert shop.subscriptions(address) == []


@pytest.mark.parametrize(
    ("change", "message", "hint"),
    [
        ({"adminUrl": "http://acme.invalid"}, "acme.invalid does not resolve", "adminUrl"),
        ({"accessToken": "shpca_revoked0000"}, "answered 401", "--param accessToken"),
        ({"topics": "products/create"}, "lacks read_products", "--scopes"),
    ],
    ids=["unresolvable", "revoked-token", "missing-scope"],
)
def test_an_unusable_shop_stops_connect_before_anything_is_created(
    lossy, client, registry, dataset, tmp_path, change, message, hint
):
    shop, admin_url = lossy
    shop.scopes = "read_orders"
    lifecycle = lifecycle_for(client, registry, tmp_path / "state.json")
    with pytest.raises(SourceflowError) as caught:
        lifecycle.connect(shop_request("unusable", dataset, shop, admin_url, **change))
    assert message in str(caught.value) and hint in str(caught.value.hint)
    assert "ConnectError" not in str(caught.value)
    assert made_on_the_platform(client) == []
    settings_ = client.settings
    assert lifecycle.state.get("unusable", settings_.platform_url, settings_.sandbox) is None


def test_no_token_anywhere_stops_connect_before_anything_is_created(
    fake_shop, client, registry, dataset, tmp_path, monkeypatch
):
    shop, admin_url = fake_shop
    monkeypatch.delenv("SHOPIFY_ACCESS_TOKEN", raising=False)
    monkeypatch.setenv("SOURCEFLOW_SHOPIFY_TOKENS", str(tmp_path / "none.json"))
    lifecycle = lifecycle_for(client, registry, tmp_path / "state.json")
    with pytest.raises(SourceflowError, match="no Shopify access token"):
        lifecycle.connect(
            ConnectRequest(
                source="shopify",
                name="tokenless",
                dataset_id=dataset,
                credentials={
                    "shop": shop.shop,
                    "adminUrl": admin_url,
                    "clientSecret": shop.client_secret,
                },
            )
        )
    assert made_on_the_platform(client) == []


def test_settings_come_from_the_environment_and_tokens_from_the_per_user_file(
    fake_shop, client, registry, dataset, tmp_path, monkeypatch
):
    """adminUrl and clientSecret read from their env vars as login reads them; the token from
    the per-user file, found by a teardown run from another directory."""
    shop, admin_url = fake_shop
    for var in ("SHOPIFY_ACCESS_TOKEN", "SOURCEFLOW_SHOPIFY_TOKENS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("SOURCEFLOW_SHOPIFY_ADMIN_URL", admin_url)
    monkeypatch.setenv("SHOPIFY_CLIENT_SECRET", SECRET)
    store = TokenStore()
    assert store.path == tmp_path / "config" / "sourceflow" / "shopify-tokens.json"
    store.put(shop.shop, shop.token, shop.scopes)

    (tmp_path / "here").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    lifecycle = lifecycle_for(client, registry, tmp_path / "state.json")
    done = lifecycle.connect(
        ConnectRequest(
            source="shopify", name="env", dataset_id=dataset, credentials={"shop": shop.shop}
        )
    )
    assert done.endpoint_facts["adminUrl"] == admin_url
    assert done.endpoint_facts["tokenFile"] == str(store.path)
    assert "warning" not in done.endpoint_facts
    # connect did not refuse for want of a secret: it came from SHOPIFY_CLIENT_SECRET
    source = client.source_connections.get(done.ids["source_connection"])
    assert source.params == {"shop": shop.shop, "clientSecret": "***"}
    assert len(shop.webhooks) == 1

    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.delenv("SOURCEFLOW_SHOPIFY_ADMIN_URL")
    record = lifecycle.state.get("env", client.settings.platform_url, client.settings.sandbox)
    assert record is not None
    lifecycle.teardown(record)
    assert shop.webhooks == {}


def test_the_login_listener_ignores_requests_without_its_state(fake_shop):
    shop, admin_url = fake_shop
    from sourceflow_shopify.login import login

    strays: list[int] = []

    def approve(url: str) -> None:
        redirect_uri = dict(httpx.URL(url).params)["redirect_uri"]
        root = redirect_uri.rsplit("/", 1)[0]

        def merchant() -> None:
            strays.append(httpx.get(f"{root}/favicon.ico").status_code)
            strays.append(httpx.get(f"{redirect_uri}?code=x&state=not-this-one").status_code)
            strays.append(httpx.get(redirect_uri).status_code)
            httpx.get(url, follow_redirects=True)

        threading.Thread(target=merchant).start()

    token = login(
        shop.shop,
        client_id=shop.client_id,
        client_secret=shop.client_secret,
        scopes="read_orders",
        admin_url=admin_url,
        timeout=10,
        show=approve,
    )
    assert token.access_token == shop.token
    assert strays == [404, 400, 400]


def test_the_login_listener_times_out_saying_what_it_ignored(fake_shop):
    shop, admin_url = fake_shop
    from sourceflow_shopify.login import login

    def stray(url: str) -> None:
        redirect_uri = dict(httpx.URL(url).params)["redirect_uri"]
        httpx.get(f"{redirect_uri}?code=x&state=forged")

    with pytest.raises(SourceflowError) as caught:
        login(
            shop.shop,
            client_id=shop.client_id,
            client_secret=shop.client_secret,
            scopes="read_orders",
            admin_url=admin_url,
            timeout=1,
            show=stray,
        )
    assert "no answer from Shopify within 1 s (1 other requests ignored)" in str(caught.value)


def test_login_says_when_the_shop_does_not_resolve():
    from sourceflow_shopify.login import login

    shown: list[str] = []
    with pytest.raises(SourceflowError) as caught:
        login(
            "acme.myshopify.com",
            client_id="cid",
            client_secret="shpss_x00000",
            scopes="read_orders",
            admin_url="http://acme.invalid",
            show=shown.append,
        )
    assert "acme.invalid does not resolve" in str(caught.value) and shown == []


def test_an_undo_that_cannot_reach_the_shop_says_so_and_a_rerun_adopts_what_is_left(
    lossy, client, registry, dataset, tmp_path, monkeypatch
):
    shop, admin_url = lossy
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", shop.token)
    lifecycle = lifecycle_for(client, registry, tmp_path / "state.json")
    # The scope check, orders/create and orders/exploded (422) answer; every try of the undo's
    # DELETE of orders/create is lost.
    shop.faults = [None, None, None, *["502"] * FAST.attempts]
    with pytest.raises(SourceflowError) as caught:
        lifecycle.connect(
            shop_request("undo", dataset, shop, admin_url, topics="orders/create,orders/exploded")
        )
    assert "Invalid topic" in str(caught.value) and "could not be removed" in str(caught.value)
    assert "run connect again" in str(caught.value.hint)
    (left,) = shop.webhooks.values()

    done = lifecycle.connect(shop_request("undo", dataset, shop, admin_url, topics="orders/create"))
    assert done.endpoint_facts["webhookIds"] == str(left["id"])  # adopted, not doubled
    assert len(shop.webhooks) == 1
    record = lifecycle.state.get("undo", client.settings.platform_url, client.settings.sandbox)
    assert record is not None
    lifecycle.teardown(record)
    assert shop.webhooks == {}
