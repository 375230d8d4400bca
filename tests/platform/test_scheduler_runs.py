"""The scheduler and runs, with an in-test scheduled source (no real source involved):
due slots on an injected clock, runs with Adobe's metrics, failures with their codes, cursors
stored only on success, de-duplication across runs, and a run interrupted by a stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from gateway import platform_client

import sourceflow
from sourceflow.errors import SourceflowError
from sourceflow.hooktypes import (
    DATA_LAKE_SPEC_ID,
    PROVIDER_STREAMING,
    AuthSpec,
    ConnectionSpec,
    FlowSpec,
    ReadResult,
    Source,
)
from sourceflow.platform.app import PlatformConfig, create_app
from sourceflow.platform.runs.scheduler import latest_slot
from sourceflow.platform.server import background
from sourceflow.plugins import load

FS = "/data/foundation/flowservice"
SPEC = "0f0f0f0f-1111-4222-8333-555555555555"
FLOW_SPEC = "0f0f0f0f-2222-4222-8333-555555555555"
T0 = 1_710_000_000


class Ledger:
    """A scheduled source whose records are a list; the cursor is how many were read."""

    source = Source(
        name="ledger",
        title="Ledger",
        mode="scheduled",
        connection_spec=ConnectionSpec(
            id=SPEC,
            name="ledger",
            provider_id=PROVIDER_STREAMING,
            auth_spec=[AuthSpec(name="Key", type="KeyBased", spec={"type": "object"})],
        ),
        flow_specs=(
            FlowSpec(
                id=FLOW_SPEC,
                name="ledger-scheduled",
                provider_id=PROVIDER_STREAMING,
                source_connection_spec_ids=[SPEC],
                target_connection_spec_ids=[DATA_LAKE_SPEC_ID],
                transformations=[{"name": "Mapping"}],
            ),
        ),
    )

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.states: list[dict[str, Any]] = []
        self.fail: BaseException | None = None
        self.gate: threading.Event | None = None
        self.read_objects: list[Any] = []

    @sourceflow.hookimpl
    def sourceflow_sources(self) -> list[Source]:
        return [self.source]

    @sourceflow.hookimpl
    def sourceflow_read(self, source, connection, object, state) -> ReadResult:
        self.states.append(dict(state))
        self.read_objects.append(object)
        start = int(state.get("next", 0))
        following: dict[str, Any] = {}

        def records() -> Iterator[dict[str, Any]]:
            for n, record in enumerate(self.records[start:], start):
                if n == start + 150 and self.gate is not None:
                    self.gate.wait(10)
                yield record
            if self.fail is not None:
                raise self.fail
            following["next"] = len(self.records)

        return ReadResult(records=records(), state=following)


class Clock:
    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


def serve(tmp_path, ledger: Ledger, clock: Clock, **config: Any):
    registry = load()
    registry.register(ledger, "ledger-plugin")
    app = create_app(
        PlatformConfig(data_dir=tmp_path, clock=clock, **{"scheduler": False, **config}),
        registry=registry,
    )
    return app, background(app)


def scheduled_flow(api, schedule: dict[str, Any] | None, *, mapped: bool = True) -> str:
    dataset = api.post("/data/foundation/catalog/dataSets", json={"name": "d"}).json()[0]
    dataset = dataset.rsplit("/", 1)[-1]
    base = api.post(
        f"{FS}/connections",
        json={
            "name": "b",
            "connectionSpec": {"id": SPEC},
            "auth": {"specName": "Key", "params": {}},
        },
    ).json()["id"]
    source = api.post(
        f"{FS}/sourceConnections",
        json={"name": "s", "baseConnectionId": base, "connectionSpec": {"id": SPEC},
              "params": {"resourcePath": "entries"}},
    ).json()["id"]  # fmt: skip
    target = api.post(
        f"{FS}/targetConnections",
        json={"name": "t", "connectionSpec": {"id": DATA_LAKE_SPEC_ID},
              "params": {"dataSetId": dataset}},
    ).json()["id"]  # fmt: skip
    body: dict[str, Any] = {
        "name": "ledger flow",
        "flowSpec": {"id": FLOW_SPEC, "version": "1.0"},
        "sourceConnectionIds": [source],
        "targetConnectionIds": [target],
    }
    if mapped:
        mapping = api.post(
            "/data/foundation/conversion/mappingSets",
            json={"mappings": [
                {"sourceAttribute": "n", "destinationXdmPath": "_acme.n", "identity": True},
                {"sourceAttribute": "upper(name)", "sourceType": "EXPRESSION",
                 "destinationXdmPath": "_acme.name"},
            ]},
        ).json()["id"]  # fmt: skip
        body["transformations"] = [
            {"name": "Mapping", "params": {"mappingId": mapping, "mappingVersion": 0}}
        ]
    if schedule is not None:
        body["scheduleParams"] = schedule
    answer = api.post(f"{FS}/flows", json=body)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def runs_of(api, flow_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(
        f"{FS}/runs", params={"property": f"flowId=={flow_id}"}
    ).json()["items"]
    return items


def summary(run: dict[str, Any]) -> tuple[str, int, int, int]:
    m = run["metrics"]
    r = m["recordSummary"]
    return (
        m["statusSummary"]["status"],
        r["inputRecordCount"],
        r["outputRecordCount"],
        r["failedRecordCount"],
    )


@pytest.mark.parametrize(
    ("schedule", "now", "slot"),
    [
        ({"startTime": 100, "frequency": "once"}, 99, None),
        ({"startTime": 100, "frequency": "once"}, 5000, 100),
        ({"startTime": 100, "frequency": "minute", "interval": 15}, 100 + 899, 100),
        ({"startTime": 100, "frequency": "minute", "interval": 15}, 100 + 900, 1000),
        ({"startTime": 0, "frequency": "hour", "interval": 2}, 7300, 7200),
        ({"startTime": 0, "frequency": "day", "interval": 1}, 86400 * 3 + 5, 86400 * 3),
        ({"startTime": 0, "frequency": "week", "interval": 1}, 604799, 0),
        (None, 2000, 1000),  # no schedule: once, at the flow's creation (createdAt 1000000 ms)
    ],
)
def test_latest_slot(schedule, now, slot):
    assert latest_slot(schedule, 1_000_000, now) == slot


def test_due_runs_follow_the_schedule_and_carry_adobes_metrics(tmp_path, ledger):
    clock = Clock()
    ledger.records = [{"n": i, "name": f"entry {i}"} for i in range(230)]
    app, serving = serve(tmp_path, ledger, clock)
    with serving as url, platform_client(url) as api:
        flow = scheduled_flow(api, {"startTime": T0 + 60, "frequency": "minute", "interval": 15})
        scheduler = app.state.platform.scheduler
        assert scheduler.tick() == []  # not started yet
        clock.now = T0 + 60
        (first,) = scheduler.tick()
        assert scheduler.tick() == []  # one run per slot
        assert scheduler.wait_idle(10)
        run = api.get(f"{FS}/runs/{first}").json()["items"][0]
        assert summary(run) == ("success", 230, 230, 0)
        assert run["flowId"] == flow and run["flowSpec"]["id"] == FLOW_SPEC
        assert run["metrics"]["durationSummary"]["startedAtUTC"] == (T0 + 60) * 1000
        assert ledger.read_objects == ["entries"]  # params.resourcePath is the object
        rows = api.get(f"/sourceflow/dataSets/{_dataset(api, flow)}/rows").json()["items"]
        assert rows[5]["record"] == {"_acme": {"n": 5, "name": "ENTRY 5"}}

        ledger.records += [{"n": 230 + i, "name": "late"} for i in range(3)]
        clock.now = T0 + 60 + 15 * 60
        (second,) = scheduler.tick()
        assert scheduler.wait_idle(10)
        assert ledger.states == [{}, {"next": 230}]  # the cursor of the run before
        assert summary(api.get(f"{FS}/runs/{second}").json()["items"][0]) == ("success", 3, 3, 0)
        # Missed slots are caught up by one run, not one per slot.
        clock.now += 10 * 15 * 60
        assert len(scheduler.tick()) == 1


def _dataset(api, flow_id: str) -> str:
    flow = api.get(f"{FS}/flows/{flow_id}").json()["items"][0]
    target = api.get(f"{FS}/targetConnections/{flow['targetConnectionIds'][0]}").json()
    return str(target["items"][0]["params"]["dataSetId"])


def test_the_scheduler_thread_ticks_by_itself(tmp_path, ledger):
    clock = Clock()
    ledger.records = [{"n": 1, "name": "x"}]
    _, serving = serve(tmp_path, ledger, clock, scheduler=True, scheduler_poll=0.02)
    with serving as url, platform_client(url) as api:
        flow = scheduled_flow(api, {"startTime": T0 + 3600, "frequency": "once"})
        assert runs_of(api, flow) == []
        clock.now = T0 + 3600
        for _ in range(200):
            found = runs_of(api, flow)
            if found and summary(found[0])[0] != "inProgress":
                break
            threading.Event().wait(0.02)
        assert [summary(r) for r in runs_of(api, flow)] == [("success", 1, 1, 0)]


def test_failures_are_reported_with_codes_and_keep_the_cursor(tmp_path, ledger):
    clock = Clock()
    ledger.records = [{"n": 1, "name": "a"}, {"name": "no n"}, {"n": 3, "name": "c"}]
    app, serving = serve(tmp_path, ledger, clock)
    with serving as url, platform_client(url) as api:
        flow = scheduled_flow(api, {"startTime": T0 + 10**6, "frequency": "once"})
        scheduler = app.state.platform.scheduler

        def run_now() -> dict[str, Any]:
            answer = api.post(f"{FS}/runs", json={"flowId": flow})
            assert answer.status_code == 201, answer.text
            assert scheduler.wait_idle(10)
            return dict(api.get(f"{FS}/runs/{answer.json()['id']}").json()["items"][0])

        # A record the mapping refuses: counted failed, kept with its error.
        run = run_now()
        assert summary(run) == ("success", 3, 2, 1)
        (error,) = run["metrics"]["statusSummary"]["errors"]
        assert error["code"] == "MAPPING-400" and "1 record(s) failed mapping" in error["message"]
        failures = api.get(f"/sourceflow/flows/{flow}/failures").json()["items"]
        assert "mandatory identity is missing" in failures[0]["error"]["message"]

        # The source fails after some records: the run fails, the cursor stays.
        ledger.records.append({"n": 4, "name": "d"})
        ledger.fail = SourceflowError("the ledger is closed", hint="open it")
        run = run_now()
        assert summary(run) == ("failed", 1, 1, 0)
        assert run["metrics"]["statusSummary"]["errors"] == [
            {"code": "CONNECTOR-400", "message": "ledger: the ledger is closed (open it)"}
        ]
        ledger.fail = RuntimeError("disk on fire")
        run = run_now()
        (error,) = run["metrics"]["statusSummary"]["errors"]
        assert error["code"] == "CONNECTOR-500"
        assert "plugin 'ledger-plugin' failed in sourceflow_read: RuntimeError" in error["message"]
        ledger.fail = None
        run = run_now()
        # Read again from the cursor of the first run; record 4 was already written.
        assert summary(run) == ("success", 1, 0, 0)
        assert ledger.states[-1] == {"next": 3}


def test_a_run_interrupted_by_a_stop_is_failed_and_retried(tmp_path, ledger):
    clock = Clock()
    ledger.records = [{"n": i, "name": "x"} for i in range(300)]
    ledger.gate = threading.Event()
    app, serving = serve(tmp_path, ledger, clock)
    with serving as url, platform_client(url) as api:
        flow = scheduled_flow(api, {"startTime": T0 + 10**6, "frequency": "once"})
        first = api.post(f"{FS}/runs", json={"flowId": flow}).json()["id"]
        dataset = _dataset(api, flow)
        for _ in range(200):  # the first 100 records are committed, the read waits
            if len(api.get(f"/sourceflow/dataSets/{dataset}/rows").json()["items"]) == 100:
                break
            threading.Event().wait(0.02)
        # Once the platform is stopping, the read goes on and the run notices at its next
        # chunk, leaving the run open as a crash would.
        stopping = app.state.platform.scheduler._stopping
        gate = ledger.gate
        threading.Thread(target=lambda: stopping.wait(10) and gate.set()).start()
    ledger.gate = None
    app, serving = serve(tmp_path, ledger, clock)
    with serving as url, platform_client(url) as api:
        assert app.state.platform.scheduler.wait_idle(10)
        killed, retry = runs_of(api, flow)
        assert killed["id"] == first and summary(killed)[0] == "failed"
        (error,) = killed["metrics"]["statusSummary"]["errors"]
        assert error["code"] == "RUN-503" and f"run {retry['id']} retries it" in error["message"]
        assert summary(retry) == ("success", 300, 300 - summary(killed)[2], 0)
        rows = api.get(f"/sourceflow/dataSets/{dataset}/rows", params={"limit": 1000}).json()
        assert sorted(r["record"]["_acme"]["n"] for r in rows["items"]) == list(range(300))


@pytest.mark.parametrize(
    ("schedule", "says"),
    [
        ({"frequency": "month", "interval": 1}, "scheduleParams.frequency: must be one of once"),
        ({"frequency": "minute", "interval": 10}, "scheduleParams.interval: must be at least 15"),
        ({"frequency": "hour", "interval": 0}, "scheduleParams.interval: must be at least 1"),
        ({"frequency": "day"}, "scheduleParams.interval: is required when frequency is 'day'"),
        ({"frequency": "once", "interval": 1}, "scheduleParams.interval: must be left out"),
        ({"startTime": "soon", "frequency": "once"}, "scheduleParams.startTime: must be a whole"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(tmp_path, ledger, schedule, says):
    _, serving = serve(tmp_path, ledger, Clock())
    with serving as url, platform_client(url) as api:
        with pytest.raises(AssertionError) as refused:
            scheduled_flow(api, schedule)
        assert says in str(refused.value)


def test_post_runs_refusals(tmp_path, ledger):
    _, serving = serve(tmp_path, ledger, Clock())
    with serving as url, platform_client(url) as api:
        for body, says in (
            ({"flowId": "nope"}, "flowId: no flow 'nope'"),
            ({}, "flowId: is required"),
            ([], "the body must be a JSON object"),
        ):
            answer = api.post(f"{FS}/runs", json=body)
            assert answer.status_code == 400 and says in answer.json()["detail"], answer.text
        assert api.get(f"{FS}/runs/nope").status_code == 404
