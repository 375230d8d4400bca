"""The HTTP API streaming tutorial (seeds/002), call by call, with its own bodies."""

from __future__ import annotations

import re

from platform_testkit import (
    FS,
    SEED_AUTH_CONNECTION,
    SEED_CONNECTION,
    SEED_MESSAGE,
    seed_flow,
    seed_source_connection,
    seed_target_connection,
)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ETAG = re.compile(r'^"[0-9a-f]{8}-0000-0200-0000-[0-9a-f]{12}"$')


def _created(answer) -> str:
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert set(body) == {"id", "etag"}
    assert UUID.match(body["id"]) and ETAG.match(body["etag"])
    return str(body["id"])


def test_the_tutorial_end_to_end(api, anonymous, build, shared_platform):
    # Base connection (unauthenticated), then the authenticated variant.
    connection = _created(api.post(f"{FS}/connections", json=SEED_CONNECTION))
    _created(api.post(f"{FS}/connections", json=SEED_AUTH_CONNECTION))

    # The streaming endpoint URL, in the shape the tutorial shows.
    (item,) = api.get(f"{FS}/connections/{connection}").json()["items"]
    assert {
        "createdAt",
        "updatedAt",
        "createdBy",
        "updatedBy",
        "createdClient",
        "updatedClient",
        "id",
        "name",
        "description",
        "connectionSpec",
        "state",
        "auth",
        "version",
        "etag",
    } <= set(item)
    assert item["connectionSpec"] == SEED_CONNECTION["connectionSpec"]
    params = item["auth"]["params"]
    assert item["auth"]["specName"] == "Streaming Connection"
    assert re.fullmatch(r"[0-9a-f]{64}", params["inletId"])
    base = str(api.base_url).rstrip("/")
    assert params["inletUrl"] == f"{base}/collection/{params['inletId']}"
    assert {k: params[k] for k in ("sourceId", "dataType", "name")} == SEED_CONNECTION["auth"][
        "params"
    ]

    # Source connection, dataset, target connection, flow.
    source = _created(api.post(f"{FS}/sourceConnections", json=seed_source_connection(connection)))
    dataset = build.dataset()
    target = _created(api.post(f"{FS}/targetConnections", json=seed_target_connection(dataset)))
    flow = _created(api.post(f"{FS}/flows", json=seed_flow(source, target)))

    # Raw data to the inlet, with the flow id header: acknowledged, as the tutorial shows. But
    # the connection is XDM (dataType xdm) and the flow maps nothing, so the message is no
    # valid XDM envelope for it: a failure the flow lists, never a row (as Adobe's
    # asynchronous validation keeps it apart).
    sent = anonymous.post(params["inletUrl"], json=SEED_MESSAGE, headers={"x-adobe-flow-id": flow})
    assert sent.status_code == 200, sent.text
    receipt = sent.json()
    assert set(receipt) == {"inletId", "xactionId", "receivedTimeMs"}
    assert receipt["inletId"] == params["inletId"]
    assert re.fullmatch(r"\d{13}:\d{4}:\d+", receipt["xactionId"])
    assert isinstance(receipt["receivedTimeMs"], int)

    assert shared_platform[0].state.platform.wait_idle(5)
    assert api.get(f"/sourceflow/dataSets/{dataset}/rows").json()["items"] == []
    (failure,) = api.get(f"/sourceflow/flows/{flow}/failures").json()["items"]
    assert failure["xactionId"] == receipt["xactionId"]
    assert failure["body"] == SEED_MESSAGE
    assert failure["error"]["code"] == "XDM-400"
    assert "header: missing" in failure["error"]["message"]
    assert "body: missing" in failure["error"]["message"]


def test_inlet_base_url_overrides_the_request_address(tmp_path):
    import httpx
    from gateway import gateway_headers
    from platform_testkit import SSL

    from sourceflow.platform.app import PlatformConfig, create_app
    from sourceflow.platform.server import background

    config = PlatformConfig(data_dir=tmp_path, inlet_base_url="https://dcs.example.test/")
    with background(create_app(config)) as url, httpx.Client(verify=SSL) as raw:
        headers = gateway_headers(url)
        cid = raw.post(f"{url}{FS}/connections", json=SEED_CONNECTION, headers=headers).json()["id"]
        params = raw.get(f"{url}{FS}/connections/{cid}", headers=headers).json()["items"][0][
            "auth"
        ]["params"]
    assert params["inletUrl"] == f"https://dcs.example.test/collection/{params['inletId']}"
