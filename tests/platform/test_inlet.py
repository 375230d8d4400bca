"""The streaming inlet: acknowledgements, limits, authentication, flow resolution, batches,
and delivery verification through a plugin."""

from __future__ import annotations

import json
import sqlite3

import httpx
import pytest
from platform_testkit import (
    ACME_HOOKS_FLOW,
    ACME_HOOKS_SPEC,
    FS,
    SCHEMA_ID,
    SEED_AUTH_CONNECTION,
    SEED_CONNECTION,
    SEED_MESSAGE,
    SSL,
    sign,
)

from sourceflow import model, wire
from sourceflow.hooktypes import PROVIDER_STREAMING


@pytest.fixture
def chain(build):
    return build.http_chain()


def test_unknown_inlet_is_404(anonymous):
    answer = anonymous.post("/collection/" + "0" * 64, json=SEED_MESSAGE)
    assert answer.status_code == 404
    assert answer.json()["status"] == 404


def test_the_only_flow_is_used_when_none_is_named(anonymous, chain, shared_platform, api):
    assert anonymous.post(chain["inlet_url"], json={"a": 1}).status_code == 200
    assert shared_platform[0].state.platform.wait_idle(5)
    rows = api.get(f"/sourceflow/dataSets/{chain['dataset']}/rows").json()["items"]
    assert [r["flowId"] for r in rows] == [chain["flow"]]


def test_the_flow_may_be_named_in_the_query(anonymous, chain):
    answer = anonymous.post(chain["inlet_url"], params={"x-adobe-flow-id": chain["flow"]}, json={})
    assert answer.status_code == 200


def test_a_flow_of_another_inlet_is_refused(anonymous, chain):
    answer = anonymous.post(chain["inlet_url"], headers={"x-adobe-flow-id": "not-mine"}, json={})
    assert answer.status_code == 400
    assert "x-adobe-flow-id: flow 'not-mine'" in answer.json()["detail"]
    assert chain["flow"] in answer.json()["detail"]


def test_an_xdm_envelope_names_its_flow(anonymous, build, shared_platform, api):
    chain = build.http_chain(SEED_CONNECTION)
    ref = {"id": SCHEMA_ID, "contentType": "application/vnd.adobe.xed-full+json;version=1"}
    envelope = {
        "header": {
            "schemaRef": ref,
            "flowId": chain["flow"],
            "datasetId": chain["dataset"],
            "imsOrgId": "x",
        },
        "body": {
            "xdmMeta": {"schemaRef": ref},
            "xdmEntity": {"person": {"name": "Jane"}},
        },
    }
    assert anonymous.post(chain["inlet_url"], json=envelope).status_code == 200
    wrong = {**envelope, "header": {**envelope["header"], "flowId": "other"}}
    refused = anonymous.post(chain["inlet_url"], json=wrong)
    assert refused.status_code == 400 and "header.flowId" in refused.json()["detail"]
    assert shared_platform[0].state.platform.wait_idle(5)
    rows = api.get(f"/sourceflow/dataSets/{chain['dataset']}/rows").json()["items"]
    assert [r["record"] for r in rows] == [{"person": {"name": "Jane"}}]


def test_an_inlet_without_a_flow_says_to_create_one(anonymous, api, build):
    connection = build.connection()
    url = api.get(f"{FS}/connections/{connection}").json()["items"][0]["auth"]["params"]["inletUrl"]
    answer = anonymous.post(url, json={})
    assert answer.status_code == 400
    assert "no dataflow yet" in answer.json()["detail"]


def test_malformed_json_names_the_position(anonymous, chain):
    answer = anonymous.post(chain["inlet_url"], content=b'{"name": "x",\n  "age": }')
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert "not valid JSON" in detail and "line 2 column 10" in detail


def test_nan_is_refused_as_not_json(anonymous, chain):
    answer = anonymous.post(chain["inlet_url"], content=b'{"price": NaN}')
    assert answer.status_code == 400
    assert "NaN is not a JSON value" in answer.json()["detail"]


