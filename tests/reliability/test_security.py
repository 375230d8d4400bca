"""Security: forged and stale signatures are refused (Shopify's webhook HMAC at the inlet,
Stripe-Signature through the Stripe plugin's verify hook), an authenticated inlet without a
token is refused, and no secret value (the client secret, every IMS token issued, the Shopify
and Stripe secrets) appears in a log line, an error message or an API answer during a whole
end-to-end run: the client's structlog output at DEBUG, the server process's output, and every
response body are captured and searched for each secret."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import httpx

from sourceflow import log, model, plugins
from sourceflow.client import FlowServiceClient
from sourceflow.config import Settings
from sourceflow.errors import SourceflowError
from sourceflow.hooktypes import Delivery
from sourceflow.lifecycle import ConnectRequest, Lifecycle
from sourceflow.state import StateFile
from sourceflow_shopify.signing import webhook_signature
from sourceflow_stripe import plugin as stripe_plugin
from sourceflow_stripe import webhooks as stripe_webhooks

CLIENT_SECRET = "p8e-reliability-client-secret-7f3a9c"
SHOPIFY_SECRET = "shpss_reliability_security_4b1d"
STRIPE_WEBHOOK_SECRET = "whsec_reliability_security_9e2c"
PAYLOAD = (
    Path(__file__).resolve().parents[2] / "plugins/shopify/tests/payloads/orders_create.json"
).read_bytes()


class Recording(httpx.HTTPTransport):
    """Keeps every answer's body (and headers) the client received, but the token grants."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        body = response.read()
        if request.url.path.endswith("/ims/token/v3") and response.status_code == 200:
            return response  # the one answer whose purpose is to hand a token over
        self.seen.append(f"{response.headers!r} {body.decode('utf-8', 'replace')}")
        return response


def shopify_headers(body: bytes, secret: str, webhook_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Hmac-Sha256": webhook_signature(secret, body),
    }


def test_refusals_and_no_secret_anywhere(serve, tmp_path):
    logs = io.StringIO()
    log.configure(level="DEBUG", stream=logs)
    served = serve(tmp_path / "platform", env={"SOURCEFLOW_CLIENT_SECRET": CLIENT_SECRET})
    recording = Recording()
    answers: list[str] = []
    errors: list[str] = []
    settings = Settings(platform_url=served.url, client_secret=CLIENT_SECRET)
    try:
        with FlowServiceClient(settings, transport=recording) as client:
            dataset = client.datasets.create(model.Dataset(name="secure"))
            lifecycle = Lifecycle(client, plugins.load(), StateFile(tmp_path / "state.json"))

            # An authenticated HTTP inlet: no token, a wrong token, then the real one.
            secured = lifecycle.connect(
                ConnectRequest(
                    source="http",
                    name="secured",
                    dataset_id=dataset,
                    credentials={
                        "sourceId": "s",
                        "name": "s",
                        "dataType": "raw",
                        "authenticationRequired": True,
                    },
                )
            )
            assert secured.authentication_required and secured.inlet_url
            token = client.access_token()
            with httpx.Client(timeout=10) as http:
                missing = http.post(secured.inlet_url, json={"a": 1})
                wrong = http.post(
                    secured.inlet_url, json={"a": 1}, headers={"Authorization": "Bearer nope"}
                )
                ok = http.post(
                    secured.inlet_url, json={"a": 1}, headers={"Authorization": f"Bearer {token}"}
                )
                answers += [missing.text, wrong.text, ok.text, repr(ok.headers)]
            assert missing.status_code == 401 and "token is empty" in missing.text
            assert wrong.status_code == 401 and "token is invalid" in wrong.text
            assert ok.status_code == 200

            # Shopify: forged and unsigned deliveries are refused, a signed one is taken.
            shop = lifecycle.connect(
                ConnectRequest(
                    source="shopify",
                    name="shop",
                    dataset_id=dataset,
                    tenant="acme",
                    credentials={"clientSecret": SHOPIFY_SECRET},
                )
            )
            url = str(shop.endpoint_facts["webhookUrl"])
            with httpx.Client(timeout=10) as http:
                forged = http.post(
                    url, content=PAYLOAD, headers=shopify_headers(PAYLOAD, "shpss_wrong", "w-1")
                )
                tampered = http.post(
                    url,
                    content=PAYLOAD.replace(b"57.60", b"0.01"),
                    headers=shopify_headers(PAYLOAD, SHOPIFY_SECRET, "w-2"),
                )
                unsigned = http.post(url, content=PAYLOAD, headers={"X-Shopify-Webhook-Id": "w-3"})
                signed = http.post(
                    url, content=PAYLOAD, headers=shopify_headers(PAYLOAD, SHOPIFY_SECRET, "w-4")
                )
                answers += [forged.text, tampered.text, unsigned.text, signed.text]
            assert [forged.status_code, tampered.status_code, unsigned.status_code] == [401] * 3
            assert signed.status_code == 200
            source = client.source_connections.get(shop.ids["source_connection"])
            assert source.params["clientSecret"] == "***"

            # A wrong client secret fails with a message that names no secret.
            stale = FlowServiceClient(
                Settings(platform_url=served.url, client_secret="p8e-wrong-secret-1234"),
                transport=recording,
            )
            try:
                list(stale.connections.list())
            except SourceflowError as exc:
                errors.append(f"{exc} {getattr(exc, 'hint', '')}")
            finally:
                stale.close()
            assert errors and "p8e-wrong-secret-1234" not in errors[0]

            for name in ("secured", "shop"):
                record = lifecycle.state.get(name, served.url, settings.sandbox)
                assert record is not None
                lifecycle.teardown(record)
            issued = [token, client.access_token()]
    finally:
        log.configure()

    # Stripe: a good signature passes; an old timestamp and a forged body are refused.
    event = json.dumps({"id": "evt_sec", "object": "event", "type": "charge.succeeded"}).encode()
    now = int(time.time())

    def verdict(body: bytes, t: int):
        signature = f"t={t},v1={stripe_webhooks.sign(STRIPE_WEBHOOK_SECRET, event, t)}"
        return stripe_plugin.sourceflow_verify_delivery(
            stripe_plugin.SOURCE,
            Delivery(
                inlet_id="i",
                flow_id="f",
                headers={"stripe-signature": signature},
                query={},
                body=body,
                config={"webhookSecret": STRIPE_WEBHOOK_SECRET},
            ),
        )

    assert verdict(event, now).authentic
    stale = verdict(event, now - 3600)
    assert not stale.authentic and "tolerance" in (stale.reason or "")
    forged = verdict(event.replace(b"evt_sec", b"evt_other"), now)
    assert not forged.authentic
    errors += [stale.reason or "", forged.reason or ""]

    served.stop()
    captured = {
        "client logs": logs.getvalue(),
        "server output": served.log.read_text(errors="replace"),
        "API answers": "\n".join(recording.seen + answers),
        "error messages": "\n".join(errors),
    }
    assert "retrying" in captured["client logs"] or "request" in captured["client logs"]
    assert len(recording.seen) > 20
    secrets = [CLIENT_SECRET, SHOPIFY_SECRET, STRIPE_WEBHOOK_SECRET, *set(issued)]
    leaks = [
        f"{where} holds {secret[:6]}…"
        for secret in secrets
        for where, text in captured.items()
        if secret in text
    ]
    assert not leaks, leaks
