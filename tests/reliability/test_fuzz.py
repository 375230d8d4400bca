"""Fuzzing: hypothesis sends generated requests to every route of the local platform (the
Flow Service, Data Prep, Catalog, IMS, our extensions) and the inlet: random and mutated-valid
JSON bodies, invalid JSON, random query parameters, known and unknown ids, with and without
credentials. More than 1,000 cases in all. No answer may be a 5xx; every answer on a route
Adobe's OpenAPI files describe must have a declared (or explained) status and fit the declared
schema, after the contract test's ``reconcile`` of Adobe's self-contradictions; and the server
must still answer afterwards.

schemathesis is not used: Adobe's YAMLs need the contract test's reconciling before they
validate our answers, and schemathesis would generate from the unreconciled documents."""

from __future__ import annotations

import copy
import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway import gateway_headers

hypothesis = pytest.importorskip("hypothesis", reason="pip install -e .[reliability]")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from openapi_schema_validator import OAS30Validator, oas30_format_checker  # noqa: E402
from starlette.routing import Route  # noqa: E402

from sourceflow import config, model, plugins  # noqa: E402
from sourceflow.client import FlowServiceClient  # noqa: E402
from sourceflow.hooktypes import DATA_LAKE_SPEC_ID  # noqa: E402
from sourceflow.lifecycle import ConnectRequest, Lifecycle  # noqa: E402
from sourceflow.platform.app import PlatformConfig, create_app  # noqa: E402
from sourceflow.platform.server import background  # noqa: E402
from sourceflow.state import StateFile  # noqa: E402

# The contract machinery (Adobe's specs, reconciled) lives with the contract test; importing it
# skips this module with its plain message when ../shared/reference/adobe is absent.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contract"))
import test_contract as contract  # noqa: E402

FS = config.FLOWSERVICE_PATH
HTTP_SPEC = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb"
CASES_PER_GROUP = 400  # four groups below: 1,600 cases

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
QUERY_NAMES = (
    "limit",
    "start",
    "count",
    "property",
    "orderby",
    "continuationToken",
    "objectType",
    "object",
    "fileType",
    "preview",
    "sourceParams",
    "x-adobe-flow-id",
    "syncValidation",
)
QUERIES = st.dictionaries(
    st.sampled_from(QUERY_NAMES),
    st.sampled_from(["0", "1", "-1", "10001", "true", "x", "", "name==a", "createdAt>1"])
    | st.text(max_size=10),
    max_size=3,
)


