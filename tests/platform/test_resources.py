"""Create, read, list, PATCH and DELETE of every Flow Service resource, in Adobe's shapes."""

from __future__ import annotations

import re

import pytest
from platform_testkit import FS, SEED_CONNECTION

from sourceflow.config import DEV_CLIENT_ID, DEV_ORG_ID

ETAG = re.compile(r'^"[0-9a-f]{8}-0000-0200-0000-[0-9a-f]{12}"$')


@pytest.fixture
def chain(build):
    return build.http_chain()


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("connections", "connection"),
        ("sourceConnections", "source"),
        ("targetConnections", "target"),
        ("flows", "flow"),
    ],
)
def test_read_one_answers_items_with_platform_fields(api, sandbox, chain, kind, key):
    answer = api.get(f"{FS}/{kind}/{chain[key]}")
    assert answer.status_code == 200
    (item,) = answer.json()["items"]
    assert item["id"] == chain[key]
    assert isinstance(item["createdAt"], int) and item["createdAt"] == item["updatedAt"]
    assert item["createdBy"] == item["updatedBy"] == DEV_CLIENT_ID
    assert item["createdClient"] == item["updatedClient"] == DEV_CLIENT_ID
    assert item["imsOrgId"] == DEV_ORG_ID
    assert item["sandboxName"] == sandbox and item["sandboxId"]
    assert item["state"] == "enabled"
    assert ETAG.match(item["etag"]) and item["version"] == item["etag"]


def test_create_answers_201_with_id_etag_and_location(api):
    answer = api.post(f"{FS}/connections", json=SEED_CONNECTION)
    assert answer.status_code == 201
    body = answer.json()
    assert set(body) == {"id", "etag"}
    assert ETAG.match(body["etag"])
    assert answer.headers["location"].endswith(f"{FS}/connections/{body['id']}")


def test_patch_needs_if_match_and_answers_a_new_etag(api, chain):
    path = f"{FS}/flows/{chain['flow']}"
    etag = api.get(path).json()["items"][0]["etag"]
    ops = [
        {"op": "replace", "path": "/name", "value": "Renamed flow"},
        {"op": "add", "path": "/description", "value": "New words"},
    ]

    missing = api.patch(path, json=ops)
    assert missing.status_code == 400
    assert "If-Match" in missing.json()["detail"]

    done = api.patch(path, json=ops, headers={"If-Match": etag})
    assert done.status_code == 200
    assert done.json()["id"] == chain["flow"]
    assert done.json()["etag"] != etag

    stale = api.patch(path, json=ops, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert "GET it again" in stale.json()["detail"]

    item = api.get(path).json()["items"][0]
    assert item["name"] == "Renamed flow" and item["description"] == "New words"
    assert item["etag"] == done.json()["etag"]
    assert item["updatedAt"] >= item["createdAt"]


def test_patch_ops_are_case_insensitive_and_can_remove(api, chain):
    path = f"{FS}/sourceConnections/{chain['source']}"
    etag = api.get(path).json()["items"][0]["etag"]
    answer = api.patch(
        path, json=[{"op": "REMOVE", "path": "/description"}], headers={"If-Match": etag}
    )
    assert answer.status_code == 200, answer.text
    assert "description" not in api.get(path).json()["items"][0]


def test_patch_replaces_auth_params_and_revalidates_them(api, chain):
    path = f"{FS}/connections/{chain['connection']}"
    item = api.get(path).json()["items"][0]
    params = {**item["auth"]["params"], "name": "Renamed"}  # inletUrl/inletId sent back: ignored
    good = api.patch(
        path,
        json=[{"op": "replace", "path": "/auth/params", "value": params}],
        headers={"If-Match": item["etag"]},
    )
    assert good.status_code == 200, good.text
    after = api.get(path).json()["items"][0]
    assert after["auth"]["params"]["name"] == "Renamed"
    assert after["auth"]["params"]["inletId"] == item["auth"]["params"]["inletId"]

    bad = api.patch(
        path,
        json=[{"op": "replace", "path": "/auth/params/dataType", "value": "csv"}],
        headers={"If-Match": after["etag"]},
    )
    assert bad.status_code == 400
    assert "auth.params.dataType" in bad.json()["detail"]


def test_a_patched_schedule_is_checked_by_the_model(api, chain):
    path = f"{FS}/flows/{chain['flow']}"
    etag = api.get(path).json()["items"][0]["etag"]
    answer = api.patch(
        path,
        json=[
            {
                "op": "add",
                "path": "/scheduleParams",
                "value": {"frequency": "minute", "interval": 5},
            }
        ],
        headers={"If-Match": etag},
    )
    assert answer.status_code == 400
    assert answer.json()["report"]["problems"] == [
        "scheduleParams.interval: must be at least 15 when frequency is 'minute' (got 5)"
    ]
    ok = api.patch(
        path,
        json=[
            {
                "op": "add",
                "path": "/scheduleParams",
                "value": {"frequency": "minute", "interval": 15},
            }
        ],
        headers={"If-Match": etag},
    )
    assert ok.status_code == 200
    etag = ok.json()["etag"]
    bad = api.patch(
        path,
        json=[{"op": "replace", "path": "/scheduleParams/interval", "value": 3}],
        headers={"If-Match": etag},
    )
    assert bad.status_code == 400
    assert "scheduleParams.interval" in bad.json()["detail"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/id", "/id"),
        ("/createdAt", "/createdAt"),
        ("/etag", "/etag"),
        ("/flowSpec/id", "/flowSpec"),
    ],
)
def test_patch_refuses_fields_it_may_not_change(api, chain, path, field):
    url = f"{FS}/flows/{chain['flow']}"
    etag = api.get(url).json()["items"][0]["etag"]
    answer = api.patch(
        url, json=[{"op": "replace", "path": path, "value": "x"}], headers={"If-Match": etag}
    )
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith(f"{field}: cannot be changed")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"op": "move", "path": "/name"}, "[0].op"),
        ([{"op": "replace", "path": "name", "value": 1}], "[0].path"),
        ([{"op": "replace", "path": "/name"}], "[0].value"),
        ([{"op": "remove", "path": "/nothing/here"}], "[0].path"),
        ([], "list of operations"),
    ],
)
def test_malformed_patches_say_what_is_wrong(api, chain, body, says):
    url = f"{FS}/flows/{chain['flow']}"
    etag = api.get(url).json()["items"][0]["etag"]
    answer = api.patch(url, json=body, headers={"If-Match": etag})
    assert answer.status_code == 400
    assert says in answer.json()["detail"]


