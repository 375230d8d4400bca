"""Explore through a plugin, Data Prep mapping sets, the minimal Catalog, and secrets."""

from __future__ import annotations

import base64
import json
import re

import pytest
from platform_testkit import ACME_API_SPEC, FS, SCHEMA_ID

KEYED = {
    "name": "acme",
    "connectionSpec": {"id": ACME_API_SPEC, "version": "1.0"},
    "auth": {"specName": "API Key", "params": {"apiKey": "ak_live_0123456789", "region": "eu"}},
}


@pytest.fixture
def acme_api(acme_url, client_for):
    url, _ = acme_url
    client = client_for(url)
    created = client.post(f"{FS}/connections", json=KEYED)
    assert created.status_code == 201, created.text
    yield client, created.json()["id"]
    client.close()


def _b64(value) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def test_explore_lists_then_describes(acme_api):
    client, cid = acme_api
    listing = client.get(f"{FS}/connections/{cid}/explore", params={"objectType": "rest"})
    assert listing.status_code == 200
    assert listing.json() == [{"type": "table", "name": "charges", "path": "charges"}]
    params = {
        "objectType": "rest",
        "object": "json",
        "fileType": "json",
        "preview": "true",
        "sourceParams": _b64({"resourcePath": "charges"}),
    }
    described = client.get(f"{FS}/connections/{cid}/explore", params=params).json()
    assert described["format"] == "hierarchical"
    assert described["data"] == [{"id": "ch_1", "resourcePath": "charges"}]
    # The seed's literal, URL-encoded form.
    literal = client.get(
        f"{FS}/connections/{cid}/explore?objectType=rest&object=json&fileType=json&preview=false"
        "&sourceParams=eyJyZXNvdXJjZVBhdGgiOiJjaGFyZ2VzIn0%3D"
    )
    assert literal.status_code == 200 and "data" not in literal.json()


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("%%%not-base64%%%", "is not Base64"),
        (base64.b64encode(b"{not json").decode(), "is not JSON"),
        (base64.b64encode(b"[1, 2]").decode(), "must decode to a JSON object"),
    ],
)
def test_bad_source_params_are_named(acme_api, raw, says):
    client, cid = acme_api
    answer = client.get(
        f"{FS}/connections/{cid}/explore", params={"object": "x", "sourceParams": raw}
    )
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("sourceParams: ") and says in answer.json()["detail"]


def test_plugin_errors_are_reported(acme_api):
    client, cid = acme_api
    refused = client.get(f"{FS}/connections/{cid}/explore", params={"object": "refused"})
    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        "acme-api: no object called 'refused' (explore the root first)"
    )
    crashed = client.get(f"{FS}/connections/{cid}/explore", params={"object": "crash"})
    assert crashed.status_code == 502
    assert (
        "'test-plugin'" in crashed.json()["detail"] and "RuntimeError" in crashed.json()["detail"]
    )
    bad = client.get(f"{FS}/connections/{cid}/explore", params={"preview": "maybe"})
    assert bad.status_code == 400 and bad.json()["detail"].startswith("preview:")


def test_a_source_without_explore_says_so(api, build):
    cid = build.connection()
    answer = api.get(f"{FS}/connections/{cid}/explore")
    assert answer.status_code == 400
    assert answer.json()["detail"] == "source 'http' does not support explore"
    assert api.get(f"{FS}/connections/nope/explore").status_code == 404


def test_secrets_are_masked_in_answers_but_kept(acme_api, acme_url):
    client, cid = acme_api
    item = client.get(f"{FS}/connections/{cid}").json()["items"][0]
    assert item["auth"]["params"] == {"apiKey": "***", "region": "eu"}
    assert "ak_live" not in client.get(f"{FS}/connections").text
    # Sending the masked value back keeps the stored secret: explore still authenticates.
    answer = client.patch(
        f"{FS}/connections/{cid}",
        json=[
            {"op": "replace", "path": "/auth/params", "value": {"apiKey": "***", "region": "us"}}
        ],
        headers={"If-Match": item["etag"]},
    )
    assert answer.status_code == 200
    stored = acme_url[1].state.platform.store.get("connections", cid, _scope(item))
    assert stored["auth"]["params"] == {"apiKey": "ak_live_0123456789", "region": "us"}
    assert client.get(f"{FS}/connections/{cid}/explore").status_code == 200


def test_a_field_the_schema_marks_secret_is_masked_whatever_its_name(acme_url, client_for):
    url, app = acme_url
    client = client_for(url)
    params = {"apiKey": "ak_live_0123456789", "pin": "4711-0815-pin", "signingKey": "k-3x4mpl3"}
    created = client.post(
        f"{FS}/connections", json={**KEYED, "auth": {"specName": "API Key", "params": params}}
    )
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    item = client.get(f"{FS}/connections/{cid}").json()["items"][0]
    assert item["auth"]["params"] == {"apiKey": "***", "pin": "***", "signingKey": "***"}
    listing = client.get(f"{FS}/connections").text
    assert "4711-0815-pin" not in listing and "k-3x4mpl3" not in listing
    answer = client.patch(
        f"{FS}/connections/{cid}",
        json=[{"op": "replace", "path": "/auth/params/pin", "value": "***"}],
        headers={"If-Match": item["etag"]},
    )
    assert answer.status_code == 200, answer.text
    stored = app.state.platform.store.get("connections", cid, _scope(item))
    assert stored["auth"]["params"]["pin"] == "4711-0815-pin"  # the masked value kept it
    client.close()


