"""Failed records are kept and replayed: after a mapping fix each lands once, replays included;
the runs count them; ``sourceflow flows failures|replay`` drive it from the command line."""

from __future__ import annotations

import json
import threading

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from platform_testkit import FS, Builder

from sourceflow.cli import main

NAME = {"sourceType": "ATTRIBUTE", "source": "name", "destination": "person.name"}
STRICT_AGE = {"sourceType": "EXPRESSION", "source": "to_integer(age)", "destination": "person.age"}
LOOSE_AGE = {"sourceType": "ATTRIBUTE", "source": "age", "destination": "person.age"}


def fix_mapping(api: httpx.Client, build: Builder, flow_id: str, rules: list[dict]) -> str:
    """Point the flow at a new mapping set, as a user fixing it through the API would."""
    mapping_id = build.mapping_set(rules)
    flow = api.get(f"{FS}/flows/{flow_id}").json()["items"][0]
    patch = [{"op": "replace", "path": "/transformations/0/params/mappingId", "value": mapping_id}]
    answer = api.patch(f"{FS}/flows/{flow_id}", json=patch, headers={"If-Match": flow["etag"]})
    assert answer.status_code == 200, answer.text
    return mapping_id


def send(ids: dict[str, str], messages: list[dict]) -> None:
    with httpx.Client() as inlet:
        for m in messages:
            assert inlet.post(ids["inlet_url"], json=m).status_code == 200


def rows(api: httpx.Client, dataset: str) -> list[dict]:
    found: list[dict] = api.get(f"/sourceflow/dataSets/{dataset}/rows?limit=10000").json()["items"]
    return found


def failures(api: httpx.Client, flow: str) -> list[dict]:
    found: list[dict] = api.get(f"/sourceflow/flows/{flow}/failures").json()["items"]
    return found


@pytest.fixture
def chain(api, build, shared_platform):
    ids = build.http_chain(mapping=[NAME, STRICT_AGE])
    return ids, shared_platform[0].state.platform


def test_a_fixed_mapping_lands_each_failed_record_once(api, build, chain):
    ids, platform = chain
    send(ids, [{"name": "Ada", "age": "36"}, {"name": "Bob", "age": "forty"}, {"name": "Cy"}])
    assert platform.wait_idle(10)
    failed = failures(api, ids["flow"])
    assert [f["body"]["name"] for f in failed] == ["Bob"]
    assert failed[0]["error"]["rule"] == {"index": 1, "destination": "person.age"}
    assert "to_integer('forty')" in failed[0]["error"]["message"]

    # Replayed before the fix: it fails again, nothing lands, the run says so.
    before = api.post(f"/sourceflow/flows/{ids['flow']}/replay").json()
    assert (before["replayed"], before["failed"]) == (0, 1)
    assert len(rows(api, ids["dataset"])) == 2

    fix_mapping(api, build, ids["flow"], [NAME, LOOSE_AGE])
    done = api.post(f"/sourceflow/flows/{ids['flow']}/replay").json()
    assert (done["replayed"], done["failed"], done["remaining"]) == (1, 0, 0)
    again = api.post(f"/sourceflow/flows/{ids['flow']}/replay").json()
    assert (again["replayed"], again["failed"], again["runId"]) == (0, 0, None)

    landed = rows(api, ids["dataset"])
    assert sorted(r["record"]["person"]["name"] for r in landed) == ["Ada", "Bob", "Cy"]
    bob = next(r for r in landed if r["record"]["person"]["name"] == "Bob")
    assert bob["record"]["person"]["age"] == "forty"
    assert bob["xactionId"] == failed[0]["xactionId"]  # the message's own id: traceable
    assert failures(api, ids["flow"]) == []

    # The runs count the replays: one that failed again, one that landed the record.
    runs = api.get(f"{FS}/runs", params={"property": f"flowId=={ids['flow']}"}).json()["items"]
    summaries = [r["metrics"]["recordSummary"] for r in runs]
    assert [(s["outputRecordCount"], s["failedRecordCount"]) for s in summaries] == [
        (0, 1),
        (1, 0),
    ]
    assert {r["createdClient"] for r in runs} == {"sourceflow-replay"}
    # The message now reads as replayed, with its row.
    message = api.get(f"/sourceflow/flows/{ids['flow']}/messages/{bob['xactionId']}").json()
    assert message["outcome"]["state"] == "replayed"
    assert message["outcome"]["record"]["person"]["name"] == "Bob"


