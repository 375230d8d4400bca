"""Adobe's OpenAPI files are the contract: every answer the local platform gives on a route
they describe must fit the schema they declare for that path, method and status.

A scenario drives every served route over real HTTP (successes and refusals), recording each
exchange; the tests then check, per exchange, the status against the operation's declared
responses and the body against the declared schema; and that every Flow Service, Data Prep
and inlet route the app serves is described by Adobe's spec and was exercised successfully.

Where Adobe's contract contradicts itself, :func:`reconcile` is the one place that says so.
"""

from __future__ import annotations

import copy
import json
import re
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from gateway import dev_token, gateway_headers
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4
from shared_reference import reference
from starlette.routing import Route

import sourceflow
from sourceflow.config import DATAPREP_PATH, FLOWSERVICE_PATH
from sourceflow.hooktypes import (
    DATA_LAKE_SPEC_ID,
    PROVIDER_STREAMING,
    AuthSpec,
    ConnectionSpec,
    ExploreResult,
    FlowSpec,
    ReadResult,
    Source,
)
from sourceflow.platform.app import PlatformConfig, create_app
from sourceflow.platform.server import background
from sourceflow.plugins import load

REPO = Path(__file__).resolve().parents[2]
ADOBE = reference("adobe", needed_for="Adobe's OpenAPI contract cannot be checked", module=True)

# Our path prefix → the spec describing what is under it (its paths are relative to the prefix).
SERVICES = {
    FLOWSERVICE_PATH: "flow-service",
    DATAPREP_PATH: "data-prep",
    "": "streaming-ingestion",
}
CONTRACT_PREFIXES = (FLOWSERVICE_PATH + "/", DATAPREP_PATH + "/", "/collection/")

# Statuses we answer that an operation does not list, and why. Adobe's specs list few errors:
# most Flow Service operations declare only 403 and 503.
EXPLAINED = {
    400: "Flow Service and Data Prep refuse malformed or inconsistent bodies with 400 (Adobe's "
    "Flow Service error guide); the gateway answers 400003 for a missing x-gw-ims-org-id",
    401: "Adobe's gateway answers 401 (401013/401014) for a missing, unknown or expired token, "
    "per Adobe's troubleshooting guide; the spec writes 403 'The OAuth token is missing'",
    403: "the gateway's API key and organization checks (403000/403003/403027)",
    404: "an unknown id; Adobe answers 404 but the specs do not list it",
    412: "PATCH with a stale If-Match etag",
}


# --- the contract, and where it contradicts itself ------------------------------------------


