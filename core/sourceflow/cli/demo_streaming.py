"""The demo's generic streaming part: a Chatlio flow and a Shopify flow on the local platform.

Chatlio events are posted to the webhook URL as Chatlio would (no headers, the flow in the
query). Shopify deliveries are signed as Shopify signs them (``X-Shopify-Hmac-Sha256``), with a
demo client secret: one is delivered twice (stored once) and one is forged (refused). No shop
is reachable from the demo, so no webhook is subscribed. All the data is bundled sample data
(``sourceflow/demo_data``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

import click
import httpx

from sourceflow import model
from sourceflow.client import FlowServiceClient
from sourceflow.lifecycle import ConnectRequest, Lifecycle
from sourceflow.plugins import Registry

DEMO_SECRET = "shpss_sourceflow_demo_secret"  # noqa: S105 (made up for the demo)

Heading = Callable[[str], None]
Table = Callable[[Sequence[Sequence[Any]], Sequence[str]], None]
WaitForRows = Callable[[Any, str, int], list[Any]]


def _lines(name: str) -> list[bytes]:
    text = resources.files("sourceflow.demo_data").joinpath(name).read_text(encoding="utf-8")
    # Re-encoded compactly: these bytes are what is signed and sent.
    return [
        json.dumps(json.loads(line), separators=(",", ":")).encode()
        for line in text.splitlines()
        if line
    ]


def _dataset(client: FlowServiceClient, name: str, schema: str) -> str:
    return client.datasets.create(
        model.Dataset(
            name=name,
            schema_ref=model.XdmSchemaRef(id=f"https://ns.adobe.com/sourceflow/schemas/{schema}"),
        )
    )


def streaming_demo(
    client: FlowServiceClient,
    lifecycle: Lifecycle,
    registry: Registry,
    *,
    heading: Heading,
    table: Table,
    wait_for_rows: WaitForRows,
    first: int,
) -> list[str]:
    """Run the Chatlio and Shopify sections, headings numbered from ``first``; the names of
    the runs it connected, for the demo's teardown."""
    installed = {s.name for s in registry.sources()}
    runs: list[str] = []
    number = first
    if "chatlio" in installed:
        runs.append(_chatlio(client, lifecycle, heading, table, wait_for_rows, number))
        number += 1
    else:
        heading(f"{number}. Chatlio: skipped (pip install sourceflow-chatlio)")
        number += 1
    if "shopify" in installed:
        runs.append(_shopify(client, lifecycle, heading, table, wait_for_rows, number))
    else:
        heading(f"{number}. Shopify: skipped (pip install sourceflow-shopify)")
    return runs


def _chatlio(
    client: FlowServiceClient,
    lifecycle: Lifecycle,
    heading: Heading,
    table: Table,
    wait_for_rows: WaitForRows,
    number: int,
) -> str:
    heading(f"{number}. Chatlio: a generic streaming flow fed by webhooks (sample events)")
    chats = _dataset(client, "demo chats", "demo-chat")
    done = lifecycle.connect(
        ConnectRequest(source="chatlio", name="demo-chatlio", dataset_id=chats, tenant="sourceflow")
    )
    url = str(done.endpoint_facts["webhookUrl"])
    click.echo(f"  webhook URL to paste into Chatlio: {url}")
    events = _lines("chatlio_events.jsonl")
    for body in events:
        # As Chatlio posts: JSON, no signature, no headers of its own.
        answer = httpx.post(url, content=body, headers={"Content-Type": "application/json"})
        answer.raise_for_status()
    click.echo(
        f"  posted {len(events)} events (Chatlio signs nothing: see docs/sources/chatlio.md)"
    )
    rows = wait_for_rows(client, chats, len(events))
    table(
        [
            (
                r["record"]["_sourceflow"].get("UUID"),
                r["record"]["_sourceflow"].get("chatlio_email"),
                r["record"]["_sourceflow"].get("message"),
            )
            for r in rows
        ],
        ["VISITOR", "EMAIL", "MESSAGE"],
    )
    return done.name


def _sign(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _shopify(
    client: FlowServiceClient,
    lifecycle: Lifecycle,
    heading: Heading,
    table: Table,
    wait_for_rows: WaitForRows,
    number: int,
) -> str:
    heading(f"{number}. Shopify: signed orders/create deliveries (sample orders, demo secret)")
    orders = _dataset(client, "demo orders", "demo-order")
    done = lifecycle.connect(
        ConnectRequest(
            source="shopify",
            name="demo-shopify",
            dataset_id=orders,
            object="orders/create",
            tenant="sourceflow",
            credentials={"clientSecret": DEMO_SECRET},
        )
    )
    url = str(done.endpoint_facts["webhookUrl"])
    click.echo(
        "  no webhook subscribed: the demo reaches no Shopify shop (with --param shop=... and "
        "a token, connect subscribes orders/create to the inlet through the Admin API)"
    )
    click.echo(f"  deliveries go to {url}")
    first, second = _lines("shopify_orders.jsonl")
    sent = [
        ("order #1001", first, "d1-7f3e", DEMO_SECRET),
        ("order #1002", second, "d2-91aa", DEMO_SECRET),
        ("order #1001 again (Shopify retried)", first, "d1-7f3e", DEMO_SECRET),
        ("a forged delivery", second, "d3-0000", "not-the-app-secret"),
    ]
    for label, body, webhook_id, secret in sent:
        answer = httpx.post(
            url,
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Shopify-Topic": "orders/create",
                "X-Shopify-Shop-Domain": "sourceflow-demo.myshopify.com",
                "X-Shopify-Webhook-Id": webhook_id,
                "X-Shopify-Hmac-Sha256": _sign(body, secret),
            },
        )
        shown = (
            f"xactionId={answer.json()['xactionId']}"
            if answer.status_code == 200
            else answer.json().get("detail", answer.text)
        )
        click.echo(f"  {label:<38} {answer.status_code} {shown}")
    rows = wait_for_rows(client, orders, 2)
    table(
        [
            (
                r["record"]["_sourceflow"]["shopify"]["order"].get("name"),
                r["record"]["_sourceflow"]["shopify"]["order"].get("email"),
                r["record"]["_sourceflow"]["shopify"]["order"].get("totalPrice"),
                r["record"]["_sourceflow"]["shopify"]["order"].get("currency"),
            )
            for r in rows
        ],
        ["ORDER", "EMAIL", "TOTAL", "CURRENCY"],
    )
    click.echo(f"  {len(rows)} rows for 3 accepted deliveries: the retried one was stored once")
    return done.name
