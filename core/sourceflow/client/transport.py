"""One request to the platform: headers, request id, retries, re-authentication, typed errors.

Every call of the client and the inlet sender goes through :meth:`Transport.request`, so the
rules live in one place: the platform's headers and a fresh ``x-request-id`` on every try,
retries by :class:`~sourceflow.client.retry.RetryPolicy`, one new token after a ``401``, and an
answer of 400 or more turned into the :class:`~sourceflow.errors.PlatformError` subclass for
its status, with a one-line message that never carries a secret.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import tenacity

from sourceflow import redact
from sourceflow.client.retry import RetryNotice, RetryPolicy, retry_after
from sourceflow.client.tokens import AccessToken, TokenSource
from sourceflow.errors import (
    AuthenticationFailed,
    BadRequest,
    Conflict,
    NotFound,
    PlatformError,
    RateLimited,
    Unavailable,
)
from sourceflow.log import get_logger

Params = Sequence[tuple[str, str]]

_CLASSES: dict[int, type[PlatformError]] = {
    400: BadRequest,
    401: AuthenticationFailed,
    403: AuthenticationFailed,
    404: NotFound,
    409: Conflict,
    412: Conflict,
    413: BadRequest,
    422: BadRequest,
    429: RateLimited,
}

_HINTS: dict[int, str] = {
    401: "check SOURCEFLOW_CLIENT_ID, SOURCEFLOW_CLIENT_SECRET and SOURCEFLOW_ORG_ID",
    403: "check SOURCEFLOW_ORG_ID and SOURCEFLOW_SANDBOX, and that the credential's product "
    "profile grants access to sources",
    404: "check the id, and that SOURCEFLOW_SANDBOX names the sandbox it lives in",
    412: "the resource changed since it was read: get it again for its current etag",
    413: "a message is at most 1 MB (10 KB is recommended)",
    429: "the platform is limiting this organization's request rate: slow down",
}
_MAX_MESSAGE = 300
_DISPLAY_PREFIX = "/data/foundation"  # Adobe's docs name paths from here: POST /flowservice/…


def error_class(status: int) -> type[PlatformError]:
    """The exception class for an error ``status``."""
    if status in _CLASSES:
        return _CLASSES[status]
    return Unavailable if status >= 500 else PlatformError


def human_message(body: Any, text: str = "", reason: str = "") -> str:
    """The readable part of an error answer, on one line.

    Adobe's services answer errors in several shapes: problem details (``title``/``detail``),
    gateway errors (``error_code``/``message``), IMS (``error``/``error_description``), the
    inlet (``report.message``) and sourceflow's own ``problems`` list.
    """
    found = ""
    if isinstance(body, list) and body and isinstance(body[0], Mapping):
        body = body[0]
    if isinstance(body, Mapping):
        report = body.get("report")
        specific = _first_text(
            body.get("detail"),
            body.get("message"),
            body.get("error_description"),
            report.get("message") if isinstance(report, Mapping) else None,
        )
        problems = "; ".join(_problem_text(p) for p in body.get("problems") or [] if p)
        if specific and problems and problems not in specific:
            found = f"{specific}: {problems}"
        else:
            found = specific or problems or _first_text(body.get("title"), body.get("error"))
    elif text.strip():
        found = text
    line = " ".join((found or reason or "no details given").split())
    if len(line) > _MAX_MESSAGE:
        line = line[: _MAX_MESSAGE - 1] + "…"
    return redact.scrub(line)


def _first_text(*values: Any) -> str:
    return next((str(v) for v in values if isinstance(v, str | int) and str(v).strip()), "")


def _problem_text(problem: Any) -> str:
    if isinstance(problem, Mapping):
        where = problem.get("path") or problem.get("field") or problem.get("pointer")
        what = _first_text(problem.get("message"), problem.get("detail"), problem.get("rule"))
        return f"{where}: {what}" if where and what else what or str(where or "")
    return str(problem)


def display_path(url: str) -> str:
    """The path shown in messages: ``/flowservice/connections`` as Adobe's docs write it."""
    path = urlsplit(url).path or "/"
    return path.removeprefix(_DISPLAY_PREFIX) if path.startswith(_DISPLAY_PREFIX + "/") else path


