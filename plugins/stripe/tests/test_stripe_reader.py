"""Incremental reads against the fake: the cursor misses nothing and doubles nothing, and a
read stopped after any page (a kill, or Stripe failing past the retries) resumes from that
page's state with no duplicate and no gap: ties at either end, objects created meanwhile."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator

import pytest
from fakestripe import KEY, FakeStripe, fixtures
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sourceflow.http import RetryPolicy
from sourceflow.testing import serve
from sourceflow_stripe import reader
from sourceflow_stripe.api import StripeAPI, StripeUnavailable
from sourceflow_stripe.ratelimit import Pacer

T = 1_700_000_000


def client(url: str, *, page_size: int = 100, attempts: int = 6) -> StripeAPI:
    return StripeAPI(
        KEY,
        base_url=url,
        pacer=Pacer(10_000),
        policy=RetryPolicy(attempts=attempts, base=0.0, cap=0.0),
        page_size=page_size,
    )


def read_all(url: str, resource: str, state: dict) -> tuple[list[str], dict]:
    result = reader.read(client(url), resource, state)
    ids, last = [], state
    for page in result.pages or ():
        ids += [r["data"]["id"] for r in page.records]
        last = page.state
    return ids, last


def test_a_second_run_reads_only_what_is_new_even_within_the_same_second(stripe):
    fake, url = stripe
    first = fake.add("charges", 150, created=T)  # created T ... T + 149
    ids, state = read_all(url, "charges", {})
    assert sorted(ids) == sorted(first) and len(ids) == 150
    assert state == {"createdGte": T + 149, "idsAtCursor": [first[-1]]}
    # Created in the cursor's very second, after the first run, and later.
    same_second = fake.add("charges", 1, created=T + 149)
    later = fake.add("charges", 2, created=T + 200)
    ids2, state2 = read_all(url, "charges", state)
    assert sorted(ids2) == sorted(same_second + later)
    assert fake.requests[-1][2]["created[gte]"] == str(T + 149)
    assert state2["createdGte"] == T + 201
    ids3, state3 = read_all(url, "charges", state2)
    assert ids3 == [] and state3 == state2


def test_each_page_carries_the_state_to_resume_from(stripe):
    fake, url = stripe
    fake.add_at("refunds", [T] * 3 + [T + 1] * 4)
    pages = list(reader.read(client(url, page_size=3), "refunds", {}).pages or ())
    assert [len(p.records) for p in pages] == [3, 3, 1, 0]
    first = pages[0].state["pass"]
    assert (first["createdLte"], first["newest"]) == (T + 1, T + 1)
    assert len(first["idsAtLte"]) == 3 and first["idsAtNewest"] == first["idsAtLte"]
    assert pages[1].state["pass"]["createdLte"] == T  # the second page reached second T
    assert "pass" not in pages[-1].state and pages[-1].state["createdGte"] == T + 1
    # Resumed from the second page: created[lte] and the ids already read, no starting_after.
    resumed = list(reader.read(client(url, page_size=3), "refunds", pages[1].state).pages or ())
    assert [r["data"]["id"] for p in resumed for r in p.records] == [
        r["data"]["id"] for r in pages[2].records
    ]
    assert fake.requests[-1][2]["created[lte]"] == str(T)
    assert "starting_after" not in fake.requests[-1][2]


def test_subscriptions_are_listed_with_every_status(stripe):
    fake, url = stripe
    fake.add("subscriptions", 2)
    read_all(url, "subscriptions", {})
    assert fake.requests[-1][2]["status"] == "all"


@pytest.fixture(scope="module")
def served_fake() -> Iterator[tuple[list[FakeStripe], str]]:
    """One server whose fake the test swaps for each example (``holder[0]``)."""
    fixtures()
    holder = [FakeStripe(keys=(KEY,), rate=100_000)]

    async def app(scope, receive, send):
        await holder[0].app(scope, receive, send)

    quiet = logging.getLogger("uvicorn.error")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # dropped connections print their tracebacks
    try:
        with serve(app) as url:
            yield holder, url
    finally:
        quiet.setLevel(level)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seconds=st.lists(st.integers(0, 5), max_size=60),
    kills=st.lists(st.integers(0, 8), max_size=4),
    during=st.lists(st.tuples(st.integers(1, 30), st.integers(0, 2)), max_size=6),
    failure_rate=st.sampled_from([0.0, 0.2, 0.5]),
    seed=st.integers(0, 2**16),
)
def test_reads_stopped_at_any_page_resume_without_duplicate_or_gap(
    served_fake, seconds, kills, during, failure_rate, seed
):
    holder, url = served_fake
    fake = holder[0] = FakeStripe(keys=(KEY,), rate=100_000)
    fake.add_at("charges", [T + s for s in seconds])  # many ties: 60 objects in 6 seconds

    def create_now(offset: int) -> None:
        # Objects created while a read is under way: in the newest second so far (a tie with
        # it) or later, as Stripe's clock only moves forward.
        newest = max((o["created"] for o in fake.objects["charges"]), default=T)
        fake.add_at("charges", [newest + offset])

    for at, offset in during:
        fake.at_request[at] = lambda offset=offset: create_now(offset)
    fake.fail_randomly(failure_rate, seed)

    written: list[str] = []
    state: dict = {}

    def run(kill_at: int | None) -> bool:
        """One run from ``state``: True when it read the list to its end."""
        nonlocal state
        api = client(url, page_size=4, attempts=3)
        try:
            for n, page in enumerate(reader.read(api, "charges", state).pages or ()):
                if n == kill_at:
                    return False  # killed before this page was written
                written.extend(r["data"]["id"] for r in page.records)
                state = page.state
            return True
        except StripeUnavailable:
            return False  # Stripe failed past the retries: the pages before it are written
        finally:
            api.close()

    stops = list(kills)
    for _ in range(300):
        if run(stops.pop(0) if stops else None):
            break
    else:
        pytest.fail("no run completed")
    # What was created while the runs went on is newer than where their pass started: one
    # more run, started after the last of them, reads it.
    fake.at_request.clear()
    fake.fail_randomly(0.0, seed)
    assert run(None)
    every = [o["id"] for o in fake.objects["charges"]]
    assert Counter(written) == Counter(every)  # each object exactly once
