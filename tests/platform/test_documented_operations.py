"""Operations Adobe's files document that users call, beyond create/read/list/patch/delete:
``PUT /runs/{id}``, the ``/search`` routes, ``GET /connections/{id}/test``, Data Prep's
``PUT /mappingSets/{id}``, its ``/mappings``, ``/validate`` and ``/preview``, and what a flow
carries in Adobe's answers (``inheritedAttributes``, ``runs`` …)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from gateway import platform_client
from platform_testkit import FS

import sourceflow
from sourceflow.hooktypes import (
    DATA_LAKE_SPEC_ID,
    PROVIDER_STREAMING,
    AuthSpec,
    ConnectionSpec,
    FlowSpec,
    ReadResult,
    Source,
)
from sourceflow.platform.app import PlatformConfig, create_app
from sourceflow.platform.server import background
from sourceflow.plugins import load

DP = "/data/foundation/conversion"
SPEC = "0d0d0d0d-1111-4222-8333-555555555555"
FLOW_SPEC = "0d0d0d0d-2222-4222-8333-555555555555"


class Gated:
    """A scheduled source whose read waits for :attr:`gate`, so a run stays open."""

    source = Source(
        name="gated",
        title="Gated",
        mode="scheduled",
        connection_spec=ConnectionSpec(
            id=SPEC,
            name="gated",
            provider_id=PROVIDER_STREAMING,
            auth_spec=[AuthSpec(name="Key", type="KeyBased", spec={"type": "object"})],
        ),
        flow_specs=(
            FlowSpec(
                id=FLOW_SPEC,
                name="gated-flow",
                provider_id=PROVIDER_STREAMING,
                source_connection_spec_ids=[SPEC],
                target_connection_spec_ids=[DATA_LAKE_SPEC_ID],
            ),
        ),
    )

    def __init__(self) -> None:
        self.gate = threading.Event()

    @sourceflow.hookimpl
    def sourceflow_sources(self) -> list[Source]:
        return [self.source]

    @sourceflow.hookimpl
    def sourceflow_read(self, source, connection, object, state) -> ReadResult:
        self.gate.wait(10)
        return ReadResult(records=[{"id": "g1"}], state={})


@pytest.fixture
def gated(tmp_path) -> Iterator[tuple[httpx.Client, Gated, Any]]:
    plugin = Gated()
    registry = load()
    registry.register(plugin, "gated")
    app = create_app(PlatformConfig(data_dir=tmp_path, scheduler=False), registry=registry)
    with background(app) as url:
        with platform_client(url) as api:
            yield api, plugin, app
        plugin.gate.set()


def _scheduled_run(api: httpx.Client) -> str:
    dataset = api.post("/data/foundation/catalog/dataSets", json={"name": "g"}).json()[0]
    base = api.post(
        f"{FS}/connections",
        json={"name": "g", "connectionSpec": {"id": SPEC}, "auth": {"specName": "Key",
                                                                      "params": {}}},
    ).json()["id"]  # fmt: skip
    source = api.post(
        f"{FS}/sourceConnections",
        json={"name": "g", "baseConnectionId": base, "connectionSpec": {"id": SPEC}},
    ).json()["id"]
    target = api.post(
        f"{FS}/targetConnections",
        json={
            "name": "g",
            "connectionSpec": {"id": DATA_LAKE_SPEC_ID},
            "data": {"format": "json"},
            "params": {"dataSetId": dataset.rsplit("/", 1)[-1]},
        },
    ).json()["id"]
    flow = api.post(
        f"{FS}/flows",
        json={
            "name": "g",
            "flowSpec": {"id": FLOW_SPEC},
            "sourceConnectionIds": [source],
            "targetConnectionIds": [target],
            "scheduleParams": {"startTime": 4102444800, "frequency": "once"},
        },
    ).json()["id"]
    run = api.post(f"{FS}/runs", json={"flowId": flow})
    assert run.status_code == 201, run.text
    return str(run.json()["id"])


def test_put_run_sets_what_a_provider_reports_once_the_run_finished(gated):
    api, plugin, app = gated
    run_id = _scheduled_run(api)
    update = {"providerRefId": "ext-7", "activities": [{"id": "a1", "name": "copy"}]}
    open_run = api.put(f"{FS}/runs/{run_id}", json=update)
    assert (
        open_run.status_code == 400
        and "update it once it has finished" in (open_run.json()["detail"])
    )
    plugin.gate.set()
    assert app.state.platform.scheduler.wait_idle(10)
    before = api.get(f"{FS}/runs/{run_id}").json()["items"][0]
    assert before["metrics"]["statusSummary"]["status"] == "success"

    updated = api.put(f"{FS}/runs/{run_id}", json=update, headers={"If-Match": before["eTag"]})
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["providerRefId"] == "ext-7" and body["activities"] == update["activities"]
    assert body["metrics"] == before["metrics"] and body["eTag"] != before["eTag"]
    assert updated.headers["Location"].endswith(f"{FS}/runs/{run_id}")
    assert api.get(f"{FS}/runs/{run_id}").json()["items"][0]["providerRefId"] == "ext-7"

    stale = api.put(f"{FS}/runs/{run_id}", json=update, headers={"If-Match": before["eTag"]})
    assert stale.status_code == 412
    for body, says in [
        ({"metrics": {}}, "metrics: cannot be changed: it is measured by the platform"),
        ({"flowId": "other"}, "flowId: cannot be changed"),
        ({"childFlowRunIds": [1]}, "childFlowRunIds: must be a list of strings"),
        ({"colour": "red"}, "colour: not a field of a run update"),
        ([], "the body must be a JSON object"),
    ]:
        refused = api.put(f"{FS}/runs/{run_id}", json=body)
        assert refused.status_code == 400 and says in refused.json()["detail"], refused.text
    assert api.put(f"{FS}/runs/nope", json={}).status_code == 404
    # PUT /runs (no id) is not an operation of Adobe's files.
    assert api.put(f"{FS}/runs", json={}).status_code == 405


def test_search_takes_the_listing_query_in_a_body(api, build):
    ids = [build.http_chain()["flow"] for _ in range(3)]
    found = api.post(f"{FS}/flows/search", json={"queryString": f"id=={ids[1]}"}).json()
    assert [f["id"] for f in found["items"]] == [ids[1]]
    first = api.post(
        f"{FS}/flows/search", json={"limit": 2, "count": True, "projectionFields": "name"}
    ).json()
    assert first["count"] == 3 and [set(f) for f in first["items"]] == [{"id", "name"}] * 2
    rest = api.post(first["_links"]["next"]["href"].replace("/flows", f"{FS}/flows", 1), json={})
    assert [f["id"] for f in rest.json()["items"]] == [ids[2]]
    both = api.post(
        f"{FS}/connections/search",
        json={"queryString": "property=name==Sample streaming connection&state==enabled"},
    ).json()
    assert len(both["items"]) == 3
    for body, says in [
        ({"limit": 0}, "limit: must be a whole number from 1 to 1000"),
        ({"queryString": 3}, "queryString: must be a string"),
        ({"queryString": "name=="}, None),
        ({"count": "yes"}, "count: must be true or false"),
    ]:
        answer = api.post(f"{FS}/flows/search", json=body)
        if says is None:
            assert answer.status_code == 200
        else:
            assert answer.status_code == 400 and says in answer.json()["detail"]
    specs = api.post(f"{FS}/flowSpecs/search", json={"queryString": "name~streaming"}).json()
    assert specs["items"] and all("streaming" in s["name"].lower() for s in specs["items"])


def test_a_flow_carries_adobes_attributes(api, build):
    chain = build.http_chain()
    flow = api.get(f"{FS}/flows/{chain['flow']}").json()["items"][0]
    inherited = flow["inheritedAttributes"]
    assert inherited["properties"] == {"isSourceFlow": True}
    assert [s["id"] for s in inherited["sourceConnections"]] == [chain["source"]]
    assert inherited["targetConnections"][0]["connectionSpec"]["id"] == DATA_LAKE_SPEC_ID
    assert flow["runs"] == f"/runs?property=flowId=={chain['flow']}"
    # aepp's getFlows(onlySources=True) filters on it.
    listed = api.get(
        f"{FS}/flows", params={"property": "inheritedAttributes.properties.isSourceFlow==true"}
    ).json()
    assert [f["id"] for f in listed["items"]] == [chain["flow"]]
    by_array = api.get(
        f"{FS}/flows",
        params={"property": f"inheritedAttributes.sourceConnections[].id=={chain['source']}"},
    ).json()
    assert [f["id"] for f in by_array["items"]] == [chain["flow"]]


def test_connection_test(api, build):
    chain = build.http_chain()
    assert api.get(f"{FS}/connections/{chain['connection']}/test").json() == {"result": True}
    assert api.get(f"{FS}/connections/nope/test").status_code == 404


def test_mapping_set_versions_mappings_validation_and_preview(api, build, shared_platform):
    chain = build.http_chain(
        mapping=[{"sourceAttribute": "id", "destinationXdmPath": "_x.id"}],
    )
    mapping_id = api.get(f"{FS}/flows/{chain['flow']}").json()["items"][0]["transformations"][0][
        "params"
    ]["mappingId"]
    before = api.get(f"{DP}/mappingSets/{mapping_id}").json()
    (operation,) = api.get(f"{DP}/mappingSets/{mapping_id}/mappings").json()
    assert operation["source"] == "id" and operation["destination"] == "_x.id"
    assert api.get(f"{DP}/mappingSets/{mapping_id}/mappings/{operation['id']}").json() == operation
    assert api.get(f"{DP}/mappingSets/{mapping_id}/mappings/nope").status_code == 404

    new = {**before, "mappings": [{"sourceAttribute": "lower(id)", "sourceType": "EXPRESSION",
                                   "destinationXdmPath": "_x.key"}]}  # fmt: skip
    put = api.put(f"{DP}/mappingSets/{mapping_id}", json=new)
    assert put.status_code == 200, put.text
    assert put.json()["version"] == before["version"] + 1
    assert put.json()["createdDate"] == before["createdDate"]
    broken = {**before, "mappings": [{"sourceAttribute": "nofn(id)", "sourceType": "EXPRESSION",
                                      "destinationXdmPath": "_x.key"}]}  # fmt: skip
    assert api.put(f"{DP}/mappingSets/{mapping_id}", json=broken).status_code == 400

    # The flow maps with the new version from then on.
    flow_header = {"x-adobe-flow-id": chain["flow"]}
    sent = httpx.post(chain["inlet_url"], json={"id": "ABC"}, headers=flow_header)
    assert sent.status_code == 200
    assert shared_platform[0].state.platform.wait_idle(10)
    rows = api.get(f"/sourceflow/dataSets/{chain['dataset']}/rows").json()["items"]
    assert [r["record"] for r in rows] == [{"_x": {"key": "abc"}}]

    checked = api.post(f"{DP}/mappingSets/validate", json=broken).json()["validationResponse"]
    assert checked[0]["status"] == "FAILED" and "nofn" in checked[0]["errors"][0]["exception"]
    assert api.post(f"{DP}/mappingSets/validate", json=new).json() == {
        "validationResponse": [{"status": "SUCCESS", "errors": []}]
    }
    preview = api.post(f"{DP}/mappingSets/preview", json={"data": {"id": "ABC"},
                                                         "mappingSet": new})  # fmt: skip
    assert preview.json() == {"data": {"_x": {"key": "abc"}}}
    many = api.post(f"{DP}/mappingSets/preview", json={"data": [{}, {}], "mappingSet": new})
    assert many.status_code == 400 and "one record at a time" in many.json()["detail"]


def test_the_client_raises_conflict_for_a_delete_in_use(shared_platform, api, build, sandbox):
    """Adobe answers 400 to a delete of a resource still in use; the client calls it what it
    is to the caller, a Conflict, naming the user."""
    from sourceflow.client import FlowServiceClient
    from sourceflow.config import Settings
    from sourceflow.errors import Conflict

    chain = build.http_chain()
    settings = Settings(platform_url=shared_platform[1], sandbox=sandbox)
    with FlowServiceClient(settings) as client, pytest.raises(Conflict) as caught:
        client.connections.delete(chain["connection"])
    assert caught.value.status == 400 and chain["source"] in str(caught.value)
