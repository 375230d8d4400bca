"""The forwarder's rules over generated inputs: batches within Adobe's byte limit, in order;
a 207 answer read message by message (accepted leave, refused for good go to the dead letters,
anything else stays to be sent again)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sourceflow.model import BatchItemResult, BatchReceipt
from sourceflow.relay.forwarder import FlowFailed, _judge
from sourceflow.relay.outbox import Pending, take

bodies = st.lists(st.binary(min_size=2, max_size=3000), min_size=1, max_size=60)


def pending(sizes: list[bytes]) -> list[Pending]:
    return [Pending(i, "f", "in", f"x{i}", 0, b) for i, b in enumerate(sizes)]


@given(bodies, st.integers(min_value=100, max_value=50_000))
def test_a_batch_is_the_oldest_rows_that_fit_the_byte_limit(raw: list[bytes], limit: int) -> None:
    rows = pending(raw)
    batch = take(rows, limit)
    assert batch == rows[: len(batch)]  # a prefix: order is kept
    assert batch  # never stuck: at least one
    request = b'{"messages":[' + b",".join(p.body for p in batch) + b"]}"
    assert len(batch) == 1 or len(request) <= limit
    if len(batch) < len(rows):  # the next one would not have fitted
        bigger = b'{"messages":[' + b",".join(p.body for p in rows[: len(batch) + 1]) + b"]}"
        assert len(bigger) > limit


statuses = st.one_of(st.none(), st.sampled_from([200, 400, 403, 404, 413, 422, 429, 500, 503]))


@given(st.lists(statuses, min_size=1, max_size=40))
def test_a_207_is_settled_message_by_message(codes: list[int | None]) -> None:
    rows = pending([b"{}"] * len(codes))
    receipt = BatchReceipt(
        inlet_id="in",
        batch_id="b",
        received_time_ms=0,
        responses=[
            BatchItemResult(xaction_id="x")
            if code is None
            else BatchItemResult(status_code=code, message=f"refused {code}")
            for code in codes
        ],
    )
    s = _judge("f", rows, receipt)
    assert list(s.accepted) == [i for i, c in enumerate(codes) if c is None or c < 300]
    assert [(seq, status) for seq, status, _ in s.refused] == [
        (i, c) for i, c in enumerate(codes) if c is not None and 400 <= c < 500 and c != 429
    ]
    kept = set(range(len(codes))) - set(s.accepted) - {seq for seq, _, _ in s.refused}
    assert kept == {i for i, c in enumerate(codes) if c in (429, 500, 503)}


def test_an_answer_that_does_not_match_the_batch_settles_nothing() -> None:
    receipt = BatchReceipt(inlet_id="in", batch_id="b", received_time_ms=0, responses=[])
    with pytest.raises(FlowFailed):
        _judge("f", pending([b"{}"]), receipt)
