"""Redelivery: Shopify delivers at least once, so the same webhook (same X-Shopify-Webhook-Id,
validly signed) arrives many times, concurrently and again after the platform restarted. It is
stored once, every copy gets the same acknowledgement, and one row reaches the dataset."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from conftest import query, until

from sourceflow import model, plugins
from sourceflow.client import FlowServiceClient
from sourceflow.config import Settings
from sourceflow.lifecycle import ConnectRequest, Lifecycle
from sourceflow.state import StateFile
from sourceflow_shopify.signing import webhook_signature

SECRET = "shpss_reliability_redelivery_secret"
PAYLOAD = (
    Path(__file__).resolve().parents[2] / "plugins/shopify/tests/payloads/orders_create.json"
).read_bytes()
WEBHOOK_ID = "3f1c2a9e-5b7d-4e0f-9a61-0c2d4b8e7f15"
COPIES = 40


def deliver(http: httpx.Client, url: str, webhook_id: str = WEBHOOK_ID) -> httpx.Response:
    return http.post(
        url,
        content=PAYLOAD,
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Shop-Domain": "acme.myshopify.com",
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-API-Version": "2024-10",
            "X-Shopify-Hmac-Sha256": webhook_signature(SECRET, PAYLOAD),
        },
    )


def test_one_delivery_sent_many_times_and_after_a_restart_is_stored_once(serve, tmp_path):
    data = tmp_path / "platform"
    first = serve(data)
    with FlowServiceClient(Settings(platform_url=first.url)) as client:
        dataset = client.datasets.create(model.Dataset(name="orders"))
        lifecycle = Lifecycle(
            client, plugins.load(allow=["sourceflow-shopify"]), StateFile(tmp_path / "s.json")
        )
        # No "shop": nothing is subscribed through Shopify's Admin API, the inlet just
        # verifies signatures with the client secret.
        done = lifecycle.connect(
            ConnectRequest(
                source="shopify",
                name="redelivery",
                dataset_id=dataset,
                tenant="acme",
                credentials={"clientSecret": SECRET},
            )
        )
    url = str(done.endpoint_facts["webhookUrl"])
    assert done.flow_id in url

    with httpx.Client(timeout=10) as http, ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: deliver(http, url), range(COPIES)))
    assert [a.status_code for a in answers] == [200] * COPIES, answers[0].text
    receipts = {(a.json()["xactionId"], a.json()["receivedTimeMs"]) for a in answers}
    assert len(receipts) == 1, receipts  # every copy is acknowledged as the one stored

    def stored() -> list[str]:
        return [
            r["xaction_id"]
            for r in query(
                data, "SELECT xaction_id FROM messages WHERE flow_id = ?", (done.flow_id,)
            )
        ]

    assert stored() == [next(iter(receipts))[0]]

    first.kill()
    second = serve(data, port=first.port)
    with httpx.Client(timeout=10) as http, ThreadPoolExecutor(8) as pool:
        after = list(pool.map(lambda _: deliver(http, url), range(COPIES // 2)))
        other = deliver(http, url, webhook_id="a-different-delivery")
    assert {a.status_code for a in after} == {200}
    assert {(a.json()["xactionId"], a.json()["receivedTimeMs"]) for a in after} == receipts
    assert other.status_code == 200 and other.json()["xactionId"] not in stored()[:1]
    assert len(stored()) == 2  # the redeliveries added nothing; a new delivery did

    with FlowServiceClient(Settings(platform_url=second.url)) as client:
        rows = until(lambda: len(r := client.dataset_rows(dataset)) >= 2 and r, what="rows")
        assert client.flow_failures(done.flow_id) == []
    assert len(rows) == 2
    assert sorted(r["xactionId"] for r in rows) == sorted(stored())
