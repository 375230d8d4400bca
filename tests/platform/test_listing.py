"""Lists: limit and continuationToken paging, property filters, orderby, count."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from platform_testkit import FS, SEED_CONNECTION


def _connection(name: str, source_id: str, data_type: str = "xdm") -> dict:
    return {
        **SEED_CONNECTION,
        "name": name,
        "auth": {
            "specName": "Streaming Connection",
            "params": {"sourceId": source_id, "dataType": data_type, "name": name},
        },
    }


@pytest.fixture
def seven(build):
    """Seven base connections, created in order c0 … c6."""
    return [
        build.connection(_connection(f"c{i}", f"src-{i % 3}", "raw" if i % 2 else "xdm"))
        for i in range(7)
    ]


def test_three_pages_with_continuation_tokens(api, seven):
    seen, pages, url = [], 0, f"{FS}/connections?limit=3&orderby=createdAt"
    while url:
        body = api.get(url).json()
        pages += 1
        seen += [c["id"] for c in body["items"]]
        href = body.get("_links", {}).get("next", {}).get("href")
        if href:
            assert href.startswith("/connections?continuationToken=")
            assert set(parse_qs(urlsplit(href).query)) == {"continuationToken"}
        url = f"{FS}{href}" if href else None
    assert pages == 3
    assert seen == seven


def test_no_next_link_on_the_last_page(api, seven):
    body = api.get(f"{FS}/connections", params={"limit": 7}).json()
    assert len(body["items"]) == 7
    # Adobe's last page still carries _links, without next (aepp reads res["_links"]).
    assert body["_links"] == {}


def test_a_token_carries_the_filter_and_order(api, seven):
    first = api.get(
        f"{FS}/connections",
        params={"limit": 1, "property": "auth.params.dataType==xdm", "orderby": "-createdAt"},
    ).json()
    assert first["items"][0]["id"] == seven[6]
    second = api.get(FS + first["_links"]["next"]["href"]).json()
    assert second["items"][0]["id"] == seven[4]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"property": "name==c3"}, [3]),
        ({"property": "name!=c3"}, [0, 1, 2, 4, 5, 6]),
        ({"property": "auth.params.sourceId==src-1"}, [1, 4]),
        ({"property": "auth.params.sourceId==src-1,auth.params.dataType==raw"}, [1]),
        ({"property": ["auth.params.sourceId==src-1", "auth.params.dataType==xdm"]}, [4]),
        ({"property": "name==c1,c2"}, [1, 2]),
        ({"property": "name>c4"}, [5, 6]),
        ({"property": "name<=c1"}, [0, 1]),
        ({"property": "name~C5"}, [5]),
        ({"property": "description"}, [0, 1, 2, 3, 4, 5, 6]),
        ({"property": "nothing"}, []),
        ({"orderby": "-name"}, [6, 5, 4, 3, 2, 1, 0]),
        ({"orderby": "name"}, [0, 1, 2, 3, 4, 5, 6]),
        ({"orderby": "-createdAt", "property": "auth.params.dataType==raw"}, [5, 3, 1]),
    ],
)
def test_filters_and_order(api, seven, params, expected):
    items = api.get(f"{FS}/connections", params=params).json()["items"]
    assert [i["id"] for i in items] == [seven[n] for n in expected]


def test_numeric_filters_compare_numbers(api, seven):
    created = [api.get(f"{FS}/connections/{c}").json()["items"][0]["createdAt"] for c in seven]
    later = api.get(f"{FS}/connections", params={"property": f"createdAt>={created[5]}"})
    ids = [i["id"] for i in later.json()["items"]]
    assert seven[5] in ids and seven[6] in ids
    assert all(i["createdAt"] >= created[5] for i in later.json()["items"])
    earlier = api.get(f"{FS}/connections", params={"property": f"createdAt<{created[1]}"})
    assert [i["id"] for i in earlier.json()["items"]] == [
        c for c, at in zip(seven, created, strict=True) if at < created[1]
    ]


def test_count(api, seven):
    body = api.get(f"{FS}/connections", params={"limit": 2, "count": "true"}).json()
    assert body["count"] == 7 and len(body["items"]) == 2


def test_flows_filter_by_flow_spec(api, build):
    chain = build.http_chain()
    hit = api.get(
        f"{FS}/flows", params={"property": "flowSpec.id==d8a6f005-7eaf-4153-983e-e8574508b877"}
    )
    assert [f["id"] for f in hit.json()["items"]] == [chain["flow"]]
    by_source = api.get(
        f"{FS}/flows", params={"property": f"sourceConnectionIds=={chain['source']}"}
    )
    assert [f["id"] for f in by_source.json()["items"]] == [chain["flow"]]
    miss = api.get(f"{FS}/flows", params={"property": "flowSpec.id==nope"})
    assert miss.json()["items"] == []


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"continuationToken": "not-a-token"}, "continuationToken"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"property": "==x"}, "property"),
    ],
)
def test_bad_list_queries_are_refused(api, params, says):
    answer = api.get(f"{FS}/connections", params=params)
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith(says)