def test_big_integers_reach_the_dataset_exactly(anonymous, chain, shared_platform, api):
    big = 123456789012345678901234567890
    batch_url = chain["inlet_url"].replace("/collection/", "/collection/batch/")
    one = anonymous.post(chain["inlet_url"], content=b'{"single": %d}' % big)
    many = anonymous.post(batch_url, content=b'{"messages": [{"batched": %d}]}' % big)
    assert (one.status_code, many.status_code) == (200, 207)
    assert shared_platform[0].state.platform.wait_idle(5)
    rows = api.get(f"/sourceflow/dataSets/{chain['dataset']}/rows").json()["items"]
    records = [r["record"] for r in rows][-2:]
    assert records == [{"single": big}, {"batched": big}]


def test_a_message_must_be_an_object(anonymous, chain):
    answer = anonymous.post(chain["inlet_url"], json=[1, 2])
    assert answer.status_code == 400
    assert "JSON object" in answer.json()["detail"]


def test_over_one_megabyte_is_413(anonymous, chain, shared_platform):
    store = shared_platform[0].state.platform.store
    before = store.row("SELECT count(*) AS n FROM messages")["n"]
    big = json.dumps({"blob": "x" * 1_048_576}).encode()
    assert anonymous.post(chain["inlet_url"], content=big).status_code == 413

    def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(20):
            yield b" " * 65536
        yield b"{}"

    streamed = anonymous.post(chain["inlet_url"], content=chunks())
    assert streamed.status_code == 413
    assert streamed.json()["title"] == "Payload too large"
    just_under = json.dumps({"blob": "x" * (1_048_576 - 20)}).encode()
    assert len(just_under) <= 1_048_576
    assert anonymous.post(chain["inlet_url"], content=just_under).status_code == 200
    assert store.row("SELECT count(*) AS n FROM messages")["n"] == before + 1


def test_an_authenticated_inlet_wants_a_token(anonymous, build, shared_platform):
    chain = build.http_chain(SEED_AUTH_CONNECTION)
    missing = anonymous.post(chain["inlet_url"], json=SEED_MESSAGE, headers={"x-request-id": "id"})
    assert missing.status_code == 401
    assert missing.json() == {
        "type": "https://ns.adobe.com/adobecloud/problem/data-collection-service-authorization",
        "status": "401",
        "title": "Authorization",
        "report": {"message": "[id] Ims service token is empty"},
    }
    invalid = anonymous.post(
        chain["inlet_url"], json=SEED_MESSAGE, headers={"Authorization": "Bearer nope"}
    )
    assert invalid.status_code == 401
    rid = invalid.headers["x-request-id"]
    assert invalid.json()["report"] == {"message": f"[{rid}] Ims service token is invalid"}

    token = shared_platform[2]
    ok = anonymous.post(
        chain["inlet_url"], json=SEED_MESSAGE, headers={"Authorization": f"Bearer {token}"}
    )
    assert ok.status_code == 200, ok.text


def test_a_batch_answers_207_with_one_result_per_message(anonymous, chain, shared_platform, api):
    batch_url = chain["inlet_url"].replace("/collection/", "/collection/batch/")
    messages = [{"n": 1}, "not an object", {"n": 2, "header": {"flowId": "someone-else"}}, {"n": 3}]
    answer = anonymous.post(batch_url, json={"messages": messages})
    assert answer.status_code == 207
    body = answer.json()
    assert body["inletId"] == chain["inlet_id"]
    assert isinstance(body["receivedTimeMs"], int) and body["batchId"]
    first, second, third, fourth = body["responses"]
    assert set(first) == {"xactionId"} and set(fourth) == {"xactionId"}
    assert second["statusCode"] == 400 and "messages[1]" in second["message"]
    assert third["statusCode"] == 400 and "someone-else" in third["message"]
    assert shared_platform[0].state.platform.wait_idle(5)
    rows = api.get(f"/sourceflow/dataSets/{chain['dataset']}/rows").json()["items"]
    assert [r["record"] for r in rows] == [{"n": 1}, {"n": 3}]
    assert [r["xactionId"] for r in rows] == [first["xactionId"], fourth["xactionId"]]


@pytest.mark.parametrize("body", [b"[]", b'{"message": []}', b'{"messages": {}}'])
def test_a_malformed_batch_is_400(anonymous, chain, body):
    batch_url = chain["inlet_url"].replace("/collection/", "/collection/batch/")
    answer = anonymous.post(batch_url, content=body)
    assert answer.status_code == 400
    assert '{"messages": [...]}' in answer.json()["detail"]


