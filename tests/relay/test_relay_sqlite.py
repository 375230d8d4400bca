"""The relay on one machine (SQLite), against the local platform playing Adobe."""

from __future__ import annotations

import httpx
from relaykit import SECRET, order, order_ids, shopify_headers, until


def test_a_signed_delivery_becomes_one_row_and_forged_ones_none(adobe, orders, sqlite_config, relays):
    dataset, flow_id, inlet_id, _ = orders
    config, store = sqlite_config
    relay = relays(config, store, adobe.url)
    body = order(1)
    for _ in range(3):
        answer = httpx.post(f"{relay.url}/collection/{inlet_id}", content=body,
                            headers=shopify_headers(body, "wh-1"))
        assert answer.status_code == 200, answer.text
    until(lambda: adobe.rows(dataset), what="the row")
    assert order_ids(adobe.rows(dataset)) == [1]
