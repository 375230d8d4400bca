"""connect and teardown end to end: the real client over loopback HTTP against the local
platform, with the installed HTTP plugin."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import sourceflow
from sourceflow import config, model, plugins
from sourceflow.client import FlowServiceClient, InletSender
from sourceflow.errors import InvalidBody, NotFound, SourceflowError
from sourceflow.lifecycle import ConnectRequest, Lifecycle
from sourceflow.platform.app import PlatformConfig, create_app
from sourceflow.platform.server import background
from sourceflow.state import StateFile

PLAIN = "d8a6f005-7eaf-4153-983e-e8574508b877"
MAPPED = "c1a19761-d2c7-4702-b9fa-fe91f0613e81"


class Observer:
    def __init__(self) -> None:
        self.events: list[str] = []

    @sourceflow.hookimpl
    def sourceflow_before_step(self, step):
        self.events.append(f"before {step.name}")

    @sourceflow.hookimpl
    def sourceflow_after_step(self, step, result):
        self.events.append(f"after {step.name}")

    @sourceflow.hookimpl
    def sourceflow_on_step_error(self, step, error):
        self.events.append(f"error {step.name}: {type(error).__name__}")


@pytest.fixture
def registry():
    return plugins.load(allow=["sourceflow-http"])


@pytest.fixture
def platform_url(tmp_path, registry):
    app = create_app(PlatformConfig(data_dir=tmp_path / "platform"), registry=registry)
    with background(app) as url:
        yield url


@pytest.fixture
def client(platform_url):
    with FlowServiceClient(config.Settings(platform_url=platform_url)) as c:
        yield c


@pytest.fixture
def dataset(client):
    return client.datasets.create(
        model.Dataset(
            name="people", schema_ref=model.XdmSchemaRef(id="https://ns.adobe.com/t/schemas/p")
        )
    )


def lifecycle(client, registry, tmp_path: Path, observer: Observer | None = None) -> Lifecycle:
    if observer is not None:
        registry.register(observer, "observer")
    return Lifecycle(client, registry, StateFile(tmp_path / "state.json"))


def mapping(*rules: tuple[str, str]) -> model.MappingSet:
    return model.MappingSet(
        mappings=[model.MappingRule(source_attribute=s, destination_xdm_path=d) for s, d in rules]
    )


def test_connect_creates_every_resource_and_the_inlet(client, registry, dataset, tmp_path):
    observer = Observer()
    done = lifecycle(client, registry, tmp_path, observer).connect(
        ConnectRequest(source="http", name="plain", dataset_id=dataset)
    )
    assert set(done.ids) == {
        "base_connection",
        "source_connection",
        "target_connection",
        "flow",
        "endpoint",
    }
    connection = client.connections.get(done.ids["base_connection"])
    assert connection.auth is not None
    assert connection.auth.params["inletUrl"] == done.inlet_url
    assert connection.auth.params["dataType"] == "xdm"
    flow = client.flows.get(done.flow_id)
    assert flow.flow_spec.id == PLAIN and flow.transformations is None
    assert flow.source_connection_ids == [done.ids["source_connection"]]
    target = client.target_connections.get(done.ids["target_connection"])
    assert target.dataset_id == dataset
    assert observer.events == [
        "before authenticate",
        "after authenticate",
        "before base_connection",
        "after base_connection",
        "before source_connection",
        "after source_connection",
        "before target_connection",
        "after target_connection",
        "before flow",
        "after flow",
        "before endpoint",
        "after endpoint",
    ]


def test_mapped_flow_delivers_mapped_rows(client, registry, dataset, tmp_path):
    done = lifecycle(client, registry, tmp_path).connect(
        ConnectRequest(
            source="http",
            name="mapped",
            dataset_id=dataset,
            credentials={"dataType": "raw", "sourceId": "m", "name": "m"},
            mapping=mapping(
                ("name", "person.name.fullName"), ("location.city", "homeAddress.city")
            ),
        )
    )
    flow = client.flows.get(done.flow_id)
    assert flow.flow_spec.id == MAPPED and flow.mapping_id == done.ids["mapping"]
    assert done.inlet_url
    sender = InletSender(done.inlet_url, flow_id=done.flow_id)
    sender.send({"name": "Johnson Smith", "location": {"city": "Seattle"}})
    rows = wait_for_rows(client, dataset, 1)
    assert rows[0]["record"] == {
        "person": {"name": {"fullName": "Johnson Smith"}},
        "homeAddress": {"city": "Seattle"},
    }


def test_rerun_after_a_failed_step_resumes_without_duplicates(client, registry, dataset, tmp_path):
    observer = Observer()
    steps = lifecycle(client, registry, tmp_path, observer)
    bad = mapping(("lowr(name)", "person.name"))
    bad.mappings[0].source_type = "EXPRESSION"
    with pytest.raises(SourceflowError):
        steps.connect(
            ConnectRequest(source="http", name="resumed", dataset_id=dataset, mapping=bad)
        )
    assert any(e.startswith("error mapping") for e in observer.events), observer.events
    first = steps.state.get("resumed", client.settings.platform_url, client.settings.sandbox)
    assert first is not None and "mapping" not in first.ids
    created = dict(first.ids)

    done = steps.connect(
        ConnectRequest(
            source="http",
            name="resumed",
            dataset_id=dataset,
            mapping=mapping(("name", "person.name.fullName")),
        )
    )
    assert {k: done.ids[k] for k in created} == created
    assert done.resumed == ["base_connection", "source_connection", "target_connection"]
    assert len(list(client.connections.list())) == 1
    assert len(list(client.source_connections.list())) == 1


def test_resources_created_but_not_recorded_are_found_by_name(client, registry, dataset, tmp_path):
    steps = lifecycle(client, registry, tmp_path)
    first = steps.connect(ConnectRequest(source="http", name="orphan", dataset_id=dataset))
    (tmp_path / "state.json").unlink()
    again = lifecycle(client, registry, tmp_path / "elsewhere").connect(
        ConnectRequest(source="http", name="orphan", dataset_id=dataset)
    )
    assert again.ids == first.ids
    assert len(list(client.flows.list())) == 1


def test_a_recorded_resource_deleted_on_the_platform_is_recreated(
    client, registry, dataset, tmp_path
):
    steps = lifecycle(client, registry, tmp_path)
    first = steps.connect(ConnectRequest(source="http", name="gone", dataset_id=dataset))
    client.flows.delete(first.flow_id)
    again = steps.connect(ConnectRequest(source="http", name="gone", dataset_id=dataset))
    assert again.flow_id != first.flow_id
    assert again.ids["base_connection"] == first.ids["base_connection"]


def test_teardown_deletes_in_reverse_order(client, registry, dataset, tmp_path):
    observer = Observer()
    steps = lifecycle(client, registry, tmp_path, observer)
    done = steps.connect(
        ConnectRequest(source="http", name="bye", dataset_id=dataset, mapping=mapping(("a", "b")))
    )
    record = steps.state.get("bye", client.settings.platform_url, client.settings.sandbox)
    assert record is not None
    undone = steps.teardown(record)
    assert undone == [
        "endpoint",
        "flow",
        "target_connection",
        "source_connection",
        "base_connection",
    ]
    for resources, key in [
        (client.flows, "flow"),
        (client.connections, "base_connection"),
        (client.source_connections, "source_connection"),
        (client.target_connections, "target_connection"),
    ]:
        with pytest.raises(NotFound):
            resources.get(done.ids[key])
    assert steps.state.get("bye", client.settings.platform_url, client.settings.sandbox) is None
    assert observer.events[-2:] == ["before teardown", "after teardown"]


def test_authenticated_connection_marks_its_inlet(client, registry, dataset, tmp_path):
    done = lifecycle(client, registry, tmp_path).connect(
        ConnectRequest(
            source="http",
            name="secure",
            dataset_id=dataset,
            credentials={
                "sourceId": "s",
                "name": "s",
                "dataType": "xdm",
                "authenticationRequired": True,
            },
        )
    )
    assert done.authentication_required


def test_missing_dataset_is_a_clear_error(client, registry, tmp_path):
    with pytest.raises(SourceflowError, match="dataset 'nope' does not exist") as caught:
        lifecycle(client, registry, tmp_path).connect(
            ConnectRequest(source="http", name="x", dataset_id="nope")
        )
    assert "sourceflow datasets create" in str(caught.value)


def test_bad_credentials_name_the_field_before_anything_is_created(
    client, registry, dataset, tmp_path
):
    with pytest.raises(InvalidBody) as caught:
        lifecycle(client, registry, tmp_path).connect(
            ConnectRequest(
                source="http",
                name="x",
                dataset_id=dataset,
                credentials={"sourceId": "s", "name": "s", "dataType": "csv", "colour": "red"},
            )
        )
    assert caught.value.problems == [
        "(params): unknown field(s): 'colour' was unexpected",
        "dataType: must be one of xdm, raw",
    ]
    assert list(client.connections.list()) == []


def wait_for_rows(client, dataset_id: str, want: int, timeout: float = 10) -> list:
    deadline = time.monotonic() + timeout
    while True:
        rows = client.dataset_rows(dataset_id)
        if len(rows) >= want or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


class LoseFirstAnswer:
    """ASGI middleware in front of the real platform: the first POST to ``path_end`` is
    carried out, but its answer is cut off mid-way, as a dropped connection would."""

    def __init__(self, app, path_end: str) -> None:
        self.app, self.path_end, self.dropped = app, path_end, 0

    async def __call__(self, scope, receive, send):
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].endswith(self.path_end)
            or self.dropped
        ):
            return await self.app(scope, receive, send)
        self.dropped += 1

        async def swallow(message):
            pass

        await self.app(scope, receive, swallow)
        await send(
            {"type": "http.response.start", "status": 201, "headers": [(b"content-length", b"100")]}
        )
        await send({"type": "http.response.body", "body": b'{"id": ', "more_body": True})
        raise ConnectionAbortedError("answer lost on purpose")


def test_a_lost_create_answer_does_not_make_a_duplicate(tmp_path, registry):
    platform = LoseFirstAnswer(
        create_app(PlatformConfig(data_dir=tmp_path / "p"), registry=registry), "/flows"
    )
    with background(platform) as url, FlowServiceClient(config.Settings(platform_url=url)) as c:
        dataset_id = c.datasets.create(model.Dataset(name="d"))
        done = lifecycle(c, registry, tmp_path).connect(
            ConnectRequest(source="http", name="lossy", dataset_id=dataset_id)
        )
        assert platform.dropped == 1
        flows = list(c.flows.list())
        assert [f.id for f in flows] == [done.flow_id]
