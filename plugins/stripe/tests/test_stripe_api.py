"""The Stripe client over real HTTP against the fake: list protocol, errors, retries, budget."""

from __future__ import annotations

import re
import threading

import httpx
import pytest
from fakestripe import DROP, KEY, fixtures
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

import sourceflow
from sourceflow.testing import serve
from sourceflow_stripe.api import (
    StripeAPI,
    StripeBadData,
    StripeError,
    StripeRefused,
    StripeUnavailable,
)
from sourceflow_stripe.plugin import api_for
from sourceflow_stripe.ratelimit import LIVE_RATE, TEST_RATE, Pacer, budget_for


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def api(url: str, *, key: str = KEY, rate: float = 1000.0, sleep=None) -> StripeAPI:
    return StripeAPI(key, base_url=url, pacer=Pacer(rate), sleep=sleep or (lambda s: None))


def test_lists_page_by_page_with_starting_after(stripe):
    fake, url = stripe
    ids = fake.add("charges", 250)
    got = [o["id"] for o in api(url).iter_list("charges")]
    assert got == list(reversed(ids))  # newest first, each once
    pages = [q for _, path, q in fake.requests if path == "/v1/charges"]
    assert [p.get("limit") for p in pages] == ["100"] * 3
    assert [p.get("starting_after") for p in pages] == [None, got[99], got[199]]


def test_objects_keep_stripes_shapes(stripe):
    fake, url = stripe
    fake.add("charges", 1)
    (charge,) = api(url).iter_list("charges")
    sample = fixtures()["charge"]
    assert charge.keys() == sample.keys()
    assert charge["payment_method_details"]["card"]["last4"] == "4242"


def test_a_wrong_key_is_a_clear_error_without_the_key(stripe):
    _, url = stripe
    secret = "sk_test_wrong_key_999999"
    with pytest.raises(StripeError) as caught:
        api(url, key=secret).get("/v1/balance")
    text = str(caught.value)
    assert caught.value.status == 401
    assert "Stripe refused GET /v1/balance (401, invalid_request_error)" in text
    assert "API keys" in text  # the hint says where to find a key
    assert secret not in text


def test_transient_answers_are_retried_with_backoff_and_counted(stripe):
    fake, url = stripe
    fake.add("customers", 3)
    fake.inject.extend(
        [
            (429, {"type": "invalid_request_error", "code": "rate_limit", "message": "slow"}, {}),
            (500, {"type": "api_error", "message": "boom"}, {}),
            (409, {"type": "invalid_request_error", "message": "concurrent request"}, {}),
            (DROP, {}, {}),
            (503, {"type": "api_error", "message": "down"}, {}),
        ]
    )
    waits: list[float] = []
    client = api(url, sleep=waits.append)
    assert len(list(client.iter_list("customers"))) == 3
    assert client.requests == 6 and len(fake.requests) == 6
    assert client.counters == {"retries": 5, "throttled": 1}
    # Exponential: 0.5 s doubling (with up to 0.5 s of jitter), at most 8 s.
    assert [w >= 0.5 * 2**i for i, w in enumerate(waits)] == [True] * 5
    assert [w <= min(8.0, 0.5 * 2**i) + 0.5 for i, w in enumerate(waits)] == [True] * 5


def test_retry_after_is_obeyed(stripe):
    fake, url = stripe
    body = {"type": "invalid_request_error", "code": "rate_limit", "message": "slow"}
    fake.inject.append((429, body, {"Retry-After": "3"}))
    waits: list[float] = []
    api(url, sleep=waits.append).get("/v1/balance")
    assert waits == [3.0]


def test_stripe_should_retry_true_is_retried_whatever_the_status(stripe):
    fake, url = stripe
    fake.inject.append((400, {"type": "invalid_request_error", "message": "retry me"}, {
        "Stripe-Should-Retry": "true"}))  # fmt: skip
    client = api(url)
    assert "available" in client.get("/v1/balance")
    assert len(fake.requests) == 2 and client.counters == {"retries": 1}


@pytest.mark.parametrize(
    ("status", "headers", "kind"),
    [
        (400, {}, StripeError),
        (404, {}, StripeError),
        (401, {}, StripeRefused),
        (403, {}, StripeRefused),
        (500, {"Stripe-Should-Retry": "false"}, StripeUnavailable),
        (429, {"Stripe-Should-Retry": "false"}, StripeUnavailable),
    ],
)
def test_other_errors_are_sent_once_and_named_by_kind(stripe, status, headers, kind):
    fake, url = stripe
    fake.inject.append(
        (status, {"type": "invalid_request_error", "message": "no", "param": "limit"}, headers)
    )
    client = api(url)
    with pytest.raises(StripeError) as caught:
        client.get("/v1/charges")
    assert len(fake.requests) == 1
    assert type(caught.value) is kind
    assert caught.value.status == status
    assert "parameter limit" in str(caught.value)
    assert client.counters.get("retries", 0) == 0
    assert client.counters.get("throttled", 0) == (1 if status == 429 else 0)


