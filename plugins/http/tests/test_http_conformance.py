"""The HTTP API plugin passes sourceflow's conformance suite."""

from __future__ import annotations

from sourceflow.testing import PluginConformance

# XDM envelopes as Adobe's HTTP API tutorial streams them; with no mapping the row is the
# body.xdmEntity. Both references name the schema of the suite's dataset (sourceflow_dataset):
# an envelope for another schema is a failure, not a row.
SCHEMA = {
    "id": "https://ns.adobe.com/sourceflow/schemas/test",
    "contentType": "application/vnd.adobe.xed-full+json;version=1",
}


def envelope(entity: dict[str, object]) -> dict[str, object]:
    return {
        "header": {"schemaRef": SCHEMA},
        "body": {"xdmMeta": {"schemaRef": SCHEMA}, "xdmEntity": entity},
    }


ENVELOPE = envelope({"person": {"name": {"firstName": "Ada", "lastName": "Lovelace"}}})


class TestHttpConformance(PluginConformance):
    plugin = "sourceflow-http"
    # The source has no kinds of record and no default mapping: one sample, under None.
    samples = {None: [ENVELOPE, envelope({"person": {"id": "p-2"}})]}