def test_a_failing_auth_param_is_named_without_its_value(acme_api):
    client, _ = acme_api
    bad = {**KEYED, "auth": {"specName": "API Key", "params": {"apiKey": "ak_1"}}}
    answer = client.post(f"{FS}/connections", json=bad)
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("auth.params.apiKey:")
    assert "ak_1" not in answer.text


def _scope(item):
    from sourceflow.platform.store.sqlite import Scope

    return Scope(item["imsOrgId"], item["sandboxName"])


# --- Data Prep ---------------------------------------------------------------------------------


def test_mapping_sets_create_read_list(api, build):
    body = {
        "outputSchema": {
            "schemaRef": {
                "id": SCHEMA_ID,
                "contentType": "application/vnd.adobe.xed-full+json;version=1",
            }
        },
        "mappings": [{"sourceAttribute": "id", "destinationXdmPath": "_id"}],
    }
    created = api.post("/data/foundation/conversion/mappingSets", json=body)
    assert created.status_code == 200
    summary = created.json()
    assert set(summary) == {
        "id",
        "version",
        "createdDate",
        "modifiedDate",
        "createdBy",
        "modifiedBy",
    }
    assert re.fullmatch(r"[0-9a-f]{32}", summary["id"]) and summary["version"] == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", summary["createdDate"])

    one = api.get(f"/data/foundation/conversion/mappingSets/{summary['id']}").json()
    assert one["id"] == summary["id"] and one["mappings"][0]["destinationXdmPath"] == "_id"
    assert one["outputSchema"] == body["outputSchema"]

    # The older shape ({xdmSchema, xdmVersion}) is read too.
    old = api.post(
        "/data/foundation/conversion/mappingSets",
        json={
            "xdmSchema": SCHEMA_ID,
            "xdmVersion": "1.0",
            "mappings": [{"source": "a", "destination": "b"}],
        },
    )
    assert old.status_code == 200, old.text

    first = api.get("/data/foundation/conversion/mappingSets", params={"limit": 1}).json()
    assert first["_page"] == {"count": 1, "limit": 1}
    assert [m["id"] for m in first["data"]] == [summary["id"]]
    assert first["_links"]["next"]["href"] == "/mappingSets?limit=1&start=1"
    second = api.get(
        "/data/foundation/conversion/mappingSets", params={"limit": 1, "start": 1}
    ).json()
    assert [m["id"] for m in second["data"]] == [old.json()["id"]] and "_links" not in second
    assert api.get("/data/foundation/conversion/mappingSets/nope").status_code == 404
    assert (
        api.post("/data/foundation/conversion/mappingSets", json={"mappings": "x"}).status_code
        == 400
    )


# --- Catalog -----------------------------------------------------------------------------------


def test_datasets_create_read_list(api):
    body = {
        "name": "Orders",
        "description": "orders from the shop",
        "schemaRef": {
            "id": SCHEMA_ID,
            "contentType": "application/vnd.adobe.xed-full+json;version=1",
        },
    }
    created = api.post("/data/foundation/catalog/dataSets", json=body)
    assert created.status_code == 201
    (ref,) = created.json()
    assert re.fullmatch(r"@/dataSets/[0-9a-f]{24}", ref)
    dataset_id = ref.removeprefix("@/dataSets/")
    one = api.get(f"/data/foundation/catalog/dataSets/{dataset_id}").json()
    assert list(one) == [dataset_id]
    assert one[dataset_id]["name"] == "Orders" and one[dataset_id]["schemaRef"] == body["schemaRef"]
    assert isinstance(one[dataset_id]["created"], int)
    other = api.post("/data/foundation/catalog/dataSets", json={"name": "Other"}).json()[0]
    listed = api.get("/data/foundation/catalog/dataSets").json()
    assert list(listed) == [dataset_id, other.removeprefix("@/dataSets/")]
    assert list(
        api.get("/data/foundation/catalog/dataSets", params={"limit": 1, "start": 1}).json()
    ) == [other.removeprefix("@/dataSets/")]
    assert api.get("/data/foundation/catalog/dataSets", params={"limit": 101}).status_code == 400
    missing = api.get("/data/foundation/catalog/dataSets/nope")
    assert missing.status_code == 404 and "CATALOG" in missing.json()["type"]
    refused = api.post("/data/foundation/catalog/dataSets", json={"description": "no name"})
    assert refused.status_code == 400 and refused.json()["report"]["problems"] == [
        "name: is required"
    ]
