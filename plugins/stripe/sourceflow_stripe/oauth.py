"""Stripe Connect OAuth: trade an authorization code (or a refresh token) for an access token.

``POST {oauth_base}/oauth/token`` with ``grant_type=authorization_code`` and ``code``, or
``grant_type=refresh_token`` and ``refresh_token``, authenticated with the platform's secret
key. Stripe answers ``{access_token, refresh_token, stripe_user_id, livemode, scope, …}`` or
``{"error", "error_description"}``.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from sourceflow import SourceflowError, redact

DEFAULT_OAUTH_BASE = "https://connect.stripe.com"
OAUTH_BASE_ENV = "SOURCEFLOW_STRIPE_OAUTH_BASE"


def token(
    client_secret: str,
    *,
    code: str | None = None,
    refresh_token: str | None = None,
    base_url: str | None = None,
    http: httpx.Client | None = None,
) -> dict[str, Any]:
    """Stripe's token answer for an authorization code or a refresh token."""
    if bool(code) == bool(refresh_token):
        raise SourceflowError(
            "Stripe Connect OAuth needs exactly one of authorizationCode and refreshToken",
            hint="give the code Stripe sent to your redirect URI, or a refresh token",
        )
    redact.register(client_secret, code, refresh_token)
    form = (
        {"grant_type": "authorization_code", "code": code}
        if code
        else {"grant_type": "refresh_token", "refresh_token": refresh_token}
    )
    base = (base_url or os.environ.get(OAUTH_BASE_ENV) or DEFAULT_OAUTH_BASE).rstrip("/")
    client = http or httpx.Client(timeout=30)
    try:
        # An OAuth grant is used once: never send it twice, whatever happens.
        response = client.post(
            f"{base}/oauth/token",
            data=form,
            headers={"Authorization": f"Bearer {client_secret}"},
        )
    except httpx.HTTPError as exc:
        raise SourceflowError(
            f"cannot reach Stripe Connect at {base}: {type(exc).__name__}",
            hint="check the network, or oauthBase",
        ) from None
    finally:
        if http is None:
            client.close()
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400 or "access_token" not in body:
        error = body.get("error", f"HTTP {response.status_code}")
        description = body.get("error_description", "no description")
        raise SourceflowError(
            redact.scrub(
                f"Stripe Connect refused the {form['grant_type']} grant: {error}: {description}"
            ),
            hint="authorization codes work once and expire quickly: authorize again",
        )
    redact.register(body.get("access_token"), body.get("refresh_token"))
    answer: dict[str, Any] = body
    return answer
