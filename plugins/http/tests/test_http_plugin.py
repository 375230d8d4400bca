"""The HTTP API plugin's own hooks, called through the plugin manager as the core calls them."""

from __future__ import annotations

import jsonschema
import pytest

from sourceflow import PROVIDER_STREAMING, Auth, SourceflowError, SourceParams
from sourceflow.testing import check_credentials, with_defaults

SPEC = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb"


@pytest.fixture
def registry(sourceflow_registry):
    # The installed distribution, through its entry point, as the core finds it.
    sourceflow_registry.load_entry_points(allow=["sourceflow-http"], block=[])
    return sourceflow_registry


@pytest.fixture
def source(registry):
    return registry.source("http")


def test_source_record_matches_adobes_ids(source):
    assert source.id == SPEC
    assert source.connection_spec.provider_id == PROVIDER_STREAMING
    assert [f.id for f in source.flow_specs] == [
        "d8a6f005-7eaf-4153-983e-e8574508b877",
        "c1a19761-d2c7-4702-b9fa-fe91f0613e81",
    ]
    assert source.mapping_flow_spec == "c1a19761-d2c7-4702-b9fa-fe91f0613e81"
    assert (source.mode, source.inlet_on, source.needs_base_connection) == (
        "streaming",
        "connection",
        True,
    )


def test_auth_spec_is_a_valid_schema_accepting_the_tutorials_params(source):
    (spec,) = source.connection_spec.auth_spec
    assert spec.name == "Streaming Connection"
    jsonschema.Draft7Validator.check_schema(spec.spec)
    plain = {"sourceId": "Sample connection", "dataType": "xdm", "name": "Sample connection"}
    check_credentials(spec, plain)
    check_credentials(spec, {**plain, "authenticationRequired": True})


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        (
            {"sourceId": "s", "name": "n", "dataType": "parquet"},
            "dataType: must be one of xdm, raw",
        ),
        ({"sourceId": "s", "dataType": "xdm"}, "(params): 'name' is required"),
        ({"sourceId": "", "name": "n", "dataType": "xdm"}, "sourceId: must not be empty"),
        (
            {"sourceId": "s", "name": "n", "dataType": "xdm", "authenticationRequired": "yes"},
            "authenticationRequired: must be of type boolean",
        ),
    ],
)
def test_bad_auth_params_are_named(source, params, problem):
    (spec,) = source.connection_spec.auth_spec
    with pytest.raises(SourceflowError) as caught:
        check_credentials(spec, params)
    assert caught.value.problems == [problem]


def test_run_name_and_schema_defaults_complete_the_params(source):
    (spec,) = source.connection_spec.auth_spec
    assert with_defaults(spec, {}, "orders") == {
        "sourceId": "orders",
        "name": "orders",
        "dataType": "xdm",
    }
    assert with_defaults(spec, {"dataType": "raw", "name": "x"}, "orders") == {
        "dataType": "raw",
        "name": "x",
        "sourceId": "orders",
    }


def test_authenticate_builds_the_streaming_connection_block(registry, source):
    plain = registry.call(
        "sourceflow_authenticate",
        source,
        credentials={"sourceId": "s", "name": "n", "authenticationRequired": False},
    )
    assert plain == Auth(
        spec_name="Streaming Connection", params={"dataType": "xdm", "sourceId": "s", "name": "n"}
    )
    secure = registry.call(
        "sourceflow_authenticate",
        source,
        credentials={
            "sourceId": "s",
            "name": "n",
            "dataType": "raw",
            "authenticationRequired": True,
        },
    )
    assert secure.params["authenticationRequired"] is True
    assert secure.params["dataType"] == "raw"


def test_source_connection_names_only_its_base_connection(registry, source):
    answer = registry.call("sourceflow_source_params", source, object=None, credentials={})
    assert answer == SourceParams(data_format=None, params=None)