def parse_body(response: httpx.Response) -> Any:
    """The answer's JSON, or None when it is empty or not JSON."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def error_from_response(
    response: httpx.Response,
    *,
    sent_request_id: str,
    classes: Mapping[int, type[PlatformError]] | None = None,
    hints: Mapping[int, str] | None = None,
    attempts: int = 1,
) -> PlatformError:
    """The typed exception for an answer of 400 or more; ``attempts`` (when more than one)
    is said in the message, so that a caller knows the retries ran out."""
    status = response.status_code
    method = response.request.method
    url = str(response.request.url)
    request_id = response.headers.get("x-request-id") or sent_request_id
    body = parse_body(response)
    text = "" if body is not None else response.text
    detail = human_message(body, text, response.reason_phrase)
    cls = (classes or {}).get(status) or error_class(status)
    if method == "DELETE" and status == 400:
        # A DELETE has no body to be malformed: Adobe's Flow Service answers 400 when the
        # resource is still used by another, which is a conflict to the caller.
        cls = Conflict
    hint = (hints or {}).get(status) or _HINTS.get(status)
    if status >= 500 and hint is None:
        hint = "the platform could not answer; try again later"
    asked = retry_after(response)
    if asked is not None and status in (429, 503):
        hint = f"the platform asked to retry after {asked:.0f} s; {hint or 'try again later'}"
    return cls(
        redact.scrub(
            f"{method} {display_path(url)} answered {status}{_tries(attempts)}: {detail} "
            f"(request id {request_id})"
        ),
        status=status,
        body=redact.redact(body if body is not None else text[:2000] or None),
        request_id=request_id,
        method=method,
        url=redact.scrub(url),
        hint=hint,
    )


def unexpected(
    response: httpx.Response,
    message: str,
    *,
    cls: type[PlatformError] = PlatformError,
    body: Any = None,
) -> PlatformError:
    """``cls`` for an answer under 400 that lacks what the call needs (a body, an item, a
    receipt), carrying the answer's status, request id, method and URL."""
    return cls(
        message,
        status=response.status_code,
        body=body,
        request_id=response.headers.get("x-request-id"),
        method=response.request.method,
        url=str(response.request.url),
    )


def _tries(attempts: int) -> str:
    return f" after {attempts} attempts" if attempts > 1 else ""


def error_from_transport(
    error: httpx.TransportError,
    *,
    method: str,
    url: str,
    request_id: str,
    attempts: int = 1,
) -> Unavailable:
    """:class:`Unavailable` for a request that got no answer; ``status`` is 0."""
    reason = f"{type(error).__name__}: {' '.join(str(error).split()) or 'no details'}"
    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
        parts = urlsplit(url)
        reason = f"cannot reach {parts.scheme}://{parts.netloc} ({reason})"
    return Unavailable(
        redact.scrub(
            f"{method} {display_path(url)} got no answer{_tries(attempts)}: {reason} "
            f"(request id {request_id})"
        ),
        status=0,
        request_id=request_id,
        method=method,
        url=redact.scrub(url),
        hint="check that the platform URL is right and reachable (SOURCEFLOW_PLATFORM_URL), "
        "then try again",
    )


