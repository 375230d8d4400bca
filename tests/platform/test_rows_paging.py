"""The rows route pages by key: every row once, in order, however rows are appended meanwhile.

A real platform on loopback, rows written by its ingest worker from messages sent to the inlet,
and the client's :class:`~sourceflow.client.resources.KeyedRows` reading them page by page.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from platform_testkit import Builder

from sourceflow import config
from sourceflow.client import FlowServiceClient


def _send(anonymous, inlet_url: str, numbers: range, platform) -> None:
    batch = inlet_url.replace("/collection/", "/collection/batch/")
    if numbers:
        answer = anonymous.post(batch, json={"messages": [{"n": n} for n in numbers]})
        assert answer.status_code == 207
    assert platform.state.platform.wait_idle(10)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    page_size=st.integers(1, 40),
    first=st.integers(0, 90),
    appended=st.lists(st.integers(0, 30), max_size=6),
)
def test_key_paging_reads_every_row_once_while_rows_are_appended(
    shared_platform, api, anonymous, sandbox, page_size, first, appended
):
    chain = Builder(api).http_chain()
    app, url, _ = shared_platform
    _send(anonymous, chain["inlet_url"], range(first), app)
    sent = first
    client = FlowServiceClient(config.Settings(platform_url=url, sandbox=sandbox))
    read: list[int] = []
    pending = list(appended)
    with client:
        stream = client.stream_rows(chain["dataset"], page_size=page_size)
        for page in stream.pages():
            assert 0 < len(page) <= page_size
            read += [row["record"]["n"] for row in page]
            if pending:
                # Appended between two page reads: they land after the key already read.
                more = pending.pop(0)
                _send(anonymous, chain["inlet_url"], range(sent, sent + more), app)
                sent += more
        # Rows appended after the read saw a short page (its end for now) are what the
        # cursor it left reads next; so are rows appended after that.
        for more in [0, *pending]:
            _send(anonymous, chain["inlet_url"], range(sent, sent + more), app)
            sent += more
            stream = client.stream_rows(chain["dataset"], after=stream.cursor, page_size=page_size)
            read += [row["record"]["n"] for row in stream]
    assert read == list(range(sent))


def test_limit_stops_mid_page_and_its_cursor_resumes_at_the_next_row(
    shared_platform, api, anonymous, sandbox
):
    chain = Builder(api).http_chain()
    app, url, _ = shared_platform
    _send(anonymous, chain["inlet_url"], range(25), app)
    with FlowServiceClient(config.Settings(platform_url=url, sandbox=sandbox)) as client:
        first = client.stream_rows(chain["dataset"], limit=7, page_size=5)
        assert [r["record"]["n"] for r in first] == list(range(7))
        assert first.count == 7
        rest = client.stream_rows(chain["dataset"], after=first.cursor, page_size=5)
        assert [r["record"]["n"] for r in rest] == list(range(7, 25))
        assert list(client.stream_rows(chain["dataset"], after=rest.cursor)) == []
        assert [r["record"]["n"] for r in client.dataset_rows(chain["dataset"])] == list(range(25))
