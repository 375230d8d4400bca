"""Shopify's signatures and OAuth checks, against Shopify's documented example and vectors
computed with openssl the way Shopify documents them."""

from __future__ import annotations

import httpx
import pytest

from sourceflow import SourceflowError, redact
from sourceflow.http import RetryPolicy
from sourceflow_shopify import oauth, signing

# Shopify's documented example: secret "hush", this redirect.
DOC_QUERY = {
    "code": "0907a61c0c8d55e99db179b68161bc00",
    "hmac": "700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf",
    "shop": "some-shop.myshopify.com",
    "state": "0.6784241404160823",
    "timestamp": "1337178173",
}


def test_the_documented_redirect_is_authentic():
    assert signing.query_message(DOC_QUERY) == (
        "code=0907a61c0c8d55e99db179b68161bc00&shop=some-shop.myshopify.com"
        "&state=0.6784241404160823&timestamp=1337178173"
    )
    assert signing.query_signature("hush", DOC_QUERY) == DOC_QUERY["hmac"]
    assert signing.query_is_authentic("hush", DOC_QUERY)


@pytest.mark.parametrize(
    "change",
    [{"shop": "other-shop.myshopify.com"}, {"timestamp": "1337178174"}, {"hmac": "00" * 32}],
)
def test_any_change_breaks_the_documented_redirect(change):
    assert not signing.query_is_authentic("hush", {**DOC_QUERY, **change})
    assert not signing.query_is_authentic("hush2", DOC_QUERY)


def test_ampersands_and_percents_are_escaped_before_signing():
    # printf 'code=a%26b&shop=x.myshopify.com&state=s%25t&timestamp=1700000000'
    #   | openssl dgst -sha256 -hmac hush
    params = {"code": "a&b", "shop": "x.myshopify.com", "state": "s%t", "timestamp": "1700000000"}
    assert signing.query_message(params) == (
        "code=a%26b&shop=x.myshopify.com&state=s%25t&timestamp=1700000000"
    )
    assert signing.query_signature("hush", params) == (
        "b494392648a6c8f4108e13def019f6c2a5c500a5a2f324422a195fd1399612c5"
    )


def test_webhook_signature_is_base64_hmac_of_the_raw_body():
    # printf '<body>' | openssl dgst -sha256 -hmac shpss_demo_secret -binary | base64
    body = b'{"id":820982911946154500,"email":"ada@example.com"}'
    expected = "wLdXmFtPFgm1gqvB12bPCq+UwjpWI2JKYP/GAUJ8qwU="
    assert signing.webhook_signature("shpss_demo_secret", body) == expected
    assert signing.webhook_is_authentic("shpss_demo_secret", body, expected)
    # The same JSON re-serialized is other bytes: the signature is over the bytes.
    assert not signing.webhook_is_authentic(
        "shpss_demo_secret", b'{"id": 820982911946154500, "email": "ada@example.com"}', expected
    )
    assert not signing.webhook_is_authentic("another_secret", body, expected)


@pytest.mark.parametrize(
    "shop",
    ["acme.myshopify.com", "a-1.myshopify.com", "ACME.myshopify.com"],
)
def test_shop_domains_that_match_shopifys_pattern(shop):
    assert oauth.check_shop(shop) == shop


@pytest.mark.parametrize(
    "shop",
    [
        "acme.com",
        "https://acme.myshopify.com",
        "-acme.myshopify.com",
        "acme.myshopify.com.evil.com",
        "ac_me.myshopify.com",
        "acme.myshopify.com/admin",
    ],
)
def test_other_hosts_are_refused_with_a_hint(shop):
    with pytest.raises(SourceflowError) as caught:
        oauth.check_shop(shop)
    assert "is not a shop domain" in str(caught.value)
    assert "myshopify.com" in caught.value.hint


def test_authorize_url_carries_client_id_scopes_redirect_and_state():
    url = oauth.authorize_url(
        "acme.myshopify.com",
        "cid",
        "read_orders,read_customers",
        "http://127.0.0.1:8765/callback",
        "st4te",
    )
    parsed = httpx.URL(url)
    assert (parsed.scheme, parsed.host, parsed.path) == (
        "https",
        "acme.myshopify.com",
        "/admin/oauth/authorize",
    )
    assert dict(parsed.params) == {
        "client_id": "cid",
        "scope": "read_orders,read_customers",
        "redirect_uri": "http://127.0.0.1:8765/callback",
        "state": "st4te",
    }