class Transport:
    """Sends requests over one pooled :class:`httpx.Client` with the platform's rules.

    :param http: the shared client (connection pool, timeouts).
    :param retry: when to retry.
    :param headers: sent on every request (``x-api-key``, ``x-gw-ims-org-id`` …).
    :param tokens: where bearer tokens come from; None sends no ``Authorization``.
    :param classes: exception classes that replace the defaults for some statuses.
    :param hints: hints that replace the defaults for some statuses.
    """

    def __init__(
        self,
        http: httpx.Client,
        retry: RetryPolicy,
        *,
        headers: Mapping[str, str] | None = None,
        tokens: TokenSource | None = None,
        classes: Mapping[int, type[PlatformError]] | None = None,
        hints: Mapping[int, str] | None = None,
    ) -> None:
        self.http = http
        self.retry = retry
        self.headers = dict(headers or {})
        self.tokens = tokens
        self.classes = dict(classes or {})
        self.hints = dict(hints or {})
        self.log = get_logger("sourceflow.client")

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Params | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        repeatable: bool = False,
        content: bytes | None = None,
    ) -> httpx.Response:
        """Send a request, retrying as the policy allows; an answer below 400, or an error.

        ``content`` sends bytes already encoded (JSON kept exactly as received) instead of
        ``json``; give the ``Content-Type`` in ``headers``. ``repeatable`` marks a POST that is safe
        to send again after a lost answer (it creates nothing), so it is retried as an
        idempotent method is.

        :raises PlatformError: a subclass by status; :class:`Unavailable` with ``status`` 0
            when no answer came.
        """
        method = method.upper()
        reauthenticated = False
        while True:
            started = time.monotonic()
            last: dict[str, Any] = {}
            try:
                response = self._with_retries(
                    method, url, params, json, form, headers, last, repeatable, content
                )
            except httpx.TransportError as exc:
                raise error_from_transport(
                    exc,
                    method=method,
                    url=url,
                    request_id=last["request_id"],
                    attempts=last["attempts"],
                ) from exc
            token: AccessToken | None = last.get("token")
            if (
                response.status_code == 401
                and not reauthenticated
                and token is not None
                and token.obtained_at < started  # a token fetched for this call is not stale
                and self.tokens is not None
                and self.tokens.invalidate(token)
            ):
                # A cached token can be revoked or expire early; one new token settles it.
                self.log.info(
                    "token refused, fetching a new one",
                    method=method,
                    url=redact.scrub(url),
                    request_id=response.headers.get("x-request-id") or last["request_id"],
                )
                reauthenticated = True
                continue
            if response.status_code >= 400:
                raise error_from_response(
                    response,
                    sent_request_id=last["request_id"],
                    classes=self.classes,
                    hints=self.hints,
                    attempts=last["attempts"],
                )
            return response

    def _with_retries(
        self,
        method: str,
        url: str,
        params: Params | None,
        json: Any,
        form: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        last: dict[str, Any],
        repeatable: bool = False,
        content: bytes | None = None,
    ) -> httpx.Response:
        def attempt() -> httpx.Response:
            request_id = str(uuid.uuid4())
            sent = {**self.headers, **(headers or {}), "x-request-id": request_id}
            last["request_id"] = request_id
            last["attempts"] = last.get("attempts", 0) + 1
            if self.tokens is not None:
                token = self.tokens.current()
                last["token"] = token
                sent["Authorization"] = f"Bearer {token.value}"
            return self.http.request(
                method,
                url,
                params=httpx.QueryParams(list(params)) if params else None,
                json=json,
                data=form,
                content=content,
                headers=sent,
            )

        def before_sleep(state: tenacity.RetryCallState) -> None:
            outcome = state.outcome
            event: dict[str, Any] = {
                "method": method,
                "url": redact.scrub(url),
                "attempt": state.attempt_number,
                "wait_s": round(state.upcoming_sleep, 3),
            }
            if outcome is not None and outcome.failed:
                error = outcome.exception()
                event["error"] = f"{type(error).__name__}: {error}"
                event["request_id"] = last.get("request_id")
            elif outcome is not None:
                response: httpx.Response = outcome.result()
                event["status"] = response.status_code
                event["request_id"] = response.headers.get("x-request-id") or last.get("request_id")
            # INFO, not WARNING: a retry is the rule working; what it could not fix is raised.
            self.log.info("retrying request", **event)
            if self.retry.on_wait is not None:
                self.retry.on_wait(
                    RetryNotice(
                        method=method,
                        url=redact.scrub(url),
                        status=event.get("status"),
                        error=event.get("error"),
                        wait_s=state.upcoming_sleep,
                        attempt=state.attempt_number + 1,
                        attempts=self.retry.attempts,
                    )
                )

        retrying = self.retry.retrying(
            method=method, idempotent=True if repeatable else None, before_sleep=before_sleep
        )
        response: httpx.Response = retrying(attempt)
        self.log.debug(
            "request",
            method=method,
            url=redact.scrub(url),
            status=response.status_code,
            request_id=response.headers.get("x-request-id") or last.get("request_id"),
        )
        return response
