"""What the console's routes and its pages share: who is looking (:class:`Session`), the
platform's API called in-process with their token (:class:`Api`, :class:`ApiError`), the
console's paths, and reading and filtering what a browser sends."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

import httpx
from attrs import frozen
from starlette.requests import Request
from starlette.types import ASGIApp

from sourceflow import config as settings
from sourceflow.platform.http import query
from sourceflow.platform.http.problems import Refused

PREFIX = "/console"
COOKIE = "sourceflow_console"
SANDBOX_COOKIE = "sourceflow_sandbox"
LOCAL = "local."
FORM_LIMIT = 256 * 1024
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
FS = settings.FLOWSERVICE_PATH
DP = settings.DATAPREP_PATH
CAT = settings.CATALOG_PATH
EXT = "/sourceflow"


@frozen
class Session:
    """Who is looking: their token and organization, the sandbox, and how they got in."""

    token: str
    client_id: str
    org_id: str
    sandbox: str
    cookie: bool
    local: bool
    csrf: str


class ApiError(Exception):
    """The API refused a call the console made; ``detail`` says why, as the API said it."""

    def __init__(self, status: int, detail: str, problems: list[str] | None = None) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.problems = problems or []


def _detail(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        return ApiError(response.status_code, response.text[:300])
    if isinstance(body, dict):
        detail = (
            body.get("detail")
            or body.get("message")
            or body.get("error_description")
            or json.dumps(body)[:300]
        )
        listed = (body.get("report") or {}).get("problems") if "report" in body else None
        return ApiError(response.status_code, str(detail), [str(p) for p in listed or []])
    return ApiError(response.status_code, json.dumps(body)[:300])


class Api:
    """The platform's API, called in-process with the session's token."""

    def __init__(self, app: ASGIApp, base_url: str, session: Session) -> None:
        transport = httpx.ASGITransport(app=app, client=("console", 0))
        self.http = httpx.AsyncClient(
            transport=transport,
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {session.token}",
                "x-api-key": session.client_id,
                "x-gw-ims-org-id": session.org_id,
                "x-sandbox-name": session.sandbox,
            },
            timeout=30,
        )

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of one call; :class:`ApiError` for any refusal."""
        response = await self.http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise _detail(response)
        return response.json() if response.content else None

    async def get(self, path: str, **params: Any) -> Any:
        """``GET path?params``."""
        return await self.call("GET", path, params=params or None)

    async def items(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every item of a Flow Service listing, following ``_links.next``."""
        found: list[dict[str, Any]] = []
        answer = await self.get(path, **params)
        while True:
            found.extend(answer.get("items") or [])
            following = ((answer.get("_links") or {}).get("next") or {}).get("href")
            if not following:
                return found
            token = dict(parse_qsl(following.partition("?")[2])).get("continuationToken")
            answer = await self.get(path, continuationToken=token)

    async def close(self) -> None:
        """Close the in-process client."""
        await self.http.aclose()


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form (the console's forms and htmx send nothing else), read once."""
    cached = request.scope.get("sourceflow.form")
    if cached is not None:
        return dict(cached)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise Refused(413, {"detail": "the form is too large"})
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    request.scope["sourceflow.form"] = form
    return form


def filter_rows(items: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """Rows that meet a ``property``-style filter (``record.name==Ada,xactionId~123``), the
    Flow Service's own filter syntax (:mod:`sourceflow.platform.http.query`)."""
    if not text.strip():
        return items
    wanted = query.conditions((text,))
    return [item for item in items if query.matches(item, wanted)]
