"""Paged reads (``ReadResult.pages``): each page's cursor is stored with its rows, so a run that
fails resumes after the last page written; errors are named by kind; the plugin's counters
reach the run's metrics. The source is an in-test scheduled plugin (no real source)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from test_scheduler_runs import (
    FS,
    T0,
    Clock,
    Ledger,
    _dataset,
    platform_client,
    runs_of,
    scheduled_flow,
    serve,
    summary,
)

import sourceflow
from sourceflow.errors import PluginError


class PagedLedger(Ledger):
    """Pages of ``size`` records; the cursor is how many were read. ``fail_after`` pages, it
    raises ``fail``."""

    def __init__(self, size: int = 40) -> None:
        super().__init__()
        self.size = size
        self.fail_after: int | None = None
        self.counters: dict[str, int] = {}
        self.odd_page: Any = None
        self.answer: Any = None

    @sourceflow.hookimpl
    def sourceflow_read(self, source, connection, object, state) -> sourceflow.ReadResult:
        if self.answer is not None:
            return self.answer  # what a faulty plugin might give
        self.states.append(dict(state))
        start = int(state.get("next", 0))

        def pages() -> Iterator[sourceflow.Page]:
            for n, first in enumerate(range(start, len(self.records), self.size)):
                if self.fail_after is not None and n == self.fail_after and self.fail:
                    raise self.fail
                if self.odd_page is not None:
                    yield self.odd_page
                self.counters["retries"] = self.counters.get("retries", 0) + 1
                chunk = self.records[first : first + self.size]
                yield sourceflow.Page(records=chunk, state={"next": first + len(chunk)})

        return sourceflow.ReadResult(pages=pages(), counters=self.counters)


@pytest.fixture
def paged() -> PagedLedger:
    return PagedLedger()


def run_now(api, scheduler, flow: str) -> dict[str, Any]:
    answer = api.post(f"{FS}/runs", json={"flowId": flow})
    assert answer.status_code == 201, answer.text
    assert scheduler.wait_idle(10)
    return dict(api.get(f"{FS}/runs/{answer.json()['id']}").json()["items"][0])


def test_a_failed_paged_run_resumes_after_its_last_page(tmp_path, paged):
    clock = Clock()
    paged.records = [{"n": i, "name": f"e{i}"} for i in range(250)]
    app, serving = serve(tmp_path, paged, clock)
    with serving as url, platform_client(url) as api:
        flow = scheduled_flow(api, {"startTime": T0 + 10**6, "frequency": "once"})
        scheduler = app.state.platform.scheduler
        paged.fail_after, paged.fail = 3, sourceflow.SourceUnavailable("the ledger is napping")
        failed = run_now(api, scheduler, flow)
        assert summary(failed) == ("failed", 120, 120, 0)
        assert failed["metrics"]["statusSummary"]["errors"] == [
            {
                "code": "CONNECTOR-503",
                "message": "ledger: the ledger is napping (nothing to fix: the next run resumes "
                "where this one stopped)",
            }
        ]
        assert failed["metrics"]["statusSummary"]["extensions"] == {"retries": 3}
        paged.fail = None
        done = run_now(api, scheduler, flow)
        # Resumed at the third page's cursor: nothing read twice, nothing skipped.
        assert paged.states == [{}, {"next": 120}]
        assert summary(done) == ("success", 130, 130, 0)
        rows = api.get(f"/sourceflow/dataSets/{_dataset(api, flow)}/rows", params={"limit": 1000})
        assert sorted(r["record"]["_acme"]["n"] for r in rows.json()["items"]) == list(range(250))
        # The last page's state is the cursor: the next run reads nothing.
        assert summary(run_now(api, scheduler, flow)) == ("success", 0, 0, 0)
        assert paged.states[-1] == {"next": 250}


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (sourceflow.SourceUnavailable("down for now"), "CONNECTOR-503"),
        (sourceflow.CredentialsRefused("key revoked", hint="PATCH a new one"), "CONNECTOR-401"),
        (sourceflow.BadSourceData("a page without its items"), "CONNECTOR-422"),
        (sourceflow.SourceflowError("no such ledger", hint="name another"), "CONNECTOR-400"),
        (PluginError("the plugin broke a rule"), "CONNECTOR-500"),
        (RuntimeError("a bug"), "CONNECTOR-500"),
    ],
)
def test_errors_are_named_by_kind_with_their_hint(tmp_path, paged, error, code):
    clock = Clock()
    paged.records = [{"n": i, "name": "x"} for i in range(50)]
    paged.fail_after, paged.fail = 1, error
    app, serving = serve(tmp_path, paged, clock)
    with serving as url, platform_client(url) as api:
        flow = scheduled_flow(api, {"startTime": T0 + 10**6, "frequency": "once"})
        run = run_now(api, app.state.platform.scheduler, flow)
        assert summary(run) == ("failed", 40, 40, 0)
        (found,) = run["metrics"]["statusSummary"]["errors"]
        assert found["code"] == code
        assert str(error).split(" (")[0] in found["message"]
        if isinstance(error, sourceflow.SourceflowError) and error.hint:
            assert error.hint in found["message"]


def test_a_page_that_is_not_a_page_is_the_plugins_fault(tmp_path, paged):
    clock = Clock()
    paged.records = [{"n": 1, "name": "x"}]
    paged.odd_page = [{"n": 2}]
    app, serving = serve(tmp_path, paged, clock)
    with serving as url, platform_client(url) as api:
        flow = scheduled_flow(api, {"startTime": T0 + 10**6, "frequency": "once"})
        run = run_now(api, app.state.platform.scheduler, flow)
        (found,) = run["metrics"]["statusSummary"]["errors"]
        assert found["code"] == "CONNECTOR-500"
        assert (
            "gave a list among its ReadResult.pages, expected sourceflow.Page" in found["message"]
        )
        assert runs_of(api, flow)[0]["metrics"]["recordSummary"]["inputRecordCount"] == 0


def test_an_answer_that_is_not_a_read_result_ends_the_run_as_the_plugins_fault(tmp_path, paged):
    clock = Clock()
    paged.answer = [{"n": 1}]
    app, serving = serve(tmp_path, paged, clock)
    with serving as url, platform_client(url) as api:
        flow = scheduled_flow(api, {"startTime": T0 + 10**6, "frequency": "once"})
        run = run_now(api, app.state.platform.scheduler, flow)
        assert summary(run) == ("failed", 0, 0, 0)
        (found,) = run["metrics"]["statusSummary"]["errors"]
        assert found["code"] == "CONNECTOR-500" and "answered no ReadResult" in found["message"]


def test_records_and_pages_together_are_refused():
    with pytest.raises(ValueError, match="records and state, or pages, not both"):
        sourceflow.ReadResult(records=[{"a": 1}], pages=[])
    with pytest.raises(ValueError, match="not both"):
        sourceflow.ReadResult(state={"next": 1}, pages=[])
    assert sourceflow.ReadResult(pages=[]).records == ()
