"""Hook implementations for the HTTP API streaming source.

The inlet belongs to the base connection: creating the connection creates the inlet, and
``GET /connections/{id}`` answers it in ``auth.params.inletUrl``. Senders POST JSON to it; an
authenticated connection (``authenticationRequired: true``) refuses messages without a valid
IMS token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sourceflow
from sourceflow import PROVIDER_STREAMING, AuthSpec, ConnectionSpec, FlowSpec, Source

# The package root loads the resource models on first use of one (``sourceflow.Auth`` in a
# hook): listing the plugins should not build every class of them.
if TYPE_CHECKING:
    from sourceflow import Auth, SourceParams

CONNECTION_SPEC_ID = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb"
FLOW_SPEC_PLAIN = "d8a6f005-7eaf-4153-983e-e8574508b877"
FLOW_SPEC_MAPPED = "c1a19761-d2c7-4702-b9fa-fe91f0613e81"
DATA_LAKE = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
AUTH_SPEC_NAME = "Streaming Connection"

AUTH_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "description": "Defines auth params required for connecting to the HTTP API inlet.",
    "properties": {
        "sourceId": {
            "type": "string",
            "minLength": 1,
            "description": "An identifier of the streaming connection.",
        },
        "dataType": {
            "type": "string",
            "enum": ["xdm", "raw"],
            "default": "xdm",
            "description": "xdm: messages are XDM envelopes; raw: any JSON, mapped by the flow.",
        },
        "name": {"type": "string", "minLength": 1, "description": "The connection's name."},
        "authenticationRequired": {
            "type": "boolean",
            "default": False,
            "description": "Refuse messages that carry no valid IMS bearer token.",
        },
    },
    "required": ["sourceId", "dataType", "name"],
    "additionalProperties": False,
}

SOURCE = Source(
    name="http",
    title="HTTP API",
    description="Stream JSON records to Experience Platform over HTTP.",
    connection_spec=ConnectionSpec(
        id=CONNECTION_SPEC_ID,
        name="http-connector",
        provider_id=PROVIDER_STREAMING,
        type="streaming",
        auth_spec=[AuthSpec(name=AUTH_SPEC_NAME, type="Streaming Connection", spec=AUTH_SCHEMA)],
        attributes={"category": "streaming", "isSource": True, "connectorName": "HTTP API"},
    ),
    flow_specs=(
        FlowSpec(
            id=FLOW_SPEC_PLAIN,
            name="Stream data without transformation",
            provider_id=PROVIDER_STREAMING,
            source_connection_spec_ids=[CONNECTION_SPEC_ID],
            target_connection_spec_ids=[DATA_LAKE],
        ),
        FlowSpec(
            id=FLOW_SPEC_MAPPED,
            name="Mapping",
            provider_id=PROVIDER_STREAMING,
            source_connection_spec_ids=[CONNECTION_SPEC_ID],
            target_connection_spec_ids=[DATA_LAKE],
            transformations=[{"name": "Mapping"}],
        ),
    ),
    mode="streaming",
    inlet_on="connection",
    mapping_flow_spec=FLOW_SPEC_MAPPED,
    unsigned=True,
)


@sourceflow.hookimpl
def sourceflow_sources() -> list[Source]:
    """The HTTP API source."""
    return [SOURCE]


@sourceflow.hookimpl
def sourceflow_authenticate(source: Source, credentials: Mapping[str, Any]) -> Auth:
    """The ``Streaming Connection`` auth block; ``dataType`` defaults to ``xdm``.

    There is nothing to check against a remote service: the inlet is created by the platform.
    """
    params = {"dataType": "xdm", **credentials}
    if not params.get("authenticationRequired"):
        params.pop("authenticationRequired", None)
    return sourceflow.Auth(spec_name=AUTH_SPEC_NAME, params=params)


@sourceflow.hookimpl
def sourceflow_source_params(source: Source, object: str | None) -> SourceParams:
    """The HTTP source connection names only its base connection and spec: no data, no params."""
    return sourceflow.SourceParams(data_format=None, params=None)
