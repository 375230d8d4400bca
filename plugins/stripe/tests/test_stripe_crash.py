"""A crash in the middle of a run: ``platform serve`` is killed (SIGKILL) while pulling from the
fake Stripe; the restarted platform marks the run failed and retries it from the last page
written: nothing is read twice, every record lands exactly once, ties at the page boundary and
objects created during the run included."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from fakestripe import KEY

from sourceflow.http import RetryPolicy
from sourceflow.testing import (
    ConnectRequest,
    ScheduleParams,
    client_for,
    create_dataset,
    lifecycle_for,
)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")


def serve(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "sourceflow.cli", "platform", "serve"]
    proc = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [*command, "--port", str(port), "--data-dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(url + "/data/foundation/flowservice/flowSpecs", timeout=1)
            return proc, url
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("platform serve did not start")
            time.sleep(0.1)


def until(check, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail("timed out")


def test_a_killed_run_is_retried_and_nothing_is_written_twice(
    stripe, sourceflow_registry, tmp_path
):
    fake, stripe_url = stripe
    # Ties across the page boundaries: 7 objects a second.
    fake.add_at("charges", [1_700_000_000 + i // 7 for i in range(250)])
    newest = 1_700_000_000 + 249 // 7
    data = tmp_path / "platform"
    proc, url = serve(data)
    try:
        client = client_for(url, retry=RetryPolicy(attempts=1))
        dataset = create_dataset(client, "charges")
        sourceflow_registry.load_entry_points()  # every installed plugin, as the CLI loads them
        lifecycle = lifecycle_for(client, sourceflow_registry, tmp_path / "state.json")
        connected = lifecycle.connect(
            ConnectRequest(
                source="stripe",
                name="crash",
                dataset_id=dataset,
                credentials={"accessToken": KEY, "apiBase": stripe_url},
                object="charges",
                # Far in the future: the run below is the only one.
                schedule=ScheduleParams(start_time=4102444800, frequency="once"),
            )
        )
        fake.stall_at = len(fake.requests) + 2  # the second page hangs
        # Created while the run is under way: a tie with the newest object, and a later one.
        fake.at_request[len(fake.requests) + 2] = lambda: fake.add_at(
            "charges", [newest, newest + 5]
        )
        first = client.start_run(connected.flow_id).id
        assert fake.stalled.wait(20)
        until(lambda: len(client.dataset_rows(dataset)) == 100)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    fake.stall_at = None
    fake.release.set()

    proc, url = serve(data)
    try:
        client = client_for(url)
        runs = until(
            lambda: [
                r
                for r in [list(client.runs.list(property=f"flowId=={connected.flow_id}"))]
                if len(r) == 2 and r[1].metrics.status_summary.status != "inProgress"
            ]
        )[0]
        killed, retry = runs
        assert killed.id == first
        assert killed.metrics.status_summary.status == "failed"
        (error,) = killed.metrics.status_summary.errors
        assert error.code == "RUN-503" and retry.id in error.message
        assert retry.metrics.status_summary.status == "success"
        # The retry resumed after the page the killed run wrote: it read the rest only.
        assert killed.metrics.record_summary.input_record_count == 100
        summary = retry.metrics.record_summary
        assert (summary.input_record_count, summary.output_record_count) == (150, 150)
        later = client.runs.get(client.start_run(connected.flow_id).id)
        later = until(
            lambda: (
                (r := client.runs.get(later.id)).metrics.status_summary.status != "inProgress" and r
            )
        )
        assert later.metrics.record_summary.input_record_count == 2  # created during the run
        rows = client.dataset_rows(dataset)
        ids = Counter(r["record"]["_sourceflow"]["charges_data"]["id"] for r in rows)
        assert len(ids) == 252 and set(ids.values()) == {1}
    finally:
        proc.terminate()
        proc.wait(10)
