"""Access tokens from Adobe IMS (OAuth server-to-server), cached until shortly before expiry.

``POST {settings.token_url}`` with ``grant_type=client_credentials``, ``client_id``,
``client_secret`` and ``scope`` answers ``{"access_token", "token_type", "expires_in"}``.
The token is reused by every call (and every thread) until a margin before it expires: five
minutes, or a tenth of its lifetime for short-lived tokens, so a request never leaves with a
token that dies on the way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
from attrs import define

from sourceflow import redact, wire
from sourceflow.client.retry import RetryPolicy
from sourceflow.client.tokens import AccessToken
from sourceflow.client.transport import Transport, parse_body
from sourceflow.config import Settings
from sourceflow.errors import AuthenticationFailed
from sourceflow.log import get_logger

MAX_MARGIN_S = 300.0
MARGIN_FRACTION = 0.1
DEFAULT_LIFETIME_S = 3600.0

IMS_HINT = "check SOURCEFLOW_CLIENT_ID / SOURCEFLOW_CLIENT_SECRET (and SOURCEFLOW_SCOPES)"


@define(kw_only=True)
class TokenAnswer:
    """What IMS answers: the token, its type and its lifetime in seconds."""

    # IMS's own snake_case keys, read through the one converter like every other body.
    access_token: str
    token_type: str = "bearer"  # noqa: S105 (a token type, not a secret)
    expires_in: float = DEFAULT_LIFETIME_S


class IMSTokenProvider:
    """Fetches, caches and refreshes the IMS access token; safe to share between threads.

    :param settings: ``token_url``, ``client_id``, ``client_secret`` and ``scopes``.
    :param http: the client's connection pool.
    :param retry: the client's retry policy (a token request is safe to repeat).
    :param clock: seconds on a monotonic clock.
    """

    def __init__(
        self,
        settings: Settings,
        http: httpx.Client,
        retry: RetryPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        # A refusal is a credentials problem whether IMS says so with a 400 or a 401.
        refused = (400, 401, 403)
        self.transport = Transport(
            http,
            retry,
            classes=dict.fromkeys(refused, AuthenticationFailed),
            hints=dict.fromkeys(refused, IMS_HINT),
        )
        self.clock = clock
        self.issued = 0
        self._token: AccessToken | None = None
        self._lock = threading.Lock()
        self.log = get_logger("sourceflow.client")

    def current(self) -> AccessToken:
        """The cached token, or a new one when there is none or it is about to expire."""
        with self._lock:
            token = self._token
            if token is None or self.clock() >= token.refresh_at:
                token = self._token = self._fetch()
            return token

    def invalidate(self, token: AccessToken) -> bool:
        """Drop ``token`` if it is still the cached one; the next call fetches a new one."""
        with self._lock:
            if self._token is token:
                self._token = None
        return True

    def _fetch(self) -> AccessToken:
        started = self.clock()
        response = self.transport.request(
            "POST",
            self.settings.token_url,
            form={
                "grant_type": "client_credentials",
                "client_id": self.settings.client_id,
                "client_secret": self.settings.client_secret,
                "scope": self.settings.scopes,
            },
            # A client_credentials grant creates nothing: after a lost answer, ask again.
            repeatable=True,
        )
        answer = wire.from_json(parse_body(response), TokenAnswer)
        # Registered before anything else can print it.
        redact.register(answer.access_token)
        self.issued += 1
        lifetime = max(float(answer.expires_in), 0.0)
        margin = min(MAX_MARGIN_S, MARGIN_FRACTION * lifetime)
        self.log.debug("ims token obtained", expires_in_s=lifetime, url=self.settings.token_url)
        return AccessToken(
            value=answer.access_token, obtained_at=started, refresh_at=started + lifetime - margin
        )
