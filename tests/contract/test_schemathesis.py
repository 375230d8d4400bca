"""Schemathesis over Adobe's three OpenAPI files (flow-service, data-prep, streaming-ingestion),
against a live ``sourceflow platform serve``: the contract environment (``tox -e contract``).

Every operation the files describe either works as they say, or is listed in docs/platform.md
under "Operations the local platform does not serve" with the status it answers instead and
why. For the served ones, schemathesis generates requests from the schema (bodies, query
parameters and path parameters; the gateway headers are replaced by a real token so requests
reach the service) and checks each answer with three of its checks:

- ``not_a_server_error``: no 5xx, whatever was sent;
- ``response_schema_conformance``: a body fits the schema declared for its status;
- ``status_code_conformance``: the status is declared, or explained (``EXPLAINED`` in
  test_contract.py: Adobe's files list few error statuses).

Adobe's examples in the files are drawn too. Path parameters are, half of the time, the id of
a resource the fixture created, so reads and updates of real resources are checked too, not
only 404s. The contradictions in Adobe's files
are adjusted by test_contract's ``reconcile``, the one place that does it.

Bounded in time: ``SOURCEFLOW_CONTRACT_EXAMPLES`` requests per operation (default 50); the
summary (operations, requests, failures by check, run time) is written to
``.sourceflow/contract/summary.json`` and printed at the end.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared_reference import reference

reference("adobe", needed_for="Adobe's OpenAPI contract cannot be fuzzed", module=True)

import schemathesis  # noqa: E402
from gateway import gateway_headers  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup  # noqa: E402
from test_contract import EXPLAINED, SPECS  # noqa: E402  (the reconciled contract)

from sourceflow.config import (  # noqa: E402
    DATAPREP_PATH,
    FLOWSERVICE_PATH,
)
from sourceflow.hooktypes import DATA_LAKE_SPEC_ID  # noqa: E402
from sourceflow.testing import platform_process  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("SOURCEFLOW_CONTRACT_EXAMPLES", "50"))
BASES = {"flow-service": FLOWSERVICE_PATH, "data-prep": DATAPREP_PATH, "streaming-ingestion": ""}
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
HTTP_SPEC = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb"
MAPPED_FLOW_SPEC = "c1a19761-d2c7-4702-b9fa-fe91f0613e81"
STARTED = time.monotonic()


def _fuzzable(spec: dict[str, Any]) -> dict[str, Any]:
    """The reconciled spec, each operation also declaring the statuses ``EXPLAINED`` explains
    (without a body schema: Adobe's files declare none for errors)."""
    # YAML reads the unquoted dates of Adobe's examples (1969-03-14) as dates; JSON has none.
    spec = json.loads(json.dumps(spec, default=str))
    for ops in spec["paths"].values():
        for op in ops.values():
            if isinstance(op, dict) and "responses" in op:
                for status, why in EXPLAINED.items():
                    op["responses"].setdefault(str(status), {"description": why})
    return spec


def not_served() -> dict[tuple[str, str, str], int]:
    """docs/platform.md's list of operations not served: (spec, METHOD, path) → status."""
    text = (REPO / "docs" / "platform.md").read_text(encoding="utf-8")
    section = text.split("## Operations the local platform does not serve", 1)[1].split("\n## ")[0]
    found = {}
    for m in re.finditer(
        r"^\| ([a-z-]+) \| `(GET|POST|PUT|PATCH|DELETE) ([^`]+)` \| (\d{3}) \|", section, re.M
    ):
        found[(m.group(1), m.group(2), m.group(3))] = int(m.group(4))
    return found


SCHEMAS = {name: schemathesis.openapi.from_dict(_fuzzable(spec)) for name, spec in SPECS.items()}
OPERATIONS = [
    (name, op.ok())
    for name, schema in SCHEMAS.items()
    for op in schema.get_all_operations()
    if op.ok() is not None
]
NOT_SERVED = not_served()
SERVED = [
    (name, op) for name, op in OPERATIONS if (name, op.method.upper(), op.path) not in NOT_SERVED
]
TALLY: dict[str, Any] = {
    "operations": len(OPERATIONS),
    "served": len(SERVED),
    "not_served": len(NOT_SERVED),
    "requests": 0,
    "server_errors": 0,
    "schema_violations": 0,
    "status_violations": 0,
    "statuses": {},
}


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """``sourceflow platform serve`` in a process of its own; a token; resources to aim at."""
    data = tmp_path_factory.mktemp("contract-live")
    try:
        with platform_process(data) as url:
            headers = gateway_headers(url)
            with httpx.Client(base_url=url, headers=headers) as http:
                ids = _resources(http)
            yield {"url": url, "headers": headers, "ids": ids}
    finally:
        _report()


def _resources(http: httpx.Client) -> dict[str, str]:
    """One of each resource, so generated requests also reach real ones."""
    fs = FLOWSERVICE_PATH
    dataset = http.post("/data/foundation/catalog/dataSets", json={"name": "fuzz"}).json()[0]
    dataset = dataset.rsplit("/", 1)[-1]
    schema = "https://ns.adobe.com/x/schemas/y"
    mapping = http.post(
        f"{DATAPREP_PATH}/mappingSets",
        json={
            "outputSchema": {"schemaRef": {"id": schema}},
            "mappings": [{"sourceAttribute": "id", "destinationXdmPath": "_x.id"}],
        },
    ).json()["id"]
    connection = http.post(
        f"{fs}/connections",
        json={
            "name": "fuzz",
            "connectionSpec": {"id": HTTP_SPEC, "version": "1.0"},
            "auth": {
                "specName": "Streaming Connection",
                "params": {"sourceId": "fuzz", "dataType": "raw", "name": "fuzz"},
            },
        },
    ).json()["id"]
    source = http.post(
        f"{fs}/sourceConnections",
        json={
            "name": "fuzz",
            "baseConnectionId": connection,
            "connectionSpec": {"id": HTTP_SPEC, "version": "1.0"},
        },
    ).json()["id"]
    target = http.post(
        f"{fs}/targetConnections",
        json={
            "name": "fuzz",
            "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
            "data": {"format": "parquet_xdm", "schema": {"id": schema, "version": "1"}},
            "params": {"dataSetId": dataset},
        },
    ).json()["id"]
    flow = http.post(
        f"{fs}/flows",
        json={
            "name": "fuzz",
            "flowSpec": {"id": MAPPED_FLOW_SPEC, "version": "1.0"},
            "sourceConnectionIds": [source],
            "targetConnectionIds": [target],
            "transformations": [
                {"name": "Mapping", "params": {"mappingId": mapping, "mappingVersion": 0}}
            ],
        },
    ).json()["id"]
    inlet = http.get(f"{fs}/connections/{connection}").json()["items"][0]["auth"]["params"]
    return {
        "BASE_CONNECTION_ID": connection,
        "SOURCE_CONNECTION_ID": source,
        "TARGET_CONNECTION_ID": target,
        "FLOW_ID": flow,
        "CONNECTION_SPEC_ID": HTTP_SPEC,
        "FLOW_SPEC_ID": MAPPED_FLOW_SPEC,
        "MAPPING_SET_ID": mapping,
        "CONNECTION_ID": inlet["inletId"],
    }


def _report() -> None:
    TALLY["seconds"] = round(time.monotonic() - STARTED, 1)
    out = REPO / ".sourceflow" / "contract"
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(TALLY, indent=2, sort_keys=True) + "\n")
    sys.stderr.write(f"\ncontract summary: {json.dumps(TALLY, sort_keys=True)}\n")