def reconcile(specs: dict[str, dict[str, Any]]) -> None:
    """Where Adobe's contract contradicts itself, the schema is adjusted here, and only here.

    Each case is listed in docs/platform.md under "Where Adobe's contract contradicts itself".
    """
    ingest = specs["streaming-ingestion"]["components"]["schemas"]
    flow = specs["flow-service"]["components"]["schemas"]
    paths = specs["flow-service"]["paths"]

    # 1. StreamingIngestionResponse.receivedTimeMs is declared int32, but it is epoch
    #    milliseconds (its own example: 1551307525735), which int32 cannot hold; the batch
    #    answer's receivedTimeMs has no such format. Keep "integer", drop "int32".
    del ingest["StreamingIngestionResponse"]["properties"]["receivedTimeMs"]["format"]
    # 2. The same schema names the inlet "inletID" while its example, the batch answer and
    #    every Adobe page say "inletId": check the key that is actually sent.
    ingest["StreamingIngestionResponse"]["properties"]["inletId"] = {"type": "string"}
    # 3. ScheduleSpecDTO.interval is typed string, but Adobe's tutorials send and show
    #    integers ("interval": 15) and its rules (at least 15 minutes) are numeric.
    flow["ScheduleSpecDTO"]["properties"]["interval"] = {"type": "integer"}
    # 4. TransformationSpecDTO.mappingVersion is typed string, but Adobe's tutorials send
    #    "mappingVersion": 0 and Data Prep's own version field is an integer; we answer what
    #    the caller sent.
    flow["TransformationSpecDTO"]["properties"]["mappingVersion"] = {
        "oneOf": [{"type": "integer"}, {"type": "string"}]
    }
    # 5. ExploreConnectionResponse is an array of items (a listing), but explore with an
    #    object answers {"format": "hierarchical", "schema", "data"} (Adobe's explore pages).
    flow["ExploreConnectionResponse"] = {
        "oneOf": [
            flow["ExploreConnectionResponse"],
            {
                "type": "object",
                "required": ["format"],
                "properties": {
                    "format": {"type": "string"},
                    "schema": {"type": "object"},
                    "data": {"type": "array"},
                },
            },
        ]
    }
    # 6. PATCH answers {id, etag} (the 200 example of PATCH /connections/{id}/, and the
    #    CreateFlowResponse schema of PATCH /flows/{id}), yet PATCH /sourceConnections/{id}
    #    and /targetConnections/{id} declare a list answer, and PATCH /connections/{id}/
    #    declares no schema at all. Check all four against the {id, etag} shape.
    for path, schema in [
        ("/connections/{BASE_CONNECTION_ID}/", "CreateConnectionResponse"),
        ("/sourceConnections/{SOURCE_CONNECTION_ID}", "CreateSourceConnectionResponse"),
        ("/targetConnections/{TARGET_CONNECTION_ID}", "CreateTargetConnectionResponse"),
    ]:
        paths[path]["patch"]["responses"]["200"]["content"] = {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
        }
    # 7. Data Prep dates: the schema types createdDate/modifiedDate as date-time strings while
    #    Adobe's examples show epoch milliseconds. We follow the schema, so nothing to adjust.
    # 8. GET /mappingSets/{id}/mappings lists a set's mappings ("returns all the mappings"),
    #    yet declares one MappingOperation as its answer: check an array of them.
    prep = specs["data-prep"]["paths"]["/mappingSets/{MAPPING_SET_ID}/mappings"]["get"]
    prep["responses"]["200"]["content"]["application/json"]["schema"] = {
        "type": "array",
        "items": {"$ref": "#/components/schemas/MappingOperation"},
    }


def _load() -> dict[str, dict[str, Any]]:
    specs = {
        name: yaml.safe_load((ADOBE / f"{name}.yaml").read_text()) for name in SERVICES.values()
    }
    for spec in specs.values():
        # YAML reads an unquoted 200 as a number; JSON pointers need the string keys.
        for ops in spec["paths"].values():
            for op in ops.values():
                if isinstance(op, dict) and "responses" in op:
                    op["responses"] = {str(k): v for k, v in op["responses"].items()}
    reconcile(specs)
    return specs


SPECS = _load()
REGISTRY = Registry().with_resources(
    (f"urn:sourceflow:{name}", Resource.from_contents(spec, default_specification=DRAFT4))
    for name, spec in SPECS.items()
)


def _template_regex(template: str) -> re.Pattern[str]:
    parts = [
        ("[^/]+" if re.fullmatch(r"\{[^}]+\}", p) else re.escape(p))
        for p in template.strip("/").split("/")
    ]
    return re.compile("^/" + "/".join(parts) + "$")


def operation(method: str, path: str) -> tuple[str, str, dict[str, Any]] | None:
    """The spec operation describing ``method path``: (spec name, spec path, operation)."""
    for prefix, name in sorted(SERVICES.items(), key=lambda kv: -len(kv[0])):
        if not path.startswith(prefix + "/"):
            continue
        rest = "/" + path[len(prefix) :].strip("/")
        # Literal segments win over parameters (/connections/search before /connections/{id}).
        candidates = sorted(SPECS[name]["paths"].items(), key=lambda kv: kv[0].count("{"))
        for template, ops in candidates:
            if _template_regex(template).match(rest) and method.lower() in ops:
                return name, template, ops[method.lower()]
        return None
    return None


