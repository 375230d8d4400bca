"""Platform test kit: the seed tutorial's bodies, a builder for whole chains of resources,
and a small in-test plugin with explore and delivery verification."""

from __future__ import annotations

import hashlib
import hmac
import ssl
from typing import Any

import httpx

import sourceflow
from sourceflow.errors import SourceflowError
from sourceflow.hooktypes import (
    DATA_LAKE_SPEC_ID,
    PROVIDER_STREAMING,
    AuthSpec,
    ConnectionSpec,
    Delivery,
    ExploreRequest,
    ExploreResult,
    FlowSpec,
    Source,
    Verdict,
)
from sourceflow.model import Connection

# An SSL context built once: httpx builds one per client otherwise (~80 ms each).
SSL = ssl.create_default_context()

FS = "/data/foundation/flowservice"
HTTP_SPEC = "bc7b00d6-623a-4dfc-9fdb-f1240aeadaeb"
FLOW_PLAIN = "d8a6f005-7eaf-4153-983e-e8574508b877"
FLOW_MAPPED = "c1a19761-d2c7-4702-b9fa-fe91f0613e81"
SCHEMA_ID = "https://ns.adobe.com/sourceflow/schemas/0123456789abcdef"

# The bodies of seeds/002 (the HTTP API streaming tutorial), as its curl lines send them.
SEED_CONNECTION = {
    "name": "Sample streaming connection",
    "providerId": PROVIDER_STREAMING,
    "description": "Sample description",
    "connectionSpec": {"id": HTTP_SPEC, "version": "1.0"},
    "auth": {
        "specName": "Streaming Connection",
        "params": {"sourceId": "Sample connection", "dataType": "xdm", "name": "Sample connection"},
    },
}
SEED_AUTH_CONNECTION = {
    **SEED_CONNECTION,
    "auth": {
        "specName": "Streaming Connection",
        "params": {**SEED_CONNECTION["auth"]["params"], "authenticationRequired": True},  # type: ignore[index]
    },
}
# Raw records, kept as sent when the flow has no mapping (an XDM connection wants envelopes).
RAW_CONNECTION = {
    **SEED_CONNECTION,
    "auth": {
        "specName": "Streaming Connection",
        "params": {**SEED_CONNECTION["auth"]["params"], "dataType": "raw"},  # type: ignore[index]
    },
}
SEED_MESSAGE = {
    "name": "Johnson Smith",
    "location": {
        "city": "Seattle",
        "country": "United State of America",
        "address": "3692 Main Street",
    },
    "gender": "Male",
    "birthday": {"year": 1984, "month": 6, "day": 9},
}


def seed_source_connection(base_id: str) -> dict[str, Any]:
    return {
        "name": "Sample source connection",
        "description": "Sample source connection description",
        "baseConnectionId": base_id,
        "connectionSpec": {"id": HTTP_SPEC, "version": "1.0"},
    }


def seed_target_connection(dataset_id: str) -> dict[str, Any]:
    return {
        "name": "Sample target connection",
        "description": "Sample target connection description",
        "connectionSpec": {"id": DATA_LAKE_SPEC_ID, "version": "1.0"},
        "data": {"format": "parquet_xdm"},
        "params": {"dataSetId": dataset_id},
    }


def seed_flow(source_id: str, target_id: str, spec: str = FLOW_PLAIN) -> dict[str, Any]:
    return {
        "name": "Sample flow",
        "description": "Sample flow description",
        "flowSpec": {"id": spec, "version": "1.0"},
        "sourceConnectionIds": [source_id],
        "targetConnectionIds": [target_id],
    }


