"""Generic streaming flows (Chatlio, Shopify) end to end against the local platform: the bodies
our lifecycle sends match Adobe's Chatlio tutorial (seeds/004), through the Python API and the
CLI; events sent to the flow's inlet become rows; the authenticated-inlet option."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from sourceflow import config, model, plugins
from sourceflow.client import FlowServiceClient
from sourceflow.lifecycle import ConnectRequest, Lifecycle
from sourceflow.platform.app import PlatformConfig, create_app
from sourceflow.platform.server import background
from sourceflow.state import StateFile

PROVIDER = "521eee4d-8cbe-4906-bb48-fb6bd4450033"
CHATLIO_SPEC = "073127a3-26e3-496c-9d94-9f48fb93fba8"
SHOPIFY_SPEC = "e77fd9d2-22a8-11ed-861d-0242ac120002"
GENERIC_FLOW_SPEC = "e77fde5a-22a8-11ed-861d-0242ac120002"
DATA_LAKE = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
SCHEMA = "https://ns.adobe.com/extconndev/schemas/49cecec83dd1a8da1aef4a96c67c06654e8c337a0a3b4262"
XED_V1 = "application/vnd.adobe.xed-full+json;version=1"

# seeds/004 (Chatlio), the bodies of its curl lines, ids replaced by what the test creates.
SEED_SOURCE = {
    "name": "Streaming Source Connection for Chatlio.",
    "providerId": PROVIDER,
    "description": "Streaming Source Connection for Chatlio.",
    "connectionSpec": {"id": CHATLIO_SPEC, "version": "1.0"},
    "data": {"format": "json"},
}
SEED_TARGET = {
    "name": "Streaming Target Connection for a Chatlio.",
    "description": "Streaming Target Connection for a Chatlio.",
    "connectionSpec": {"id": DATA_LAKE, "version": "1.0"},
    "data": {"format": "json", "schema": {"id": SCHEMA, "version": XED_V1}},
    "params": {"dataSetId": "{DATASET}"},
}
SEED_RULES = [
    {
        "destinationXdmPath": f"_extconndev.{d}",
        "sourceAttribute": s,
        "identity": False,
        "version": 0,
    }
    for s, d in [
        ("slackChannelId", "slackchannel_ID"),
        ("slackChannelName", "slackchannel_name"),
        ("visitor.UUID", "UUID"),
        ("visitor.email", "chatlio_email"),
        ("message", "message"),
        ("channelId", "channel_ID"),
    ]
]
SEED_MAPPING = {
    "outputSchema": {"schemaRef": {"id": SCHEMA, "contentType": XED_V1}},
    "mappings": SEED_RULES,
}
SEED_FLOW = {
    "name": "Streaming Dataflow for Chatlio",
    "description": "Streaming Dataflow for Chatlio",
    "flowSpec": {"id": GENERIC_FLOW_SPEC, "version": "1.0"},
    "sourceConnectionIds": ["{SOURCE}"],
    "targetConnectionIds": ["{TARGET}"],
    "transformations": [
        {"name": "Mapping", "params": {"mappingId": "{MAPPING}", "mappingVersion": 0}}
    ],
}
SEED_MESSAGE = {
    "visitor": {"email": "test@example.com", "UUID": "2d3f4260-2235-903b-0a82-a23d326cc257"},
    "message": "Hi",
    "channelId": "C04J7M7LCMQ",
    "slackChannelName": "aep",
    "slackChannelId": "C04JVR71WKS",
}


class Recorder(httpx.BaseTransport):
    """Sends every request over the network, keeping the JSON bodies of what it sent."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: list[tuple[str, str, Any]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        if request.method == "POST" and body and request.url.path.count("/ims/") == 0:
            self.sent.append((request.method, request.url.path, json.loads(body)))
        return self.inner.handle_request(request)

    def posted(self, suffix: str) -> Any:
        (body,) = [b for _, path, b in self.sent if path.endswith(suffix)]
        return body


def same_shape(sent: Any, seed: Any, path: str = "$") -> None:
    """``sent`` has the seed's keys, and its values where the seed's are not placeholders
    (names, descriptions and the ids created on the way)."""
    if isinstance(seed, dict):
        assert isinstance(sent, dict), path
        assert set(sent) == set(seed), f"{path}: sent {sorted(sent)}, seed {sorted(seed)}"
        for key in seed:
            if key not in ("name", "description"):
                same_shape(sent[key], seed[key], f"{path}.{key}")
    elif isinstance(seed, list):
        assert isinstance(sent, list) and len(sent) == len(seed), path
        for i, (a, b) in enumerate(zip(sent, seed, strict=True)):
            same_shape(a, b, f"{path}[{i}]")
    elif not (isinstance(seed, str) and seed.startswith("{")):
        assert sent == seed, f"{path}: sent {sent!r}, seed {seed!r}"


@pytest.fixture
def registry():
    return plugins.load(allow=["sourceflow-chatlio", "sourceflow-shopify"])


@pytest.fixture
def platform(tmp_path, registry):
    app = create_app(PlatformConfig(data_dir=tmp_path / "platform"), registry=registry)
    with background(app) as url:
        yield app, url


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def client(platform, recorder):
    with FlowServiceClient(config.Settings(platform_url=platform[1]), transport=recorder) as c:
        yield c


@pytest.fixture
def dataset(client):
    return client.datasets.create(
        model.Dataset(name="chats", schema_ref=model.XdmSchemaRef(id=SCHEMA, content_type=XED_V1))
    )


def connect(client, registry, tmp_path, dataset, source="chatlio", **request):
    lifecycle = Lifecycle(client, registry, StateFile(tmp_path / "state.json"))
    done = lifecycle.connect(
        ConnectRequest(
            source=source, name=source, dataset_id=dataset, tenant="extconndev", **request
        )
    )
    return lifecycle, done


