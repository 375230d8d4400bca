"""Stripe in real time: a Stripe flow takes Stripe's signed webhook events at its own inlet,
beside the scheduled pull, into the same dataset; one object version lands once, whichever
way it came first; the pull brings what no webhook did; forged and stale events land nowhere.

Against the local platform with the installed Stripe plugin and its sample server (Stripe's
list protocol over the bundled sample objects), over loopback HTTP; the events are signed here
as Stripe documents (``t=…,v1=`` hex HMAC-SHA256 of ``"{t}.{body}"``).
"""

from __future__ import annotations

import copy
import hmac
import json
import time
import uuid
from collections import Counter
from typing import Any

import httpx

from sourceflow.lifecycle import ConnectRequest, Lifecycle
from sourceflow.platform.server import background
from sourceflow.state import StateFile
from sourceflow_stripe import plugin as stripe
from sourceflow_stripe import sample

SECRET = "whsec_realtime_test"


def _event(obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    kind = f"{obj['object']}.updated"
    return {"id": event_id or f"evt_{uuid.uuid4().hex[:16]}", "object": "event", "type": kind,
            "data": {"object": obj}}  # fmt: skip


def _post(url: str, event: dict[str, Any], *, secret: str = SECRET, age: int = 0) -> httpx.Response:
    body = json.dumps(event).encode()
    t = int(time.time()) - age
    v1 = hmac.new(secret.encode(), f"{t}.".encode() + body, "sha256").hexdigest()
    headers = {"content-type": "application/json", "Stripe-Signature": f"t={t},v1={v1}"}
    return httpx.post(url, content=body, headers=headers, timeout=10)


def test_webhooks_and_pulls_give_one_row_per_object_version(
    sourceflow_registry, register_plugin, sourceflow_platform, sourceflow_client,
    sourceflow_dataset, tmp_path,
) -> None:  # fmt: skip
    register_plugin(stripe, "sourceflow-stripe")
    customers = sample.objects("customers")
    assert len(customers) >= 3
    with background(sample.app()) as api:
        lifecycle = Lifecycle(
            sourceflow_client, sourceflow_registry, StateFile(tmp_path / "s.json")
        )
        done = lifecycle.connect(
            ConnectRequest(
                source="stripe",
                name="realtime",
                dataset_id=sourceflow_dataset,
                object="customers",
                credentials={"accessToken": "sk_test_rt", "apiBase": api, "webhookSecret": SECRET},
            )
        )
        assert done.inlet_url, "connect gives a Stripe flow its webhook URL"
        assert done.endpoint_facts["webhookUrl"] == done.inlet_url

        def rows() -> Counter[str]:
            sourceflow_platform.wait_idle(20)
            found = sourceflow_client.dataset_rows(sourceflow_dataset)
            return Counter(json.dumps(r["record"], sort_keys=True) for r in found)

        a, b, c = customers[0], customers[1], customers[2]
        b_newer = copy.deepcopy(b)
        b_newer["email"] = "changed-after-the-pull@example.com"
        # Webhooks first: A as it is, B in a newer version, and a charge (not this flow's).
        first = _post(done.inlet_url, _event(a, "evt_a"))
        assert first.status_code == 200, first.text
        assert _post(done.inlet_url, _event(b_newer)).status_code == 200
        charge = sample.objects("charges")[0]
        assert _post(done.inlet_url, _event(charge)).status_code == 200
        assert sum(rows().values()) == 2
        failures = sourceflow_client.flow_failures(done.flow_id)
        assert [f["error"]["code"] for f in failures] == ["INGEST-422"]

        # The pull: every customer, A not twice (same version), B's older version beside its
        # newer one.
        run = sourceflow_client.start_run(done.flow_id)
        after_pull = rows()
        assert sourceflow_client.runs.get(run.id).metrics.status_summary.status == "success"
        assert sum(after_pull.values()) == len(customers) + 1
        assert set(after_pull.values()) == {1}, "no record twice"

        # Webhooks after the pull: C in the version the pull wrote adds nothing; a redelivery
        # of A's event is answered with its first receipt and adds nothing either.
        assert _post(done.inlet_url, _event(c)).status_code == 200
        again = _post(done.inlet_url, _event(a, "evt_a"))
        assert again.json()["xactionId"] == first.json()["xactionId"]
        assert rows() == after_pull

        # Forged (another secret) and stale (an hour old) events: 401, nothing lands.
        forged = _post(done.inlet_url, _event(b_newer | {"id": "cus_forged"}), secret="whsec_x")
        stale = _post(done.inlet_url, _event(b_newer | {"id": "cus_stale"}), age=3600)
        assert (forged.status_code, stale.status_code) == (401, 401)
        assert "old" in stale.json()["detail"]
        assert rows() == after_pull
