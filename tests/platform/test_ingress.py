"""The one ingress pipeline, attacked: every inlet route, every installed source that signs its
deliveries, and valid, replayed, forged, altered, stale, unsigned and malformed deliveries. Each
case checks the status code *and* the rows that reached the dataset.

The signatures are made here as each provider documents them (Shopify: Base64 HMAC-SHA256 of
the raw body; Stripe: hex HMAC-SHA256 of ``"{t}.{body}"``), not with the plugins' own code, so
a plugin that signs wrongly cannot agree with itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from attrs import frozen
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sourceflow import config
from sourceflow.client import FlowServiceClient
from sourceflow.lifecycle import ConnectRequest, Lifecycle
from sourceflow.model import Dataset
from sourceflow.plugins import load
from sourceflow.state import StateFile

SECRET = "shpss_ingress_test_secret"


@frozen
class Signer:
    """How a provider signs a delivery, and what a delivery of the source looks like."""

    source: str
    object: str | None
    secret_param: str
    sign: Callable[[bytes, str, int], dict[str, str]]
    """Headers for ``body`` signed with ``secret`` at time ``t`` (a fresh delivery id too)."""
    payload: Callable[[], dict[str, Any]]
    """A fresh delivery body (its own ids)."""
    stale_after: int | None
    """Seconds after which a signature is stale, when the provider signs a timestamp."""


def _shopify_headers(body: bytes, secret: str, t: int) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Topic": "orders/create",
    }


def _stripe_headers(body: bytes, secret: str, t: int) -> dict[str, str]:
    signed = f"{t}.".encode() + body
    return {
        "Stripe-Signature": f"t={t},v1={hmac.new(secret.encode(), signed, 'sha256').hexdigest()}"
    }


def _stripe_event() -> dict[str, Any]:
    from sourceflow_stripe import sample

    charge = dict(sample.objects("charges")[0])
    charge["id"] = f"ch_{uuid.uuid4().hex[:14]}"
    return {
        "id": f"evt_{uuid.uuid4().hex[:14]}",
        "object": "event",
        "type": "charge.succeeded",
        "data": {"object": charge},
    }


SIGNERS = {
    "stripe": Signer(
        source="stripe",
        object="charges",
        secret_param="webhookSecret",
        sign=_stripe_headers,
        payload=_stripe_event,
        stale_after=300,  # Stripe's tolerance
    ),
    "shopify": Signer(
        source="shopify",
        object="orders/create",
        secret_param="clientSecret",
        sign=_shopify_headers,
        payload=lambda: {
            "id": uuid.uuid4().int % 10**12,
            "email": "a@example.com",
            "total_price": "1.00",
        },
        stale_after=None,  # Shopify's signature covers the body only
    ),
}


def test_every_installed_source_that_verifies_deliveries_is_attacked_here() -> None:
    registry = load()
    verifying = {
        s.name
        for s in registry.sources()
        if registry.implements("sourceflow_verify_delivery", s) and s.inlet_on is not None
    }
    assert verifying <= set(SIGNERS), f"add a signer for {sorted(verifying - set(SIGNERS))}"


@frozen
class Flow:
    inlet_url: str
    flow_id: str
    dataset: str


class World:
    """The shared platform, a client in a sandbox of this module's own, and flows on demand."""

    def __init__(self, url: str, tmp: Any, stripe_api: str) -> None:
        self.url = url
        # What connect needs beyond the signing secret, per source (Stripe checks its key).
        self.needs = {"stripe": {"accessToken": "sk_test_ingress", "apiBase": stripe_api}}
        self.client = FlowServiceClient(
            config.Settings(platform_url=url, sandbox=f"ingress-{uuid.uuid4().hex[:8]}")
        )
        self.lifecycle = Lifecycle(self.client, load(), StateFile(tmp / "state.json"))
        self.http = httpx.Client(timeout=10)

    def flow(self, signer: Signer, *, secret: str | None = SECRET) -> Flow:
        dataset = self.client.datasets.create(Dataset(name="ingress"))
        credentials = dict(self.needs.get(signer.source, {}))
        if secret:
            credentials[signer.secret_param] = secret
        done = self.lifecycle.connect(
            ConnectRequest(
                source=signer.source,
                name=f"ingress-{uuid.uuid4().hex[:8]}",
                dataset_id=dataset,
                credentials=credentials,
                object=signer.object,
                # connect refuses a signed source's flow without its secret unless told
                insecure_allow_unsigned=secret is None,
            )
        )
        assert done.inlet_url
        return Flow(inlet_url=done.inlet_url, flow_id=done.flow_id, dataset=dataset)

    def rows(self, flow: Flow, platform: Any) -> list[dict[str, Any]]:
        """The rows that came through the inlet (a scheduled source's runs add their own,
        named by the run: Adobe-shaped inlet transaction ids hold colons, a run's do not)."""
        assert platform.wait_idle(10)
        return [r for r in self.client.dataset_rows(flow.dataset) if ":" in r["xactionId"]]


