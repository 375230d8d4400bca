"""Shopify's two HMAC-SHA256 signatures, as its documentation defines them.

- **Webhooks**: ``X-Shopify-Hmac-Sha256`` is the Base64 HMAC-SHA256 of the raw request body,
  keyed with the app's client secret. Computed over the bytes as received, never over
  re-serialized JSON.
- **OAuth redirects**: the ``hmac`` query parameter is the hex HMAC-SHA256 of every other
  parameter, sorted by name and joined as ``name=value`` with ``&``. In names and values,
  ``%`` and ``&`` are escaped as ``%25`` and ``%26``, and ``=`` in names as ``%3D``, so that
  the joined message cannot be read two ways.

Comparisons are constant-time, and give a verdict for any input, never an error
(:func:`sourceflow.signatures.same`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from sourceflow import signatures


def webhook_signature(secret: str, body: bytes) -> str:
    """The ``X-Shopify-Hmac-Sha256`` value for ``body``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def webhook_is_authentic(secret: str, body: bytes, header: str) -> bool:
    """Whether ``header`` is the signature of ``body`` under ``secret``."""
    return signatures.same(header.strip(), webhook_signature(secret, body))


def _escape(text: str, *, key: bool) -> str:
    text = text.replace("%", "%25").replace("&", "%26")
    return text.replace("=", "%3D") if key else text


def query_message(params: Mapping[str, str]) -> str:
    """The message a redirect's ``hmac`` signs: the other params, sorted, ``k=v`` joined by ``&``.

    ``signature`` (a legacy MD5 parameter of old app proxies) is left out along with ``hmac``.
    """
    pairs = sorted(
        (_escape(k, key=True), _escape(v, key=False))
        for k, v in params.items()
        if k not in ("hmac", "signature")
    )
    return "&".join(f"{k}={v}" for k, v in pairs)


def query_signature(secret: str, params: Mapping[str, str]) -> str:
    """The hex ``hmac`` Shopify puts on a redirect with these params."""
    return hmac.new(secret.encode(), query_message(params).encode(), hashlib.sha256).hexdigest()


def query_is_authentic(secret: str, params: Mapping[str, str]) -> bool:
    """Whether ``params["hmac"]`` signs the other params under ``secret``."""
    given = params.get("hmac", "")
    return signatures.same(given.lower(), query_signature(secret, params))
