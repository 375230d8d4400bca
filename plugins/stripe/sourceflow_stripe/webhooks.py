"""Stripe webhook signatures: ``Stripe-Signature: t=TIMESTAMP,v1=SIGNATURE[,v1=…][,v0=…]``.

Stripe signs ``"{t}.{raw body}"`` with HMAC-SHA256 keyed by the endpoint's signing secret
(``whsec_…``) and sends the hex digest as ``v1``; several ``v1`` appear while a secret is being
rolled. A delivery is authentic when one ``v1`` matches and ``t`` is within the tolerance
(300 s by default, Stripe's own) of now, which stops a captured delivery from being replayed
later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from sourceflow import signatures

TOLERANCE = 300


class SignatureError(ValueError):
    """Why a ``Stripe-Signature`` does not prove a delivery authentic."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``v1`` signature of ``body`` at ``timestamp`` (to build test deliveries)."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(
    header: str | None,
    body: bytes,
    secret: str,
    *,
    tolerance: int = TOLERANCE,
    now: float | None = None,
) -> int:
    """Check a ``Stripe-Signature`` header against the raw body; answers its timestamp.

    :raises SignatureError: naming what is wrong (missing, malformed, stale, no match).
    """
    if not header:
        raise SignatureError("the Stripe-Signature header is missing")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            # isascii: int() also reads other scripts' digits, which Stripe never sends.
            if not (value.isascii() and value.isdigit()) or len(value) > 12:
                raise SignatureError("Stripe-Signature: t is not a whole number of seconds")
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None:
        raise SignatureError("Stripe-Signature has no timestamp (t=…)")
    if not candidates:
        raise SignatureError("Stripe-Signature has no v1 signature")
    expected = sign(secret, body, timestamp)
    if not any(signatures.same(c, expected) for c in candidates):
        raise SignatureError("no v1 signature matches the body and the endpoint secret")
    age = (time.time() if now is None else now) - timestamp
    if abs(age) > tolerance:
        raise SignatureError(
            f"the signature is {int(abs(age))} s {'old' if age > 0 else 'in the future'}, "
            f"beyond the {tolerance} s tolerance (a replay, or a clock out of sync)"
        )
    return timestamp
