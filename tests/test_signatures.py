"""Every function that compares a secret or checks a signature gives a verdict for any input and
never raises anything but its own documented refusal: hypothesis feeds them arbitrary text
(lone surrogates included) and bytes. A comparison that raised on a non-ASCII header was a 500
at the inlet, and Shopify retries a 500 for hours."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sourceflow import signatures
from sourceflow.hooktypes import Delivery, Verdict
from sourceflow.platform.http.auth import Tokens
from sourceflow.platform.http.problems import Refused
from sourceflow.platform.store.sqlite import Store
from sourceflow_shopify import oauth, signing
from sourceflow_shopify import plugin as shopify
from sourceflow_stripe import plugin as stripe
from sourceflow_stripe import webhooks

ANY_TEXT = st.text(max_size=80)  # every code point, lone surrogates included
ANY = st.none() | ANY_TEXT | st.binary(max_size=80)
HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "x-shopify-hmac-sha256",
            "x-shopify-webhook-id",
            "x-shopify-event-id",
            "x-shopify-shop-domain",
            "stripe-signature",
            "authorization",
        ]
    ),
    ANY_TEXT,
    max_size=4,
)
CONFIG = st.dictionaries(
    st.sampled_from(["clientSecret", "webhookSecret", "shop"]), ANY_TEXT, max_size=3
)


@given(ANY, ANY_TEXT | st.binary(max_size=80))
def test_same_is_a_verdict_for_anything(given_value: object, expected: str | bytes) -> None:
    assert signatures.same(given_value, expected) in (True, False)  # type: ignore[arg-type]


@given(ANY_TEXT | st.binary(min_size=1, max_size=80))
def test_same_matches_itself_and_an_empty_secret_matches_nothing(value: str | bytes) -> None:
    assert signatures.same(value, value) is bool(value)
    assert signatures.same(value, "") is False
    assert signatures.same(None, value) is False


@given(ANY_TEXT, st.binary(max_size=200), ANY_TEXT)
def test_shopify_webhook_check_is_a_verdict(secret: str, body: bytes, header: str) -> None:
    assert signing.webhook_is_authentic(secret, body, header) in (True, False)


@given(ANY_TEXT, st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=5))
def test_shopify_redirect_check_is_a_verdict(secret: str, params: dict[str, str]) -> None:
    assert signing.query_is_authentic(secret, params) in (True, False)


@given(st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=6), ANY_TEXT, ANY_TEXT, ANY_TEXT)
def test_shopify_callback_is_accepted_or_refused_with_its_own_error(
    params: dict[str, str], secret: str, state: str, shop: str
) -> None:
    with contextlib.suppress(oauth.CallbackError):  # its documented refusal
        oauth.validate_callback(params, client_secret=secret, state=state, shop=shop)


@given(HEADERS, st.binary(max_size=200), CONFIG)
def test_the_verify_hooks_answer_a_verdict_for_any_delivery(
    headers: dict[str, str], body: bytes, config: dict[str, str]
) -> None:
    delivery = Delivery(
        inlet_id="i", flow_id="f", headers=headers, query={}, body=body, config=config
    )
    for plugin in (shopify, stripe):
        verdict = plugin.sourceflow_verify_delivery(plugin.SOURCE, delivery)
        assert isinstance(verdict, Verdict)
        if not config.get(plugin.SOURCE.delivery_secret or "webhookSecret"):
            assert verdict.authentic is False, "no secret: fail closed"


@given(ANY_TEXT, st.binary(max_size=200), ANY_TEXT)
def test_stripe_signature_check_is_a_timestamp_or_its_own_error(
    header: str, body: bytes, secret: str
) -> None:
    try:
        stamp = webhooks.verify(header, body, secret)
    except webhooks.SignatureError:
        return
    assert abs(stamp - time.time()) <= webhooks.TOLERANCE + 5


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Tokens:
    store = Store(Path(tmp_path_factory.mktemp("tokens")))
    return Tokens(store, client_id="c", client_secret="s3cr3t-value", org_id="o@AdobeOrg", ttl=60)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.binary(max_size=200), st.dictionaries(ANY_TEXT, ANY_TEXT, max_size=3), HEADERS)
def test_ims_and_the_gateway_answer_for_any_credentials(
    tokens: Tokens, form: bytes, query: dict[str, str], headers: dict[str, str]
) -> None:
    statuses = []
    for call, allowed in (
        (lambda: tokens.issue(form, query), (400, 401)),
        (lambda: tokens.gateway(headers), (400, 401, 403)),
    ):
        try:
            call()
        except Refused as refused:
            statuses.append((refused.status, allowed))
    assert all(status in allowed for status, allowed in statuses)
    assert tokens.inlet_check(headers, "o@AdobeOrg") is not None