class World:
    """A platform with one of everything, the valid bodies to mutate, and every exchange."""

    def __init__(self, url: str, app: Any, ids: dict[str, str], inlet: str, token: str) -> None:
        self.url, self.app, self.ids, self.inlet, self.token = url, app, ids, inlet, token
        self.statuses: Counter[str] = Counter()
        self.problems: list[str] = []
        self.cases = 0
        self.http = httpx.Client(base_url=url, timeout=10)
        self.headers = gateway_headers(url, token=token)

    def bodies(self) -> dict[str, Any]:
        ids = self.ids
        return {
            f"{FS}/connections": {
                "name": "fuzz",
                "connectionSpec": {"id": HTTP_SPEC, "version": "1.0"},
                "auth": {
                    "specName": "Streaming Connection",
                    "params": {"sourceId": "s", "dataType": "xdm", "name": "s"},
                },
            },
            f"{FS}/sourceConnections": {
                "name": "fuzz",
                "baseConnectionId": ids["base_connection"],
                "connectionSpec": {"id": HTTP_SPEC, "version": "1.0"},
            },
            f"{FS}/targetConnections": {
                "name": "fuzz",
                "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
                "data": {"format": "parquet_xdm"},
                "params": {"dataSetId": ids["dataset"]},
            },
            f"{FS}/flows": {
                "name": "fuzz",
                "flowSpec": {"id": "d8a6f005-7eaf-4153-983e-e8574508b877", "version": "1.0"},
                "sourceConnectionIds": [ids["source_connection"]],
                "targetConnectionIds": [ids["target_connection"]],
            },
            f"{FS}/runs": {"flowId": ids["flow"]},
            "/data/foundation/conversion/mappingSets": {
                "mappings": [{"sourceAttribute": "a", "destinationXdmPath": "b"}]
            },
            "/data/foundation/catalog/dataSets": {"name": "fuzz"},
            "/collection/": {"msg": "m-1", "n": 1},
            "/collection/batch/": {"messages": [{"msg": "m-1"}, {"msg": "m-2"}]},
        }

    def check(self, response: httpx.Response) -> None:
        self.cases += 1
        request = response.request
        path, method, status = request.url.path, request.method, response.status_code
        self.statuses[f"{status // 100}xx"] += 1
        where = f"{method} {request.url} → {status}"
        if status >= 500:
            self.problems.append(f"{where}: {response.text[:300]}")
            return
        op = contract.operation(method, path)
        if op is None:
            return
        name, template, operation = op
        declared = contract.declared_statuses(operation)
        if status not in declared and status not in contract.EXPLAINED:
            self.problems.append(f"{where}: status not declared ({sorted(declared)})")
        ref = contract.schema_ref(name, template, method, status)
        if ref is None:
            return
        try:
            body = response.json()
        except ValueError:
            self.problems.append(f"{where}: not JSON: {response.text[:200]}")
            return
        validator = OAS30Validator(
            {"$ref": ref}, registry=contract.REGISTRY, format_checker=oas30_format_checker
        )
        for error in list(validator.iter_errors(body))[:2]:
            at = ".".join(map(str, error.absolute_path)) or "(body)"
            self.problems.append(f"{where}: {at}: {error.message}")


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    registry = plugins.load()
    data = tmp_path_factory.mktemp("fuzz")
    app = create_app(PlatformConfig(data_dir=data / "platform"), registry=registry)
    with background(app) as url, FlowServiceClient(config.Settings(platform_url=url)) as client:
        dataset = client.datasets.create(model.Dataset(name="fuzz"))
        done = Lifecycle(client, registry, StateFile(data / "state.json")).connect(
            ConnectRequest(
                source="http",
                name="fuzz",
                dataset_id=dataset,
                credentials={"dataType": "raw", "sourceId": "f", "name": "f"},
                mapping=model.MappingSet(
                    mappings=[model.MappingRule(source_attribute="msg", destination_xdm_path="b")]
                ),
            )
        )
        assert done.inlet_url
        world = World(
            url, app, {**done.ids, "dataset": dataset}, done.inlet_url, client.access_token()
        )
        yield world
        world.http.close()
        # No crash: the server still answers, and the mapper drained what the inlet took.
        assert list(client.flow_specs.list())
        assert app.state.platform.wait_idle(20)


def _routes(app: Any) -> list[tuple[str, str]]:
    return [
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in sorted((route.methods or set()) - {"HEAD"})
    ]


def _fill(template: str, world: World, choice: str) -> str:
    """A path with its parameters: an id of the right kind, another kind's, or junk."""
    kinds = {
        "connections": "base_connection",
        "sourceConnections": "source_connection",
        "targetConnections": "target_connection",
        "flows": "flow",
        "mappingSets": "mapping",
        "dataSets": "dataset",
    }
    parts = template.split("/")
    for i, part in enumerate(parts):
        if part.startswith("{"):
            if part == "{inlet_id}":
                good = world.inlet.rstrip("/").rsplit("/", 1)[-1]
            else:
                good = world.ids.get(kinds.get(parts[i - 1], ""), "") or HTTP_SPEC
            parts[i] = {"good": good, "other": world.ids["flow"], "junk": "x%20y"}.get(
                choice, choice
            )
    return "/".join(parts)


def _mutate(body: Any, data: st.DataObject) -> Any:
    """A valid body with one value replaced, one key dropped, or left as is."""
    body = copy.deepcopy(body)
    action = data.draw(st.sampled_from(["keep", "replace", "drop", "add"]))
    if action == "keep" or not isinstance(body, dict) or not body:
        return body
    node = body
    while True:
        key = data.draw(st.sampled_from(sorted(node)))
        if isinstance(node[key], dict) and node[key] and data.draw(st.booleans()):
            node = node[key]
            continue
        break
    if action == "replace":
        node[key] = data.draw(JSON_VALUES)
    elif action == "drop":
        del node[key]
    else:
        node[data.draw(st.text(max_size=8))] = data.draw(JSON_VALUES)
    return body


