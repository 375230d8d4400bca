"""Every Platform call carries Adobe's four headers, a request id, and a JSON type on bodies."""

from __future__ import annotations

import uuid

from sourceflow.client import FlowServiceClient
from sourceflow.config import Settings
from sourceflow.model import Connection, SpecRef

from .conftest import FAST
from .fakeflow import FakeFlowService

HTTP_SPEC = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb"


def test_the_four_platform_headers_on_every_call(fake: FakeFlowService) -> None:
    settings = Settings(platform_url=fake.url, sandbox="dev-sandbox")
    with FlowServiceClient(settings, retry=FAST) as client:
        ref = client.connections.create(Connection(name="c", connection_spec=SpecRef(id=HTTP_SPEC)))
        client.connections.get(ref.id)
        list(client.connections.list())
        client.connections.patch(
            ref.id, [{"op": "replace", "path": "/name", "value": "d"}], ref.etag or ""
        )
        client.connections.delete(ref.id)
    platform = [r for r in fake.requests if r.path.startswith("/data/")]
    assert [r.method for r in platform] == ["POST", "GET", "GET", "PATCH", "DELETE"]
    for sent in platform:
        assert sent.headers["authorization"] == f"Bearer {fake.issued[0]}"
        assert sent.headers["x-api-key"] == settings.client_id
        assert sent.headers["x-gw-ims-org-id"] == settings.org_id
        assert sent.headers["x-sandbox-name"] == "dev-sandbox"
        assert sent.status < 400


def test_content_type_only_on_bodies(client: FlowServiceClient, fake: FakeFlowService) -> None:
    ref = client.connections.create(Connection(name="c", connection_spec=SpecRef(id=HTTP_SPEC)))
    client.connections.get(ref.id)
    post, get = (r for r in fake.requests if r.path.startswith("/data/"))
    assert post.headers["content-type"] == "application/json"
    assert "content-type" not in get.headers


def test_each_request_has_its_own_request_id(
    client: FlowServiceClient, fake: FakeFlowService
) -> None:
    for _ in range(3):
        list(client.connections.list())
    ids = [r.headers["x-request-id"] for r in fake.requests]
    assert len(set(ids)) == len(ids) == 4  # the token request and three lists
    assert all(uuid.UUID(i) for i in ids)


def test_patch_sends_the_etag_in_if_match(client: FlowServiceClient, fake: FakeFlowService) -> None:
    ref = client.connections.create(Connection(name="c", connection_spec=SpecRef(id=HTTP_SPEC)))
    client.connections.patch(
        ref.id, [{"op": "replace", "path": "/name", "value": "d"}], ref.etag or ""
    )
    (patch,) = fake.seen("PATCH")
    assert patch.headers["if-match"] == ref.etag
    assert patch.json() == [{"op": "replace", "path": "/name", "value": "d"}]
