"""No secret (client secret, IMS token, source credential) in a log line or an error."""

from __future__ import annotations

import io

import pytest

from sourceflow.client import FlowServiceClient, InletSender, RetryPolicy
from sourceflow.config import Settings
from sourceflow.errors import AuthenticationFailed, PlatformError
from sourceflow.model import Auth, Connection, SpecRef

from .conftest import FAST
from .fakeflow import FS, FakeFlowService, Fault

CONNECTIONS = FS + "/connections"
STRIPE_KEY = "sk_test_51Hx0abcdefGHIJKLmnop"
CLIENT_SECRET = "p8e-client-secret-for-the-redaction-test"


def test_secrets_never_reach_logs_or_errors(fake: FakeFlowService, logs: io.StringIO) -> None:
    fake.client_secret = CLIENT_SECRET
    settings = Settings(platform_url=fake.url, client_secret=CLIENT_SECRET)
    errors: list[str] = []
    stripe = Connection(
        name="stripe",
        connection_spec=SpecRef(id="cc2c31d6-7b8c-4581-b49f-5c8698aa3ab3"),
        auth=Auth(spec_name="OAuth2 Refresh Code", params={"accessToken": STRIPE_KEY}),
    )
    with FlowServiceClient(settings, retry=FAST) as client:
        token = client.access_token()
        # Retries, a re-authentication and errors whose bodies echo every secret back.
        fake.fail("GET", CONNECTIONS, Fault(503), Fault(429, headers={"Retry-After": "0"}))
        list(client.connections.list())
        fake.revoke_tokens()
        list(client.connections.list())
        echo = {
            "detail": f"bad token {token} for {STRIPE_KEY} ({CLIENT_SECRET})",
            "accessToken": token,
            "request": {"auth": {"params": {"accessToken": STRIPE_KEY}}},
        }
        fake.fail("POST", CONNECTIONS, Fault(400, echo))
        with pytest.raises(PlatformError) as caught:
            client.connections.create(stripe)
        errors += [str(caught.value), repr(caught.value.body), repr(caught.value.__dict__)]
        assert caught.value.body["accessToken"] == "***"
        token = client.access_token()
        fake.fail("GET", CONNECTIONS, Fault(500, f"upstream said: Bearer {token}"))
        with pytest.raises(PlatformError) as caught:
            list(client.connections.list())
        errors.append(str(caught.value))
        with InletSender(fake.url + "/collection/abc", token=token, retry=FAST) as sender:
            fake.fail("POST", "/collection/abc", Fault(503), Fault(401, {"message": token}))
            with pytest.raises(AuthenticationFailed) as denied:
                sender.send({"card": STRIPE_KEY})
            errors.append(str(denied.value))
    wrong = Settings(platform_url=fake.url, client_secret=CLIENT_SECRET + "-wrong")
    with FlowServiceClient(wrong, retry=RetryPolicy(attempts=1)) as client:
        with pytest.raises(AuthenticationFailed) as refused:
            client.access_token()
        errors.append(str(refused.value))

    text = logs.getvalue() + "\n".join(errors)
    assert "retrying request" in text and "token refused" in text  # the log did get written
    for secret in [CLIENT_SECRET, STRIPE_KEY, *fake.issued]:
        assert secret not in text
