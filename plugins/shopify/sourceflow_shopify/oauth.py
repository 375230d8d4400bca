"""Shopify's authorization code grant: the authorize URL, the redirect's checks, the exchange.

1. The merchant opens ``https://{shop}/admin/oauth/authorize?client_id=…&scope=…&redirect_uri=…
   &state=…`` and approves the app.
2. Shopify redirects to ``{redirect_uri}?code=…&hmac=…&host=…&shop=…&state=…&timestamp=…``.
   Before trusting it: the ``hmac`` must sign the other params with the client secret, the
   ``state`` must be the one we sent, the ``shop`` must be a ``*.myshopify.com`` host (the one
   we asked for) and the ``timestamp`` recent.
3. ``POST https://{shop}/admin/oauth/access_token`` with ``{client_id, client_secret, code}``
   answers ``{"access_token": "shpca_…", "scope": "…"}``.

``admin_url`` replaces ``https://{shop}`` everywhere, for a proxy or a test double.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import urlencode

import httpx
from attrs import frozen

from sourceflow import SourceflowError, redact, signatures
from sourceflow.http import RetryPolicy, send
from sourceflow_shopify import SHOP_PATTERN as SHOP_PATTERN
from sourceflow_shopify.problems import unreachable
from sourceflow_shopify.signing import query_is_authentic

MAX_AGE_SECONDS = 300  # a redirect older than this (or this far in the future) is refused


class CallbackError(SourceflowError):
    """The OAuth redirect failed a check; it must not be trusted."""


@frozen
class AccessToken:
    """An offline access token for one shop, and the scopes it grants."""

    shop: str
    access_token: str
    scope: str


def check_shop(shop: str) -> str:
    """``shop`` if it is a ``{name}.myshopify.com`` host; a clear error otherwise."""
    value = shop.strip()
    if not SHOP_PATTERN.match(value):
        raise SourceflowError(
            f"{shop!r} is not a shop domain",
            hint="give the shop's myshopify.com host, e.g. acme.myshopify.com "
            "(not its custom domain, not a URL)",
        )
    return value


def base_url(shop: str, admin_url: str | None = None) -> str:
    """``https://{shop}``, or ``admin_url`` when one is given."""
    return (admin_url or f"https://{shop}").rstrip("/")


def authorize_url(
    shop: str,
    client_id: str,
    scopes: str,
    redirect_uri: str,
    state: str,
    admin_url: str | None = None,
) -> str:
    """The URL the merchant opens to install the app and grant ``scopes``."""
    query = urlencode(
        {"client_id": client_id, "scope": scopes, "redirect_uri": redirect_uri, "state": state}
    )
    return f"{base_url(check_shop(shop), admin_url)}/admin/oauth/authorize?{query}"


def validate_callback(
    params: Mapping[str, str],
    *,
    client_secret: str,
    state: str,
    shop: str,
    max_age: float = MAX_AGE_SECONDS,
    now: float | None = None,
) -> str:
    """Check a redirect's params; return its authorization ``code``.

    :raises CallbackError: naming the check that failed (never a secret).
    """
    if "hmac" not in params:
        raise CallbackError("the redirect carries no hmac: it did not come from Shopify")
    if not query_is_authentic(client_secret, params):
        raise CallbackError(
            "the redirect's hmac does not match its parameters",
            hint="check that --client-secret belongs to the app whose --client-id you gave",
        )
    if not signatures.same(params.get("state"), state):
        raise CallbackError(
            "the redirect's state is not the one this login sent (a stale or forged redirect)",
            hint="start sourceflow shopify login again and use the new URL",
        )
    given_shop = params.get("shop", "")
    if not SHOP_PATTERN.match(given_shop):
        raise CallbackError(f"the redirect names {given_shop!r}, which is not a shop domain")
    if given_shop.lower() != shop.lower():
        raise CallbackError(f"the redirect is for shop {given_shop!r}, not {shop!r}")
    try:
        stamp = int(params.get("timestamp", ""))
    except ValueError:
        raise CallbackError("the redirect's timestamp is not a number") from None
    age = (time.time() if now is None else now) - stamp
    if abs(age) > max_age:
        raise CallbackError(
            f"the redirect is {int(age)} s old (at most {int(max_age)} s is accepted)",
            hint="start sourceflow shopify login again; check this machine's clock",
        )
    code = params.get("code", "")
    if not code:
        raise CallbackError("the redirect carries no code")
    return code


def exchange_code(
    shop: str,
    code: str,
    *,
    client_id: str,
    client_secret: str,
    admin_url: str | None = None,
    http: httpx.Client | None = None,
    policy: RetryPolicy | None = None,
) -> AccessToken:
    """Trade the authorization code for an access token (registered with the redactor).

    :raises SourceflowError: naming the fix: the client options for ``invalid_client``, a new
        login for a code expired or used, the shop's name for a host that does not resolve.
    """
    redact.register(client_secret)
    base = base_url(shop, admin_url)
    url = f"{base}/admin/oauth/access_token"
    body = {"client_id": client_id, "client_secret": client_secret, "code": code}
    client = http or httpx.Client(timeout=30)
    try:
        # A code is single-use: the policy resends only what Shopify cannot have acted on.
        answer = send(
            client,
            "POST",
            url,
            policy=policy,
            json=body,
            headers={"Accept": "application/json"},
        )
    except httpx.HTTPError as exc:
        raise unreachable(
            exc, base, f"exchanging the code for {shop}", setting="--admin-url"
        ) from None
    finally:
        if http is None:
            client.close()
    if answer.status_code != 200:
        raise exchange_refused(shop, answer)
    data = answer.json()
    token = str(data.get("access_token") or "")
    if not token:
        raise SourceflowError(f"Shopify answered no access_token for {shop}")
    redact.register(token)
    return AccessToken(shop=shop, access_token=token, scope=str(data.get("scope") or ""))


def exchange_refused(shop: str, answer: httpx.Response) -> SourceflowError:
    """The error for a refused code exchange, with the fix for what Shopify said."""
    try:
        data = answer.json()
    except ValueError:
        data = None
    fields = data if isinstance(data, dict) else {}
    error = str(fields.get("error") or "")
    said = redact.scrub(
        str(fields.get("error_description") or fields.get("errors") or error or answer.text)
    )[:200]
    message = f"Shopify refused the code exchange for {shop} ({answer.status_code}): {said}"
    if error == "invalid_client" or (answer.status_code == 401 and not error):
        return SourceflowError(
            message,
            hint="the app's credentials are wrong: check --client-secret (SHOPIFY_CLIENT_SECRET; "
            "a rotated secret stops working) and --client-id (SHOPIFY_CLIENT_ID) against the "
            "app's Client credentials page",
        )
    text = f"{error} {said}".lower()
    if (error in ("invalid_grant", "invalid_request") and "code" in text) or "expired" in text:
        return SourceflowError(
            message,
            hint="the authorization code expired or was already used: log in again "
            "(sourceflow shopify login) and approve the app promptly",
        )
    return SourceflowError(message, hint="see Shopify's message; then log in again")