def signed(params: dict[str, str]) -> dict[str, str]:
    return {**params, "hmac": signing.query_signature("hush", params)}


# The redirects are built when the tests are collected, minutes before a long run reaches
# them: the check is told the time they were made, so none goes stale on the way.
NOW = 1_764_000_000


def redirect(**changes: str) -> dict[str, str]:
    base = {
        "code": "c0de",
        "host": "YWNtZQ",
        "shop": "acme.myshopify.com",
        "state": "st4te",
        "timestamp": str(NOW),
    }
    return signed({**base, **changes})


def test_a_good_redirect_yields_its_code():
    code = oauth.validate_callback(
        redirect(), client_secret="hush", state="st4te", shop="acme.myshopify.com", now=NOW
    )
    assert code == "c0de"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({**redirect(), "hmac": "ab" * 32}, "hmac does not match"),
        ({k: v for k, v in redirect().items() if k != "hmac"}, "no hmac"),
        (redirect(state="other"), "state is not the one"),
        (redirect(shop="evil.example.com"), "not a shop domain"),
        (redirect(shop="other.myshopify.com"), "not 'acme.myshopify.com'"),
        (redirect(timestamp=str(NOW - 3600)), "s old"),
        (redirect(timestamp="yesterday"), "not a number"),
        (redirect(code=""), "no code"),
    ],
    ids=["forged", "unsigned", "state", "host", "other-shop", "old", "timestamp", "code"],
)
def test_a_bad_redirect_is_refused_naming_the_check(params, message):
    with pytest.raises(oauth.CallbackError) as caught:
        oauth.validate_callback(
            params, client_secret="hush", state="st4te", shop="acme.myshopify.com", now=NOW
        )
    assert message in str(caught.value)
    assert "hush" not in str(caught.value)


def test_code_exchange_against_the_fake_shop(fake_shop):
    shop, url = fake_shop
    shop.codes["c0de"] = "read_orders"
    token = oauth.exchange_code(
        shop.shop, "c0de", client_id=shop.client_id, client_secret=shop.client_secret, admin_url=url
    )
    assert token.access_token == shop.token and token.scope == "read_orders"
    assert redact.scrub(f"token {shop.token}") == "token ***"
    # Codes are single-use.
    with pytest.raises(SourceflowError) as caught:
        oauth.exchange_code(
            shop.shop,
            "c0de",
            client_id=shop.client_id,
            client_secret=shop.client_secret,
            admin_url=url,
        )
    assert "400" in str(caught.value) and shop.client_secret not in str(caught.value)
    assert "expired or was already used" in str(caught.value.hint)
    assert "log in again" in str(caught.value.hint)


@pytest.mark.parametrize("wrong", ["client_secret", "client_id"])
def test_a_refused_client_names_the_client_options(fake_shop, wrong):
    shop, url = fake_shop
    shop.codes["c0de"] = "read_orders"
    credentials = {"client_id": shop.client_id, "client_secret": shop.client_secret}
    credentials[wrong] = "shpss_rotatedaway000"
    with pytest.raises(SourceflowError) as caught:
        oauth.exchange_code(shop.shop, "c0de", admin_url=url, **credentials)
    assert "401" in str(caught.value) and "invalid_client" in str(caught.value)
    hint = str(caught.value.hint)
    assert "--client-secret" in hint and "--client-id" in hint
    assert "log in again" not in hint  # a new code cannot fix a wrong secret
    assert "shpss_rotatedaway000" not in str(caught.value)
    assert "c0de" in shop.codes  # refused before the code was spent


def test_an_exchange_with_a_shop_that_does_not_resolve_says_so():
    with pytest.raises(SourceflowError) as caught:
        oauth.exchange_code(
            "acme.myshopify.com",
            "c0de",
            client_id="cid",
            client_secret="shpss_x00000",
            admin_url="http://acme.invalid",
            policy=RetryPolicy(attempts=2, base=0.001),
        )
    assert "acme.invalid does not resolve" in str(caught.value)
    assert "--admin-url" in str(caught.value.hint)
    assert "ConnectError" not in str(caught.value)
