"""Resources: create, get, list across pages, patch with etags, delete; Data Prep and Catalog."""

from __future__ import annotations

from typing import Any

import pytest

from sourceflow import wire
from sourceflow.client import FlowServiceClient
from sourceflow.errors import Conflict, NotFound
from sourceflow.hooktypes import ConnectionSpec, ExploreRequest
from sourceflow.model import (
    Auth,
    Connection,
    DataFormat,
    Dataset,
    Flow,
    MappingRule,
    MappingSet,
    OutputSchema,
    ScheduleParams,
    SchemaRef,
    SourceConnection,
    SpecRef,
    TargetConnection,
    TargetData,
    Transformation,
    XdmSchemaRef,
)

from .fakeflow import FS, FakeFlowService

STRIPE = "cc2c31d6-7b8c-4581-b49f-5c8698aa3ab3"
DATA_LAKE = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"

SAMPLES: dict[str, Any] = {
    "connections": Connection(
        name="Stripe base connection",
        connection_spec=SpecRef(id=STRIPE),
        auth=Auth(spec_name="OAuth2 Refresh Code", params={"accessToken": "sk_test_abc123"}),
    ),
    "source_connections": SourceConnection(
        name="charges",
        connection_spec=SpecRef(id=STRIPE),
        base_connection_id="a9950001-a386-4642-a0cd-5eaac6db5556",
        data=DataFormat(format="json"),
        params={"resourcePath": "charges"},
    ),
    "target_connections": TargetConnection(
        name="charges target",
        connection_spec=SpecRef(id=DATA_LAKE),
        data=TargetData(
            format="parquet_xdm", schema=SchemaRef(id="https://ns.adobe.com/x/schemas/1")
        ),
        params={"dataSetId": "65e622315f78042c9e8166e8"},
    ),
    "flows": Flow(
        name="Stripe flow",
        flow_spec=SpecRef(id="6499120c-0b15-42dc-936e-847ea3c24d72"),
        source_connection_ids=["abbfac4e-202c-4e04-902d-6f73e9041068"],
        target_connection_ids=["69879751-ba43-48df-8cd0-39d2bb76a5b8"],
        transformations=[Transformation(name="Mapping", params={"mappingId": "f4aad2"})],
        schedule_params=ScheduleParams(start_time=1710267858, frequency="minute", interval=15),
    ),
}


@pytest.mark.parametrize("kind", list(SAMPLES))
def test_create_get_patch_delete(
    client: FlowServiceClient, fake: FakeFlowService, kind: str
) -> None:
    collection = getattr(client, kind)
    sample = SAMPLES[kind]
    ref = collection.create(sample)
    assert ref.etag
    (post,) = fake.seen("POST", collection.url.removeprefix(fake.url))
    assert post.json() == wire.to_json(sample)

    got = collection.get(ref.id)
    assert type(got) is type(sample)
    assert (got.id, got.etag, got.name) == (ref.id, ref.etag, sample.name)

    updated = collection.patch(
        ref.id, [{"op": "replace", "path": "/name", "value": "new"}], ref.etag
    )
    assert updated.id == ref.id and updated.etag != ref.etag
    assert collection.get(ref.id).name == "new"

    with pytest.raises(Conflict) as stale:
        collection.patch(ref.id, [{"op": "replace", "path": "/name", "value": "newer"}], ref.etag)
    assert stale.value.status == 412
    assert "get it again for its current etag" in str(stale.value)

    collection.delete(ref.id)
    with pytest.raises(NotFound) as gone:
        collection.get(ref.id)
    assert gone.value.status == 404


def test_patch_values_may_be_models(client: FlowServiceClient, fake: FakeFlowService) -> None:
    ref = client.flows.create(SAMPLES["flows"])
    schedule = ScheduleParams(start_time=1710267858, frequency="hour", interval=2)
    client.flows.patch(
        ref.id, [{"op": "replace", "path": "/scheduleParams", "value": schedule}], ref.etag or ""
    )
    assert client.flows.get(ref.id).schedule_params == schedule


def _make(client: FlowServiceClient, n: int) -> list[str]:
    return [
        client.connections.create(Connection(name=f"c{i}", connection_spec=SpecRef(id=STRIPE))).id
        for i in range(n)
    ]


@pytest.mark.parametrize("style", ["relative", "absolute", "token"])
def test_list_follows_continuation_pages(
    client: FlowServiceClient, fake: FakeFlowService, style: str
) -> None:
    fake.next_style = style
    ids = _make(client, 5)
    assert [c.id for c in client.connections.list(limit=2)] == ids
    pages = fake.seen("GET", FS + "/connections")
    assert len(pages) == 3
    assert [dict(p.params).get("continuationToken") is None for p in pages] == [True, False, False]
    assert all(dict(p.params)["limit"] == "2" for p in pages)


def test_list_is_lazy(client: FlowServiceClient, fake: FakeFlowService) -> None:
    _make(client, 5)
    items = client.connections.list(limit=2)
    assert not fake.seen("GET", FS + "/connections")
    next(items)
    next(items)
    assert len(fake.seen("GET", FS + "/connections")) == 1
    next(items)
    assert len(fake.seen("GET", FS + "/connections")) == 2


