"""Stripe end to end on a real loopback platform, pulling from the fake Stripe: connect,
explore, scheduled and on-demand runs with metrics, incremental reads, update and delete."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator

import attrs
import httpx
import pytest
from fakestripe import KEY

from sourceflow import ExploreRequest, SourceflowError
from sourceflow.testing import (
    Conflict,
    ConnectRequest,
    PlatformError,
    ScheduleParams,
    client_for,
    create_dataset,
    lifecycle_for,
    local_platform,
)

START = 1_710_000_000


class Clock:
    def __init__(self) -> None:
        self.now = float(START)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def registry(sourceflow_registry):
    sourceflow_registry.load_entry_points()  # every installed plugin, as the CLI loads them
    return sourceflow_registry


@pytest.fixture
def served(tmp_path) -> Iterator[tuple[object, object, Clock]]:
    clock = Clock()
    platform = local_platform(tmp_path / "platform", clock=clock, scheduler=False)
    with platform as local, client_for(local.url) as client:
        yield local.platform, client, clock


def connect(client, registry, tmp_path, stripe_url: str, **extra) -> tuple[object, object, str]:
    dataset = create_dataset(client, "stripe charges")
    lifecycle = lifecycle_for(client, registry, tmp_path / "state.json")
    connected = lifecycle.connect(
        ConnectRequest(
            source="stripe",
            name="stripe-charges",
            dataset_id=dataset,
            credentials={"accessToken": KEY, "apiBase": stripe_url},
            object="charges",
            tenant="acme",
            schedule=ScheduleParams(start_time=START, frequency="minute", interval=15),
            **extra,
        )
    )
    return lifecycle, connected, dataset


def run_due(platform, clock: Clock, at: float) -> list[str]:
    clock.now = at
    started = platform.scheduler.tick()
    assert platform.scheduler.wait_idle(20)
    return started


def test_scheduled_runs_pull_incrementally_with_metrics(stripe, served, registry, tmp_path):
    fake, stripe_url = stripe
    fake.add("charges", 130, created=1_700_000_000)
    platform, client, clock = served
    _, connected, dataset = connect(client, registry, tmp_path, stripe_url)
    flow = client.flows.get(connected.flow_id)
    assert flow.flow_spec.id == "6499120c-0b15-42dc-936e-847ea3c24d72"
    assert flow.schedule_params.frequency == "minute" and flow.schedule_params.interval == 15

    assert run_due(platform, clock, START - 1) == []  # before startTime: nothing is due
    first = run_due(platform, clock, START + 5)
    assert len(first) == 1
    assert run_due(platform, clock, START + 14 * 60) == []  # same slot: no second run

    run = client.runs.get(first[0])
    assert run.flow_id == connected.flow_id
    assert run.metrics.status_summary.status == "success"
    summary = run.metrics.record_summary
    assert (summary.input_record_count, summary.output_record_count) == (130, 130)
    assert summary.failed_record_count == 0
    assert (
        run.metrics.duration_summary.completed_at_utc >= run.metrics.duration_summary.started_at_utc
    )
    rows = client.dataset_rows(dataset)
    assert len(rows) == 130
    record = rows[0]["record"]["_acme"]["charges_data"]
    assert record["id"].startswith("ch_fake") and record["amount"] == 100
    assert record["payment_method_details"]["card"]["last4"] == "4242"

    fake.add("charges", 5, created=1_700_000_500)
    second = run_due(platform, clock, START + 15 * 60)
    assert len(second) == 1
    assert client.runs.get(second[0]).metrics.record_summary.input_record_count == 5
    assert len(client.dataset_rows(dataset)) == 135

    # On demand: nothing new, nothing written twice.
    started = client.start_run(connected.flow_id)
    assert platform.scheduler.wait_idle(20)
    third = client.runs.get(started.id)
    assert third.metrics.status_summary.status == "success"
    assert third.metrics.record_summary.input_record_count == 0
    listed = list(client.runs.list(property=f"flowId=={connected.flow_id}"))
    assert [r.id for r in listed] == [first[0], second[0], started.id]
    assert len(client.dataset_rows(dataset)) == 135


def test_explore_lists_describes_and_previews(stripe, served, registry, tmp_path):
    fake, stripe_url = stripe
    fake.add("charges", 12)
    _, client, _ = served
    _, connected, _ = connect(client, registry, tmp_path, stripe_url)
    base = connected.ids["base_connection"]
    listing = client.explore(base, ExploreRequest())
    assert [i["path"] for i in listing["items"]] == [
        "charges", "subscriptions", "refunds", "balance_transactions", "customers", "prices",
    ]  # fmt: skip
    shape = client.explore(
        base,
        ExploreRequest(object="json", file_type="json", source_params={"resourcePath": "charges"}),
    )
    assert shape["format"] == "hierarchical" and "data" not in shape
    charge = shape["schema"]["properties"]["data"]["properties"]
    assert charge["amount"]["type"] == "integer"
    assert charge["customer"]["type"] == "null"  # the samples have no customer
    card = charge["payment_method_details"]["properties"]["card"]["properties"]
    assert card["brand"] == {"type": "string"}
    # Field names that look like secrets are structure, not values: never masked.
    assert card["extended_authorization"]["properties"]["status"] == {"type": "string"}
    preview = client.explore(
        base, ExploreRequest(preview=True, source_params={"resourcePath": "charges"})
    )
    assert len(preview["data"]) == 10 and preview["data"][0]["data"]["object"] == "charge"
    # An empty resource still has a structure (from sample objects).
    empty = client.explore(base, ExploreRequest(source_params={"resourcePath": "prices"}))
    assert "unit_amount" in empty["schema"]["properties"]["data"]["properties"]


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("%%%", "is not Base64"),
        (base64.b64encode(b"{nope").decode(), "is not JSON"),
        (base64.b64encode(b'"charges"').decode(), "must decode to a JSON object"),
        (
            base64.b64encode(json.dumps({"resourcePath": "invoices"}).encode()).decode(),
            "'invoices' is not a Stripe resource path (use one of charges, subscriptions",
        ),
        (
            base64.b64encode(json.dumps({"path": "charges"}).encode()).decode(),
            "sourceParams: unknown key(s) path",
        ),
    ],
)
def test_bad_source_params_answer_400_naming_the_problem(
    stripe, served, registry, tmp_path, raw, says
):
    _, stripe_url = stripe
    _, client, _ = served
    _, connected, _ = connect(client, registry, tmp_path, stripe_url)
    url = f"{client.flowservice_url}/connections/{connected.ids['base_connection']}/explore"
    token = client.access_token()
    answer = httpx.get(
        url,
        params={"objectType": "rest", "object": "json", "fileType": "json", "sourceParams": raw},
        headers={
            "Authorization": f"Bearer {token}",
            "x-api-key": client.settings.api_key,
            "x-gw-ims-org-id": client.settings.org_id,
            "x-sandbox-name": client.settings.sandbox,
        },
    )
    assert answer.status_code == 400
    assert says in answer.json()["detail"]


def test_update_credentials_and_schedule_then_delete(stripe, served, registry, tmp_path):
    fake, stripe_url = stripe
    fake.add("charges", 3)
    platform, client, clock = served
    lifecycle, connected, _ = connect(client, registry, tmp_path, stripe_url)
    base_id = connected.ids["base_connection"]

    # The key never comes back.
    base = client.connections.get(base_id)
    assert base.auth.params["accessToken"] == "***"

    # A key Stripe refuses: the run fails, saying so, without the key.
    wrong = "sk_test_revoked_key_00000"
    client.connections.patch(
        base_id,
        [{"op": "replace", "path": "/auth/params/accessToken", "value": wrong}],
        base.etag,
    )
    run = client.runs.get(run_due(platform, clock, START)[0])
    assert run.metrics.status_summary.status == "failed"
    (error,) = run.metrics.status_summary.errors
    assert error.code == "CONNECTOR-401"
    assert "Stripe refused GET /v1/charges (401" in error.message
    assert "PATCH the connection" in error.message
    assert wrong not in json.dumps(platform.store.rows("SELECT doc FROM runs")[0]["doc"])

    # Put the right key back; a stale etag is refused.
    stale = client.connections.get(base_id).etag
    client.connections.patch(
        base_id, [{"op": "replace", "path": "/auth/params/accessToken", "value": KEY}], stale
    )
    with pytest.raises(Conflict):
        client.connections.patch(base_id, [{"op": "replace", "path": "/name", "value": "x"}], stale)

    # Reschedule: every hour; a schedule breaking Adobe's rules is refused, naming the field.
    flow = client.flows.get(connected.flow_id)
    with pytest.raises(PlatformError, match=r"scheduleParams\.interval: must be at least 15"):
        client.flows.patch(
            flow.id, [{"op": "replace", "path": "/scheduleParams/interval", "value": 5}], flow.etag
        )
    client.flows.patch(
        flow.id,
        [{"op": "replace", "path": "/scheduleParams", "value": {
            "startTime": START, "frequency": "hour", "interval": 1}}],
        flow.etag,
    )  # fmt: skip
    assert run_due(platform, clock, START + 30 * 60) == []
    retry = client.runs.get(run_due(platform, clock, START + 3600)[0])
    assert retry.metrics.record_summary.output_record_count == 3  # the failed run lost nothing

    # An account still used by a flow is not deleted.
    with pytest.raises(Conflict, match="still used by source connection"):
        client.connections.delete(base_id)
    record = lifecycle.state.get("stripe-charges", client.settings.platform_url, "prod")
    assert lifecycle.teardown(record) == [  # the endpoint: the flow's webhook inlet
        "endpoint", "flow", "target_connection", "source_connection", "base_connection",
    ]  # fmt: skip
    assert list(client.flows.list()) == []
    assert len(list(client.runs.list(property=f"flowId=={connected.flow_id}"))) == 2


def test_an_invalid_key_is_refused_at_connect(stripe, served, registry, tmp_path):
    _, stripe_url = stripe
    _, client, _ = served
    dataset = create_dataset(client, "d")
    lifecycle = lifecycle_for(client, registry, tmp_path / "state.json")
    for key, says in (
        ("sk_test_not_known_0000", "Stripe refused GET /v1/balance (401"),
        ("pk_test_publishable_000", "publishable key"),
        ("hello", "start with sk_ or rk_"),
    ):
        with pytest.raises(SourceflowError, match=re.escape(says)) as caught:
            lifecycle.connect(
                ConnectRequest(
                    source="stripe", name=f"bad-{key}", dataset_id=dataset,
                    credentials={"accessToken": key, "apiBase": stripe_url}, object="charges",
                )
            )  # fmt: skip
        assert key not in str(caught.value) or key == "hello"
    assert list(client.connections.list()) == []


def test_stripe_connect_oauth_exchanges_the_code_once(stripe, served, registry, tmp_path):
    _, stripe_url = stripe
    platform, client, _ = served
    dataset = create_dataset(client, "d")
    lifecycle = lifecycle_for(client, registry, tmp_path / "state.json")
    request = ConnectRequest(
        source="stripe",
        name="oauth",
        dataset_id=dataset,
        auth_spec="Stripe Connect OAuth",
        credentials={
            "clientSecret": KEY,
            "authorizationCode": "ac_fake_code",
            "oauthBase": stripe_url,
            "apiBase": stripe_url,
        },
        object="customers",
    )
    connected = lifecycle.connect(request)
    base = client.connections.get(connected.ids["base_connection"])
    assert base.auth.spec_name == "OAuth2 Refresh Code"
    assert base.auth.params["stripeUserId"] == "acct_fake01"
    assert base.auth.params["accessToken"] == base.auth.params["refreshToken"] == "***"
    stored = platform.store.rows("SELECT doc FROM resources WHERE kind = 'connections'")
    assert "ac_fake_code" not in stored[0]["doc"]  # the code is spent, never kept
    with pytest.raises(SourceflowError, match="invalid_grant"):
        lifecycle.connect(attrs.evolve(request, name="again"))
