"""Catalog fidelity: datasets carry the fields Adobe's Catalog documents, and ``GET /dataSets``
takes Catalog's list parameters ("Filter Catalog data using query parameters") as it does."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sourceflow.config import DEV_CLIENT_ID, DEV_ORG_ID

CAT = "/data/foundation/catalog/dataSets"
SCHEMA = "https://ns.adobe.com/sourceflow/schemas/catalog"


def _create(api, name: str, **extra) -> str:
    created = api.post(CAT, json={"name": name, **extra})
    assert created.status_code == 201, created.text
    return created.json()[0].rsplit("/", 1)[-1]


def _list(api, **params) -> list[str]:
    answer = api.get(CAT, params=params)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


@pytest.fixture
def five(api) -> list[str]:
    """Five datasets created a few milliseconds apart, oldest first."""
    found = []
    for name, tags in [
        ("alpha", {"team": ["data"]}),
        ("beta", {"team": ["web"]}),
        ("te*st", {}),
        ("test", {"team": ["data", "web"], "tier": ["gold"]}),
        ("gamma", {}),
    ]:
        found.append(_create(api, name, tags=tags, description=f"the {name} set"))
        time.sleep(0.003)
    return found


def test_a_dataset_carries_catalogs_fields(api, sandbox):
    dataset_id = _create(
        api,
        "Orders 2024",
        schemaRef={"id": SCHEMA, "contentType": "application/vnd.adobe.xed+json;version=1"},
        tags={"unifiedProfile": ["enabled:true"]},
        classification={"dataBehavior": "record"},
        # Set by Catalog, whatever the creator sends.
        imsOrg="someone-else@AdobeOrg",
        state="ACTIVE",
        version="9.9.9",
    )
    found = api.get(f"{CAT}/{dataset_id}").json()[dataset_id]
    assert found["imsOrg"] == DEV_ORG_ID and found["state"] == "DRAFT"
    assert found["version"] == "1.0.0"
    assert found["tags"]["unifiedProfile"] == ["enabled:true"]
    assert found["tags"]["adobe/pqs/table"] == [f"orders_2024_{dataset_id[-6:]}"]
    assert found["tags"]["adobe/siphon/table/format"] == ["parquet"]
    assert found["classification"] == {"dataBehavior": "record", "managedBy": "CUSTOMER"}
    assert found["fileDescription"]["containerFormat"] == "parquet"
    assert found["files"] == f"@/dataSetFiles?dataSetId={dataset_id}"
    assert found["createdClient"] == found["createdUser"] == DEV_CLIENT_ID
    assert isinstance(found["sandboxId"], str) and found["created"] == found["updated"]
    only = api.get(f"{CAT}/{dataset_id}", params={"properties": "name,tags"}).json()
    assert set(only[dataset_id]) == {"name", "tags"}


def test_limit_and_start_as_catalog_meters_them(api):
    ids = [_create(api, f"d{n:02}") for n in range(22)]
    assert _list(api) == ids[:20]  # 20 without a limit
    assert _list(api, limit=3, start=4) == ids[4:7]  # start is zero-based
    assert _list(api, limit=100) == ids
    for bad in ("0", "101", "x"):
        refused = api.get(CAT, params={"limit": bad})
        assert refused.status_code == 400
        assert "limit: must be a whole number from 1 to 100" in refused.json()["detail"]


def test_order_by(api, five):
    assert _list(api, orderBy="desc:created") == five[::-1]
    assert _list(api, orderBy="asc:name") == [five[i] for i in (0, 1, 4, 2, 3)]
    assert _list(api, orderBy="name") == _list(api, orderBy="asc:name")
    refused = api.get(CAT, params={"orderBy": "sideways:name"})
    assert refused.status_code == 400 and "orderBy" in refused.json()["detail"]


def test_property_conditions(api, five):
    assert _list(api, property="name~^te") == five[2:4]
    assert _list(api, property="name==beta") == [five[1]]
    assert _list(api, property="name!=beta") == [five[i] for i in (0, 2, 3, 4)]
    assert _list(api, property="tags") == five  # exists
    assert _list(api, property="!schemaRef") == five  # does not exist
    assert _list(api, property=f"created>{0}") == five
    assert _list(api, property="version>=1.0.0") == five
    assert _list(api, property="version>1.0.0") == []  # versions compare part by part
    assert _list(api, property="version<1.10.0") == five
    bad = api.get(CAT, params={"property": "name~("})
    assert bad.status_code == 400 and "not a regular expression" in bad.json()["detail"]
    for nested in ("name~(a+)+$", "name~^(x*y)*z", "name~(\\d{1,3})+", "name~(a|aa)*$"):
        refused = api.get(CAT, params={"property": nested})
        assert refused.status_code == 400 and "exponential" in refused.json()["detail"]
    assert _list(api, property="name~^(al|be)") == five[:2]  # groups without nesting are fine


def test_simple_filters_tags_and_date_ranges(api, five):
    assert _list(api, name="alpha,gamma") == [five[0], five[4]]
    assert _list(api, name="!alpha,gamma") == five[1:4]
    assert _list(api, name="te*st") == five[2:4]  # '*' matches any run, even none
    assert _list(api, name="te**st") == [five[2]]  # '**' is a literal asterisk
    assert _list(api, tags="team:data") == [five[0], five[3]]
    assert _list(api, tags="team:data,tier:*") == [five[3]]
    assert _list(api, tags="team:w*") == [five[1], five[3]]
    refused = api.get(CAT, params={"tags": "team"})
    assert refused.status_code == 400 and "tags" in refused.json()["detail"]
    created = [api.get(f"{CAT}/{i}").json()[i]["created"] for i in five]
    assert _list(api, createdAfter=created[1], createdBefore=created[4]) == five[2:4]
    # Several parameters must all hold.
    assert _list(api, tags="team:data", property="name~^t") == [five[3]]


def test_delete(api):
    dataset_id = _create(api, "gone")
    deleted = api.delete(f"{CAT}/{dataset_id}")
    assert deleted.status_code == 200 and deleted.json() == [f"@/dataSets/{dataset_id}"]
    assert api.get(f"{CAT}/{dataset_id}").status_code == 404
    assert api.delete(f"{CAT}/{dataset_id}").status_code == 404


def test_a_dataset_a_target_connection_names_is_not_deleted(api, build):
    chain = build.http_chain()
    dataset_id = api.get(
        f"/data/foundation/flowservice/targetConnections/{chain['target']}"
    ).json()["items"][0]["params"]["dataSetId"]
    refused = api.delete(f"{CAT}/{dataset_id}")
    assert refused.status_code == 400 and chain["target"] in refused.json()["detail"]


QUERY_KEYS = st.sampled_from(
    ["limit", "start", "orderBy", "properties", "property", "tags", "name", "state",
     "createdAfter", "createdBefore", "updatedAfter", "version", "anything"]
)  # fmt: skip


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(params=st.lists(st.tuples(QUERY_KEYS, st.text(max_size=30)), max_size=4))
def test_no_query_is_a_server_error(api, params):
    """Whatever a caller puts in the query, the answer is a list or a 400 naming the problem."""
    answer = api.get(CAT, params=params)
    assert answer.status_code in (200, 400), answer.text
    if answer.status_code == 400:
        assert answer.json()["detail"]
