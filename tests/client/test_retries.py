"""Retries: backoff, Retry-After, the attempt and time bounds, and which requests are safe."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from sourceflow.client import FlowServiceClient, RetryPolicy
from sourceflow.client.retry import retry_after
from sourceflow.config import Settings
from sourceflow.errors import BadRequest, RateLimited, Unavailable
from sourceflow.model import Connection, SpecRef
from sourceflow.platform.server import background

from .fakeflow import FS, FakeFlowService, Fault

CONNECTIONS = FS + "/connections"
SPEC = SpecRef(id="bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb")
BUSY = {"type": "https://ns.adobe.com/aep/errors/429", "title": "Too Many Requests"}


def _connection() -> Connection:
    return Connection(name="c", connection_spec=SPEC)


def test_retry_after_is_honoured(client: FlowServiceClient, fake: FakeFlowService) -> None:
    fake.fail("GET", CONNECTIONS, Fault(429, BUSY, {"Retry-After": "1"}))
    assert list(client.connections.list()) == []
    first, second = fake.seen("GET", CONNECTIONS)
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0  # FAST's own backoff is at most 0.06 s


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_gets_are_retried_on_transient_statuses(
    client: FlowServiceClient, fake: FakeFlowService, status: int
) -> None:
    fake.fail("GET", CONNECTIONS, Fault(status), Fault(status))
    assert list(client.connections.list()) == []
    assert [r.status for r in fake.seen("GET", CONNECTIONS)] == [status, status, 200]


def test_the_attempt_bound_ends_in_rate_limited_with_the_details(
    client: FlowServiceClient, fake: FakeFlowService
) -> None:
    fake.fail("GET", CONNECTIONS, *[Fault(429, BUSY, {"Retry-After": "0"})] * 10)
    with pytest.raises(RateLimited) as caught:
        list(client.connections.list())
    sent = fake.seen("GET", CONNECTIONS)
    assert len(sent) == 4  # FAST.attempts
    error = caught.value
    assert error.status == 429
    assert error.body == BUSY
    assert error.request_id == sent[-1].answered_request_id
    assert (error.method, error.url) == ("GET", f"{fake.url}{CONNECTIONS}")
    assert str(error).startswith(
        f"GET /flowservice/connections answered 429 after 4 attempts: Too Many Requests "
        f"(request id {sent[-1].answered_request_id})"
    )


def test_the_time_bound_stops_retrying(settings: Settings, fake: FakeFlowService) -> None:
    fake.fail("GET", CONNECTIONS, *[Fault(503, {"message": "down"})] * 100)
    policy = RetryPolicy(attempts=100, total_seconds=0.4, base=0.05, cap=0.1)
    started = time.monotonic()
    with FlowServiceClient(settings, retry=policy) as client, pytest.raises(Unavailable) as e:
        list(client.connections.list())
    assert time.monotonic() - started < 1.0
    assert 2 <= len(fake.seen("GET", CONNECTIONS)) < 12
    assert e.value.status == 503


def test_a_retry_after_beyond_the_time_bound_is_not_waited_for(
    settings: Settings, fake: FakeFlowService
) -> None:
    fake.fail("GET", CONNECTIONS, Fault(429, BUSY, {"Retry-After": "30"}))
    policy = RetryPolicy(attempts=5, total_seconds=2, base=0.01, cap=0.05)
    started = time.monotonic()
    with FlowServiceClient(settings, retry=policy) as client, pytest.raises(RateLimited) as e:
        list(client.connections.list())
    assert time.monotonic() - started < 1.0
    assert "asked to retry after 30 s" in str(e.value)


def test_post_is_not_retried_on_500_or_502(
    client: FlowServiceClient, fake: FakeFlowService
) -> None:
    for status in (500, 502):
        fake.fail("POST", CONNECTIONS, Fault(status, {"message": "boom"}))
        with pytest.raises(Unavailable) as caught:
            client.connections.create(_connection())
        assert caught.value.status == status
    assert [r.status for r in fake.seen("POST", CONNECTIONS)] == [500, 502]


def test_post_is_retried_on_429_and_503(client: FlowServiceClient, fake: FakeFlowService) -> None:
    fake.fail("POST", CONNECTIONS, Fault(429, BUSY), Fault(503))
    ref = client.connections.create(_connection())
    assert [r.status for r in fake.seen("POST", CONNECTIONS)] == [429, 503, 201]
    assert ref.id in fake.store["connections"]


def test_client_errors_are_not_retried(client: FlowServiceClient, fake: FakeFlowService) -> None:
    fake.fail("GET", CONNECTIONS, Fault(400, {"detail": "bad filter"}), Fault(400))
    with pytest.raises(BadRequest):
        list(client.connections.list())
    assert len(fake.seen("GET", CONNECTIONS)) == 1


def test_a_dropped_connection_is_retried_for_a_get(
    client: FlowServiceClient, fake: FakeFlowService
) -> None:
    fake.fail("GET", CONNECTIONS, Fault(drop=True))
    assert list(client.connections.list()) == []
    assert len(fake.seen("GET", CONNECTIONS)) == 2


def test_a_dropped_connection_is_not_retried_for_a_post(
    client: FlowServiceClient, fake: FakeFlowService, logs: io.StringIO
) -> None:
    # The platform may have created the connection before the answer was lost.
    fake.fail("POST", CONNECTIONS, Fault(drop=True))
    with pytest.raises(Unavailable) as caught:
        client.connections.create(_connection())
    assert len(fake.seen("POST", CONNECTIONS)) == 1
    error = caught.value
    assert error.status == 0
    assert isinstance(error.__cause__, httpx.RemoteProtocolError)
    assert str(error).startswith("POST /flowservice/connections got no answer: RemoteProtocolError")
    assert error.request_id == fake.seen("POST", CONNECTIONS)[0].headers["x-request-id"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def late_platform() -> Iterator[tuple[str, FakeFlowService]]:
    """A platform whose port refuses connections for its first 0.3 s."""
    port = _free_port()
    service = FakeFlowService()
    service.accept_any_token = True  # its tokens come from the other fake's IMS
    stop = threading.Event()

    def serve_later() -> None:
        time.sleep(0.3)
        with background(service, port=port):
            stop.wait(10)

    thread = threading.Thread(target=serve_later, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", service
    finally:
        stop.set()
        thread.join(10)


def test_post_is_retried_when_the_connection_is_refused(
    fake: FakeFlowService, late_platform: tuple[str, FakeFlowService], logs: io.StringIO
) -> None:
    url, late = late_platform
    settings = Settings(platform_url=url, ims_url=fake.url)
    policy = RetryPolicy(attempts=30, total_seconds=5, base=0.05, cap=0.1)
    with FlowServiceClient(settings, retry=policy) as client:
        client.access_token()  # from the fake that is already up
        ref = client.connections.create(_connection())
    assert [r.method for r in late.requests] == ["POST"]  # sent once, when it could arrive
    assert ref.id in late.store["connections"]
    assert "ConnectError" in logs.getvalue()


def test_connection_refused_to_the_end_is_unavailable(fake: FakeFlowService) -> None:
    settings = Settings(platform_url=f"http://127.0.0.1:{_free_port()}", ims_url=fake.url)
    client = FlowServiceClient(settings, retry=RetryPolicy(attempts=2, base=0.01))
    with client, pytest.raises(Unavailable) as caught:
        list(client.connections.list())
    assert caught.value.status == 0
    host = settings.platform_url.removeprefix("http://")
    assert (
        f"GET /flowservice/connections got no answer after 2 attempts: cannot reach "
        f"http://{host} (ConnectError" in str(caught.value)
    )
    assert "SOURCEFLOW_PLATFORM_URL" in str(caught.value)


def test_retries_are_logged(
    client: FlowServiceClient, fake: FakeFlowService, logs: io.StringIO
) -> None:
    fake.fail("GET", CONNECTIONS, Fault(503))
    list(client.connections.list())
    text = logs.getvalue()
    assert "retrying request" in text
    assert "status=503" in text
    assert "attempt=1" in text


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)

    def answer(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value})

    assert retry_after(answer("7")) == 7.0
    assert retry_after(answer("1.5")) == 1.5
    later = format_datetime(now + timedelta(seconds=42), usegmt=True)
    assert retry_after(answer(later), now=lambda: now) == 42.0
    past = format_datetime(now - timedelta(seconds=42), usegmt=True)
    assert retry_after(answer(past), now=lambda: now) == 0.0
    assert retry_after(answer("soon")) is None
    assert retry_after(httpx.Response(429)) is None


def test_policy_values_are_checked() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
