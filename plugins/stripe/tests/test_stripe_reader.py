"""Incremental reads against the fake: the cursor misses nothing and doubles nothing."""

from __future__ import annotations

from fakestripe import KEY

from sourceflow_stripe import reader
from sourceflow_stripe.api import StripeAPI
from sourceflow_stripe.ratelimit import Pacer


def read_all(url: str, resource: str, state: dict) -> tuple[list[str], dict]:
    api = StripeAPI(KEY, base_url=url, pacer=Pacer(1000))
    result = reader.read(api, resource, state)
    ids = [r["data"]["id"] for r in result.records]
    return ids, result.state


def test_a_second_run_reads_only_what_is_new_even_within_the_same_second(stripe):
    fake, url = stripe
    first = fake.add("charges", 150, created=1_700_000_000)  # created ... 1_700_000_149
    ids, state = read_all(url, "charges", {})
    assert sorted(ids) == sorted(first) and len(ids) == 150
    assert state["createdGte"] == 1_700_000_149
    assert state["idsAtCursor"] == [first[-1]]
    # Created in the cursor's very second, after the first run, and later.
    same_second = fake.add("charges", 1, created=1_700_000_149)
    later = fake.add("charges", 2, created=1_700_000_200)
    ids2, state2 = read_all(url, "charges", state)
    assert sorted(ids2) == sorted(same_second + later)
    assert fake.requests[-1][2]["created[gte]"] == "1700000149"
    assert state2["createdGte"] == 1_700_000_201
    ids3, state3 = read_all(url, "charges", state2)
    assert ids3 == [] and state3 == state2


def test_the_state_is_complete_only_once_the_records_are_consumed(stripe):
    fake, url = stripe
    fake.add("refunds", 3)
    api = StripeAPI(KEY, base_url=url, pacer=Pacer(1000))
    result = reader.read(api, "refunds", {})
    assert "createdGte" not in result.state
    records = list(result.records)
    assert [set(r) for r in records] == [{"data"}] * 3
    assert result.state["createdGte"] == 1_700_000_002


def test_subscriptions_are_listed_with_every_status(stripe):
    fake, url = stripe
    fake.add("subscriptions", 2)
    read_all(url, "subscriptions", {})
    assert fake.requests[-1][2]["status"] == "all"