def test_the_answer_to_one_message_is_adobes_receipt(anonymous, chain):
    # The inlet writes this answer by hand, not from the model: it must stay the model's
    # wire form, with nothing more and nothing less.
    answer = anonymous.post(chain["inlet_url"], json=SEED_MESSAGE)
    assert answer.status_code == 200
    body = answer.json()
    receipt = wire.from_json(body, model.Receipt)
    assert receipt.inlet_id == chain["inlet_id"]
    assert wire.to_json(receipt) == body


def test_an_acknowledged_message_is_in_the_sqlite_file(anonymous, chain, shared_platform):
    receipt = anonymous.post(chain["inlet_url"], json=SEED_MESSAGE).json()
    path = shared_platform[0].state.platform.store.path
    # A separate connection, as another process would open the file.
    with sqlite3.connect(path) as db:
        row = db.execute(
            "SELECT inlet_id, flow_id, received_ms, body FROM messages WHERE xaction_id = ?",
            (receipt["xactionId"],),
        ).fetchone()
    assert row is not None
    assert row[:3] == (chain["inlet_id"], chain["flow"], receipt["receivedTimeMs"])
    assert json.loads(row[3]) == SEED_MESSAGE


# --- a webhook source whose plugin verifies deliveries ----------------------------------------


@pytest.fixture
def acme(acme_url, client_for):
    """A flow of the in-test 'acme-hooks' source (inlet on the flow), and its inlet."""
    url, app = acme_url
    client = client_for(url)
    dataset = (
        client.post(
            "/data/foundation/catalog/dataSets",
            json={"name": "hooks", "schemaRef": {"id": "s", "contentType": "c"}},
        )
        .json()[0]
        .split("/")[-1]
    )
    source = client.post(
        f"{FS}/sourceConnections",
        json={
            "name": "acme hooks",
            "connectionSpec": {"id": ACME_HOOKS_SPEC, "version": "1.0"},
            "providerId": PROVIDER_STREAMING,
            "data": {"format": "json"},
            "params": {"signingSecret": "whsec_topsecretvalue"},
        },
    )
    assert source.status_code == 201, source.text
    target = client.post(
        f"{FS}/targetConnections",
        json={
            "name": "t",
            "connectionSpec": {"id": "c604ff05-7f1a-43c0-8e18-33bf874cb11c", "version": "1.0"},
            "data": {"format": "json"},
            "params": {"dataSetId": dataset},
        },
    ).json()["id"]
    flow = client.post(
        f"{FS}/flows",
        json={
            "name": "acme flow",
            "flowSpec": {"id": ACME_HOOKS_FLOW, "version": "1.0"},
            "sourceConnectionIds": [source.json()["id"]],
            "targetConnectionIds": [target],
        },
    )
    assert flow.status_code == 201, flow.text
    item = client.get(f"{FS}/flows/{flow.json()['id']}").json()["items"][0]
    yield {
        "client": client,
        "app": app,
        "flow": item,
        "source": source.json()["id"],
        "dataset": dataset,
    }
    client.close()


def test_a_flow_inlet_is_answered_in_options(acme):
    options = acme["flow"]["options"]
    assert options["inletUrl"].endswith(f"/collection/{options['inletId']}")
    assert len(options["inletId"]) == 64


def test_the_plugin_refuses_unsigned_deliveries(acme):
    url = acme["flow"]["options"]["inletUrl"]
    with httpx.Client(verify=SSL) as raw:
        answer = raw.post(url, content=b'{"order": 1}', headers={"x-acme-signature": "forged"})
    assert answer.status_code == 401
    assert "signature does not match" in answer.json()["detail"]
    assert acme["app"].state.platform.store.row("SELECT count(*) AS n FROM messages")["n"] == 0