class Builder:
    """Creates resources through the API and returns their ids; fails loudly otherwise."""

    def __init__(self, api: httpx.Client) -> None:
        self.api = api

    def post(self, path: str, body: Any, status: int = 201) -> Any:
        answer = self.api.post(path, json=body)
        assert answer.status_code == status, answer.text
        return answer.json()

    def dataset(self, name: str = "Sample dataset") -> str:
        created = self.post(
            "/data/foundation/catalog/dataSets",
            {
                "name": name,
                "schemaRef": {
                    "id": SCHEMA_ID,
                    "contentType": "application/vnd.adobe.xed-full+json;version=1",
                },
            },
        )
        return str(created[0].removeprefix("@/dataSets/"))

    def connection(self, body: dict[str, Any] = SEED_CONNECTION) -> str:
        return str(self.post(f"{FS}/connections", body)["id"])

    def source_connection(self, base_id: str) -> str:
        return str(self.post(f"{FS}/sourceConnections", seed_source_connection(base_id))["id"])

    def target_connection(self, dataset_id: str) -> str:
        return str(self.post(f"{FS}/targetConnections", seed_target_connection(dataset_id))["id"])

    def mapping_set(self, mappings: list[dict[str, Any]]) -> str:
        body = {
            "outputSchema": {
                "schemaRef": {
                    "id": SCHEMA_ID,
                    "contentType": "application/vnd.adobe.xed-full+json;version=1",
                }
            },
            "mappings": mappings,
        }
        return str(self.post("/data/foundation/conversion/mappingSets", body, 200)["id"])

    def flow(self, source_id: str, target_id: str, mapping_id: str | None = None) -> str:
        body = seed_flow(source_id, target_id, FLOW_MAPPED if mapping_id else FLOW_PLAIN)
        if mapping_id:
            body["transformations"] = [
                {"name": "Mapping", "params": {"mappingId": mapping_id, "mappingVersion": 0}}
            ]
        return str(self.post(f"{FS}/flows", body)["id"])

    def http_chain(
        self,
        connection: dict[str, Any] = RAW_CONNECTION,
        mapping: list[dict[str, Any]] | None = None,
    ) -> dict[str, str]:
        """Base connection → source → dataset → target → (mapping) → flow, with the inlet
        (raw records by default: ``SEED_CONNECTION`` for XDM envelopes)."""
        ids = {"connection": self.connection(connection), "dataset": self.dataset()}
        ids["source"] = self.source_connection(ids["connection"])
        ids["target"] = self.target_connection(ids["dataset"])
        mapping_id = self.mapping_set(mapping) if mapping else None
        ids["flow"] = self.flow(ids["source"], ids["target"], mapping_id)
        params = self.api.get(f"{FS}/connections/{ids['connection']}").json()["items"][0]["auth"][
            "params"
        ]
        ids["inlet_url"] = params["inletUrl"]
        ids["inlet_id"] = params["inletId"]
        return ids


# --- an in-test plugin: explore on a keyed source, verification on a webhook source ---------

ACME_API_SPEC = "0a0a0a0a-1111-4222-8333-444444444444"
ACME_HOOKS_SPEC = "0b0b0b0b-1111-4222-8333-444444444444"
ACME_HOOKS_FLOW = "0c0c0c0c-1111-4222-8333-444444444444"

ACME_API = Source(
    name="acme-api",
    title="Acme API",
    mode="scheduled",
    connection_spec=ConnectionSpec(
        id=ACME_API_SPEC,
        name="acme-api",
        provider_id="0d0d0d0d-1111-4222-8333-444444444444",
        auth_spec=[
            AuthSpec(
                name="API Key",
                type="KeyBased",
                spec={
                    "type": "object",
                    "properties": {
                        "apiKey": {"type": "string", "minLength": 8},
                        "region": {"type": "string", "enum": ["eu", "us"]},
                        # secret by the schema's marks alone: their names look harmless
                        "pin": {"type": "string", "writeOnly": True},
                        "signingKey": {"type": "string", "format": "password"},
                    },
                    "required": ["apiKey"],
                    "additionalProperties": False,
                },
            )
        ],
    ),
)
ACME_HOOKS = Source(
    name="acme-hooks",
    title="Acme Webhooks",
    connection_spec=ConnectionSpec(
        id=ACME_HOOKS_SPEC, name="acme-hooks", provider_id=PROVIDER_STREAMING, auth_spec=[]
    ),
    flow_specs=(
        FlowSpec(
            id=ACME_HOOKS_FLOW,
            name="Acme streaming",
            provider_id=PROVIDER_STREAMING,
            source_connection_spec_ids=[ACME_HOOKS_SPEC],
            target_connection_spec_ids=[DATA_LAKE_SPEC_ID],
            transformations=[{"name": "Mapping"}],
        ),
    ),
    inlet_on="flow",
    needs_base_connection=False,
)


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class AcmePlugin:
    """Explore for acme-api; signed, de-duplicated deliveries for acme-hooks."""

    @sourceflow.hookimpl
    def sourceflow_sources(self) -> list[Source]:
        return [ACME_API, ACME_HOOKS]

    @sourceflow.hookimpl
    def sourceflow_explore(
        self, source: Source, connection: Connection, request: ExploreRequest
    ) -> ExploreResult:
        assert connection.auth is not None and connection.auth.params["apiKey"].startswith("ak_")
        if request.object == "refused":
            raise SourceflowError("no object called 'refused'", hint="explore the root first")
        if request.object == "crash":
            raise RuntimeError("the plugin has a bug")
        if request.object is None:
            return ExploreResult(items=[{"type": "table", "name": "charges", "path": "charges"}])
        return ExploreResult(
            format="hierarchical",
            schema={"type": "object", "properties": {"id": {"type": "string"}}},
            data=[{"id": "ch_1", **request.source_params}] if request.preview else None,
        )

    @sourceflow.hookimpl
    def sourceflow_verify_delivery(self, source: Source, request: Delivery) -> Verdict:
        expected = sign(request.config["signingSecret"], request.body)
        if request.headers.get("x-acme-signature") != expected:
            return Verdict(authentic=False, reason="signature does not match")
        return Verdict(authentic=True, delivery_id=request.headers.get("x-acme-delivery"))
