"""Stripe-Signature verification, with vectors computed the way Stripe documents it:
HMAC-SHA256 of "{t}.{raw body}" keyed by the endpoint secret, hex, sent as v1."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from sourceflow import Delivery
from sourceflow_stripe import plugin, webhooks

SECRET = "whsec_test_secret_for_sourceflow"
BODY = json.dumps({"id": "evt_1", "object": "event", "type": "charge.succeeded"}).encode()
T = 1_700_000_000


def stripe_signature(secret: str, body: bytes, t: int) -> str:
    # Independent of the code under test: Stripe's manual verification recipe.
    signed_payload = f"{t}.".encode() + body
    return hmac.new(secret.encode("utf-8"), signed_payload, hashlib.sha256).hexdigest()


def header(t: int = T, *sigs: str) -> str:
    return ",".join([f"t={t}", *(f"v1={s}" for s in sigs or [stripe_signature(SECRET, BODY, t)])])


def test_a_known_vector():
    # Computed once by hand with Python's hmac, fixed here so a change of scheme shows.
    sig = stripe_signature("whsec_abc", b'{"id":"evt_x"}', 1614556800)
    assert webhooks.sign("whsec_abc", b'{"id":"evt_x"}', 1614556800) == sig
    assert sig == hmac.new(b"whsec_abc", b'1614556800.{"id":"evt_x"}', "sha256").hexdigest()


def test_a_good_signature_within_tolerance():
    assert webhooks.verify(header(), BODY, SECRET, now=T + 299) == T


def test_one_of_several_v1_matching_is_enough_while_a_secret_rolls():
    h = header(T, "0" * 64, stripe_signature(SECRET, BODY, T)) + ",v0=ignored"
    assert webhooks.verify(h, BODY, SECRET, now=T) == T


@pytest.mark.parametrize(
    ("given", "body", "now", "reason"),
    [
        (None, BODY, T, "header is missing"),
        ("v1=abc", BODY, T, "no timestamp"),
        (f"t={T}", BODY, T, "no v1 signature"),
        ("t=soon,v1=abc", BODY, T, "not a whole number"),
        (header(), BODY + b" ", T, "no v1 signature matches"),
        (header(), BODY, T + 301, "beyond the 300 s tolerance"),
        (header(), BODY, T - 301, "in the future"),
    ],
)
def test_refusals_say_why(given, body, now, reason):
    with pytest.raises(webhooks.SignatureError, match=reason):
        webhooks.verify(given, body, SECRET, now=now)


def test_the_hook_names_the_delivery_by_its_event_id(monkeypatch):
    monkeypatch.setattr(webhooks.time, "time", lambda: T + 10)
    delivery = Delivery(
        inlet_id="i",
        flow_id="f",
        headers={"stripe-signature": header()},
        query={},
        body=BODY,
        config={"webhookSecret": SECRET},
    )
    verdict = plugin.sourceflow_verify_delivery(plugin.SOURCE, delivery)
    assert verdict.authentic and verdict.delivery_id == "evt_1"
    forged = Delivery(
        inlet_id="i", flow_id="f", headers={"stripe-signature": header()}, query={},
        body=BODY.replace(b"evt_1", b"evt_2"), config={"webhookSecret": SECRET},
    )  # fmt: skip
    assert not plugin.sourceflow_verify_delivery(plugin.SOURCE, forged).authentic
    unconfigured = Delivery(inlet_id="i", flow_id="f", headers={}, query={}, body=BODY)
    refused = plugin.sourceflow_verify_delivery(plugin.SOURCE, unconfigured)
    assert not refused.authentic and "webhookSecret" in (refused.reason or "")