def test_chatlio_requests_match_the_seed_bodies(client, registry, recorder, dataset, tmp_path):
    _, done = connect(client, registry, tmp_path, dataset)
    assert set(done.ids) == {
        "source_connection",
        "target_connection",
        "mapping",
        "flow",
        "endpoint",
    }
    same_shape(recorder.posted("/sourceConnections"), SEED_SOURCE)
    same_shape(recorder.posted("/targetConnections"), SEED_TARGET)
    assert recorder.posted("/targetConnections")["params"] == {"dataSetId": dataset}
    flow = recorder.posted("/flows")
    same_shape(flow, SEED_FLOW)
    assert flow["transformations"][0]["params"]["mappingId"] == done.ids["mapping"]
    mapping = recorder.posted("/mappingSets")
    # Our mapping sets carry a name (to be found again on a resumed run), and more rules
    # than the seed's six, which come first; visitor.UUID is made the mandatory identity.
    first_six = {k: v for k, v in mapping.items() if k != "name"} | {
        "mappings": mapping["mappings"][:6]
    }
    identity = [{**r, "identity": r["sourceAttribute"] == "visitor.UUID"} for r in SEED_RULES]
    same_shape(first_six, {**SEED_MAPPING, "mappings": identity})
    # The endpoint: GET /flows/{id} -> items[0].options.inletUrl, and the URL for Chatlio.
    stored = client.flows.get(done.flow_id)
    assert stored.options is not None and stored.options["inletUrl"] == done.inlet_url
    assert done.endpoint_facts == {"webhookUrl": f"{done.inlet_url}?x-adobe-flow-id={done.flow_id}"}


def test_chatlio_events_posted_to_the_webhook_url_become_rows(
    platform, client, registry, dataset, tmp_path
):
    app, _ = platform
    _, done = connect(client, registry, tmp_path, dataset)
    url = done.endpoint_facts["webhookUrl"]
    first = httpx.post(url, json=SEED_MESSAGE, timeout=10)
    no_visitor = httpx.post(url, json={"message": "who am I?"}, timeout=10)
    assert first.status_code == no_visitor.status_code == 200
    assert set(first.json()) == {"inletId", "xactionId", "receivedTimeMs"}
    assert app.state.platform.wait_idle(5)
    (row,) = client.dataset_rows(dataset)
    assert row["record"]["_extconndev"]["UUID"] == SEED_MESSAGE["visitor"]["UUID"]
    (failure,) = client.flow_failures(done.flow_id)
    assert "visitor.UUID" in failure["error"]["message"]


def test_authenticated_chatlio_inlet_wants_a_token(platform, client, registry, dataset, tmp_path):
    _, done = connect(
        client, registry, tmp_path, dataset, credentials={"authenticationRequired": "true"}
    )
    assert done.authentication_required
    assert "relay" in done.endpoint_facts["note"]
    url = done.endpoint_facts["webhookUrl"]
    assert httpx.post(url, json=SEED_MESSAGE, timeout=10).status_code == 401
    sender = client.inlet(done.inlet_url, flow_id=done.flow_id, authenticated=True)
    assert sender.send(SEED_MESSAGE).xaction_id


def test_shopify_without_a_shop_has_the_generic_shape_and_prints_the_url(
    client, registry, recorder, dataset, tmp_path
):
    _, done = connect(
        client,
        registry,
        tmp_path,
        dataset,
        source="shopify",
        credentials={"clientSecret": "shpss_x1y2z3w4"},
    )
    source = recorder.posted("/sourceConnections")
    shopify_seed = {**SEED_SOURCE, "connectionSpec": {"id": SHOPIFY_SPEC, "version": "1.0"}}
    same_shape({k: v for k, v in source.items() if k != "params"}, shopify_seed)
    assert source["params"] == {"clientSecret": "shpss_x1y2z3w4"}
    same_shape(recorder.posted("/flows"), SEED_FLOW)
    assert done.endpoint_facts["webhookUrl"].endswith(f"?x-adobe-flow-id={done.flow_id}")
    assert "no --param shop" in done.endpoint_facts["subscriptions"]
    # Masked in every answer, listing included.
    listed = client.source_connections.list()
    assert [s.params for s in listed] == [{"clientSecret": "***"}]


def test_connect_chatlio_from_the_command_line(platform, dataset, tmp_path):
    _, url = platform
    env = {**os.environ, "SOURCEFLOW_LOAD_PLUGINS": "sourceflow-chatlio"}
    command = [sys.executable, "-m", "sourceflow.cli", "--platform", url, "connect", "chatlio"]
    state = str(tmp_path / "cli-state.json")
    out = subprocess.run(
        [*command, "--dataset", dataset, "--object", "transcript", "--state", state, "--json"],
        capture_output=True, text=True, env=env, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert (
        result["endpoint"]["webhookUrl"]
        == f"{result['inletUrl']}?x-adobe-flow-id={result['flowId']}"
    )
    bad = subprocess.run(
        [*command, "--dataset", dataset, "--name", "x", "--param", "token=abc", "--state", state],
        capture_output=True, text=True, env=env, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "Chatlio takes no --param token" in bad.stderr and "abc" not in bad.stderr
    teardown = [sys.executable, "-m", "sourceflow.cli", "--platform", url, "teardown"]
    gone = subprocess.run(
        [*teardown, "sourceflow-chatlio", "--state", state],
        capture_output=True, text=True, env=env, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert gone.returncode == 0, gone.stderr
    assert json.loads(Path(state).read_text())["connections"] == {}