def test_the_kinds_are_the_cores(stripe):
    # The platform names a run's error by these classes (CONNECTOR-503/401/422).
    assert issubclass(StripeUnavailable, sourceflow.SourceUnavailable)
    assert issubclass(StripeRefused, sourceflow.CredentialsRefused)
    assert issubclass(StripeBadData, sourceflow.BadSourceData)


def test_retries_give_up_with_the_rate_limit_error(stripe):
    fake, url = stripe
    body = {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many"}
    fake.inject.extend([(429, body, {})] * 10)
    client = api(url)
    with pytest.raises(StripeUnavailable, match="rate_limit") as caught:
        client.get("/v1/charges")
    assert len(fake.requests) == 6
    assert client.counters == {"retries": 5, "throttled": 6}
    assert "requestsPerSecond" in str(caught.value)  # the hint: the key's budget is shared


def test_a_persistent_500_is_transient_trouble_with_a_hint(stripe):
    fake, url = stripe
    fake.inject.extend([(500, {"type": "api_error", "message": "boom"}, {})] * 6)
    with pytest.raises(StripeUnavailable) as caught:
        api(url).get("/v1/charges")
    assert "status.stripe.com" in str(caught.value) and len(fake.requests) == 6


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>not stripe</html>", "something other than a JSON object"),
        (b'{"object": "list", "has_more": false}', "no 'data' array"),
        (b'{"object": "list", "has_more": false, "data": [{"object": "charge"}]}', "without an id"),
    ],
)
def test_answers_stripe_would_not_give_are_bad_data(body, says):
    app = Starlette(routes=[Route("/v1/charges", lambda r: Response(body))])
    with serve(app) as url, pytest.raises(StripeBadData, match=re.escape(says)):
        list(api(url).iter_list("charges"))


def test_bad_list_parameters_name_the_parameter(stripe):
    _, url = stripe
    with pytest.raises(StripeError, match="parameter starting_after"):
        api(url).get("/v1/charges", {"starting_after": "ch_nope"})


def test_an_unreachable_stripe_is_transient_and_retried():
    waits: list[float] = []
    client = api("http://127.0.0.1:9", sleep=waits.append)
    with pytest.raises(StripeUnavailable, match=r"cannot reach Stripe at http://127\.0\.0\.1:9"):
        client.get("/v1/balance")
    assert client.requests == 6 and len(waits) == 5


def test_budget_follows_the_key_mode():
    assert budget_for("sk_test_abc") == budget_for("rk_test_abc") == TEST_RATE == 25
    assert budget_for("sk_live_abc") == budget_for("rk_live_abc") == LIVE_RATE == 100


def test_the_pacer_spaces_calls_under_the_budget():
    clock = FakeClock()
    pacer = Pacer(25, clock=clock, sleep=clock.sleep)
    granted = [pacer.acquire() for _ in range(100)]
    # Any one-second window holds at most 25 grants; the run approaches the budget.
    for i, t in enumerate(granted):
        assert sum(1 for u in granted[i:] if u < t + 1.0) <= 25
    rate = (len(granted) - 1) / (granted[-1] - granted[0])
    assert 0.9 * 25 <= rate <= 25


def test_the_pacer_is_shared_by_threads():
    # Real time: 180 calls at 150/s take a little over a second.
    pacer = Pacer(150)
    granted: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(30):
            t = pacer.acquire()
            with lock:
                granted.append(t)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    granted.sort()
    for i, t in enumerate(granted):
        assert sum(1 for u in granted[i:] if u < t + 1.0) <= 150
    assert len(granted) / (granted[-1] - granted[0]) <= 150


def test_the_window_holds_even_when_the_spacing_would_not():
    # Spacing planned for twice the budget (as calls that woke late would bunch up): the
    # count of what was let through still caps every window at the budget.
    clock = FakeClock()
    pacer = Pacer(10, headroom=2.0, clock=clock, sleep=clock.sleep)
    times = [pacer.acquire() for _ in range(40)]
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u < t + 1.0) <= 10
    assert times[-1] - times[0] > 3.0  # 40 calls at 10 per 1.05 s


def test_the_fake_refuses_a_client_over_budget(stripe):
    # The fake's limiter is real: without the pacer a burst is refused.
    fake, url = stripe
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}) as http:
        answers = [http.get("/v1/balance").status_code for _ in range(30)]
    assert 429 in answers and fake.limited > 0


def test_one_pacer_per_key_at_the_lowest_budget_asked_for():
    key = "sk_live_one_pacer_per_key_01"
    first = api_for({"accessToken": key, "apiBase": "http://127.0.0.1:9"})
    assert first.pacer.rate == LIVE_RATE
    # Another flow on the same key asking for less: every flow of the key slows down to it.
    second = api_for({"accessToken": key, "requestsPerSecond": 40})
    assert second.pacer is first.pacer and first.pacer.rate == 40
    # Asking for more never raises it: the connection that asked for 40 shares the key.
    assert api_for({"accessToken": key, "requestsPerSecond": 90}).pacer.rate == 40
    assert api_for({"accessToken": "sk_live_another_key_0001"}).pacer is not first.pacer