def test_delete_refuses_what_is_still_used_then_deletes_in_order(api, chain):
    for kind, key, user in [
        ("connections", "connection", chain["source"]),
        ("sourceConnections", "source", chain["flow"]),
        ("targetConnections", "target", chain["flow"]),
    ]:
        refused = api.delete(f"{FS}/{kind}/{chain[key]}")
        assert refused.status_code == 400  # as Adobe answers it
        assert refused.json()["title"] == "Resource in use"
        assert user in refused.json()["detail"]
    for kind, key in [
        ("flows", "flow"),
        ("sourceConnections", "source"),
        ("targetConnections", "target"),
        ("connections", "connection"),
    ]:
        assert api.delete(f"{FS}/{kind}/{chain[key]}").status_code == 204
        assert api.get(f"{FS}/{kind}/{chain[key]}").status_code == 404
    # the inlet went with its connection
    assert api.post(chain["inlet_url"], json={"a": 1}).status_code == 404


@pytest.mark.parametrize("kind", ["connections", "sourceConnections", "targetConnections", "flows"])
def test_unknown_ids_answer_404_problems(api, kind):
    for method in ("GET", "DELETE", "PATCH"):
        answer = api.request(method, f"{FS}/{kind}/nope", json=[], headers={"If-Match": '"x"'})
        assert answer.status_code == 404
        assert answer.json()["title"] == "Not found"
        assert "'nope'" in answer.json()["detail"]


def test_trailing_slash_paths_work_as_adobes_spec_writes_them(api, chain):
    url = f"{FS}/connections/{chain['connection']}/"
    etag = api.get(url).json()["items"][0]["etag"]
    answer = api.patch(
        url, json=[{"op": "replace", "path": "/name", "value": "x"}], headers={"If-Match": etag}
    )
    assert answer.status_code == 200


def test_specs_are_served(api):
    specs = api.get(f"{FS}/connectionSpecs").json()["items"]
    ids = {s["id"] for s in specs}
    assert {"bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb", "c604ff05-7f1a-43c0-8e18-33bf874cb11c"} <= ids
    one = api.get(f"{FS}/connectionSpecs/bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb").json()["items"]
    assert one[0]["authSpec"][0]["name"] == "Streaming Connection"
    flows = {f["id"] for f in api.get(f"{FS}/flowSpecs").json()["items"]}
    assert {"d8a6f005-7eaf-4153-983e-e8574508b877", "c1a19761-d2c7-4702-b9fa-fe91f0613e81"} <= flows
    assert api.get(f"{FS}/flowSpecs/d8a6f005-7eaf-4153-983e-e8574508b877").status_code == 200
    missing = api.get(f"{FS}/flowSpecs/nope")
    assert missing.status_code == 404 and "d8a6f005" in missing.json()["detail"]
    assert api.get(f"{FS}/connectionSpecs/nope").status_code == 404
