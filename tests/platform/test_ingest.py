"""Mapping off the acknowledgement path: rows for good records, failures for bad ones, and
nothing acknowledged lost across a restart."""

from __future__ import annotations

import json
import sqlite3

import httpx
from gateway import dev_token, gateway_headers
from platform_testkit import SEED_MESSAGE, SSL, Builder

from sourceflow.platform.app import PlatformConfig, create_app
from sourceflow.platform.server import background

CHATLIO_LIKE = [
    {"sourceAttribute": "visitor.UUID", "destinationXdmPath": "_tenant.UUID", "identity": True},
    {"sourceAttribute": "message", "destinationXdmPath": "_tenant.message"},
    {
        "sourceAttribute": "lower(visitor.email)",
        "sourceType": "EXPRESSION",
        "destinationXdmPath": "_tenant.email",
    },
]


def test_a_mapped_flow_writes_rows_and_keeps_failures(api, anonymous, build, shared_platform):
    chain = build.http_chain(mapping=CHATLIO_LIKE)
    good = {"visitor": {"UUID": "u-1", "email": "Jane@Example.com"}, "message": "Hi"}
    bad = {"visitor": {"email": "x@example.com"}, "message": "no identity"}
    for body in (good, bad):
        assert anonymous.post(chain["inlet_url"], json=body).status_code == 200
    assert shared_platform[0].state.platform.wait_idle(5)

    rows = api.get(f"/sourceflow/dataSets/{chain['dataset']}/rows").json()["items"]
    assert [r["record"] for r in rows] == [
        {"_tenant": {"UUID": "u-1", "message": "Hi", "email": "jane@example.com"}}
    ]
    failures = api.get(f"/sourceflow/flows/{chain['flow']}/failures").json()["items"]
    assert len(failures) == 1
    (failure,) = failures
    assert failure["body"] == bad
    assert failure["error"]["code"] == "MAPPING-400"
    assert "visitor.UUID" in failure["error"]["message"]
    assert isinstance(failure["receivedTimeMs"], int) and failure["xactionId"]


def test_a_refused_mapping_set_lists_its_problems(api):
    answer = api.post(
        "/data/foundation/conversion/mappingSets",
        json={
            "mappings": [
                {
                    "sourceAttribute": "lowr(x)",
                    "sourceType": "EXPRESSION",
                    "destinationXdmPath": "a",
                }
            ]
        },
    )
    assert answer.status_code == 400
    problems = answer.json()["report"]["problems"]
    assert problems and problems[0].startswith(
        "mappings[0].sourceAttribute: unknown function 'lowr'"
    )
    assert answer.json()["type"].endswith("-400") and "DATAPREP" in answer.json()["type"]


def test_rows_page_by_key_with_limit_and_after(api, anonymous, build, shared_platform):
    chain = build.http_chain()
    batch = chain["inlet_url"].replace("/collection/", "/collection/batch/")
    anonymous.post(batch, json={"messages": [{"n": n} for n in range(5)]})
    assert shared_platform[0].state.platform.wait_idle(5)
    url = f"/sourceflow/dataSets/{chain['dataset']}/rows"
    first = api.get(url, params={"limit": 2}).json()
    assert [r["record"]["n"] for r in first["items"]] == [0, 1]
    page = api.get(url, params={"limit": 2, "after": first["_page"]["next"]}).json()
    assert [r["record"]["n"] for r in page["items"]] == [2, 3]
    assert page["_links"]["next"]["href"].endswith(f"after={page['_page']['next']}")
    last = api.get(url, params={"limit": 2, "after": page["_page"]["next"]}).json()
    assert [r["record"]["n"] for r in last["items"]] == [4]
    assert "_links" not in last  # a short page is the end for now; _page.next still resumes
    assert api.get(url, params={"after": last["_page"]["next"]}).json()["items"] == []
    refused = api.get(url, params={"start": 2})
    assert refused.status_code == 400 and "after=" in refused.text
    assert api.get(url, params={"after": "-1"}).status_code == 400
    assert api.get("/sourceflow/dataSets/nope/rows").status_code == 404
    assert api.get("/sourceflow/flows/nope/failures").status_code == 404


def test_a_restart_keeps_everything_and_processes_what_was_pending(tmp_path):
    # First run: no ingest worker, as if the process died right after acknowledging.
    stalled = PlatformConfig(data_dir=tmp_path, ingest=False)
    app = create_app(stalled)
    with background(app) as url, httpx.Client(base_url=url, verify=SSL) as client:
        token = dev_token(url)
        client.headers.update(gateway_headers(url, token=token))
        chain = Builder(client).http_chain()
        receipts = [
            client.post(chain["inlet_url"], json={**SEED_MESSAGE, "n": n}).json() for n in range(3)
        ]
        assert not app.state.platform.wait_idle(0.2)
    with sqlite3.connect(tmp_path / "platform.db") as db:
        # stored, and all three past the ingest mark: none processed yet
        (mark,) = db.execute("SELECT through_seq FROM ingest_mark").fetchone()
        seqs = [s for (s,) in db.execute("SELECT seq FROM messages ORDER BY seq")]
    assert len(seqs) == 3 and all(s > mark for s in seqs)

    # Second run on the same data dir: resources and token are still there; the worker catches up.
    config = PlatformConfig(data_dir=tmp_path)
    app = create_app(config)
    with background(app) as url, httpx.Client(base_url=url, verify=SSL) as client:
        client.headers.update(gateway_headers(url, token=token))
        assert app.state.platform.wait_idle(5)
        for kind, key in [("connections", "connection"), ("flows", "flow")]:
            assert (
                client.get(f"/data/foundation/flowservice/{kind}/{chain[key]}").status_code == 200
            )
        rows = client.get(f"/sourceflow/dataSets/{chain['dataset']}/rows").json()["items"]
        assert [r["xactionId"] for r in rows] == [r["xactionId"] for r in receipts]
        assert [r["record"]["n"] for r in rows] == [0, 1, 2]
        # The inlet is still there (its URL follows the new address).
        params = client.get(
            f"/data/foundation/flowservice/connections/{chain['connection']}"
        ).json()
        inlet_url = params["items"][0]["auth"]["params"]["inletUrl"]
        assert inlet_url == f"{url}/collection/{chain['inlet_id']}"
        assert client.post(inlet_url, json={"n": 3}).status_code == 200
        assert app.state.platform.wait_idle(5)
    with sqlite3.connect(tmp_path / "platform.db") as db:
        assert db.execute("SELECT count(*) FROM rows").fetchone() == (4,)
        assert db.execute(
            "SELECT count(*) FROM messages WHERE seq <= (SELECT through_seq FROM ingest_mark)"
        ).fetchone() == (4,)
        assert (
            json.loads(db.execute("SELECT record FROM rows ORDER BY seq").fetchone()[0])["n"] == 0
        )


def test_wal_and_durability_settings(tmp_path):
    from sourceflow.platform.store.sqlite import Store

    full = Store(tmp_path / "a", "full")
    normal = Store(tmp_path / "b", "normal")
    try:
        assert full.row("PRAGMA journal_mode")[0] == "wal"
        assert full.row("PRAGMA synchronous")[0] == 2
        assert normal.row("PRAGMA synchronous")[0] == 1
    finally:
        full.close()
        normal.close()
