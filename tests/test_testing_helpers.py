"""The helpers sourceflow.testing gives a plugin's own end-to-end tests, used as an author uses
them: a scheduled source written against the package root only, connected with
``lifecycle_for`` on a ``local_platform`` whose clock the test moves, restarted on its store,
torn down; ``client_for``'s options, the ``sourceflow_lifecycle`` and ``sourceflow_cli``
fixtures, and the re-exported names."""

from __future__ import annotations

from typing import Any

import pytest

import sourceflow
import sourceflow.testing
from sourceflow.http import RetryPolicy
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

SPEC = "0f0f0f0f-1111-4222-8333-777777777777"
FLOW_SPEC = "0f0f0f0f-2222-4222-8333-777777777777"
T0 = 1_710_000_000


class Counter:
    """A scheduled source whose records are numbered; the cursor is the next number."""

    source = sourceflow.Source(
        name="counter",
        title="Counter",
        mode="scheduled",
        connection_spec=sourceflow.ConnectionSpec(
            id=SPEC,
            name="counter",
            provider_id=sourceflow.PROVIDER_STREAMING,
            auth_spec=[
                sourceflow.AuthSpec(
                    name="Key",
                    type="KeyBased",
                    spec={
                        "type": "object",
                        "properties": {"apiKey": {"type": "string"}},
                        "required": ["apiKey"],
                    },
                )
            ],
        ),
        flow_specs=(
            sourceflow.FlowSpec(
                id=FLOW_SPEC,
                name="counter-scheduled",
                provider_id=sourceflow.PROVIDER_STREAMING,
                source_connection_spec_ids=[SPEC],
                target_connection_spec_ids=[sourceflow.DATA_LAKE_SPEC_ID],
                transformations=[{"name": "Mapping"}],
            ),
        ),
    )

    def __init__(self, per_run: int) -> None:
        self.per_run = per_run

    @sourceflow.hookimpl
    def sourceflow_sources(self) -> list[sourceflow.Source]:
        return [self.source]

    @sourceflow.hookimpl
    def sourceflow_read(self, source, connection, object, state) -> sourceflow.ReadResult:
        start = int(state.get("next", 0))
        records = [{"n": n} for n in range(start, start + self.per_run)]
        return sourceflow.ReadResult(records=records, state={"next": start + self.per_run})

    @sourceflow.hookimpl
    def sourceflow_mapping_defaults(self, source, object, tenant) -> list[sourceflow.MappingRule]:
        return [sourceflow.MappingRule.in_tenant("n", "counter.n", tenant)]


class Clock:
    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def counter(register_plugin) -> Counter:
    plugin = Counter(per_run=3)
    register_plugin(plugin, "sourceflow-counter")
    return plugin


def request(dataset: str, name: str = "counted") -> ConnectRequest:
    return ConnectRequest(
        source="counter",
        name=name,
        dataset_id=dataset,
        credentials={"apiKey": "k-123456"},
        tenant="acme",
        schedule=ScheduleParams(start_time=T0, frequency="hour", interval=1),
    )


def numbers(client: Any, dataset: str) -> list[int]:
    return sorted(r["record"]["_acme"]["counter"]["n"] for r in client.dataset_rows(dataset))


