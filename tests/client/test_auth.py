"""IMS tokens: cached, refreshed before expiry, renewed once after a 401, shared by threads."""

from __future__ import annotations

import threading
import time

import pytest

from sourceflow.client import FlowServiceClient
from sourceflow.config import Settings
from sourceflow.errors import AuthenticationFailed

from .conftest import FAST
from .fakeflow import FS, FakeFlowService, Fault

SPECS = FS + "/connectionSpecs"


def test_the_token_request_is_adobes_client_credentials_form(
    client: FlowServiceClient, fake: FakeFlowService
) -> None:
    client.access_token()
    (sent,) = fake.seen("POST", "/ims/token/v3")
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert dict(sent.params_of_body()) == {
        "grant_type": "client_credentials",
        "client_id": client.settings.client_id,
        "client_secret": client.settings.client_secret,
        "scope": client.settings.scopes,
    }
    assert "authorization" not in sent.headers


def test_one_token_serves_many_calls(client: FlowServiceClient, fake: FakeFlowService) -> None:
    for _ in range(5):
        list(client.connection_specs.list())
    assert len(fake.issued) == 1
    assert {r.headers["authorization"] for r in fake.seen("GET", SPECS)} == {
        f"Bearer {fake.issued[0]}"
    }


def test_a_token_is_refreshed_before_it_expires(
    client: FlowServiceClient, fake: FakeFlowService
) -> None:
    fake.token_ttl = 1  # the client refreshes a tenth of the lifetime before the end
    first = client.access_token()
    assert client.access_token() == first
    time.sleep(0.95)
    list(client.connection_specs.list())  # would be refused with the old token after 1 s
    assert len(fake.issued) == 2
    assert client.access_token() == fake.issued[1] != first


def test_a_refused_cached_token_is_replaced_once(
    client: FlowServiceClient, fake: FakeFlowService
) -> None:
    list(client.connection_specs.list())
    fake.revoke_tokens()
    list(client.connection_specs.list())
    statuses = [r.status for r in fake.seen("GET", SPECS)]
    assert statuses == [200, 401, 200]
    assert len(fake.issued) == 2


def test_re_authentication_happens_once_then_the_401_is_raised(
    client: FlowServiceClient, fake: FakeFlowService
) -> None:
    client.access_token()
    refused = Fault(401, {"error_code": "401013", "message": "Oauth token is not valid"})
    fake.fail("GET", SPECS, refused, refused, refused)
    with pytest.raises(AuthenticationFailed) as caught:
        list(client.connection_specs.list())
    assert caught.value.status == 401
    assert len(fake.seen("GET", SPECS)) == 2
    assert len(fake.issued) == 2


def test_a_token_fetched_for_the_call_is_not_fetched_again_on_401(
    client: FlowServiceClient, fake: FakeFlowService
) -> None:
    fake.fail("GET", SPECS, Fault(401, {"message": "Oauth token is not valid"}))
    with pytest.raises(AuthenticationFailed, match="answered 401: Oauth token is not valid"):
        list(client.connection_specs.list())
    assert len(fake.issued) == 1
    assert len(fake.seen("GET", SPECS)) == 1


def test_refused_credentials_name_the_variables_to_check(fake: FakeFlowService) -> None:
    wrong = Settings(platform_url=fake.url, client_secret="not-the-right-secret-123")
    with FlowServiceClient(wrong, retry=FAST) as client, pytest.raises(AuthenticationFailed) as e:
        list(client.connections.list())
    text = str(e.value)
    assert text.startswith("POST /ims/token/v3 answered 400: invalid client_secret parameter")
    assert "check SOURCEFLOW_CLIENT_ID / SOURCEFLOW_CLIENT_SECRET" in text
    assert "not-the-right-secret-123" not in text
    assert e.value.body == {
        "error": "invalid_client",
        "error_description": "invalid client_secret parameter",
    }
    assert not fake.seen("GET")  # nothing reached the platform without a token


def test_threads_share_one_token(client: FlowServiceClient, fake: FakeFlowService) -> None:
    fake.token_delay = 0.2  # long enough for every thread to ask while the first one waits
    tokens: list[str] = []
    threads = [
        threading.Thread(target=lambda: tokens.append(client.access_token())) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fake.issued) == 1
    assert tokens == [fake.issued[0]] * 8
