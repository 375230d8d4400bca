"""The HTTP API plugin passes sourceflow's conformance suite."""

from __future__ import annotations

from sourceflow.testing import PluginConformance

# An XDM envelope as Adobe's HTTP API tutorial streams it; with no mapping the row is its
# body.xdmEntity.
ENVELOPE = {
    "header": {
        "schemaRef": {
            "id": "https://ns.adobe.com/sourceflow/schemas/conformance",
            "contentType": "application/vnd.adobe.xed-full+json;version=1",
        }
    },
    "body": {
        "xdmMeta": {"schemaRef": {"id": "https://ns.adobe.com/sourceflow/schemas/conformance"}},
        "xdmEntity": {"person": {"name": {"firstName": "Ada", "lastName": "Lovelace"}}},
    },
}


class TestHttpConformance(PluginConformance):
    plugin = "sourceflow-http"
    # The source has no kinds of record and no default mapping: one sample, under None.
    samples = {None: [ENVELOPE, {"body": {"xdmEntity": {"person": {"id": "p-2"}}}}]}