def test_a_connected_source_runs_on_the_moved_clock_survives_a_restart_and_tears_down(
    counter, sourceflow_registry, tmp_path
):
    clock = Clock()
    data = tmp_path / "platform"
    options: dict[str, Any] = {"registry": sourceflow_registry, "scheduler": False, "clock": clock}
    state = tmp_path / "state.json"
    with local_platform(data, **options) as local, client_for(local.url) as client:
        assert local.platform.config.scheduler is False  # the option reached the platform
        dataset = create_dataset(client, "counted", schema="https://ns.adobe.com/acme/counted")
        assert client.datasets.get(dataset).schema_ref.id == "https://ns.adobe.com/acme/counted"
        done = lifecycle_for(client, sourceflow_registry, state).connect(request(dataset))
        assert client.flows.get(done.flow_id).schedule_params.frequency == "hour"
        clock.now = T0 - 1
        assert local.platform.scheduler.tick() == []  # the clock is the test's: not yet due
        clock.now = T0 + 5
        (first,) = local.platform.scheduler.tick()
        local.wait_idle()
        assert client.runs.get(first).metrics.status_summary.status == "success"
        assert numbers(client, dataset) == [0, 1, 2]
        first_url = local.url

    # The same store under a new server: what was made and read is there, the cursor too.
    clock.now = T0 + 3600 + 5
    with local_platform(data, **options) as local, client_for(local.url) as client:
        assert [r.id for r in client.runs.list(property=f"flowId=={done.flow_id}")] == [first]
        (second,) = local.platform.scheduler.tick()
        local.wait_idle()
        assert numbers(client, dataset) == [0, 1, 2, 3, 4, 5]
        assert client.runs.get(second).metrics.record_summary.input_record_count == 3

        lifecycle = lifecycle_for(client, sourceflow_registry, state)
        assert lifecycle.state.get("counted", local.url, "prod") is None  # another URL
        record = lifecycle.state.get("counted", first_url, "prod")
        assert record is not None
        # The record names the first server's URL; the resources live in the store.
        assert "flow" in lifecycle.teardown(record)
        assert list(client.flows.list()) == []


def test_the_lifecycle_fixture_connects_on_the_test_platform(
    counter, sourceflow_lifecycle, sourceflow_client, sourceflow_dataset
):
    done = sourceflow_lifecycle.connect(request(sourceflow_dataset))
    assert client_ids(sourceflow_client) == [done.flow_id]
    with pytest.raises(sourceflow.SourceflowError, match="apiKey"):
        sourceflow_lifecycle.connect(
            ConnectRequest(source="counter", name="keyless", dataset_id=sourceflow_dataset)
        )
    settings = sourceflow_client.settings
    record = sourceflow_lifecycle.state.get("counted", settings.platform_url, settings.sandbox)
    assert (
        record is not None
        and sourceflow_lifecycle.state.get("keyless", settings.platform_url, settings.sandbox)
        is None
    )


def client_ids(client: Any) -> list[str]:
    return [f.id for f in client.flows.list()]


def test_client_for_names_its_sandbox_and_retries_as_told(sourceflow_platform):
    with client_for(sourceflow_platform.url, sandbox="dev-7") as client:
        assert client.settings.sandbox == "dev-7"
        dataset = create_dataset(client, "in dev-7")
        with client_for(sourceflow_platform.url) as prod:
            assert prod.settings.sandbox == "prod"
            assert dataset not in [d.id for d in prod.datasets.list()]
    once = RetryPolicy(attempts=1)
    with client_for(sourceflow_platform.url, retry=once) as client:
        assert client.retry is once


def test_the_client_errors_are_the_ones_it_raises(sourceflow_client, sourceflow_dataset):
    assert issubclass(Conflict, PlatformError) and issubclass(PlatformError, Exception)
    dataset = sourceflow_client.datasets.get(sourceflow_dataset)
    with pytest.raises(PlatformError) as caught:
        sourceflow_client.datasets.get("no-such-dataset")
    assert "no-such-dataset" in str(caught.value)
    assert dataset.name == "sourceflow test dataset"


def test_the_cli_fixture_runs_a_command_and_keeps_its_output_apart(
    sourceflow_cli, sourceflow_platform
):
    created = sourceflow_cli("--platform", sourceflow_platform.url, "datasets", "create", "d")
    assert created.code == 0 and created.out.strip() and created.err == ""
    listed = sourceflow_cli("--platform", sourceflow_platform.url, "datasets", "list")
    assert listed.code == 0 and created.out.strip() in listed.out
    code, out, err = sourceflow_cli("explore", "no-such-source-0000")
    # Retry waits are announced on stderr before the error, which is its last line.
    assert (code, out) == (1, "") and err.splitlines()[-1].startswith("error: ")


def test_the_re_exports_are_the_cores_own_and_listed():
    from sourceflow import errors, lifecycle, model

    assert sourceflow.testing.ConnectRequest is lifecycle.ConnectRequest
    assert sourceflow.testing.ScheduleParams is model.ScheduleParams
    assert (Conflict, PlatformError) == (errors.Conflict, errors.PlatformError)
    for name in sourceflow.testing.__all__:
        assert getattr(sourceflow.testing, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'Lifecycle'"):
        _ = sourceflow.testing.Lifecycle
