"""Every refusal names the field at fault and says what would be right."""

from __future__ import annotations

import copy

import pytest
from platform_testkit import (
    FLOW_MAPPED,
    FLOW_PLAIN,
    FS,
    HTTP_SPEC,
    SEED_CONNECTION,
    seed_flow,
    seed_source_connection,
    seed_target_connection,
)

from sourceflow.hooktypes import DATA_LAKE_SPEC_ID


def _with(body: dict, path: str, value) -> dict:
    changed = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = changed
    for key in parents:
        node = node[key]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return changed


def _refused(api, path: str, body, field: str) -> dict:
    answer = api.post(path, json=body)
    assert answer.status_code == 400, answer.text
    problem = answer.json()
    assert problem["status"] == 400
    assert problem["type"].startswith("https://ns.adobe.com/aep/errors/")
    assert any(p.startswith(field) for p in problem["report"]["problems"]), problem
    assert field in problem["detail"]
    return problem


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("name", None, "name: is required"),
        ("connectionSpec", None, "connectionSpec: is required"),
        ("connectionSpec.id", "0000", "connectionSpec.id: '0000' is not the connection spec"),
        ("auth", None, "auth: is required"),
        ("auth.specName", "Basic Auth", "auth.specName: 'Basic Auth' is not an auth spec"),
        ("auth.params.sourceId", None, "auth.params.sourceId: is required"),
        ("auth.params.dataType", "csv", "auth.params.dataType: 'csv' is not one of"),
        ("auth.params.colour", "red", "auth.params.colour: is not a field of this spec"),
        ("auth.params.authenticationRequired", "yes", "auth.params.authenticationRequired"),
    ],
)
def test_base_connection_refusals(api, path, value, field):
    _refused(api, f"{FS}/connections", _with(SEED_CONNECTION, path, value), field)


def test_an_unknown_spec_lists_the_installed_sources(api):
    problem = _refused(
        api,
        f"{FS}/connections",
        _with(SEED_CONNECTION, "connectionSpec.id", "nope"),
        "connectionSpec.id",
    )
    assert HTTP_SPEC in problem["detail"]


def test_the_body_must_be_json(api):
    answer = api.post(
        f"{FS}/connections", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400
    assert "line 1 column 10" in answer.json()["detail"]


def test_source_connection_refusals(api, build):
    base = build.connection()
    _refused(
        api,
        f"{FS}/sourceConnections",
        seed_source_connection("nope"),
        "baseConnectionId: no base connection 'nope'",
    )
    _refused(
        api,
        f"{FS}/sourceConnections",
        _with(seed_source_connection(base), "baseConnectionId", None),
        "baseConnectionId: is required for HTTP API",
    )
    _refused(
        api,
        f"{FS}/sourceConnections",
        _with(seed_source_connection(base), "connectionSpec.id", DATA_LAKE_SPEC_ID),
        "connectionSpec.id",
    )


def test_target_connection_refusals(api):
    _refused(
        api,
        f"{FS}/targetConnections",
        seed_target_connection("nope"),
        "params.dataSetId: no dataset 'nope'",
    )
    _refused(
        api,
        f"{FS}/targetConnections",
        _with(seed_target_connection("x"), "params", {}),
        "params.dataSetId: is required",
    )
    _refused(
        api,
        f"{FS}/targetConnections",
        _with(seed_target_connection("x"), "connectionSpec.id", HTTP_SPEC),
        "connectionSpec.id",
    )


def test_flow_refusals(api, build):
    chain = build.http_chain()
    flows = f"{FS}/flows"
    _refused(
        api,
        flows,
        seed_flow(chain["source"], chain["target"], "nope"),
        "flowSpec.id: unknown flow spec 'nope'",
    )
    _refused(
        api,
        flows,
        seed_flow("nope", chain["target"]),
        "sourceConnectionIds[0]: no source connection 'nope'",
    )
    _refused(
        api,
        flows,
        seed_flow(chain["source"], "nope"),
        "targetConnectionIds[0]: no target connection 'nope'",
    )
    _refused(
        api,
        flows,
        seed_flow(chain["target"], chain["target"]),
        "sourceConnectionIds[0]: no source connection",
    )
    _refused(
        api,
        flows,
        {**seed_flow(chain["source"], chain["target"]), "sourceConnectionIds": []},
        "sourceConnectionIds",
    )
    mapped = seed_flow(chain["source"], chain["target"], FLOW_MAPPED)
    mapped["transformations"] = [{"name": "Mapping", "params": {"mappingId": "nope"}}]
    _refused(api, flows, mapped, "transformations[0].params.mappingId: no mapping set 'nope'")
    mapped["transformations"] = [{"name": "Mapping", "params": {}}]
    _refused(api, flows, mapped, "transformations[0].params.mappingId: is required")
    mapping_id = build.mapping_set(
        [{"sourceAttribute": "name", "destinationXdmPath": "person.name"}]
    )
    plain = seed_flow(chain["source"], chain["target"], FLOW_PLAIN)
    plain["transformations"] = [{"name": "Mapping", "params": {"mappingId": mapping_id}}]
    problem = _refused(api, flows, plain, "transformations[0]: flow spec d8a6f005")
    assert FLOW_MAPPED in problem["detail"]
    bad_schedule = {
        **seed_flow(chain["source"], chain["target"]),
        "scheduleParams": {"frequency": "once", "interval": 15},
    }
    _refused(api, flows, bad_schedule, "scheduleParams.interval: must be left out")


def test_every_problem_is_listed(api):
    body = {"connectionSpec": {}, "auth": {"params": {}}}
    answer = api.post(f"{FS}/connections", json=body)
    problems = answer.json()["report"]["problems"]
    assert {
        "name: is required",
        "connectionSpec.id: is required",
        "auth.specName: is required",
    } <= set(problems)
    assert "(and 2 more)" in answer.json()["detail"]
