"""Stripe's request budget, shared by every thread that uses the same key.

Stripe allows 25 requests per second in test mode and 100 in live mode (the mode is the key's
prefix: ``sk_test_``/``rk_test_`` or ``sk_live_``/``rk_live_``). A :class:`Pacer` hands out send
times spaced ``1 / rate`` apart, so no one-second window ever holds more than ``rate``
requests however many threads share it: a token bucket of capacity one. Bursting
would buy nothing — the budget is per second either way — and would risk a 429.

The pacer runs slightly under the budget (:data:`HEADROOM`), and counts what it let through
over a window slightly longer than a second (:data:`MARGIN`): requests leave here evenly spaced
but reach Stripe with jitter, and a request arriving a few milliseconds early must not be the
26th of a second.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from collections.abc import Callable

TEST_RATE = 25.0
LIVE_RATE = 100.0
HEADROOM = 0.98
"""The fraction of the budget the pacer plans for; the rest absorbs network jitter."""
MARGIN = 0.03
"""Seconds added to Stripe's one-second window when counting what was let through."""


def budget_for(key: str) -> float:
    """Stripe's requests-per-second budget for ``key``: test or live mode, by its prefix."""
    return LIVE_RATE if "_live_" in key[:9] else TEST_RATE


class Pacer:
    """Spaces calls ``1 / (rate * headroom)`` seconds apart across threads, and never lets more
    than ``rate`` go within ``1 + margin`` seconds.

    The spacing keeps the flow smooth; the window is checked again at the moment a call is let
    through, against the times calls were actually let through: a thread that woke late (the
    interpreter lock, a busy machine) cannot make the calls after it bunch up.

    :param rate: Stripe's budget in requests per second.
    :param clock: monotonic seconds (injectable so tests need not wait).
    :param sleep: how to wait (injectable likewise).
    """

    def __init__(
        self,
        rate: float,
        *,
        headroom: float = HEADROOM,
        margin: float = MARGIN,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive (got {rate})")
        self.rate = rate
        self._headroom = headroom
        self.interval = 1.0 / (rate * headroom)
        self.window = 1.0 + margin
        self.limit = max(1, int(rate))
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0
        self._released: deque[float] = deque()
        self.sent = 0
        """Calls let through so far (for the benchmark's budget figure)."""

    def acquire(self) -> float:
        """Wait for this caller's turn; answers the time (``clock``) it was let through."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        while True:
            wait = slot - self._clock()
            if wait > 0:
                self._sleep(wait)
            with self._lock:
                now = self._clock()
                while self._released and self._released[0] <= now - self.window:
                    self._released.popleft()
                if len(self._released) < self.limit:
                    self._released.append(now)
                    self.sent += 1
                    return now
                slot = self._released[0] + self.window

    def slow_to(self, rate: float) -> None:
        """Lower the budget to ``rate`` (a connection asked for less); never raises it."""
        if rate <= 0:
            raise ValueError(f"rate must be positive (got {rate})")
        with self._lock:
            if rate < self.rate:
                self.rate = rate
                self.interval = 1.0 / (rate * self._headroom)
                self.limit = max(1, int(rate))


_pacers: dict[str, Pacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(key: str, rate: float | None = None) -> Pacer:
    """The one pacer of an API key in this process: every flow pulling with the key, whatever
    its resource path, shares it, since Stripe counts requests per account.

    Its budget is Stripe's for the key's mode, or the lowest ``rate`` any caller asked for
    (``requestsPerSecond``: other applications share the key), so that no flow's pull can take
    what another connection set aside. Pacers are indexed by a hash of the key, never by the
    key itself.
    """
    budget = min(rate, budget_for(key)) if rate is not None else budget_for(key)
    digest = hashlib.sha256(key.encode()).hexdigest()
    with _pacers_lock:
        found = _pacers.get(digest)
        if found is None:
            found = _pacers[digest] = Pacer(budget)
        found.slow_to(budget)
        return found