def test_list_sends_filters_and_order(client: FlowServiceClient, fake: FakeFlowService) -> None:
    _make(client, 3)
    found = list(
        client.connections.list(property=["name==c1", "state==enabled"], orderby="-createdAt")
    )
    assert [c.name for c in found] == ["c1"]
    (sent,) = fake.seen("GET", FS + "/connections")
    assert sent.params == [
        ("property", "name==c1"),
        ("property", "state==enabled"),
        ("orderby", "-createdAt"),
    ]
    list(client.connections.list(property="name==c2"))
    assert fake.seen("GET", FS + "/connections")[-1].params == [("property", "name==c2")]


def test_explore_query_is_the_one_adobe_documents(
    client: FlowServiceClient, fake: FakeFlowService
) -> None:
    (conn,) = _make(client, 1)
    answer = client.explore(
        conn,
        ExploreRequest(
            object_type="rest",
            object="json",
            file_type="json",
            preview=False,
            source_params={"resourcePath": "charges"},
        ),
    )
    # Byte for byte the query of Adobe's Stripe page.
    assert answer["query"] == (
        "objectType=rest&object=json&fileType=json&preview=false"
        "&sourceParams=eyJyZXNvdXJjZVBhdGgiOiJjaGFyZ2VzIn0%3D"
    )
    assert answer["format"] == "hierarchical"


def test_specs_are_read(client: FlowServiceClient, fake: FakeFlowService) -> None:
    spec = ConnectionSpec(id=STRIPE, name="stripe", provider_id="p", type="rest")
    fake.specs["connectionSpecs"][spec.id] = wire.to_json(spec)
    assert list(client.connection_specs.list()) == [spec]
    assert client.connection_specs.get(STRIPE) == spec
    with pytest.raises(NotFound):
        client.flow_specs.get("nope")


MAPPING = MappingSet(
    output_schema=OutputSchema(schema_ref=XdmSchemaRef(id="https://ns.adobe.com/x/schemas/1")),
    mappings=[MappingRule(source_attribute="data.id", destination_xdm_path="_x.charges.id")],
)


def test_mapping_sets(client: FlowServiceClient, fake: FakeFlowService) -> None:
    created = client.mapping_sets.create(MAPPING)
    assert created.id and created.version == 0 and created.created_date
    assert created.mappings == MAPPING.mappings
    got = client.mapping_sets.get(created.id)
    assert (got.id, got.mappings, got.output_schema) == (
        created.id,
        MAPPING.mappings,
        MAPPING.output_schema,
    )
    for _ in range(4):
        client.mapping_sets.create(MAPPING)
    assert len(list(client.mapping_sets.list(limit=2))) == 5
    pages = fake.seen("GET", "/data/foundation/conversion/mappingSets")
    assert [p.params for p in pages] == [[("limit", "2"), ("start", str(s))] for s in (0, 2, 4)]


def test_datasets(client: FlowServiceClient, fake: FakeFlowService) -> None:
    dataset = Dataset(name="charges", schema_ref=XdmSchemaRef(id="https://ns.adobe.com/x/s/1"))
    dataset_id = client.datasets.create(dataset)
    got = client.datasets.get(dataset_id)
    assert (got.id, got.name, got.schema_ref) == (dataset_id, "charges", dataset.schema_ref)
    for i in range(4):
        client.datasets.create(Dataset(name=f"d{i}"))
    assert len({d.id for d in client.datasets.list(limit=2)}) == 5
    with pytest.raises(NotFound):
        client.datasets.get("missing")


def test_dataset_rows_and_flow_failures_are_read_to_the_end(
    client: FlowServiceClient, fake: FakeFlowService
) -> None:
    rows = [
        {"xactionId": f"1:{i}", "flowId": "f", "receivedTimeMs": i, "record": {"i": i}}
        for i in range(2500)
    ]
    fake.rows["ds1"] = rows
    assert client.dataset_rows("ds1") == rows
    pages = fake.seen("GET", "/sourceflow/dataSets/ds1/rows")
    assert [dict(p.params).get("after") for p in pages] == [None, "100", "1100", "2100"]
    assert [dict(p.params)["limit"] for p in pages] == ["100", "1000", "1000", "1000"]
    assert client.dataset_rows("other") == []
    failure = {"xactionId": "1:1", "error": {"code": "MAP-1", "message": "no"}, "body": {}}
    fake.failures["f1"] = [failure]
    assert client.flow_failures("f1") == [failure]


def test_runs_are_listed_by_flow(client: FlowServiceClient, fake: FakeFlowService) -> None:
    fake.store["runs"]["r1"] = {"id": "r1", "flowId": "f1"}
    fake.store["runs"]["r2"] = {"id": "r2", "flowId": "f2"}
    assert [r.id for r in client.runs.list(property="flowId==f1")] == ["r1"]