def _pointer(*parts: str) -> str:
    return "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def schema_ref(name: str, template: str, method: str, status: int) -> str | None:
    """A $ref to the declared JSON schema of a response, or None when none is declared."""
    responses = SPECS[name]["paths"][template][method.lower()]["responses"]
    content = (responses.get(str(status)) or {}).get("content") or {}
    if "schema" not in content.get("application/json", {}):
        return None
    return f"urn:sourceflow:{name}#" + _pointer(
        "paths",
        template,
        method.lower(),
        "responses",
        str(status),
        "content",
        "application/json",
        "schema",
    )


def declared_statuses(op: dict[str, Any]) -> set[int]:
    return {int(code) for code in op.get("responses", {})}


# --- the scenario ---------------------------------------------------------------------------

CONTRACT_SPEC = "0e0e0e0e-1111-4222-8333-444444444444"
CONTRACT_FLOW_SPEC = "0e0e0e0e-2222-4222-8333-444444444444"


class ExplorePlugin:
    """A keyed, scheduled source whose explore lists objects or describes one (for the explore
    route) and whose reads give two records (for the runs routes)."""

    source = Source(
        name="contract-explore",
        title="Contract explore",
        mode="scheduled",
        connection_spec=ConnectionSpec(
            id=CONTRACT_SPEC,
            name="contract-explore",
            provider_id=PROVIDER_STREAMING,
            auth_spec=[
                AuthSpec(
                    name="Key",
                    type="KeyBased",
                    spec={
                        "type": "object",
                        "properties": {"apiKey": {"type": "string"}},
                        "required": ["apiKey"],
                    },
                )
            ],
        ),
        flow_specs=(
            FlowSpec(
                id=CONTRACT_FLOW_SPEC,
                name="contract-scheduled",
                provider_id=PROVIDER_STREAMING,
                source_connection_spec_ids=[CONTRACT_SPEC],
                target_connection_spec_ids=[DATA_LAKE_SPEC_ID],
            ),
        ),
    )

    @sourceflow.hookimpl
    def sourceflow_sources(self) -> list[Source]:
        return [self.source]

    @sourceflow.hookimpl
    def sourceflow_explore(self, source, connection, request) -> ExploreResult:
        if request.object is None:
            return ExploreResult(
                items=[{"type": "table", "name": "charges", "path": "charges", "canPreview": True}]
            )
        return ExploreResult(
            format="hierarchical", schema={"type": "object"}, data=[{"id": "ch_1"}]
        )

    @sourceflow.hookimpl
    def sourceflow_read(self, source, connection, object, state) -> ReadResult:
        return ReadResult(records=[{"id": "ch_1"}, {"id": "ch_2"}], state={"after": "ch_2"})


class Exchange:
    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        self.method, self.path, self.status, self.body = method, path, status, body

    def __repr__(self) -> str:
        return f"{self.method} {self.path} → {self.status}"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[Any, list[Exchange]]]:
    """The app, and every exchange of a scenario that drives all of its routes."""
    registry = load()
    registry.register(ExplorePlugin(), "contract-plugin")
    app = create_app(
        PlatformConfig(data_dir=tmp_path_factory.mktemp("contract")), registry=registry
    )
    exchanges: list[Exchange] = []

    def record(response: httpx.Response) -> None:
        response.read()
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = response.text
        exchanges.append(
            Exchange(response.request.method, response.request.url.path, response.status_code, body)
        )

    with (
        background(app) as url,
        httpx.Client(
            base_url=url, verify=ssl.create_default_context(), event_hooks={"response": [record]}
        ) as http,
    ):
        token = dev_token(url)
        http.headers.update(gateway_headers(url, token=token))
        _scenario(http, token)
        app.state.platform.wait_idle(5)
        yield app, exchanges