def test_a_repeated_delivery_is_answered_with_its_first_receipt(acme):
    url = acme["flow"]["options"]["inletUrl"]
    body = b'{"order": 1}'
    headers = {"x-acme-signature": sign("whsec_topsecretvalue", body), "x-acme-delivery": "d-1"}
    with httpx.Client(verify=SSL) as raw:
        first = raw.post(url, content=body, headers=headers)
        again = raw.post(url, content=body, headers=headers)
        other = raw.post(url, content=body, headers={**headers, "x-acme-delivery": "d-2"})
    assert first.status_code == again.status_code == other.status_code == 200
    assert again.json() == first.json()
    assert other.json()["xactionId"] != first.json()["xactionId"]
    store = acme["app"].state.platform.store
    assert store.row("SELECT count(*) AS n FROM messages")["n"] == 2
    assert acme["app"].state.platform.wait_idle(5)
    rows = acme["client"].get(f"/sourceflow/dataSets/{acme['dataset']}/rows").json()["items"]
    assert [r["record"] for r in rows] == [{"order": 1}, {"order": 1}]


def test_stored_secrets_are_masked_in_answers(acme):
    item = acme["client"].get(f"{FS}/sourceConnections/{acme['source']}").json()["items"][0]
    assert item["params"] == {"signingSecret": "***"}
    listed = acme["client"].get(f"{FS}/sourceConnections").text
    assert "topsecretvalue" not in listed


def test_the_inlet_served_ahead_of_the_middleware_keeps_its_manners(
    anonymous, chain, shared_platform
):
    # The inlet's POSTs skip the middleware stack (web.Front): what the middleware gave them
    # is still there: the caller's request id echoed or a new one, "/x/" taken as "/x", and
    # the metrics counting each answer.
    metrics = shared_platform[0].state.metrics
    before = metrics.acknowledged._value.get()
    refused = metrics.refused.labels("404", "unknown_inlet")._value.get()
    given = anonymous.post(chain["inlet_url"], json={"a": 1}, headers={"x-request-id": "mine"})
    assert given.status_code == 200 and given.headers["x-request-id"] == "mine"
    fresh = anonymous.post(chain["inlet_url"] + "/", json={"a": 2})
    assert fresh.status_code == 200 and len(fresh.headers["x-request-id"]) == 36
    unknown = anonymous.post("/collection/" + "0" * 64, json={"a": 3})
    assert unknown.status_code == 404 and unknown.headers["x-request-id"]
    assert metrics.acknowledged._value.get() == before + 2
    assert metrics.refused.labels("404", "unknown_inlet")._value.get() == refused + 1


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/collection/{inlet}", 405),  # left to the router: it knows the route's methods
        ("POST", "/collection/{inlet}/extra", 404),  # two segments: no inlet route
        ("POST", "/collection/batch", 404),  # "batch" as an inlet id, as the router read it
        ("POST", "/collection/", 404),
    ],
)
def test_paths_near_the_inlet_answer_as_the_router_would(anonymous, chain, method, path, status):
    answer = anonymous.request(method, path.format(inlet=chain["inlet_id"]), content=b'{"a":1}')
    assert answer.status_code == status
    assert answer.json()["status"] == status and answer.headers["x-request-id"]


def test_a_large_batch_of_small_messages_is_stored_exactly(anonymous, chain, shared_platform):
    # The batch path encodes members one by one and writes in chunks: every member lands
    # with its own receipt, in order, with its own bytes.
    batch_url = chain["inlet_url"].replace("/collection/", "/collection/batch/")
    messages = [{"i": i} if i % 997 else [i] for i in range(5000)]
    answer = anonymous.post(batch_url, json={"messages": messages})
    assert answer.status_code == 207
    responses = answer.json()["responses"]
    assert len(responses) == 5000
    refused = [i for i, r in enumerate(responses) if "statusCode" in r]
    assert refused == [i for i in range(5000) if not i % 997]
    assert responses[0]["message"].startswith("messages[0]: must be a JSON object")
    accepted = {r["xactionId"]: i for i, r in enumerate(responses) if "xactionId" in r}
    with sqlite3.connect(shared_platform[0].state.platform.store.path) as db:
        rows = db.execute(
            "SELECT xaction_id, body FROM messages WHERE inlet_id = ?", (chain["inlet_id"],)
        ).fetchall()
    stored = {x: b for x, b in rows if x in accepted}
    assert {x: json.loads(b) for x, b in stored.items()} == {
        x: {"i": i} for x, i in accepted.items()
    }
