"""The shop the tests serve: the plugin's sample shop (:mod:`sourceflow_shopify.sample`), whose
proxy can lose answers, and the sample webhook payloads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sourceflow_shopify.sample import FAULTS, SampleShop, shopify_hmac

FakeShop = SampleShop
PAYLOADS = Path(__file__).parent / "payloads"

__all__ = ["FAULTS", "PAYLOADS", "FakeShop", "payload", "payload_json", "shopify_hmac"]


def payload(topic: str) -> bytes:
    """The raw sample payload of a topic (``orders/create`` -> payloads/orders_create.json)."""
    return (PAYLOADS / f"{topic.replace('/', '_')}.json").read_bytes()


def payload_json(topic: str) -> dict[str, Any]:
    """The sample payload of a topic, parsed."""
    data: dict[str, Any] = json.loads(payload(topic))
    return data