def _scenario(http: httpx.Client, token: str) -> None:
    fs, dp = FLOWSERVICE_PATH, DATAPREP_PATH
    http_spec = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb"

    # Specs.
    http.get(f"{fs}/connectionSpecs")
    for spec_id in (http_spec, DATA_LAKE_SPEC_ID, CONTRACT_SPEC, "nope"):
        http.get(f"{fs}/connectionSpecs/{spec_id}")
    http.get(f"{fs}/flowSpecs")
    for spec_id in (
        "d8a6f005-7eaf-4153-983e-e8574508b877",
        "c1a19761-d2c7-4702-b9fa-fe91f0613e81",
        "nope",
    ):
        http.get(f"{fs}/flowSpecs/{spec_id}")

    # A dataset (Catalog has no spec here) and a mapping set.
    dataset = (
        http.post("/data/foundation/catalog/dataSets", json={"name": "contract"})
        .json()[0]
        .split("/")[-1]
    )
    mapping = {
        "outputSchema": {
            "schemaRef": {
                "id": "https://ns.adobe.com/x/schemas/y",
                "contentType": "application/vnd.adobe.xed-full+json;version=1",
            }
        },
        "mappings": [{"sourceAttribute": "id", "destinationXdmPath": "_x.id", "identity": True}],
    }
    mapping_id = http.post(f"{dp}/mappingSets", json=mapping).json()["id"]
    http.post(
        f"{dp}/mappingSets",
        json={
            "mappings": [
                {
                    "sourceAttribute": "nofn(x)",
                    "sourceType": "EXPRESSION",
                    "destinationXdmPath": "a",
                }
            ]
        },
    )
    http.post(f"{dp}/mappingSets", json=mapping)
    http.get(f"{dp}/mappingSets/{mapping_id}")
    http.get(f"{dp}/mappingSets/nope")
    http.get(f"{dp}/mappingSets", params={"limit": 1, "start": 0})
    http.post(f"{dp}/mappingSets/validate", json=mapping)
    http.post(f"{dp}/mappingSets/preview", json={"data": {"id": "a"}, "mappingSet": mapping})
    http.post(f"{dp}/mappingSets/preview", json={"data": [1, 2], "mappingSet": mapping})
    http.put(f"{dp}/mappingSets/{mapping_id}", json=mapping)
    operations = http.get(f"{dp}/mappingSets/{mapping_id}/mappings").json()
    http.get(f"{dp}/mappingSets/{mapping_id}/mappings/{operations[0]['id']}")
    http.get(f"{dp}/mappingSets/{mapping_id}/mappings/nope")

    # Base connections: HTTP (with an inlet), authenticated HTTP, and a keyed one for explore.
    seed = {
        "name": "Sample streaming connection",
        "providerId": PROVIDER_STREAMING,
        "description": "Sample description",
        "connectionSpec": {"id": http_spec, "version": "1.0"},
        "auth": {
            "specName": "Streaming Connection",
            "params": {
                "sourceId": "Sample connection",
                "dataType": "xdm",
                "name": "Sample connection",
            },
        },
    }
    conn = http.post(f"{fs}/connections", json=seed).json()["id"]
    auth_seed = copy.deepcopy(seed)
    auth_seed["auth"]["params"]["authenticationRequired"] = True
    auth_conn = http.post(f"{fs}/connections", json=auth_seed).json()["id"]
    keyed = http.post(
        f"{fs}/connections",
        json={
            "name": "k",
            "connectionSpec": {"id": CONTRACT_SPEC, "version": "1.0"},
            "auth": {"specName": "Key", "params": {"apiKey": "ak_contract_123456"}},
        },
    ).json()["id"]
    http.post(f"{fs}/connections", json={**seed, "auth": {"specName": "nope", "params": {}}})
    http.get(f"{fs}/connections/{conn}")
    http.get(f"{fs}/connections/nope")
    http.get(f"{fs}/connections", params={"limit": 1, "count": "true"})
    http.get(
        f"{fs}/connections",
        params={"property": "auth.params.dataType==xdm", "orderby": "-createdAt"},
    )
    http.get(f"{fs}/connections/{keyed}/explore", params={"objectType": "rest"})
    http.get(
        f"{fs}/connections/{keyed}/explore",
        params={
            "objectType": "rest",
            "object": "json",
            "fileType": "json",
            "preview": "true",
            "sourceParams": "eyJyZXNvdXJjZVBhdGgiOiJjaGFyZ2VzIn0=",
        },
    )
    http.get(f"{fs}/connections/{conn}/explore")

    # Source and target connections.
    source = http.post(
        f"{fs}/sourceConnections",
        json={
            "name": "s",
            "baseConnectionId": conn,
            "connectionSpec": {"id": http_spec, "version": "1.0"},
        },
    ).json()["id"]
    auth_source = http.post(
        f"{fs}/sourceConnections",
        json={
            "name": "s2",
            "baseConnectionId": auth_conn,
            "connectionSpec": {"id": http_spec, "version": "1.0"},
        },
    ).json()["id"]
    http.post(
        f"{fs}/sourceConnections",
        json={
            "name": "s",
            "baseConnectionId": "nope",
            "connectionSpec": {"id": http_spec, "version": "1.0"},
        },
    )
    target_body = {
        "name": "t",
        "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
        "data": {
            "format": "parquet_xdm",
            "schema": {
                "id": "https://ns.adobe.com/x/schemas/y",
                "version": "application/vnd.adobe.xed-full+json;version=1",
            },
        },
        "params": {"dataSetId": dataset},
    }
    target = http.post(f"{fs}/targetConnections", json=target_body).json()["id"]
    auth_target = http.post(f"{fs}/targetConnections", json=target_body).json()["id"]
    http.post(f"{fs}/targetConnections", json={**target_body, "params": {"dataSetId": "nope"}})
    for kind, rid in (("sourceConnections", source), ("targetConnections", target)):
        http.get(f"{fs}/{kind}/{rid}")
        http.get(f"{fs}/{kind}", params={"limit": 1, "count": "true"})
        http.get(f"{fs}/{kind}/nope")

    # Flows: mapped, scheduled-looking, and a plain one on the authenticated inlet.
    flow_body = {
        "name": "f",
        "flowSpec": {"id": "c1a19761-d2c7-4702-b9fa-fe91f0613e81", "version": "1.0"},
        "sourceConnectionIds": [source],
        "targetConnectionIds": [target],
        "transformations": [
            {"name": "Mapping", "params": {"mappingId": mapping_id, "mappingVersion": 0}}
        ],
    }
    flow = http.post(f"{fs}/flows", json=flow_body).json()["id"]
    http.post(
        f"{fs}/flows",
        json={
            "name": "a",
            "flowSpec": {"id": "d8a6f005-7eaf-4153-983e-e8574508b877", "version": "1.0"},
            "sourceConnectionIds": [auth_source],
            "targetConnectionIds": [auth_target],
        },
    )
    http.post(f"{fs}/flows", json={**flow_body, "flowSpec": {"id": "nope", "version": "1.0"}})
    http.get(f"{fs}/flows/{flow}")
    http.get(
        f"{fs}/flows",
        params={
            "limit": 1,
            "count": "true",
            "property": "flowSpec.id==c1a19761-d2c7-4702-b9fa-fe91f0613e81",
        },
    )
    http.get(f"{fs}/flows/nope")
    http.post(
        f"{fs}/connections/search",
        json={"queryString": "name==Sample streaming connection", "limit": 1, "count": True},
    )
    http.post(f"{fs}/flows/search", json={"queryString": f"id=={flow}", "projectionFields": "name"})
    http.post(f"{fs}/flowSpecs/search", json={"queryString": "name~streaming"})
    http.post(f"{fs}/flows/search", json={"limit": 0})
    http.get(f"{fs}/connections/{conn}/test")

    # PATCH: success, without If-Match, stale, and a refused value; on every kind.
    for kind, rid, suffix in (
        ("connections", conn, "/"),
        ("sourceConnections", source, ""),
        ("targetConnections", target, ""),
        ("flows", flow, ""),
    ):
        etag = http.get(f"{fs}/{kind}/{rid}").json()["items"][0]["etag"]
        ops = [{"op": "replace", "path": "/name", "value": f"renamed {kind}"}]
        http.patch(f"{fs}/{kind}/{rid}{suffix}", json=ops)
        http.patch(f"{fs}/{kind}/{rid}{suffix}", json=ops, headers={"If-Match": etag})
        http.patch(f"{fs}/{kind}/{rid}{suffix}", json=ops, headers={"If-Match": etag})
    etag = http.get(f"{fs}/flows/{flow}").json()["items"][0]["etag"]
    http.patch(
        f"{fs}/flows/{flow}",
        json=[
            {
                "op": "add",
                "path": "/scheduleParams",
                "value": {"frequency": "minute", "interval": 15, "startTime": 1710267858},
            }
        ],
        headers={"If-Match": etag},
    )
    http.get(f"{fs}/flows/{flow}")

    # The inlet: single and batch, refusals included.
    inlet = http.get(f"{fs}/connections/{conn}").json()["items"][0]["auth"]["params"]["inletId"]
    auth_inlet = http.get(f"{fs}/connections/{auth_conn}").json()["items"][0]["auth"]["params"][
        "inletId"
    ]
    bare = {
        k: v
        for k, v in http.headers.items()
        if k.lower() not in ("authorization", "x-api-key", "x-gw-ims-org-id")
    }
    http.post(f"/collection/{inlet}", json={"id": "r1"}, headers={**bare, "x-adobe-flow-id": flow})
    http.post(f"/collection/{inlet}", content=b"{nope", headers=bare)
    http.post(f"/collection/{'0' * 64}", json={}, headers=bare)
    http.post(f"/collection/{inlet}", content=b"x" * 1_048_577, headers=bare)
    http.post(f"/collection/{auth_inlet}", json={"id": "r2"}, headers=bare)
    http.post(
        f"/collection/{auth_inlet}",
        json={"id": "r2"},
        headers={**bare, "Authorization": f"Bearer {token}"},
    )
    http.post(f"/collection/batch/{inlet}", json={"messages": [{"id": "r3"}, 7]}, headers=bare)
    http.post(f"/collection/batch/{inlet}", json=[], headers=bare)
    http.post(f"/collection/batch/{auth_inlet}", json={"messages": [{"id": "r4"}]}, headers=bare)

    # Runs: a scheduled flow of the keyed source, started on demand; refusals.
    keyed_source = http.post(
        f"{fs}/sourceConnections",
        json={
            "name": "keyed",
            "baseConnectionId": keyed,
            "connectionSpec": {"id": CONTRACT_SPEC, "version": "1.0"},
        },
    ).json()["id"]
    scheduled_body = {
        "name": "scheduled",
        "flowSpec": {"id": CONTRACT_FLOW_SPEC, "version": "1.0"},
        "sourceConnectionIds": [keyed_source],
        "targetConnectionIds": [
            http.post(f"{fs}/targetConnections", json=target_body).json()["id"]
        ],
        # Far in the future: only POST /runs starts it.
        "scheduleParams": {"startTime": 4102444800, "frequency": "once"},
    }
    scheduled = http.post(f"{fs}/flows", json=scheduled_body).json()["id"]
    http.post(
        f"{fs}/flows",
        json={**scheduled_body, "scheduleParams": {"frequency": "minute", "interval": 5}},
    )
    run = http.post(f"{fs}/runs", json={"flowId": scheduled}).json()["id"]
    http.post(f"{fs}/runs", json={"flowId": "nope"})
    http.post(f"{fs}/runs", json={"flowId": flow})
    http.post(f"{fs}/runs", json={"params": {}})
    for _ in range(100):
        status = http.get(f"{fs}/runs/{run}").json()["items"][0]["metrics"]["statusSummary"]
        if status["status"] != "inProgress":
            break
        time.sleep(0.02)
    http.get(f"{fs}/runs", params={"property": f"flowId=={scheduled}", "count": "true"})
    etag = http.get(f"{fs}/runs/{run}").json()["items"][0]["eTag"]
    http.put(f"{fs}/runs/{run}", json={"providerRefId": "ext-1"}, headers={"If-Match": etag})
    http.put(f"{fs}/runs/{run}", json={"providerRefId": "ext-2"}, headers={"If-Match": etag})
    http.put(f"{fs}/runs/{run}", json={"metrics": {}})
    http.put(f"{fs}/runs/nope", json={})
    http.get(f"{fs}/runs/nope")

    # The gateway.
    http.get(f"{fs}/flows", headers={"Authorization": ""})
    http.get(f"{dp}/mappingSets", headers={"x-api-key": "other"})

    # DELETE: refused while in use, then in order.
    http.delete(f"{fs}/connections/{conn}/")
    http.delete(f"{fs}/flows/{flow}")
    http.delete(f"{fs}/flows/nope")
    http.delete(f"{fs}/sourceConnections/{source}")
    http.delete(f"{fs}/targetConnections/{target}")
    http.delete(f"{fs}/connections/{conn}/")


