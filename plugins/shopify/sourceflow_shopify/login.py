"""Sign in to a shop from a terminal, as ``gh auth login`` does: a loopback listener receives
Shopify's OAuth redirect, checks it, and the code is exchanged for an access token.

The listener waits, until its timeout, for the one request that carries this login's ``state``;
anything else that reaches the port (a stray request, a stale redirect) is answered and ignored.
"""

from __future__ import annotations

import contextlib
import hmac
import queue
import secrets
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from sourceflow import SourceflowError
from sourceflow_shopify.oauth import (
    AccessToken,
    CallbackError,
    authorize_url,
    base_url,
    check_shop,
    exchange_code,
    validate_callback,
)

CALLBACK_PATH = "/callback"


def login(
    shop: str,
    *,
    client_id: str,
    client_secret: str,
    scopes: str,
    admin_url: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    timeout: float = 300.0,
    show: Callable[[str], Any],
) -> AccessToken:
    """Run the authorization code grant for ``shop``; the access token it yields.

    :param port: where the redirect listener binds (0: any free port). The redirect URI,
        ``http://{host}:{port}/callback``, must be in the app's allowed redirection URLs.
    :param show: called with the authorize URL (print it, open a browser).
    :raises CallbackError: when the redirect fails a check (hmac, state, shop, timestamp).
    """
    shop = check_shop(shop)
    _check_resolves(base_url(shop, admin_url))
    state = secrets.token_urlsafe(24)
    results: queue.Queue[dict[str, str]] = queue.Queue(maxsize=1)
    ignored: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = dict(parse_qsl(parts.query, keep_blank_values=True))
            if parts.path != CALLBACK_PATH or not hmac.compare_digest(
                params.get("state", ""), state
            ):
                # Not this login's redirect: answer it, and keep waiting for the one that is.
                ignored.append(parts.path)
                self.send_error(404 if parts.path != CALLBACK_PATH else 400)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"sourceflow received Shopify's answer: return to the terminal.\n")
            # Only the first redirect with the state counts; a second one cannot replace it.
            with contextlib.suppress(queue.Full):
                results.put_nowait(params)

        def log_message(self, format: str, *args: Any) -> None:
            # The default logs the request line: the query holds the authorization code.
            return

    try:
        server = HTTPServer((host, port), Handler)
    except OSError as exc:
        raise SourceflowError(
            f"cannot listen on {host}:{port} for Shopify's redirect: {exc.strerror}",
            hint="choose another --port (and allow its redirect URI in the app's settings)",
        ) from None
    redirect_uri = f"http://{host}:{server.server_address[1]}{CALLBACK_PATH}"
    thread = threading.Thread(target=server.serve_forever, name="shopify-login", daemon=True)
    thread.start()
    try:
        show(authorize_url(shop, client_id, scopes, redirect_uri, state, admin_url))
        try:
            params = results.get(timeout=timeout)
        except queue.Empty:
            strays = f" ({len(ignored)} other requests ignored)" if ignored else ""
            raise SourceflowError(
                f"no answer from Shopify within {int(timeout)} s{strays}",
                hint="open the URL above, approve the app, and check that "
                f"{redirect_uri} is an allowed redirection URL of the app",
            ) from None
    finally:
        server.shutdown()
        server.server_close()
    if "error" in params:
        raise CallbackError(
            f"Shopify answered {params['error']}: {params.get('error_description', '')}"
        )
    code = validate_callback(params, client_secret=client_secret, state=state, shop=shop)
    return exchange_code(
        shop, code, client_id=client_id, client_secret=client_secret, admin_url=admin_url
    )


def _check_resolves(base: str) -> None:
    # Before the merchant is sent to a URL no browser could open.
    url = httpx.URL(base)
    try:
        socket.getaddrinfo(url.host, url.port or (443 if url.scheme == "https" else 80))
    except socket.gaierror:
        raise SourceflowError(
            f"{url.host} does not resolve (no such host)",
            hint="check --shop (the shop's myshopify.com host, e.g. acme.myshopify.com) "
            "and --admin-url",
        ) from None
