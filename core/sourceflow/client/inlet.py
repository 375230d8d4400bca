"""Send records to a streaming inlet (``POST {inletUrl}``), one at a time or in batches.

On Adobe the inlet is another host than the platform (``https://dcs.adobedc.net``), so the
sender takes the inlet URL itself, from the connection's ``auth.params.inletUrl`` or the
flow's ``options.inletUrl``. It sends ``x-sandbox-name``, ``x-adobe-flow-id`` when given, and
a bearer token when the inlet is authenticated. 429 and 503 are retried with backoff (Adobe:
"retry at least three times using an exponential back-off strategy").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

import sourceflow
from sourceflow import config, wire
from sourceflow.client.retry import RetryPolicy
from sourceflow.client.tokens import StaticToken, TokenSource
from sourceflow.client.transport import Transport, parse_body, unexpected
from sourceflow.errors import ConfigError
from sourceflow.model import BatchReceipt, Receipt

_HINTS = {
    401: "this inlet requires an IMS token: pass token=client.access_token() "
    "(or token=client.tokens to have it refreshed)",
}


class InletSender:
    """Posts JSON records to one inlet.

    :param inlet_url: ``…/collection/{inletId}``; a query string (``?x-adobe-flow-id=…``) is
        kept.
    :param flow_id: sent as ``x-adobe-flow-id``: which flow maps raw records.
    :param token: a bearer token for authenticated inlets: a string, or a token source such
        as ``client.tokens`` that renews it (and fetches a new one after a 401).
    :param sandbox: ``x-sandbox-name``.
    :param retry: the retry policy.
    :param timeout: seconds per request.
    :param transport: an httpx transport to send through instead of the network (tests).
    :param http: an httpx client whose connection pool to share (and leave open on
        :meth:`close`); ``timeout`` and ``transport`` are then the client's.
    :param hints: hints for error statuses that replace the sender's, which name the Python
        fix (the CLI names its ``--authenticated`` option for a 401 instead).
    """

    def __init__(
        self,
        inlet_url: str,
        *,
        flow_id: str | None = None,
        token: str | TokenSource | None = None,
        sandbox: str = config.DEV_SANDBOX,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
        hints: Mapping[int, str] | None = None,
    ) -> None:
        self.inlet_url = inlet_url
        self.flow_id = flow_id
        headers = {"x-sandbox-name": sandbox}
        if flow_id:
            headers["x-adobe-flow-id"] = flow_id
        tokens = StaticToken(token) if isinstance(token, str) else token
        self._owns_http = http is None
        self._http = http or httpx.Client(
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={
                "Accept": "application/json",
                "User-Agent": f"sourceflow/{sourceflow.__version__}",
            },
        )
        self._transport = Transport(
            self._http,
            retry or RetryPolicy(),
            headers=headers,
            tokens=tokens,
            hints={**_HINTS, **(hints or {})},
        )

    @property
    def batch_url(self) -> str:
        """``…/collection/batch/{inletId}``, derived from ``…/collection/{inletId}``."""
        parts = urlsplit(self.inlet_url)
        head, sep, inlet_id = parts.path.rstrip("/").rpartition("/collection/")
        if not sep or not inlet_id or "/" in inlet_id:
            raise ConfigError(
                f"cannot derive the batch URL from {self.inlet_url!r}",
                hint="an inlet URL ends in /collection/{inletId}",
            )
        path = f"{head}/collection/batch/{inlet_id}"
        return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))

    def send(self, record: Mapping[str, Any]) -> Receipt:
        """Send one record; answers the inlet's receipt (``200 {inletId, xactionId, …}``)."""
        response = self._transport.request("POST", self.inlet_url, json=wire.to_json(record))
        return wire.from_json(_receipt_body(response), Receipt)

    def send_batch(self, records: Sequence[Mapping[str, Any]]) -> BatchReceipt:
        """Send many records in one request; answers one result per record, in order.

        The inlet answers ``207``: each result is ``{xactionId}`` when accepted or
        ``{statusCode, message}`` when not; check :attr:`BatchReceipt.responses`.
        """
        body = {"messages": [wire.to_json(r) for r in records]}
        response = self._transport.request("POST", self.batch_url, json=body)
        return wire.from_json(_receipt_body(response), BatchReceipt)

    def send_encoded_batch(self, messages: Sequence[bytes]) -> BatchReceipt:
        """Send JSON messages that are already encoded, byte for byte as given, in one batch
        request (the relay forwards what it stored, so no number or key order changes on the
        way); answers one result per message, in order, as :meth:`send_batch` does."""
        body = b'{"messages":[' + b",".join(messages) + b"]}"
        response = self._transport.request(
            "POST", self.batch_url, content=body, headers={"Content-Type": "application/json"}
        )
        return wire.from_json(_receipt_body(response), BatchReceipt)

    def close(self) -> None:
        """Close the connection pool, unless it was lent by the caller."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> InletSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _receipt_body(response: httpx.Response) -> dict[str, Any]:
    body = parse_body(response)
    if not isinstance(body, dict):
        raise unexpected(
            response,
            f"POST {response.request.url.path} answered {response.status_code} without a receipt",
        )
    # Adobe's schema spells it inletID, its examples inletId.
    if "inletId" not in body and "inletID" in body:
        body = {**body, "inletId": body["inletID"]}
    return body