def _kind(failure: BaseException) -> str:
    name = type(failure).__name__
    if name == "ServerError":
        return "server_errors"
    if name == "UndefinedStatusCode":
        return "status_violations"
    return "schema_violations"


@pytest.mark.parametrize(
    ("spec", "operation"),
    SERVED,
    ids=[f"{name}:{op.method.upper()} {op.path}" for name, op in SERVED],
)
def test_operation_keeps_the_contract(live, spec, operation):
    """Generated requests to one served operation: no 5xx, every body fits its schema, every
    status declared or explained."""
    failures: list[str] = []
    base = live["url"] + BASES[spec]
    # Generated cases, and Adobe's own examples from the file (bodies that can succeed).
    strategy = st.one_of(operation.as_strategy(), *operation.get_strategies_from_examples())

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(strategy)
        if data.draw(st.booleans(), label="aim at a real resource"):
            for name in case.path_parameters or {}:
                if name in live["ids"]:
                    case.path_parameters[name] = live["ids"][name]
        # The gateway headers: a real token, so requests reach the service.
        case.headers = {**(case.headers or {}), **live["headers"]}
        response = case.call(base_url=base, timeout=10)
        TALLY["requests"] += 1
        key = str(response.status_code)
        TALLY["statuses"][key] = TALLY["statuses"].get(key, 0) + 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:  # every check that failed on this answer
            for failure in group.exceptions:
                kind = _kind(failure)
                TALLY[kind] += 1
                failures.append(
                    f"{kind}: {case.method} {case.formatted_path} → {response.status_code}: "
                    f"{str(failure)[:400]}"
                )

    run()
    assert not failures, "\n".join(dict.fromkeys(failures))


@pytest.mark.parametrize(
    ("key", "status"),
    sorted(NOT_SERVED.items()),
    ids=[f"{s}:{m} {p}" for (s, m, p) in sorted(NOT_SERVED)],
)
def test_an_operation_not_served_answers_as_listed(live, key, status):
    """docs/platform.md lists it with the status it answers instead; it still does (so the list
    is current), and the answer names what is not served."""
    spec, method, path = key
    assert any(
        name == spec and op.method.upper() == method and op.path == path for name, op in OPERATIONS
    ), f"{method} {path} is listed as not served, but {spec}.yaml does not describe it"
    concrete = re.sub(r"\{[^}]+\}", lambda m: live["ids"].get(m.group(0)[1:-1], "x"), path)
    answer = httpx.request(
        method, live["url"] + BASES[spec] + concrete, headers=live["headers"], json={}
    )
    assert answer.status_code == status, answer.text
    assert answer.status_code < 500