def _send(world: World, data: st.DataObject, routes: list[tuple[str, str]]) -> None:
    method, template = data.draw(st.sampled_from(routes))
    path = _fill(template, world, data.draw(st.sampled_from(["good", "good", "other", "junk"])))
    headers = dict(world.headers)
    auth = data.draw(st.sampled_from(["full", "full", "full", "none", "bad-token", "no-org"]))
    if auth == "none":
        headers = {}
    elif auth == "bad-token":
        headers["Authorization"] = "Bearer not-a-token"
    elif auth == "no-org":
        del headers["x-gw-ims-org-id"]
    if data.draw(st.booleans()):
        headers["x-adobe-flow-id"] = data.draw(st.sampled_from([world.ids["flow"], "nope", ""]))
    params = data.draw(QUERIES)
    content: bytes | None = None
    form: dict[str, str] | None = None
    if template == "/ims/token/v3":
        form = data.draw(
            st.dictionaries(
                st.sampled_from(["grant_type", "client_id", "client_secret", "scope"]),
                st.sampled_from(
                    ["client_credentials", config.DEV_CLIENT_ID, config.DEV_CLIENT_SECRET, "x"]
                )
                | st.text(max_size=10),
                max_size=4,
            )
        )
    elif method in ("POST", "PATCH"):
        kind = data.draw(st.sampled_from(["mutated", "mutated", "random", "bytes"]))
        bodies = world.bodies()
        key = next(
            (k for k in sorted(bodies, key=len, reverse=True) if template.startswith(k)),
            f"{FS}/connections",
        )
        if method == "PATCH":
            key = f"{FS}/connections" if "connections" in template.lower() else f"{FS}/flows"
        if kind == "bytes":
            content = data.draw(st.binary(max_size=64) | st.just(b'{"a": '))
        else:
            body = _mutate(bodies[key], data) if kind == "mutated" else data.draw(JSON_VALUES)
            if method == "PATCH":
                body = [{"op": "replace", "path": "/name", "value": body}]
                if data.draw(st.booleans()):
                    body = data.draw(JSON_VALUES)
                headers["If-Match"] = data.draw(st.sampled_from(['"0"', "*", "nope"]))
            content = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    response = world.http.request(
        method, path, params=params, headers=headers, content=content, data=form
    )
    world.check(response)


def _fuzz(world: World, routes: list[tuple[str, str]]) -> None:
    @settings(
        max_examples=CASES_PER_GROUP,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def case(data: st.DataObject) -> None:
        _send(world, data, routes)

    before = world.cases
    case()
    assert world.cases - before >= CASES_PER_GROUP * 0.9
    assert not world.problems, "\n".join(world.problems[:20])


@pytest.mark.parametrize(
    "group",
    ["flowservice-resources", "flowservice-other", "dataprep-catalog-ims-extensions", "inlet"],
)
def test_no_5xx_and_every_answer_within_the_contract(world, group):
    routes = _routes(world.app)

    def other(path: str) -> bool:  # specs, runs and explore; the rest are the resources
        return any(k in path for k in ("Specs", "/runs", "/explore"))

    chosen = {
        "flowservice-resources": lambda p: p.startswith(FS) and not other(p),
        "flowservice-other": lambda p: p.startswith(FS) and other(p),
        "dataprep-catalog-ims-extensions": lambda p: not p.startswith((FS, "/collection")),
        "inlet": lambda p: p.startswith("/collection"),
    }[group]
    mine = [(m, p) for m, p in routes if chosen(p)]
    assert mine
    _fuzz(world, mine)


def test_every_route_was_fuzzed(world):
    routes = _routes(world.app)
    assert len(routes) >= 38
    assert world.cases >= 1_000, world.cases
    assert world.statuses["2xx"] > 50 and world.statuses["4xx"] > 300, world.statuses