@pytest.fixture(scope="module")
def world(shared_platform, tmp_path_factory) -> Iterator[World]:
    from sourceflow.platform.server import background
    from sourceflow_stripe import sample

    _, url, _ = shared_platform
    with background(sample.app()) as stripe_api:
        w = World(url, tmp_path_factory.mktemp("ingress"), stripe_api)
        yield w
        w.http.close()
        w.client.close()


ROUTES = ["single-header", "single-query", "single-unnamed", "batch-named", "batch-unnamed"]
KINDS = ["valid", "replayed", "forged", "altered", "stale", "unsigned", "malformed"]


def _post(
    world: World, flow: Flow, route: str, body: bytes, headers: dict[str, Any]
) -> httpx.Response:
    url, params = flow.inlet_url, {}
    headers = {"content-type": "application/json", **headers}
    if route.startswith("batch"):
        url = url.replace("/collection/", "/collection/batch/")
    if route in ("batch-named", "single-header"):
        headers["x-adobe-flow-id"] = flow.flow_id
    if route == "single-query":
        params["x-adobe-flow-id"] = flow.flow_id
    return world.http.post(url, content=body, headers=headers, params=params)


def _body(signer: Signer, route: str) -> bytes:
    payload = signer.payload()
    data = {"messages": [payload, signer.payload()]} if route.startswith("batch") else payload
    return json.dumps(data, separators=(",", ":")).encode()


def _accepted(answer: httpx.Response, route: str) -> bool:
    if route.startswith("batch"):
        return answer.status_code == 207 and all(
            r.get("xactionId") for r in answer.json()["responses"]
        )
    return answer.status_code == 200


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("source", sorted(SIGNERS))
def test_only_authentic_deliveries_land_on_every_route(
    world: World, shared_platform, source: str, route: str, kind: str
) -> None:
    signer = SIGNERS[source]
    if kind == "stale" and signer.stale_after is None:
        pytest.skip(f"{source} signs no timestamp, so no delivery is stale")
    platform = shared_platform[0].state.platform
    flow = world.flow(signer)
    body = _body(signer, route)
    now = int(time.time())
    members = 2 if route.startswith("batch") else 1
    headers: dict[str, Any] = signer.sign(body, SECRET, now)
    sent = body
    if kind == "forged":
        headers = signer.sign(body, "not-the-secret", now)
    elif kind == "altered":
        sent = body[:-1] + b" }"  # the same JSON, other bytes: the signature is over bytes
    elif kind == "stale":
        headers = signer.sign(body, SECRET, now - 2 * (signer.stale_after or 0) - 60)
    elif kind == "unsigned":
        headers = {}
    elif kind == "malformed":
        headers = {k: "\u00e9\u00ff not a signature \u00a0".encode("latin-1") for k in headers}

    answer = _post(world, flow, route, sent, headers)
    if kind in ("valid", "replayed"):
        assert _accepted(answer, route), answer.text
        if kind == "replayed":
            again = _post(world, flow, route, sent, headers)
            assert _accepted(again, route), again.text
            first = (
                [answer.json()["xactionId"]]
                if members == 1
                else [r["xactionId"] for r in answer.json()["responses"]]
            )
            second = (
                [again.json()["xactionId"]]
                if members == 1
                else [r["xactionId"] for r in again.json()["responses"]]
            )
            assert second == first, "a replay is answered with the first receipt"
        assert len(world.rows(flow, platform)) == members
    else:
        assert answer.status_code == 401, answer.text
        assert answer.json()["detail"]
        assert world.rows(flow, platform) == []


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("source", sorted(SIGNERS))
def test_a_flow_without_its_secret_accepts_nothing(
    world: World, shared_platform, source: str, route: str
) -> None:
    signer = SIGNERS[source]
    flow = world.flow(signer, secret=None)
    body = _body(signer, route)
    for headers in ({}, signer.sign(body, "", int(time.time())), signer.sign(body, "x", 0)):
        answer = _post(world, flow, route, body, headers)
        assert answer.status_code == 401, answer.text
        assert signer.secret_param in answer.json()["detail"]
    assert world.rows(flow, shared_platform[0].state.platform) == []


