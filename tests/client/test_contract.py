"""The bodies the client sends for create calls, checked against Adobe's OpenAPI files.

The bodies are the ones Adobe's own pages send (the seeds), built from the models and captured
at the fake platform, so what is checked is what went over the wire. Where Adobe's pages and
Adobe's OpenAPI disagree, the pages win (they are what the platform accepts) and the
disagreement is listed in ``KNOWN``: the test fails on any other violation, and on a listed
one that no longer happens, so the list stays true.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from shared_reference import reference

from sourceflow.client import FlowServiceClient
from sourceflow.hooktypes import PROVIDER_STREAMING
from sourceflow.model import (
    Auth,
    Connection,
    DataFormat,
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

yaml = pytest.importorskip("yaml")
validators = pytest.importorskip("openapi_schema_validator")
referencing = pytest.importorskip("referencing")
referencing_jsonschema = pytest.importorskip("referencing.jsonschema")


@cache
def _spec(file: str) -> Any:
    path = reference("adobe", file, needed_for="Adobe's OpenAPI contract cannot be checked")
    # The C loader when there is one: flow-service.yaml is a quarter of a megabyte.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)


@cache
def _validator(file: str, schema: str) -> Any:
    uri = f"urn:adobe:{file}"
    resource = referencing.Resource.from_contents(
        _spec(file), default_specification=referencing_jsonschema.DRAFT4
    )
    registry = referencing.Registry().with_resource(uri, resource)
    return validators.OAS30Validator(
        {"$ref": f"{uri}#/components/schemas/{schema}"}, registry=registry
    )


HTTP = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb"
STRIPE = "cc2c31d6-7b8c-4581-b49f-5c8698aa3ab3"
CHATLIO = "073127a3-26e3-496c-9d94-9f48fb93fba8"
DATA_LAKE = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
XDM_1 = "application/vnd.adobe.xed-full+json;version=1"
MAPPING = Transformation(name="Mapping", params={"mappingId": "f4aad280", "mappingVersion": 0})

# (source, collection, body) as Adobe's pages for HTTP API, Stripe and Chatlio send them.
SEED_BODIES: list[tuple[str, str, Any]] = [
    (
        "http",
        "connections",
        Connection(
            name="Sample streaming connection",
            provider_id=PROVIDER_STREAMING,
            description="Sample description",
            connection_spec=SpecRef(id=HTTP),
            auth=Auth(
                spec_name="Streaming Connection",
                params={
                    "sourceId": "Sample connection",
                    "dataType": "xdm",
                    "name": "Sample connection",
                    "authenticationRequired": True,
                },
            ),
        ),
    ),
    (
        "http",
        "source_connections",
        SourceConnection(
            name="Sample source connection",
            description="Sample source connection description",
            base_connection_id="77a05521-91d6-451c-a055-2191d6851c34",
            connection_spec=SpecRef(id=HTTP),
        ),
    ),
    (
        "http",
        "target_connections",
        TargetConnection(
            name="Sample target connection",
            connection_spec=SpecRef(id=DATA_LAKE),
            data=TargetData(format="parquet_xdm"),
            params={"dataSetId": "5da9452f7de80400007jc52a"},
        ),
    ),
    (
        "http",
        "flows",
        Flow(
            name="Sample flow",
            flow_spec=SpecRef(id="d8a6f005-7eaf-4153-983e-e8574508b877"),
            source_connection_ids=["63070871-ec3f-4cb5-af47-cf7abb25e8bb"],
            target_connection_ids=["98a2a72e-a80f-49ae-aaa3-4783cc9404c2"],
        ),
    ),
    (
        "stripe",
        "connections",
        Connection(
            name="Stripe base connection",
            description="Authenticated base connection for Stripe",
            connection_spec=SpecRef(id=STRIPE),
            auth=Auth(spec_name="OAuth2 Refresh Code", params={"accessToken": "sk_test_abc123"}),
        ),
    ),
    (
        "stripe",
        "source_connections",
        SourceConnection(
            name="Stripe Source Connection For Charges Data",
            base_connection_id="a9950001-a386-4642-a0cd-5eaac6db5556",
            connection_spec=SpecRef(id=STRIPE),
            data=DataFormat(format="json"),
            params={"resourcePath": "charges"},
        ),
    ),
    (
        "stripe",
        "target_connections",
        TargetConnection(
            name="Stripe Target Connection For Charges Data",
            connection_spec=SpecRef(id=DATA_LAKE),
            data=TargetData(
                format="parquet_xdm",
                schema=SchemaRef(
                    id="https://ns.adobe.com/org/schemas/5f76be8c",
                    version="application/vnd.adobe.xed-full+json;version=1.3",
                ),
            ),
            params={"dataSetId": "65e622315f78042c9e8166e8"},
        ),
    ),
    (
        "stripe",
        "flows",
        Flow(
            name="Stripe Connector Flow Generic Rest",
            flow_spec=SpecRef(id="6499120c-0b15-42dc-936e-847ea3c24d72"),
            source_connection_ids=["abbfac4e-202c-4e04-902d-6f73e9041068"],
            target_connection_ids=["69879751-ba43-48df-8cd0-39d2bb76a5b8"],
            transformations=[MAPPING],
            schedule_params=ScheduleParams(start_time=1710267858, frequency="minute", interval=15),
        ),
    ),
    (
        "chatlio",
        "source_connections",
        SourceConnection(
            name="Streaming Source Connection for Chatlio.",
            provider_id=PROVIDER_STREAMING,
            connection_spec=SpecRef(id=CHATLIO),
            data=DataFormat(format="json"),
        ),
    ),
    (
        "chatlio",
        "target_connections",
        TargetConnection(
            name="Streaming Target Connection for a Chatlio.",
            connection_spec=SpecRef(id=DATA_LAKE),
            data=TargetData(
                format="json",
                schema=SchemaRef(
                    id="https://ns.adobe.com/extconndev/schemas/49cecec8", version=XDM_1
                ),
            ),
            params={"dataSetId": "63ef7df781f14a1bd02a7e49"},
        ),
    ),
    (
        "chatlio",
        "flows",
        Flow(
            name="Streaming Dataflow for Chatlio",
            flow_spec=SpecRef(id="e77fde5a-22a8-11ed-861d-0242ac120002"),
            source_connection_ids=["7689a40d-43eb-4f74-a3f1-092a55884f6c"],
            target_connection_ids=["f7be8ab6-e5ea-4405-83b9-200cdfb2a9e5"],
            transformations=[MAPPING],
        ),
    ),
]

SCHEMAS = {
    "connections": "CreateConnectionRequest",
    "source_connections": "CreateSourceConnectionRequest",
    "target_connections": "CreateTargetConnectionRequest",
    "flows": "CreateFlowRequest",
}

# Where Adobe's pages send what Adobe's OpenAPI does not allow: (source, collection) -> problems.
KNOWN: dict[tuple[str, str], set[str]] = {
    # The HTTP API page's source connection has no `data`; the schema requires it.
    ("http", "source_connections"): {"$: 'data' is a required property"},
    # The Stripe page sends an integer interval and mappingVersion 0; the schema says strings.
    ("stripe", "flows"): {
        "scheduleParams.interval: 15 is not of type 'string'",
        "transformations.0.params.mappingVersion: 0 is not of type 'string'",
    },
    # The Chatlio page sends mappingVersion 0 too.
    ("chatlio", "flows"): {
        "transformations.0.params.mappingVersion: 0 is not of type 'string'",
    },
}


def _problems(validator: Any, body: Any) -> set[str]:
    return {
        f"{'.'.join(map(str, e.absolute_path)) or '$'}: {e.message}"
        for e in validator.iter_errors(body)
    }


@pytest.mark.parametrize(
    ("source", "kind", "resource"),
    SEED_BODIES,
    ids=[f"{s}-{k}" for s, k, _ in SEED_BODIES],
)
def test_create_bodies_fit_adobes_request_schemas(
    client: FlowServiceClient, fake: FakeFlowService, source: str, kind: str, resource: Any
) -> None:
    validator = _validator("flow-service.yaml", SCHEMAS[kind])
    collection = getattr(client, kind)
    collection.create(resource)
    (sent,) = fake.seen("POST", collection.url.removeprefix(fake.url))
    assert _problems(validator, sent.json()) == KNOWN.get((source, kind), set())


def test_mapping_set_bodies_fit_data_preps_schema(
    client: FlowServiceClient, fake: FakeFlowService
) -> None:
    validator = _validator("data-prep.yaml", "MappingSet")
    client.mapping_sets.create(
        MappingSet(
            output_schema=OutputSchema(schema_ref=XdmSchemaRef(id="https://ns.adobe.com/x/s/1")),
            mappings=[
                MappingRule(source_attribute="visitor.UUID", destination_xdm_path="_x.UUID"),
                MappingRule(source_attribute="message", destination_xdm_path="_x.message"),
            ],
        )
    )
    (sent,) = fake.seen("POST", "/data/foundation/conversion/mappingSets")
    assert _problems(validator, sent.json()) == set()


def test_the_flow_service_paths_are_adobes(client: FlowServiceClient) -> None:
    paths = set(_spec("flow-service.yaml")["paths"])
    for kind in ("connection_specs", "flow_specs", "runs", *SCHEMAS):
        path = getattr(client, kind).url.removeprefix(client.settings.platform_url + FS)
        assert path in paths
