"""Error answers, in the shapes Adobe's services use.

Three families, each built in one place here:

- *problems* (Flow Service, Data Prep, Catalog, the inlet and our extensions):
  ``{"type", "title", "status", "detail", "report": {"problems": [...]}}``;
- *gateway errors* (what Adobe's API gateway answers before a request reaches a service):
  ``{"error_code", "message"}``;
- *IMS errors* (the token endpoint): ``{"error", "error_description"}``.

Anything a caller sent that is echoed back goes through :mod:`sourceflow.redact` first, so a
secret never comes back in an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.responses import JSONResponse

from sourceflow import redact

ERRORS_NS = "https://ns.adobe.com/aep/errors"

# Our own error numbers, one per status: Adobe's are per service and undocumented.
_NUMBERS = {
    400: "1400",
    401: "1401",
    403: "1403",
    404: "1404",
    405: "1405",
    409: "1409",
    412: "1412",
    413: "1413",
    500: "1500",
    501: "1501",
    502: "1502",
}
TITLES = {
    400: "Invalid request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Resource in use",
    412: "Resource changed",
    413: "Payload too large",
    500: "Internal error",
    501: "Not implemented",
    502: "Plugin failed",
}


class Refused(Exception):
    """A non-success answer raised from inside a handler; the app turns it into a response."""

    def __init__(self, status: int, body: Any, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body!r}")
        self.status = status
        self.body = body
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        """The answer as a JSON response."""
        return JSONResponse(self.body, status_code=self.status, headers=self.headers)


def problem(
    status: int,
    detail: str,
    *,
    problems: Sequence[str] | None = None,
    title: str | None = None,
    service: str = "FLOW",
) -> Refused:
    """A problem answer: ``detail`` is one readable line, ``problems`` every finding."""
    listed = [redact.scrub(str(p)) for p in (problems if problems else [detail])]
    body = {
        "type": f"{ERRORS_NS}/{service}-{_NUMBERS.get(status, '1000')}-{status}",
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "detail": redact.scrub(detail),
        "report": {"problems": listed},
    }
    return Refused(status, body)


def findings(
    status: int, found: Sequence[str], *, lead: str = "", service: str = "FLOW"
) -> Refused:
    """A problem whose ``detail`` is the first finding (after ``lead``) and how many more there
    are, with every finding in ``problems``."""
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return problem(status, lead + found[0] + more, problems=found, service=service)


def gateway(status: int, code: str, message: str) -> Refused:
    """An error as Adobe's API gateway answers it (before any service sees the request)."""
    return Refused(status, {"error_code": code, "message": message})


def ims(status: int, error: str, description: str) -> Refused:
    """An error as Adobe IMS's token endpoint answers it."""
    return Refused(status, {"error": error, "error_description": redact.scrub(description)})


def inlet_unauthorized(request_id: str, reason: str) -> Refused:
    """The inlet's 401 for an authenticated connection, exactly as Adobe's docs show it."""
    body = {
        "type": "https://ns.adobe.com/adobecloud/problem/data-collection-service-authorization",
        "status": "401",
        "title": "Authorization",
        "report": {"message": f"[{request_id}] {reason}"},
    }
    return Refused(401, body)


def xdm_invalid(inlet_id: str, org: str, found: Sequence[str]) -> Refused:
    """The inlet's 400 for a message that ``syncValidation`` finds is no valid XDM envelope:
    titled as Adobe's streaming validation titles it ("Invalid XDM Message Format"), with its
    ``report.message`` naming the inlet and organization, and every finding listed."""
    refused = problem(
        400,
        "the message is not a valid XDM envelope: " + "; ".join(found),
        problems=found,
        title="Invalid XDM Message Format",
        service="XDM",
    )
    refused.body["report"]["message"] = (
        f"inletId: [{inlet_id}] imsOrgId: [{org}] Message is invalid"
    )
    return refused
