"""What a bearer token is, and where a transport gets one.

:class:`TokenSource` is the seam between the two ends of a call: :mod:`~.transport` only asks
it for the current token and tells it about a refused one, and :mod:`~.ims` (tokens from
Adobe IMS) and :class:`StaticToken` (a token given by the caller) provide it. Both depend on
this module; neither on the other's type.
"""

from __future__ import annotations

from typing import Protocol

from attrs import define, field

from sourceflow import redact


@define(frozen=True, kw_only=True)
class AccessToken:
    """A bearer token and when (on the monotonic clock) it was obtained and goes stale."""

    value: str = field(repr=False)
    obtained_at: float = float("-inf")
    refresh_at: float = float("inf")


class TokenSource(Protocol):
    """Where a transport gets its bearer token."""

    def current(self) -> AccessToken:
        """A token that is good for a while yet."""
        ...

    def invalidate(self, token: AccessToken) -> bool:
        """Forget ``token`` after the platform refused it; True if a new one can be had."""
        ...


class StaticToken:
    """A token given by the caller: always the same, and nothing to refresh it with."""

    def __init__(self, value: str) -> None:
        redact.register(value)
        self._token = AccessToken(value=value)

    def current(self) -> AccessToken:
        """The token."""
        return self._token

    def invalidate(self, token: AccessToken) -> bool:
        """A fixed token cannot be replaced."""
        return False
