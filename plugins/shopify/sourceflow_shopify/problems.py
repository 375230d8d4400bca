"""What a failed request to a shop means, said as the fix: errors shared by OAuth and the Admin
API client."""

from __future__ import annotations

import socket

import httpx

from sourceflow import SourceflowError, redact


def _resolution_failed(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return True
        current = current.__cause__ or current.__context__
    return False


def unreachable(exc: httpx.HTTPError, base: str, what: str, *, setting: str) -> SourceflowError:
    """The error for a request to ``base`` that got no answer, naming why and the fix.

    :param setting: how the user names the base URL (``--admin-url``, ``adminUrl``), for the hint.
    """
    host = httpx.URL(base).host or base
    if _resolution_failed(exc):
        return SourceflowError(
            f"{host} does not resolve (no such host), so {what} cannot start",
            hint=f"check the shop's name (its myshopify.com host, e.g. acme.myshopify.com) "
            f"or {setting}",
        )
    if isinstance(exc, httpx.TimeoutException):
        return SourceflowError(
            f"{base} did not answer in time while {what}",
            hint="the shop or the network is slow or down: try again later",
        )
    if isinstance(exc, httpx.ConnectError):
        return SourceflowError(
            f"{base} refuses connections while {what}",
            hint=f"check {setting} and your network (a proxy, a firewall)",
        )
    return SourceflowError(
        f"{base} dropped the connection while {what}: {redact.scrub(type(exc).__name__)}",
        hint="try again later",
    )
