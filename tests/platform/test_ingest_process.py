"""The ingest worker in a process of its own (as ``sourceflow platform serve`` runs it): rows
and failures in order, each message once, a replaced mapping set used from then on, and the
process gone when the platform stops."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gateway import platform_client
from platform_testkit import FS, SCHEMA_ID, Builder

from sourceflow.platform.app import PlatformConfig, create_app
from sourceflow.platform.ingest.process import IngestProcess
from sourceflow.platform.server import background

DP = "/data/foundation/conversion"
RULES = [
    {"sourceAttribute": "visitor.UUID", "destinationXdmPath": "_tenant.UUID", "identity": True},
    {
        "sourceAttribute": "lower(trim(visitor.email))",
        "sourceType": "EXPRESSION",
        "destinationXdmPath": "_tenant.email",
    },
    {"sourceAttribute": "n", "destinationXdmPath": "_tenant.n"},
]


def _rows(data_dir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(data_dir / "platform.db") as db:
        return list(db.execute("SELECT xaction_id, record FROM rows ORDER BY seq"))


def test_the_ingest_process_maps_in_order_once_and_follows_a_replaced_mapping(tmp_path):
    config = PlatformConfig(data_dir=tmp_path, ingest_process=True, durability="normal")
    app = create_app(config)
    platform = app.state.platform
    with background(app) as url, platform_client(url) as client:
        assert isinstance(platform.ingest, IngestProcess)
        chain = Builder(client).http_chain(mapping=RULES)
        receipts = []
        for n in range(300):
            body = {"visitor": {"UUID": f"u-{n}", "email": f" User{n}@Example.COM "}, "n": n}
            if n == 7:
                body = {"visitor": {"email": "x@example.com"}, "n": n}  # no identity
            answer = client.post(chain["inlet_url"], json=body)
            assert answer.status_code == 200
            receipts.append(answer.json()["xactionId"])
        assert platform.wait_idle(30)

        rows = client.get(f"/sourceflow/dataSets/{chain['dataset']}/rows?limit=1000").json()
        records = [r["record"]["_tenant"] for r in rows["items"]]
        assert [r["n"] for r in records] == [n for n in range(300) if n != 7]
        assert records[0] == {"UUID": "u-0", "email": "user0@example.com", "n": 0}
        failures = client.get(f"/sourceflow/flows/{chain['flow']}/failures").json()["items"]
        assert [f["body"]["n"] for f in failures] == [7]
        assert failures[0]["error"]["code"] == "MAPPING-400"
        assert [x for x, _ in _rows(tmp_path)] == [x for i, x in enumerate(receipts) if i != 7]

        # A replaced mapping set maps the messages sent after it, in the other process too.
        flow = client.get(f"{FS}/flows/{chain['flow']}").json()["items"][0]
        mapping_id = flow["transformations"][0]["params"]["mappingId"]
        replaced = {
            "outputSchema": {"schemaRef": {"id": SCHEMA_ID, "contentType": "application/json"}},
            "mappings": [
                *RULES,
                {
                    "sourceAttribute": "'v2'",
                    "sourceType": "STATIC",
                    "destinationXdmPath": "_tenant.version",
                },
            ],
        }
        answer = client.put(f"{DP}/mappingSets/{mapping_id}", json=replaced)
        assert answer.status_code == 200, answer.text
        late = client.post(chain["inlet_url"], json={"visitor": {"UUID": "late"}})
        assert late.status_code == 200
        assert platform.wait_idle(30)
        last = client.get(f"/sourceflow/dataSets/{chain['dataset']}/rows?limit=1000").json()
        assert last["items"][-1]["record"] == {"_tenant": {"UUID": "late", "version": "v2"}}
        process = platform.ingest._process
        assert process is not None and process.is_alive()
    # The platform stopped: so did its ingest process, and every message is past the mark.
    assert not process.is_alive()
    with sqlite3.connect(tmp_path / "platform.db") as db:
        assert db.execute(
            "SELECT count(*) FROM messages WHERE seq > (SELECT through_seq FROM ingest_mark)"
        ).fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM rows").fetchone() == (300,)