# --- the checks -----------------------------------------------------------------------------


def _described(exchanges: list[Exchange]) -> list[tuple[Exchange, tuple[str, str, dict[str, Any]]]]:
    found = []
    for ex in exchanges:
        op = operation(ex.method, ex.path)
        if op is not None:
            found.append((ex, op))
    return found


def test_the_scenario_reaches_every_spec(served):
    _, exchanges = served
    names = {op[0] for _, op in _described(exchanges)}
    assert names == set(SERVICES.values())


def test_every_answer_fits_its_declared_schema(served):
    _, exchanges = served
    failures = []
    for ex, (name, template, _) in _described(exchanges):
        ref = schema_ref(name, template, ex.method, ex.status)
        if ref is None:
            continue
        validator = OAS30Validator(
            {"$ref": ref}, registry=REGISTRY, format_checker=oas30_format_checker
        )
        errors = sorted(validator.iter_errors(ex.body), key=lambda e: list(e.absolute_path))
        failures += [
            f"{ex!r}: {'.'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
            for e in errors[:3]
        ]
    assert not failures, "\n".join(failures)


def test_every_status_is_declared_or_explained(served):
    _, exchanges = served
    unexplained = [
        f"{ex!r} (declared: {sorted(declared_statuses(op))})"
        for ex, (_, _, op) in _described(exchanges)
        if ex.status not in declared_statuses(op) and ex.status not in EXPLAINED
    ]
    assert not unexplained, "\n".join(unexplained)


