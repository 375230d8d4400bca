"""sourceflow.http.send: a provider request under the core's retry policy, over real loopback
HTTP: retries and backoff, Retry-After, the provider's verdict (veto and force), the retry
callback, the hook before every try, and transport errors."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sourceflow.http import Retry, RetryPolicy, parse_json, send
from sourceflow.platform.server import background

QUICK = RetryPolicy(attempts=4, total_seconds=30, base=0.25, cap=1.0)
DROP = -1


class _Dropped(Response):
    """Starts an answer and never finishes it."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"50")]})  # fmt: skip
        await send({"type": "http.response.body", "body": b"{", "more_body": True})
        raise ConnectionAbortedError("dropped on purpose")


class Provider:
    """A provider answering from a script of (status, headers); 200 once it runs out."""

    def __init__(self) -> None:
        self.script: deque[tuple[int, dict[str, str]]] = deque()
        self.seen: list[str] = []
        self.app = Starlette(routes=[Route("/thing", self._thing, methods=["GET", "POST"])])

    async def _thing(self, request: Request) -> Response:
        self.seen.append(request.method)
        if not self.script:
            return JSONResponse({"ok": True})
        status, headers = self.script.popleft()
        if status == DROP:
            return _Dropped()
        return JSONResponse({"status": status}, status_code=status, headers=headers)


@pytest.fixture(scope="module")
def _served() -> Iterator[tuple[Provider, str]]:
    provider = Provider()
    quiet = logging.getLogger("uvicorn.error")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # the dropped answers' tracebacks
    try:
        with background(provider.app) as url:
            yield provider, url
    finally:
        quiet.setLevel(level)


@pytest.fixture
def provider(_served: tuple[Provider, str]) -> Iterator[tuple[Provider, str, httpx.Client]]:
    provider, url = _served
    provider.script.clear()
    provider.seen.clear()
    with httpx.Client(timeout=5) as client:
        yield provider, url + "/thing", client


class Recorder:
    def __init__(self) -> None:
        self.waits: list[float] = []
        self.retries: list[Retry] = []
        self.tries = 0

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)

    def on_retry(self, retry: Retry) -> None:
        self.retries.append(retry)

    def before_try(self) -> None:
        self.tries += 1


def call(client: httpx.Client, url: str, rec: Recorder, method: str = "GET", **kw: Any):
    return send(client, method, url, policy=QUICK, sleep=rec.sleep, on_retry=rec.on_retry,
                before_try=rec.before_try, **kw)  # fmt: skip


def test_a_retryable_answer_is_sent_again_with_exponential_backoff(provider):
    fake, url, client = provider
    fake.script.extend([(503, {}), (502, {}), (504, {})])
    rec = Recorder()
    assert call(client, url, rec).status_code == 200
    assert fake.seen == ["GET"] * 4 and rec.tries == 4
    assert [r.status for r in rec.retries] == [503, 502, 504]
    assert [r.attempt for r in rec.retries] == [1, 2, 3]
    assert [r.wait for r in rec.retries] == [round(w, 3) for w in rec.waits]
    # base·2ⁿ (capped at 1 s) plus up to base of jitter.
    for n, wait in enumerate(rec.waits):
        assert min(1.0, 0.25 * 2**n) <= wait <= min(1.0, 0.25 * 2**n) + 0.25


def test_retry_after_replaces_the_backoff(provider):
    fake, url, client = provider
    fake.script.extend([(429, {"Retry-After": "7"}), (503, {"Retry-After": "0"})])
    rec = Recorder()
    assert call(client, url, rec).status_code == 200
    assert rec.waits == [7.0, 0.0]


def test_the_providers_veto_and_force(provider):
    fake, url, client = provider
    fake.script.extend([(503, {"X-Retry": "no"}), (400, {"X-Retry": "yes"})])

    def verdict(response: httpx.Response) -> bool | None:
        flag = response.headers.get("x-retry")
        return {"no": False, "yes": True}.get(flag) if flag else None

    rec = Recorder()
    vetoed = call(client, url, rec, should_retry=verdict)
    assert vetoed.status_code == 503 and rec.retries == []  # a 503 the provider says is final
    forced = call(client, url, rec, should_retry=verdict)
    assert forced.status_code == 200  # a 400 the provider says to send again
    assert [r.status for r in rec.retries] == [400]


def test_without_a_verdict_the_policy_decides(provider):
    fake, url, client = provider
    fake.script.append((500, {}))
    rec = Recorder()
    # 500 is not among the policy's statuses: an unknown failure may not be transient.
    assert call(client, url, rec, should_retry=lambda r: None).status_code == 500
    assert rec.retries == []


def test_a_post_is_retried_only_when_the_provider_cannot_have_acted(provider):
    fake, url, client = provider
    fake.script.extend([(502, {}), (503, {})])
    rec = Recorder()
    assert call(client, url, rec, "POST").status_code == 502  # may have been processed
    assert call(client, url, rec, "POST").status_code == 200  # 503: not processed, sent again
    fake.script.append((502, {}))
    assert call(client, url, rec, "POST", idempotent=True).status_code == 200
    assert fake.seen == ["POST"] * 5


def test_the_last_answer_is_returned_when_the_tries_run_out(provider):
    fake, url, client = provider
    fake.script.extend([(503, {})] * 10)
    rec = Recorder()
    assert call(client, url, rec).status_code == 503
    assert rec.tries == QUICK.attempts and len(rec.retries) == QUICK.attempts - 1


def test_a_dropped_connection_is_retried_and_named(provider):
    fake, url, client = provider
    fake.script.extend([(DROP, {}), (DROP, {})])
    rec = Recorder()
    assert call(client, url, rec).status_code == 200
    assert [r.status for r in rec.retries] == [None, None]
    assert all(r.error and r.error.startswith("RemoteProtocolError") for r in rec.retries)
    assert all(r.response is None for r in rec.retries)


def test_transport_errors_are_raised_once_the_tries_run_out():
    rec = Recorder()
    with httpx.Client(timeout=2) as client, pytest.raises(httpx.ConnectError):
        call(client, "http://127.0.0.1:9/thing", rec)
    assert rec.tries == QUICK.attempts
    assert all(r.error and r.error.startswith("ConnectError") for r in rec.retries)


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b'{"a": [1, 2.5, "\xc3\xa9", null]}', {"a": [1, 2.5, "é", None]}),
        (b'{"big": 123456789012345678901234567890}', {"big": 123456789012345678901234567890}),
    ],
)
def test_parse_json_is_exact(body, value):
    assert parse_json(httpx.Response(200, content=body)) == value


@pytest.mark.parametrize("body", [b"<html>", b'{"a": NaN}', b""])
def test_parse_json_refuses_what_is_not_json(body):
    with pytest.raises(ValueError):
        parse_json(httpx.Response(200, content=body))
