"""The web console of the local platform, at ``/console``.

Server-rendered (Jinja2) with htmx shipped in the package (``static/``): it works offline.
The console is a client of the platform's own API: every page is built from answers of the
Flow Service, Data Prep, Catalog and ``/sourceflow/`` routes, called in-process through the
app with the visitor's token, so it shows exactly what that token may read, masked as the API
masks it, and its actions (start a run, save a mapping, replay, tear down) go through the same
checks as any API call.

Who may open it:

- a request with ``Authorization: Bearer <token>`` (an IMS token of this platform);
- a browser with a session: the login page takes the client id and secret and keeps the token
  it is issued in an ``HttpOnly``, ``SameSite=Strict`` cookie;
- on loopback (the request comes from this machine and names it as ``127.0.0.1``,
  ``localhost`` or ``[::1]``, which a DNS-rebinding page cannot), a *local-only* session is
  opened without asking (``PlatformConfig.console_loopback``): its cookie is refused from any
  other address.

Actions are POSTs carrying a CSRF token derived from the session (HMAC with a key of this
process); a cross-origin ``Origin`` is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import anyio.to_thread
import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from sourceflow.platform.console import charts, pages
from sourceflow.platform.console.api import (
    COOKIE,
    LOCAL,
    LOOPBACK_HOSTS,
    PREFIX,
    SANDBOX_COOKIE,
    Api,
    ApiError,
    Session,
    read_form,
)
from sourceflow.platform.http.auth import bearer
from sourceflow.platform.http.problems import Refused

if TYPE_CHECKING:
    from sourceflow.platform.core import Platform

HERE = Path(__file__).parent


def _when(ms: Any) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(int(ms) / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        # A field an answer leaves out renders empty, as the API leaves optional fields out.
        undefined=jinja2.ChainableUndefined,
    )
    env.filters["when"] = _when
    env.filters["pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False)
    env.filters["compact"] = lambda value: json.dumps(value, ensure_ascii=False)[:160]
    env.filters["q"] = lambda value: quote(str(value), safe="")
    return env


Page = Callable[[Request, Session, Api], Awaitable[Response]]


class Console:
    """The console's routes; :meth:`attach` gives it the app it calls."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self.app: ASGIApp | None = None
        self.env = _environment()
        self._key = secrets.token_bytes(32)

    def attach(self, app: ASGIApp) -> None:
        """The app whose API the console calls (the one serving it)."""
        self.app = app

    def routes(self) -> list[BaseRoute]:
        """``/console`` and its pages, actions and static files."""
        views = pages.Pages(self)
        page = self.page
        return [
            Route(PREFIX, page(views.overview), methods=["GET"]),
            Route(f"{PREFIX}/login", self.login_form, methods=["GET"]),
            Route(f"{PREFIX}/login", self.login, methods=["POST"]),
            Route(f"{PREFIX}/logout", self.logout, methods=["POST"]),
            Route(f"{PREFIX}/sandbox", page(views.sandbox), methods=["POST"]),
            Route(f"{PREFIX}/flows/{{id}}", page(views.flow), methods=["GET"]),
            Route(f"{PREFIX}/flows/{{id}}/messages", page(views.messages), methods=["GET"]),
            Route(
                f"{PREFIX}/flows/{{id}}/messages/{{xaction}}", page(views.message), methods=["GET"]
            ),
            Route(
                f"{PREFIX}/flows/{{id}}/failures/{{failure}}", page(views.failure), methods=["GET"]
            ),
            Route(f"{PREFIX}/flows/{{id}}/mapping", page(views.save_mapping), methods=["POST"]),
            Route(f"{PREFIX}/flows/{{id}}/replay", page(views.replay), methods=["POST"]),
            Route(f"{PREFIX}/flows/{{id}}/runs", page(views.start_run), methods=["POST"]),
            Route(f"{PREFIX}/flows/{{id}}/teardown", page(views.confirm), methods=["GET"]),
            Route(f"{PREFIX}/flows/{{id}}/teardown", page(views.teardown), methods=["POST"]),
            Route(f"{PREFIX}/datasets", page(views.datasets), methods=["GET"]),
            Route(f"{PREFIX}/datasets/{{id}}", page(views.dataset), methods=["GET"]),
            Route(f"{PREFIX}/timeline", page(views.timeline), methods=["GET"]),
            Mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]

    # --- rendering ------------------------------------------------------------------------

    def render(
        self, name: str, request: Request, session: Session | None, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        """A page from ``templates/name``."""
        html = self.env.get_template(name).render(
            prefix=PREFIX, session=session, path=request.url.path, charts=charts, **ctx
        )
        return HTMLResponse(html, status_code=status, headers=_HEADERS)

    # --- who is looking -------------------------------------------------------------------

    def csrf_for(self, token: str) -> str:
        """The CSRF token of a session."""
        return hmac.new(self._key, token.encode(), hashlib.sha256).hexdigest()[:40]

    def _session(self, request: Request, token: str, *, cookie: bool, local: bool) -> Session:
        info = self.p.tokens.lookup(token)
        if info is None or info.expires_at <= time.time():
            raise LookupError("the session's token is unknown or expired")
        sandbox = request.cookies.get(SANDBOX_COOKIE) or "prod"
        return Session(
            token=token,
            client_id=info.client_id,
            org_id=info.org_id,
            sandbox=sandbox,
            cookie=cookie,
            local=local,
            csrf=self.csrf_for(token),
        )

    def authenticate(self, request: Request) -> tuple[Session | None, str | None]:
        """The session of a request, and a cookie value to set when one was opened now."""
        given = bearer(request.headers)
        try:
            if given:
                return self._session(request, given, cookie=False, local=False), None
            cookie = request.cookies.get(COOKIE, "")
            if cookie.startswith(LOCAL):
                if loopback(request):
                    token = cookie.removeprefix(LOCAL)
                    return self._session(request, token, cookie=True, local=True), None
            elif cookie:
                return self._session(request, cookie, cookie=True, local=False), None
        except LookupError:
            pass
        if self.p.config.console_loopback and loopback(request):
            token = self._issue(self.p.config.client_id, self.p.config.client_secret)
            return self._session(request, token, cookie=True, local=True), LOCAL + token
        return None, None

    def _issue(self, client_id: str, secret: str) -> str:
        form = urlencode(
            {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        )
        issued = self.p.tokens.issue(form.encode(), {})
        return str(issued["access_token"])

    def page(self, view: Page) -> Callable[[Request], Awaitable[Response]]:
        """A console endpoint: authenticated, CSRF-checked on POST, calling the API in-process."""

        async def endpoint(request: Request) -> Response:
            try:
                return await guarded(request)
            except Refused as refused:  # a form too large: the sender's doing, a 4xx
                return self.refused(request, refused)

        async def guarded(request: Request) -> Response:
            session, opened = await anyio.to_thread.run_sync(self.authenticate, request)
            if session is None:
                if bearer(request.headers):
                    return self.render(
                        "login.html", request, None, 401, error="the token is not valid"
                    )
                back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"{PREFIX}/login?next={quote(back)}", 303)
            if request.method == "POST":
                refusal = await self._check_post(request, session)
                if refusal is not None:
                    return refusal
            assert self.app is not None, "Console.attach(app) was not called"
            api = Api(self.app, str(request.base_url).rstrip("/"), session)
            try:
                response = await view(request, session, api)
            except ApiError as exc:
                response = self.render(
                    "error.html", request, session, exc.status if exc.status < 500 else 502,
                    error=exc,
                )  # fmt: skip
            finally:
                await api.close()
            if opened is not None:
                _set_cookie(response, COOKIE, opened)
            return response

        endpoint.__name__ = view.__name__
        return endpoint

    def refused(self, request: Request, refused: Refused) -> Response:
        """The error page of a request refused before any view ran."""
        body = refused.body if isinstance(refused.body, dict) else {}
        error = ApiError(refused.status, str(body.get("detail") or "the request was refused"))
        return self.render("error.html", request, None, refused.status, error=error)

    async def _check_post(self, request: Request, session: Session) -> Response | None:
        origin = request.headers.get("origin")
        if origin and origin != "null" and _host(origin) != request.headers.get("host", ""):
            return self.render(
                "error.html", request, session, 403,
                error=ApiError(403, f"a request from {origin} may not act in the console"),
            )  # fmt: skip
        if not session.cookie:
            return None  # a bearer header is never sent by a browser on its own
        form = await read_form(request)
        given = request.headers.get("x-csrf-token") or form.get("csrf", "")
        if not hmac.compare_digest(given, session.csrf):
            return self.render(
                "error.html", request, session, 403,
                error=ApiError(403, "the form is stale or forged (CSRF check failed): reload it"),
            )  # fmt: skip
        return None

    # --- login ----------------------------------------------------------------------------

    async def login_form(self, request: Request) -> Response:
        """The login page: the client id and secret of this platform."""
        return self.render(
            "login.html",
            request,
            None,
            next=_safe_next(request.query_params.get("next")),
            error=None,
            client_id=self.p.config.client_id,
        )

    async def login(self, request: Request) -> Response:
        """Exchange the client's credentials for a token kept in a session cookie."""
        try:
            form = await read_form(request)
        except Refused as refused:
            return self.refused(request, refused)
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        target = _safe_next(form.get("next"))
        try:
            token = await anyio.to_thread.run_sync(self._issue, client_id, secret)
        except Refused as refused:
            body = refused.body if isinstance(refused.body, dict) else {}
            return self.render(
                "login.html",
                request,
                None,
                401 if refused.status == 401 else 400,
                next=target,
                error=str(body.get("error_description") or "the login failed"),
                client_id=client_id,
            )
        response = RedirectResponse(target, 303)
        _set_cookie(response, COOKIE, token)
        return response

    async def logout(self, request: Request) -> Response:
        """Forget the session cookie (the token itself expires on its own)."""
        session, _ = await anyio.to_thread.run_sync(self.authenticate, request)
        if session is not None and session.cookie:
            try:
                refusal = await self._check_post(request, session)
            except Refused as refused:
                return self.refused(request, refused)
            if refusal is not None:
                return refusal
        response = RedirectResponse(f"{PREFIX}/login", 303)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response


_HEADERS = {
    # Everything the console loads is its own: no CDN, no inline script.
    "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def _set_cookie(response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, httponly=True, samesite="strict", path=PREFIX)


def _safe_next(value: str | None) -> str:
    # Only a console path: never an open redirect to another site.
    if value and value.startswith(PREFIX) and not value.startswith("//"):
        return value
    return PREFIX


def _host(origin: str) -> str:
    return origin.split("://", 1)[-1].rstrip("/")


def loopback(request: Request) -> bool:
    """Whether a request comes from this machine and names it by a loopback name."""
    client = request.client.host if request.client else ""
    if not (client.startswith("127.") or client == "::1"):
        return False
    host = request.headers.get("host", "")
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in LOOPBACK_HOSTS
