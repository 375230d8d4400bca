"""IMS tokens and the checks Adobe's API gateway makes on every Platform request.

Tokens are random (``secrets.token_urlsafe``) and stored only as their SHA-256, with their
expiry, so they survive a restart and a copy of the SQLite file holds nothing usable.

The gateway's answers follow Adobe's troubleshooting guide: a missing or unknown token is
401 ``401013``, an expired one 401 ``401014``, a missing API key 403 ``403000``, an API key
that is not the token's client 403 ``403003``, a missing organization header 400 ``400003``
and an organization that is not the token's 403 ``403027``. ``x-sandbox-name`` defaults to
``prod``, as Adobe defaults it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Mapping
from urllib.parse import parse_qsl

from attrs import frozen

from sourceflow import redact, signatures
from sourceflow.platform.http import problems
from sourceflow.platform.store.sqlite import Scope, Store

DEFAULT_SANDBOX = "prod"


@frozen
class Principal:
    """Who is calling: the token's client (the API key) and organization, and the sandbox."""

    client_id: str
    org_id: str
    sandbox: str

    @property
    def scope(self) -> Scope:
        """The organization and sandbox resources are scoped to."""
        return Scope(self.org_id, self.sandbox)


@frozen
class TokenInfo:
    """A stored token's client, organization and expiry (epoch seconds)."""

    client_id: str
    org_id: str
    expires_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Tokens:
    """Issues and checks IMS access tokens for the one configured client."""

    def __init__(
        self, store: Store, *, client_id: str, client_secret: str, org_id: str, ttl: float
    ) -> None:
        self._store = store
        self.client_id = client_id
        self._secret = client_secret
        self.org_id = org_id
        self.ttl = ttl
        redact.register(client_secret)

    def issue(self, form_body: bytes, query: Mapping[str, str]) -> dict[str, object]:
        """Answer ``POST /ims/token/v3`` (OAuth client credentials), IMS style."""
        form = {**query, **dict(parse_qsl(form_body.decode("utf-8", "replace")))}
        grant = form.get("grant_type")
        if not grant:
            raise problems.ims(400, "invalid_request", "grant_type is required")
        if grant != "client_credentials":
            raise problems.ims(
                400,
                "unsupported_grant_type",
                f"grant_type {grant!r} is not supported; use client_credentials",
            )
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if not client_id or not secret:
            missing = [k for k in ("client_id", "client_secret") if not form.get(k)]
            raise problems.ims(400, "invalid_request", f"{' and '.join(missing)} required")
        # The caller's secret is not registered for redaction: a wrong guess such as
        # "connection" would otherwise be masked in every later answer.
        if client_id != self.client_id or not signatures.same(secret, self._secret):
            raise problems.ims(401, "invalid_client", "invalid client_id or client_secret")
        token = secrets.token_urlsafe(48)
        redact.register(token)
        expires_at = time.time() + self.ttl
        with self._store.transaction() as db:
            db.execute("DELETE FROM tokens WHERE expires_at < ?", (time.time() - 86400,))
            db.execute(
                "INSERT INTO tokens (hash, client_id, org_id, expires_at) VALUES (?, ?, ?, ?)",
                (_digest(token), client_id, self.org_id, expires_at),
            )
        return {"access_token": token, "token_type": "bearer", "expires_in": int(self.ttl)}

    def lookup(self, token: str) -> TokenInfo | None:
        """The stored token, expired or not; None for a token never issued here."""
        found = self._store.row(
            "SELECT client_id, org_id, expires_at FROM tokens WHERE hash = ?", (_digest(token),)
        )
        if found is None:
            return None
        redact.register(token)
        return TokenInfo(found["client_id"], found["org_id"], found["expires_at"])

    def gateway(self, headers: Mapping[str, str]) -> Principal:
        """Check the four Platform headers as Adobe's gateway does; the caller, or an error."""
        if not headers.get("authorization", "").strip():
            raise problems.gateway(401, "401013", "Oauth token is missing")
        token = bearer(headers)
        info = None if token is None else self.lookup(token)
        if info is None:
            raise problems.gateway(401, "401013", "Oauth token is not valid")
        if info.expires_at <= time.time():
            raise problems.gateway(401, "401014", "Oauth token has expired")
        api_key = headers.get("x-api-key")
        if not api_key:
            raise problems.gateway(403, "403000", "Api Key is required")
        if api_key != info.client_id:
            raise problems.gateway(403, "403003", "Api Key is invalid")
        org = headers.get("x-gw-ims-org-id")
        if not org:
            raise problems.gateway(400, "400003", "Missing header parameter 'x-gw-ims-org-id'")
        if org != info.org_id:
            raise problems.gateway(403, "403027", "User is not part of the IMS org")
        sandbox = headers.get("x-sandbox-name") or DEFAULT_SANDBOX
        return Principal(info.client_id, info.org_id, sandbox)

    def inlet_check(self, headers: Mapping[str, str], org: str) -> str | None:
        """Why an authenticated inlet refuses these headers, or None when the token is good."""
        if not headers.get("authorization", "").strip():
            return "Ims service token is empty"
        token = bearer(headers)
        info = None if token is None else self.lookup(token)
        if info is None or info.org_id != org:
            return "Ims service token is invalid"
        if info.expires_at <= time.time():
            return "Ims service token has expired"
        return None


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or None."""
    value = headers.get("authorization", "").strip()
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