def _served_routes(app: Any) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith(CONTRACT_PREFIXES):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                found.append((method, route.path))
    return found


def test_every_served_route_has_a_contract_check(served):
    """A new Flow Service, Data Prep or inlet route fails here until Adobe's spec describes it
    and the scenario above exercises it successfully."""
    app, exchanges = served
    routes = _served_routes(app)
    assert len(routes) >= 30
    problems = []
    for method, path in routes:
        sample = re.sub(r"\{[^}]+\}", "sample-id", path)
        op = operation(method, sample)
        if op is None:
            problems.append(f"{method} {path}: no operation in Adobe's spec describes it")
            continue
        pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "/?$")
        hits = [ex for ex in exchanges if ex.method == method and pattern.match(ex.path)]
        if not any(200 <= ex.status < 300 for ex in hits):
            problems.append(f"{method} {path}: the contract scenario never got a success from it")
    assert not problems, "\n".join(problems)


def test_the_explained_statuses_are_documented():
    text = (REPO / "docs" / "platform.md").read_text(encoding="utf-8")
    section = text.split("## Where Adobe's contract contradicts itself", 1)
    assert len(section) == 2, "docs/platform.md lacks the contradictions section"
    for needle in (
        "receivedTimeMs",
        "inletID",
        "interval",
        "mappingVersion",
        "explore",
        "PATCH",
        "createdDate",
        "MappingOperation",
    ):
        assert needle in section[1], f"docs/platform.md does not discuss {needle}"


def test_bodies_are_json(served):
    _, exchanges = served
    for ex, _ in _described(exchanges):
        if ex.status != 204:
            json.dumps(ex.body)
            assert ex.body is not None, ex
