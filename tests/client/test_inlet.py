"""The inlet sender: single and batch messages, its headers, tokens and retries."""

from __future__ import annotations

import pytest

from sourceflow.client import FlowServiceClient, InletSender
from sourceflow.config import Settings
from sourceflow.errors import AuthenticationFailed, ConfigError, Unavailable
from sourceflow.model import BatchItemResult

from .conftest import FAST
from .fakeflow import FakeFlowService, Fault

INLET_ID = "2301a1f761f6d7bf62c5312c535e1076bbc7f14d728e63cdfd37ecbb4344425b"
FLOW_ID = "1f086c23-2ea8-4d06-886c-232ea8bd061d"
RECORD = {"name": "Johnson Smith", "location": {"city": "Seattle"}}


def test_send_posts_the_record_with_the_flow_id(fake: FakeFlowService) -> None:
    url = f"{fake.url}/collection/{INLET_ID}"
    with InletSender(url, flow_id=FLOW_ID, sandbox="dev", retry=FAST) as sender:
        receipt = sender.send(RECORD)
    assert receipt.inlet_id == INLET_ID
    assert receipt.xaction_id and receipt.received_time_ms > 0
    (sent,) = fake.seen("POST", f"/collection/{INLET_ID}")
    assert sent.json() == RECORD
    assert sent.headers["x-adobe-flow-id"] == FLOW_ID
    assert sent.headers["x-sandbox-name"] == "dev"
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers


def test_send_batch_answers_one_result_per_message(fake: FakeFlowService) -> None:
    # Chatlio's webhook URL carries the flow id in the query; the batch URL keeps it.
    url = f"{fake.url}/collection/{INLET_ID}?x-adobe-flow-id={FLOW_ID}"
    with InletSender(url, retry=FAST) as sender:
        assert sender.batch_url == (
            f"{fake.url}/collection/batch/{INLET_ID}?x-adobe-flow-id={FLOW_ID}"
        )
        receipt = sender.send_batch([RECORD, {"invalid": True}, RECORD])
    assert receipt.inlet_id == INLET_ID and receipt.batch_id
    assert [r.status_code for r in receipt.responses] == [None, 400, None]
    assert receipt.responses[1] == BatchItemResult(status_code=400, message="invalid message")
    (sent,) = fake.seen("POST", f"/collection/batch/{INLET_ID}")
    assert sent.json() == {"messages": [RECORD, {"invalid": True}, RECORD]}
    assert sent.query == f"x-adobe-flow-id={FLOW_ID}"


def test_a_url_without_an_inlet_id_has_no_batch_url() -> None:
    with pytest.raises(ConfigError, match="ends in /collection/"):
        _ = InletSender("https://dcs.adobedc.net/elsewhere").batch_url


def test_an_authenticated_inlet_wants_a_token(
    fake: FakeFlowService, client: FlowServiceClient
) -> None:
    fake.inlet_auth = True
    url = f"{fake.url}/collection/{INLET_ID}"
    with InletSender(url, retry=FAST) as sender, pytest.raises(AuthenticationFailed) as e:
        sender.send(RECORD)
    assert "answered 401: [id] Ims service token is empty" in str(e.value)
    assert "pass token=client.access_token()" in str(e.value)
    with InletSender(url, token=client.access_token(), retry=FAST) as sender:
        assert sender.send(RECORD).inlet_id == INLET_ID
    assert fake.seen("POST")[-1].headers["authorization"] == f"Bearer {fake.issued[0]}"


def test_a_token_source_is_renewed_after_a_401(
    fake: FakeFlowService, client: FlowServiceClient
) -> None:
    fake.inlet_auth = True
    client.access_token()
    fake.revoke_tokens()
    with InletSender(f"{fake.url}/collection/{INLET_ID}", token=client.tokens) as sender:
        assert sender.send(RECORD).inlet_id == INLET_ID
    assert [r.status for r in fake.seen("POST", f"/collection/{INLET_ID}")] == [401, 200]
    assert len(fake.issued) == 2


def test_429_and_503_are_retried(fake: FakeFlowService) -> None:
    path = f"/collection/{INLET_ID}"
    fake.fail("POST", path, Fault(503, headers={"Retry-After": "0"}), Fault(429), Fault(503))
    with InletSender(fake.url + path, retry=FAST) as sender:
        assert sender.send(RECORD).inlet_id == INLET_ID
    assert [r.status for r in fake.seen("POST", path)] == [503, 429, 503, 200]


def test_500_is_not_retried(fake: FakeFlowService) -> None:
    path = f"/collection/batch/{INLET_ID}"
    fake.fail("POST", path, Fault(500, {"message": "internal"}))
    sender = InletSender(f"{fake.url}/collection/{INLET_ID}", retry=FAST)
    with sender, pytest.raises(Unavailable, match="answered 500: internal"):
        sender.send_batch([RECORD])
    assert len(fake.seen("POST", path)) == 1


def test_default_retry_policy_retries_503_at_least_three_times(fake: FakeFlowService) -> None:
    # Adobe: "Clients should retry at least three times using an exponential back-off".
    path = f"/collection/{INLET_ID}"
    fake.fail("POST", path, *[Fault(503, headers={"Retry-After": "0"})] * 3)
    with InletSender(fake.url + path) as sender:
        assert sender.send(RECORD).inlet_id == INLET_ID
    assert len(fake.seen("POST", path)) == 4


def test_the_client_makes_senders_with_its_settings(fake: FakeFlowService) -> None:
    settings = Settings(platform_url=fake.url, sandbox="dev-1")
    fake.inlet_auth = True
    path = f"/collection/{INLET_ID}"
    with FlowServiceClient(settings, retry=FAST) as client:
        with client.inlet(fake.url + path, flow_id=FLOW_ID, authenticated=True) as sender:
            sender.send(RECORD)
        with client.inlet(fake.url + path) as sender, pytest.raises(AuthenticationFailed):
            sender.send(RECORD)
        assert list(client.connections.list()) == []  # the shared pool is still open
    sent = fake.seen("POST", path)
    assert sent[0].headers["x-sandbox-name"] == "dev-1"
    assert sent[0].headers["x-adobe-flow-id"] == FLOW_ID
    assert sent[0].headers["authorization"] == f"Bearer {fake.issued[0]}"
    assert "authorization" not in sent[1].headers