def test_concurrent_replays_write_each_row_once(api, build, chain):
    ids, platform = chain
    send(ids, [{"name": f"n{i}", "age": f"x{i}"} for i in range(40)])
    assert platform.wait_idle(10)
    fix_mapping(api, build, ids["flow"], [NAME, LOOSE_AGE])
    answers: list[dict] = []

    def replay() -> None:
        answers.append(api.post(f"/sourceflow/flows/{ids['flow']}/replay").json())

    threads = [threading.Thread(target=replay) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(a["replayed"] for a in answers) == 40
    names = [r["record"]["person"]["name"] for r in rows(api, ids["dataset"])]
    assert sorted(names) == sorted(f"n{i}" for i in range(40))


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    ages=st.lists(
        st.one_of(
            st.integers(-(10**6), 10**6).map(str),
            st.text(min_size=1, max_size=8),
            st.none(),
            st.booleans(),
        ),
        min_size=1,
        max_size=12,
    ),
    replays=st.integers(1, 3),
)
def test_every_record_becomes_exactly_one_row_after_a_fix(api, build, chain, ages, replays):
    """Whatever the records, after the fix and any number of replays, each message is exactly
    one row and no failure is left."""
    _, platform = chain
    ids = build.http_chain(mapping=[NAME, STRICT_AGE])
    messages = [{"name": f"r{i}", "age": a} for i, a in enumerate(ages)]
    send(ids, messages)
    assert platform.wait_idle(10)
    fix_mapping(api, build, ids["flow"], [NAME, LOOSE_AGE])
    for _ in range(replays):
        api.post(f"/sourceflow/flows/{ids['flow']}/replay")
    landed = rows(api, ids["dataset"])
    assert sorted(r["record"]["person"]["name"] for r in landed) == sorted(
        m["name"] for m in messages
    )
    assert len({r["xactionId"] for r in landed}) == len(messages)
    assert failures(api, ids["flow"]) == []


def test_replay_of_an_unknown_flow_is_a_404(api):
    answer = api.post("/sourceflow/flows/nope/replay")
    assert answer.status_code == 404
    assert "no flow 'nope'" in answer.json()["detail"]
    assert api.post("/sourceflow/flows/nope/replay?limit=0").status_code in (400, 404)


def test_the_cli_lists_and_replays_failures(api, build, chain, shared_platform, sandbox, capsys,
                                            monkeypatch):  # fmt: skip
    ids, platform = chain
    _, url, _ = shared_platform
    monkeypatch.setenv("SOURCEFLOW_SANDBOX", sandbox)
    send(ids, [{"name": "Bob", "age": "forty"}])
    assert platform.wait_idle(10)

    assert main(["--platform", url, "flows", "failures", ids["flow"], "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["error"]["rule"]["destination"] == "person.age"
    assert main(["--platform", url, "flows", "failures", ids["flow"]]) == 0
    out = capsys.readouterr()
    assert "#1 -> person.age" in out.out and "1 failed record(s)" in out.err

    fix_mapping(api, build, ids["flow"], [NAME, LOOSE_AGE])
    assert main(["--platform", url, "flows", "replay", ids["flow"], "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert (done["replayed"], done["failed"]) == (1, 0)
    assert main(["--platform", url, "flows", "replay", ids["flow"]]) == 0
    assert "0 record(s) landed as rows, 0 failed again" in capsys.readouterr().out
    assert len(rows(api, ids["dataset"])) == 1
