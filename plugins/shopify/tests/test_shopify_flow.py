"""Shopify end to end: connect through the lifecycle against the local platform and the fake
shop, signed deliveries at the inlet, teardown; the mapping defaults against the samples;
`sourceflow shopify login` as a user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import httpx
import pytest
from shopify_fake import payload, payload_json

from sourceflow import config, model, plugins
from sourceflow.client import FlowServiceClient
from sourceflow.errors import SourceflowError
from sourceflow.lifecycle import ConnectRequest, Lifecycle
from sourceflow.mapping import compile_mapping
from sourceflow.platform.app import PlatformConfig, create_app
from sourceflow.platform.server import background
from sourceflow.state import StateFile
from sourceflow_shopify.plugin import MAPPED_TOPICS
from sourceflow_shopify.signing import webhook_signature

SECRET = "shpss_fakeclientsecret"


@pytest.fixture
def registry():
    return plugins.load(allow=["sourceflow-shopify"])


@pytest.fixture
def platform(tmp_path, registry):
    app = create_app(PlatformConfig(data_dir=tmp_path / "platform"), registry=registry)
    with background(app) as url:
        yield app, url


@pytest.fixture
def client(platform):
    with FlowServiceClient(config.Settings(platform_url=platform[1])) as c:
        yield c


@pytest.fixture
def dataset(client):
    return client.datasets.create(
        model.Dataset(name="orders", schema_ref=model.XdmSchemaRef(id="https://ns.adobe.com/t/o"))
    )


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
    lifecycle = Lifecycle(client, registry, StateFile(tmp_path / "state.json"))
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
    lifecycle = Lifecycle(client, registry, StateFile(tmp_path / "state.json"))
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", shop.token)
    done = lifecycle.connect(
        ConnectRequest(
            source="shopify",
            name="products",
            dataset_id=dataset,
            object="products/update",
            credentials={"shop": shop.shop, "adminUrl": admin_url, "adminApi": "graphql"},
        )
    )
    (hook,) = shop.webhooks.values()
    assert hook["topic"] == "products/update"
    assert done.endpoint_facts["webhookIds"] == hook["gid"]
    assert "not signature-checked" in done.endpoint_facts["warning"]
    record = lifecycle.state.get("products", client.settings.platform_url, client.settings.sandbox)
    assert record is not None
    lifecycle.teardown(record)
    assert shop.webhooks == {}


def test_a_refused_subscription_leaves_nothing_subscribed(
    fake_shop, client, registry, dataset, tmp_path
):
    shop, admin_url = fake_shop
    lifecycle = Lifecycle(client, registry, StateFile(tmp_path / "state.json"))
    with pytest.raises(SourceflowError) as caught:
        lifecycle.connect(
            ConnectRequest(
                source="shopify",
                name="bad-topic",
                dataset_id=dataset,
                credentials={
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
    lifecycle = Lifecycle(client, registry, StateFile(tmp_path / "state.json"))
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
    row = compile_mapping(model.MappingSet(mappings=list(rules)))(sample)
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
