"""The Stripe client over real HTTP against the fake: list protocol, errors, retries, budget."""

from __future__ import annotations

import threading

import httpx
import pytest
from fakestripe import KEY, fixtures

from sourceflow_stripe.api import StripeAPI, StripeError
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


def test_429_is_retried_with_backoff_and_nothing_else_twice(stripe):
    fake, url = stripe
    fake.add("customers", 3)
    fake.inject.extend(
        [
            (429, {"type": "invalid_request_error", "code": "rate_limit", "message": "slow"}, {}),
            (500, {"type": "api_error", "message": "boom"}, {"Stripe-Should-Retry": "true"}),
        ]
    )
    waits: list[float] = []
    client = api(url, sleep=waits.append)
    assert len(list(client.iter_list("customers"))) == 3
    assert client.requests == 3 and len(fake.requests) == 3
    assert waits[1] > waits[0] > 0  # exponential


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (400, {}),
        (500, {}),
        (500, {"Stripe-Should-Retry": "false"}),
        (429, {"Stripe-Should-Retry": "false"}),
    ],
)
def test_other_errors_are_sent_once(stripe, status, headers):
    fake, url = stripe
    fake.inject.append(
        (status, {"type": "invalid_request_error", "message": "no", "param": "limit"}, headers)
    )
    with pytest.raises(StripeError) as caught:
        api(url).get("/v1/charges")
    assert len(fake.requests) == 1
    assert caught.value.status == status
    assert "parameter limit" in str(caught.value)


def test_retries_give_up_with_the_rate_limit_error(stripe):
    fake, url = stripe
    body = {"type": "invalid_request_error", "code": "rate_limit", "message": "Too many"}
    fake.inject.extend([(429, body, {})] * 10)
    with pytest.raises(StripeError, match="rate_limit"):
        api(url).get("/v1/charges")
    assert len(fake.requests) == 6


def test_bad_list_parameters_name_the_parameter(stripe):
    _, url = stripe
    with pytest.raises(StripeError, match="parameter starting_after"):
        api(url).get("/v1/charges", {"starting_after": "ch_nope"})


def test_an_unreachable_stripe_is_one_clear_error():
    with pytest.raises(StripeError, match=r"cannot reach Stripe at http://127\.0\.0\.1:9"):
        api("http://127.0.0.1:9").get("/v1/balance")


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
