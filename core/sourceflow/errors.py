"""The exceptions sourceflow raises. Each says what was wrong and how to fix it.

Messages never carry secret values: :mod:`sourceflow.redact` scrubs anything passed in from a
request or an answer before it becomes part of an error.
"""

from __future__ import annotations

from typing import Any


class SourceflowError(Exception):
    """Base of every error sourceflow raises on purpose; ``hint`` says how to fix it."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} ({self.hint})" if self.hint else text


class SourceUnavailable(SourceflowError):
    """The source could not answer for now (a 5xx, a rate limit that outlasted the retries, no
    connection, a timeout): trying again later should work. A scheduled run that ends with it
    is recorded as ``CONNECTOR-503``, and the next run resumes from the last page written."""

    hint = "nothing to fix: the next run resumes where this one stopped"


class CredentialsRefused(SourceflowError):
    """The source refused the connection's credentials, or they lack a permission (a 401 or a
    403): nothing works until they change. A run that ends with it is ``CONNECTOR-401``."""

    hint = "PATCH the base connection's auth.params with credentials the source accepts"


class BadSourceData(SourceflowError):
    """The source answered something its own protocol rules out (not JSON, a list without its
    items, an object without its id): the data, not the request, is wrong. A run that ends
    with it is ``CONNECTOR-422``."""

    hint = "check that the connection's API base URL points at the source's real API"


class InvalidBody(SourceflowError):
    """A JSON body does not fit its model; ``problems`` lists ``path: rule`` lines."""

    def __init__(self, what: str, problems: list[str]) -> None:
        self.what = what
        self.problems = problems
        super().__init__(f"invalid {what}: " + "; ".join(problems))


class ConfigError(SourceflowError):
    """Configuration is missing or malformed."""


class PluginError(SourceflowError):
    """A plugin could not be loaded or broke a rule; the message names its distribution."""


class UnknownSource(SourceflowError):
    """No installed plugin provides the source asked for."""

    def __init__(self, name: str, known: list[str]) -> None:
        shown = ", ".join(sorted(known)) or "none"
        super().__init__(
            f"unknown source {name!r}; installed sources: {shown}",
            # The plugins are not on PyPI yet: a clone installs them by path.
            hint=f"install the plugin that provides it into this environment (from a clone "
            f"of sourceflow: pip install ./plugins/{name}); sourceflow plugins lists what is "
            "installed",
        )


class PlatformError(SourceflowError):
    """The Flow Service answered with an error status.

    ``status`` is the HTTP status, ``body`` Adobe's error body (already redacted) and
    ``request_id`` the ``x-request-id`` to quote to Adobe support.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: Any = None,
        request_id: str | None = None,
        method: str | None = None,
        url: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.request_id = request_id
        self.method = method
        self.url = url
        super().__init__(message, hint=hint)


class AuthenticationFailed(PlatformError):
    """401/403: the token, API key or organization was refused."""


class NotFound(PlatformError):
    """404: the resource does not exist (or not in this sandbox)."""


class Conflict(PlatformError):
    """409/412: the resource changed since it was read, or is still in use."""


class BadRequest(PlatformError):
    """400/413/422: the request was refused as malformed."""


class RateLimited(PlatformError):
    """429 after every retry was spent."""


class Unavailable(PlatformError):
    """5xx or no connection, after every retry was spent."""