# Any header value a client can put on the wire: HTAB, visible ASCII and obs-text (0x80-0xFF).
HEADER_BYTES = st.binary(max_size=200).map(
    lambda b: bytes(c for c in b if c == 9 or 32 <= c <= 126 or c >= 128).strip()
)


@pytest.mark.parametrize("source", sorted(SIGNERS))
def test_any_bytes_in_any_signature_header_are_a_401_never_a_5xx(
    world: World, shared_platform, source: str
) -> None:
    signer = SIGNERS[source]
    flow = world.flow(signer)
    body = _body(signer, "single-header")
    names = [*signer.sign(body, SECRET, int(time.time())), "x-adobe-flow-id", "authorization"]

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        st.dictionaries(st.sampled_from(names), HEADER_BYTES, min_size=1, max_size=3),
        st.sampled_from(ROUTES),
    )
    def case(headers: dict[str, bytes], route: str) -> None:
        sent = {"content-type": b"application/json", **headers}
        url = flow.inlet_url
        if route.startswith("batch"):
            url = url.replace("/collection/", "/collection/batch/")
            payload = _body(signer, route)
        else:
            payload = body
        answer = world.http.post(url, content=payload, headers=sent)
        assert answer.status_code < 500, answer.text
        assert answer.status_code in (400, 401), answer.text

    case()
    assert world.rows(flow, shared_platform[0].state.platform) == []


def test_an_inlet_whose_plugin_is_gone_fails_closed(tmp_path) -> None:
    # The plugin that verifies a flow's deliveries is uninstalled (here: left out of the
    # registry of a restarted platform): nothing can verify a delivery, so none is taken, and
    # the 503 has the sender retry once the plugin is back.
    from sourceflow.plugins import load as load_plugins
    from sourceflow.testing import client_for, local_platform

    data = tmp_path / "platform"
    with local_platform(data, registry=load_plugins(), scheduler=False) as first:
        world = World(first.url, tmp_path, stripe_api="http://127.0.0.1:9")  # Stripe unused
        flow = world.flow(SIGNERS["shopify"])
        sandbox = world.client.settings.sandbox
        inlet_path = flow.inlet_url.split("/collection/", 1)[1]
        world.http.close()
        world.client.close()
    with local_platform(data, registry=load_plugins(block=["sourceflow-shopify"])) as second:
        body = _body(SIGNERS["shopify"], "single-header")
        answer = httpx.post(
            f"{second.url}/collection/{inlet_path}",
            content=body,
            headers={**SIGNERS["shopify"].sign(body, SECRET, 0), "x-adobe-flow-id": flow.flow_id},
        )
        assert answer.status_code == 503, answer.text
        assert "not installed" in answer.json()["detail"]
        assert answer.headers["retry-after"] == "60"
        second.wait_idle(10)
        with client_for(second.url, sandbox=sandbox) as client:
            assert list(client.dataset_rows(flow.dataset)) == []
