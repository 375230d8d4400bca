"""Errors: the class for each status, one readable line, the request id, Adobe's body."""

from __future__ import annotations

from typing import Any

import pytest

from sourceflow.client import FlowServiceClient
from sourceflow.errors import (
    AuthenticationFailed,
    BadRequest,
    Conflict,
    NotFound,
    PlatformError,
    RateLimited,
    Unavailable,
)
from sourceflow.model import Connection, SpecRef

from .conftest import FAST
from .fakeflow import FS, FakeFlowService, Fault

CONNECTIONS = FS + "/connections"


def _create(client: FlowServiceClient) -> None:
    client.connections.create(
        Connection(name="c", connection_spec=SpecRef(id="bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb"))
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (  # problem details, as Flow Service answers
            {
                "type": "…/FLOW-1103-400",
                "title": "Bad Request",
                "status": 400,
                "detail": "connectionSpec.id: is required",
            },
            "connectionSpec.id: is required",
        ),
        ({"error_code": "400003", "message": "Invalid sandbox"}, "Invalid sandbox"),  # gateway
        ({"error": "invalid_scope", "error_description": "scope is invalid"}, "scope is invalid"),
        ({"title": "Authorization", "report": {"message": "[id] token empty"}}, "[id] token empty"),
        (
            {"title": "Bad Request", "problems": ["name: is required", "auth: is required"]},
            "name: is required; auth: is required",
        ),
        (
            {"detail": "invalid Connection", "problems": [{"path": "name", "message": "too long"}]},
            "invalid Connection: name: too long",
        ),
        ({"title": "Bad Request"}, "Bad Request"),
        ("plain text\nover two lines", "plain text over two lines"),
        (None, "Bad Request"),  # no body: the reason phrase
    ],
)
def test_the_message_is_one_readable_line(
    client: FlowServiceClient, fake: FakeFlowService, body: Any, message: str
) -> None:
    fake.fail("POST", CONNECTIONS, Fault(400, body))
    with pytest.raises(BadRequest) as caught:
        _create(client)
    request_id = fake.seen("POST", CONNECTIONS)[0].answered_request_id
    text = str(caught.value)
    assert (
        text == f"POST /flowservice/connections answered 400: {message} (request id {request_id})"
    )
    assert "\n" not in text
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequest),
        (401, AuthenticationFailed),
        (403, AuthenticationFailed),
        (404, NotFound),
        (409, Conflict),
        (412, Conflict),
        (413, BadRequest),
        (422, BadRequest),
        (429, RateLimited),
        (500, Unavailable),
        (503, Unavailable),
        (418, PlatformError),
    ],
)
def test_each_status_has_its_class(
    client: FlowServiceClient, fake: FakeFlowService, status: int, cls: type[PlatformError]
) -> None:
    fake.fail("POST", CONNECTIONS, *[Fault(status, {"message": "no"})] * FAST.attempts)
    with pytest.raises(cls) as caught:
        _create(client)
    assert type(caught.value) is cls
    assert caught.value.status == status
    assert caught.value.body == {"message": "no"}
    assert caught.value.method == "POST"


def test_the_request_id_is_ours_when_the_platform_sends_none(
    client: FlowServiceClient, fake: FakeFlowService
) -> None:
    fake.fail("GET", CONNECTIONS, Fault(404, {"message": "gone"}, request_id=False))
    with pytest.raises(NotFound) as caught:
        list(client.connections.list())
    ours = fake.seen("GET", CONNECTIONS)[0].headers["x-request-id"]
    assert caught.value.request_id == ours
    assert str(caught.value).endswith(
        f"(request id {ours}) (check the id, and that "
        "SOURCEFLOW_SANDBOX names the sandbox it lives in)"
    )


def test_a_long_message_is_shortened(client: FlowServiceClient, fake: FakeFlowService) -> None:
    fake.fail("POST", CONNECTIONS, Fault(400, {"detail": "x" * 5000}))
    with pytest.raises(BadRequest) as caught:
        _create(client)
    assert len(str(caught.value)) < 400
