"""Stripe runs through a real loopback platform and the fake Stripe: a pull under a steady 20%
of transient errors completes with every object once; a run stopped at any page resumes with
no duplicate and no gap (ties at the cursor, objects created meanwhile); errors are named by
kind with a hint; retries and 429s are counted in the run's metrics."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from fakestripe import KEY, TRANSIENT
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from sourceflow.http import RetryPolicy
from sourceflow.testing import (
    ConnectRequest,
    ScheduleParams,
    client_for,
    create_dataset,
    lifecycle_for,
    local_platform,
    serve,
)
from sourceflow_stripe import api as stripe_api

T = 1_700_000_000
LATER = 4_102_444_800  # a schedule that never comes: these runs are started on demand


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch) -> Iterator[None]:
    # Stripe's retry rules with waits of milliseconds, so that a test is not seconds long.
    monkeypatch.setattr(stripe_api, "RETRY", RetryPolicy(attempts=6, base=0.002, cap=0.02))
    quiet = logging.getLogger("uvicorn.error")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # the fake's dropped connections print tracebacks
    yield
    quiet.setLevel(level)


@pytest.fixture
def registry(sourceflow_registry):
    sourceflow_registry.load_entry_points()  # every installed plugin, as the CLI loads them
    return sourceflow_registry


def platform(data_dir) -> Any:
    return local_platform(data_dir, scheduler=False)


def connect(client: Any, registry, tmp_path, stripe_url: str) -> tuple[str, str, str]:
    dataset = create_dataset(client, "charges")
    lifecycle = lifecycle_for(client, registry, tmp_path / "state.json")
    connected = lifecycle.connect(
        ConnectRequest(
            source="stripe",
            name="charges",
            dataset_id=dataset,
            credentials={"accessToken": KEY, "apiBase": stripe_url},
            object="charges",
            schedule=ScheduleParams(start_time=LATER, frequency="once"),
        )
    )
    return connected.flow_id, dataset, connected.ids["base_connection"]


def run(app, client: Any, flow_id: str) -> Any:
    started = client.start_run(flow_id)
    assert app.platform.scheduler.wait_idle(60)
    return client.runs.get(started.id)


def ids_written(client: Any, dataset: str) -> Counter[str]:
    rows = client.dataset_rows(dataset)
    return Counter(r["record"]["_sourceflow"]["charges_data"]["id"] for r in rows)


def test_a_pull_under_20_percent_transient_errors_completes_with_each_object_once(
    stripe, registry, tmp_path
):
    fake, stripe_url = stripe
    # 24 pages, ties across most of them.
    every = fake.add("charges", 1640, created=T, step=0) + fake.add("charges", 760, created=T + 1)
    with platform(tmp_path / "platform") as app, client_for(app.url) as client:
        flow_id, dataset, _ = connect(client, registry, tmp_path, stripe_url)
        before = len(fake.requests)
        fake.fail_randomly(0.2, seed=11)
        done = run(app, client, flow_id)
        assert done.metrics.status_summary.status == "success", done.metrics.status_summary
        summary = done.metrics.record_summary
        assert (summary.input_record_count, summary.output_record_count) == (2400, 2400)
        assert ids_written(client, dataset) == Counter(every)
        # Every failed request was retried, and each try is counted.
        assert fake.failed >= 4 and set(fake.failures) <= {s for s, _, _ in TRANSIENT}
        extensions = done.metrics.status_summary.extensions
        retried = len(fake.requests) - before - 24
        assert extensions["retries"] == fake.failed + fake.limited == retried
        assert extensions["throttled"] == fake.failures[429] + fake.limited


@pytest.mark.parametrize("stop_at", [2, 4, 7])
def test_a_run_stopped_at_any_page_resumes_without_duplicate_or_gap(
    stripe, registry, tmp_path, stop_at
):
    fake, stripe_url = stripe
    # Ties across every page boundary: 37 objects a second, pages of 100.
    fake.add_at("charges", [T + i // 37 for i in range(720)])
    data = tmp_path / "platform"
    with platform(data) as app, client_for(app.url) as client:
        flow_id, dataset, _ = connect(client, registry, tmp_path, stripe_url)
        newest = T + 719 // 37

        def created_meanwhile() -> None:
            fake.add_at("charges", [newest, newest, newest + 1])  # ties with the newest, later

        fake.at_request[len(fake.requests) + 2] = created_meanwhile
        fake.stall_at = len(fake.requests) + stop_at
        first = client.start_run(flow_id).id
        assert fake.stalled.wait(20)
        # The platform stops with the run's reader waiting on Stripe: the run stays open,
        # with the pages written so far and their cursor.
        app.platform.scheduler.stop(timeout=5)
        written_before = sum(ids_written(client, dataset).values())
    fake.stall_at = None
    fake.release.set()
    assert written_before <= (stop_at - 1) * 100

    with platform(data) as app, client_for(app.url) as client:
        assert app.platform.scheduler.wait_idle(60)
        killed, retry = client.runs.list(property=f"flowId=={flow_id}")
        assert killed.id == first and killed.metrics.status_summary.status == "failed"
        assert killed.metrics.status_summary.errors[0].code == "RUN-503"
        assert retry.metrics.status_summary.status == "success"
        assert killed.metrics.record_summary.input_record_count == written_before
        read_once = (
            killed.metrics.record_summary.input_record_count
            + retry.metrics.record_summary.input_record_count
        )
        assert read_once == 720  # each object of the pass once, across the stop
        later = run(app, client, flow_id)  # then the objects created while it ran
        assert later.metrics.record_summary.input_record_count == 3
        assert ids_written(client, dataset) == Counter(o["id"] for o in fake.objects["charges"])
        assert sum(ids_written(client, dataset).values()) == 723


def _not_stripe(request: Any) -> Response:
    return Response(b"<html>a login page</html>", media_type="text/html")


@pytest.mark.parametrize(
    ("fault", "code", "says"),
    [
        ("revoked", "CONNECTOR-401", "Stripe Dashboard, Developers > API keys"),
        ("permission", "CONNECTOR-401", "give the restricted key read access"),
        ("down", "CONNECTOR-503", "the next run resumes where this one stopped"),
        ("unreachable", "CONNECTOR-503", "cannot reach Stripe"),
        ("not stripe", "CONNECTOR-422", "something other than a JSON object"),
        ("bad request", "CONNECTOR-400", "parameter limit"),
    ],
)
def test_run_errors_are_named_by_kind_with_a_hint_that_fits(
    stripe, registry, tmp_path, fault, code, says
):
    fake, stripe_url = stripe
    fake.add("charges", 3)
    other = Starlette(routes=[Route("/v1/{path}", _not_stripe)])
    with (
        platform(tmp_path / "platform") as app,
        serve(other) as other_url,
        client_for(app.url) as client,
    ):
        flow_id, _, base_id = connect(client, registry, tmp_path, stripe_url)
        if fault in ("unreachable", "not stripe"):
            base = client.connections.get(base_id)
            where = "http://127.0.0.1:9" if fault == "unreachable" else other_url
            client.connections.patch(
                base_id, [{"op": "replace", "path": "/auth/params/apiBase", "value": where}],
                base.etag,
            )  # fmt: skip
        elif fault == "revoked":
            fake.keys.discard(KEY)
        else:
            status, kind = {"permission": (403, "permission_error"), "down": (500, "api_error"),
                            "bad request": (400, "invalid_request_error")}[fault]  # fmt: skip
            error = {"type": kind, "message": "no", "param": "limit"}
            fake.inject.extend([(status, error, {})] * 6)
        done = run(app, client, flow_id)
        summary = done.metrics.status_summary
        assert summary.status == "failed"
        (error,) = summary.errors
        assert (error.code, says in error.message) == (code, True), error.message
        assert KEY not in error.message
        if fault == "down":
            assert summary.extensions == {"retries": 5}
        if fault in ("revoked", "permission", "bad request"):
            assert summary.extensions is None  # sent once: nothing to retry


def test_flows_on_one_key_share_its_budget(stripe, registry, tmp_path):
    fake, stripe_url = stripe
    resources = ("charges", "customers", "refunds")
    for resource in resources:
        fake.add(resource, 600)
    with platform(tmp_path / "platform") as app, client_for(app.url) as client:
        lifecycle = lifecycle_for(client, registry, tmp_path / "state.json")
        flows = []
        for resource in resources:
            dataset = create_dataset(client, resource)
            flows.append(
                lifecycle.connect(
                    ConnectRequest(
                        source="stripe", name=resource, dataset_id=dataset,
                        credentials={"accessToken": KEY, "apiBase": stripe_url}, object=resource,
                        schedule=ScheduleParams(start_time=LATER, frequency="once"),
                    )
                ).flow_id
            )  # fmt: skip
        started = [client.start_run(flow).id for flow in flows]
        assert app.platform.scheduler.wait_idle(60)
        done = [client.runs.get(r) for r in started]
    assert [r.metrics.record_summary.output_record_count for r in done] == [600] * 3
    # Three runs at once, one key: the fake (25 requests a second per key, test mode) refused
    # none, and no second held more than the budget.
    assert fake.limited == 0
    times = sorted(t for t, path, _ in fake.requests if path != "/v1/balance")
    assert max(sum(1 for u in times[i:] if u < t + 1.0) for i, t in enumerate(times)) <= 25
