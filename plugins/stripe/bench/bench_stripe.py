"""Benchmark (not a test): pull six resource paths at once from the fake Stripe, 20 ms per page.

Reports, for a test-mode key (25 requests/s) and a live-mode key (100 requests/s): records per
second, requests per second, the share of Stripe's budget used (the goal: at least 90%), the
busiest one-second window the fake saw (never above the budget) and the 429s it answered
(none). Prints a table and writes the figures as JSON.

    python plugins/stripe/bench/bench_stripe.py [--out FILE] [--pages N]

It needs Stripe's sample objects (../shared/reference/stripe/fixtures3.json), as the fake does.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
# fakestripe finds ../shared through the locator of the repository tests.
sys.path.insert(0, str(HERE.parents[2] / "tests"))

import httpx  # noqa: E402
from fakestripe import FIXTURES, FakeStripe  # noqa: E402

from sourceflow_stripe import reader  # noqa: E402
from sourceflow_stripe.plugin import api_for  # noqa: E402
from sourceflow_stripe.ratelimit import budget_for  # noqa: E402

LATENCY = 0.020
RESOURCES = reader.RESOURCES


def busiest_second(times: list[float]) -> int:
    """The most requests the fake saw within any one-second window."""
    times = sorted(times)
    most, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def _serve_fake(key: str, budget: float, pages: int, port: int) -> None:
    # In a process of its own, so that its CPU (serializing pages) does not compete with the
    # client's for one interpreter lock, as Stripe's servers do not.
    import uvicorn

    fake = FakeStripe(keys=(key,), rate=budget)
    fake.latency = LATENCY
    for resource in RESOURCES:
        fake.add(resource, pages * 100 - 1)  # the last page is full but has_more is false
    uvicorn.run(fake.app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scenario(key: str, pages: int) -> dict[str, Any]:
    """Pull ``pages`` pages of each resource path concurrently; the figures."""
    budget = budget_for(key)
    port = _free_port()
    server = multiprocessing.get_context("spawn").Process(
        target=_serve_fake, args=(key, budget, pages, port), daemon=True
    )
    server.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or not server.is_alive():
                raise RuntimeError("the fake Stripe did not start") from None
            time.sleep(0.05)
    counts: dict[str, int] = {}
    params = {"accessToken": key, "apiBase": url}

    def pull(resource: str) -> None:
        result = reader.read(api_for(params), resource, {})
        counts[resource] = sum(1 for _ in result.records)

    try:
        threads = [threading.Thread(target=pull, args=(r,)) for r in RESOURCES]
        began = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - began
        stats = httpx.get(f"{url}/_fake/stats").json()
    finally:
        server.terminate()
        server.join(10)
    times = stats["times"]
    requests = len(times)
    rate = requests / elapsed
    return {
        "mode": "live" if budget == 100 else "test",
        "budget": budget,
        "resources": len(RESOURCES),
        "latencyMs": LATENCY * 1000,
        "records": sum(counts.values()),
        "requests": requests,
        "seconds": round(elapsed, 3),
        "recordsPerSecond": round(sum(counts.values()) / elapsed, 1),
        "requestsPerSecond": round(rate, 2),
        "budgetUsed": round(rate / budget, 3),
        "busiestSecond": busiest_second(times),
        "refused429": stats["limited"],
    }


def main(argv: list[str] | None = None) -> int:
    """Run both scenarios, print a table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".sourceflow/bench-stripe.json"))
    parser.add_argument("--pages", type=int, default=0, help="pages per resource path")
    args = parser.parse_args(argv)
    if not FIXTURES.is_file():
        print(f"skipped: {FIXTURES} is absent (the fake Stripe serves Stripe's sample objects)")
        return 0
    results = [
        scenario("sk_test_bench_key_0001", args.pages or 20),
        scenario("sk_live_bench_key_0001", args.pages or 80),
    ]
    columns = [
        ("mode", "MODE"), ("budget", "BUDGET/s"), ("records", "RECORDS"),
        ("requests", "REQUESTS"), ("seconds", "SECONDS"), ("recordsPerSecond", "RECORDS/s"),
        ("requestsPerSecond", "REQUESTS/s"), ("budgetUsed", "BUDGET USED"),
        ("busiestSecond", "BUSIEST 1s"), ("refused429", "429s"),
    ]  # fmt: skip
    cells = [[h for _, h in columns]] + [[str(r[k]) for k, _ in columns] for r in results]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    ok = all(
        r["budgetUsed"] >= 0.9 and r["busiestSecond"] <= r["budget"] and r["refused429"] == 0
        for r in results
    )
    print("goal (>= 90% of the budget, never above it):", "met" if ok else "NOT met")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"results": results, "goalMet": ok}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
