"""Benchmark (not a test): six Stripe flows pulled end to end through ``sourceflow platform
serve`` from the fake Stripe, 20 ms added to every request.

The fake Stripe and the platform each run in a process of their own; the benchmark connects six
flows (one per resource path, one key) through the platform's API, starts a run of each at
once and waits for all six to succeed. The figures come from the fake's own clock (when each
request arrived), so they count what reached "Stripe", retries included:

- the busiest one-second window (the goal: at least 90% of the key's budget, never above it);
- the mean rate from the first request of the pull to the last (start and end included);
- the 429s the fake answered (none expected), and rows written per second end to end.

For a test-mode key (25 requests/s) and a live-mode key (100 requests/s). Prints a table and
writes the figures as JSON.

    python plugins/stripe/bench/bench_stripe.py [--out FILE] [--pages N] [--run-workers N]

It needs Stripe's sample objects (../shared/reference/stripe/fixtures3.json), as the fake does.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
# fakestripe finds ../shared through the locator of the repository tests.
sys.path.insert(0, str(HERE.parents[2] / "tests"))

import httpx  # noqa: E402
from fakestripe import FIXTURES, FakeStripe  # noqa: E402

from sourceflow import plugins  # noqa: E402
from sourceflow.client import FlowServiceClient  # noqa: E402
from sourceflow.config import Settings  # noqa: E402
from sourceflow.lifecycle import ConnectRequest, Lifecycle  # noqa: E402
from sourceflow.model import Dataset, ScheduleParams  # noqa: E402
from sourceflow.state import StateFile  # noqa: E402
from sourceflow_stripe import reader  # noqa: E402
from sourceflow_stripe.ratelimit import budget_for  # noqa: E402

LATENCY = 0.020
RESOURCES = reader.RESOURCES
NEVER = 4_102_444_800  # the flows' schedule: the benchmark starts their runs itself


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
    # In a process of its own, so that its CPU (answering pages) does not compete with the
    # platform's for one interpreter lock, as Stripe's servers do not.
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


def _wait_for(port: int, alive: Any) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline or not alive():
                raise RuntimeError(f"nothing came up on port {port}") from None
            time.sleep(0.05)


def scenario(
    key: str, pages: int, run_workers: int, data: Path, profile: Path | None = None
) -> dict[str, Any]:
    """Pull ``pages`` pages of each resource path through the platform; the figures."""
    budget = budget_for(key)
    stripe_port, platform_port = _free_port(), _free_port()
    fake = multiprocessing.get_context("spawn").Process(
        target=_serve_fake, args=(key, budget, pages, stripe_port), daemon=True
    )
    fake.start()
    command = [sys.executable, "-m", "sourceflow.cli", "platform", "serve"]
    platform = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [*command, "--port", str(platform_port), "--data-dir", str(data),
         "--run-workers", str(run_workers)],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "SOURCEFLOW_LOG_LEVEL": "warning"},
    )  # fmt: skip
    stripe_url = f"http://127.0.0.1:{stripe_port}"
    try:
        _wait_for(stripe_port, fake.is_alive)
        _wait_for(platform_port, lambda: platform.poll() is None)
        client = FlowServiceClient(Settings(platform_url=f"http://127.0.0.1:{platform_port}"))
        lifecycle = Lifecycle(client, plugins.load(), StateFile(data / "state.json"))
        flows, datasets = [], []
        for resource in RESOURCES:
            dataset = client.datasets.create(Dataset(name=f"stripe {resource}"))
            connected = lifecycle.connect(
                ConnectRequest(
                    source="stripe",
                    name=f"bench-{resource}",
                    dataset_id=dataset,
                    credentials={"accessToken": key, "apiBase": stripe_url},
                    object=resource,
                    schedule=ScheduleParams(start_time=NEVER, frequency="once"),
                )
            )
            flows.append(connected.flow_id)
            datasets.append(dataset)
        time.sleep(1.5)  # connect's checks are out of the fake's one-second window
        before = len(httpx.get(f"{stripe_url}/_fake/stats").json()["times"])
        spy = None
        if profile is not None:  # where the platform's time goes while it pulls
            spy_path = shutil.which("py-spy")
            if spy_path is None:
                raise RuntimeError("--profile needs py-spy (pip install py-spy)")
            spy = subprocess.Popen(  # noqa: S603 (py-spy, found on PATH, on our own child)
                [spy_path, "record", "--gil", "-f", "raw", "-r", "200", "-o", str(profile),
                 "-p", str(platform.pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1.0)
        began = time.perf_counter()
        runs = [client.start_run(flow).id for flow in flows]
        while True:  # a look four times a second, as a console would, not a busy loop
            time.sleep(0.25)
            listed = {r.id: r.metrics for r in client.runs.list()}
            found = [listed[r] for r in runs]
            if all(m.status_summary.status != "inProgress" for m in found):
                break
        elapsed = time.perf_counter() - began
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        stats = httpx.get(f"{stripe_url}/_fake/stats").json()
    finally:
        platform.terminate()
        platform.wait(20)
        fake.terminate()
        fake.join(10)
    failed = [m.status_summary for m in found if m.status_summary.status != "success"]
    if failed:
        raise RuntimeError(f"runs failed: {failed}")
    times = stats["times"][before:]
    written = sum(m.record_summary.output_record_count for m in found)
    pull = times[-1] - times[0]
    return {
        "mode": "live" if budget == 100 else "test",
        "budget": budget,
        "resources": len(RESOURCES),
        "runWorkers": run_workers,
        "latencyMs": LATENCY * 1000,
        "rows": written,
        "requests": len(times),
        "seconds": round(elapsed, 3),
        "rowsPerSecond": round(written / elapsed, 1),
        "busiestSecond": busiest_second(times),
        "busiestShare": round(busiest_second(times) / budget, 3),
        "meanPerSecond": round((len(times) - 1) / pull, 2),
        "meanShare": round((len(times) - 1) / pull / budget, 3),
        "refused429": stats["limited"],
    }


def main(argv: list[str] | None = None) -> int:
    """Run both scenarios, print a table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".sourceflow/bench-stripe.json"))
    parser.add_argument("--pages", type=int, default=0, help="pages per resource path")
    parser.add_argument("--run-workers", type=int, default=8, help="platform serve's setting")
    parser.add_argument("--mode", choices=["test", "live", "both"], default="both")
    parser.add_argument(
        "--profile", type=Path, default=None, help="py-spy's samples of the platform (raw)"
    )
    args = parser.parse_args(argv)
    if not FIXTURES.is_file():
        print(f"skipped: {FIXTURES} is absent (the fake Stripe serves Stripe's sample objects)")
        return 0
    keys = {"test": ("sk_test_bench_key_0001", 15), "live": ("sk_live_bench_key_0001", 60)}
    chosen = ["test", "live"] if args.mode == "both" else [args.mode]
    results = []
    for mode in chosen:
        key, pages = keys[mode]
        with tempfile.TemporaryDirectory(prefix="bench-stripe-") as data:
            profile = args.profile.with_suffix(f".{mode}.txt") if args.profile else None
            results.append(
                scenario(key, args.pages or pages, args.run_workers, Path(data), profile)
            )
    columns = [
        ("mode", "MODE"), ("budget", "BUDGET/s"), ("rows", "ROWS"), ("requests", "REQUESTS"),
        ("seconds", "SECONDS"), ("rowsPerSecond", "ROWS/s"), ("busiestSecond", "BUSIEST 1s"),
        ("busiestShare", "BUSIEST/BUDGET"), ("meanPerSecond", "MEAN/s"),
        ("meanShare", "MEAN/BUDGET"), ("refused429", "429s"),
    ]  # fmt: skip
    cells = [[h for _, h in columns]] + [[str(r[k]) for k, _ in columns] for r in results]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    ok = all(
        r["busiestSecond"] >= 0.9 * r["budget"]
        and r["busiestSecond"] <= r["budget"]
        and r["refused429"] == 0
        for r in results
    )
    print("goal (busiest second >= 90% of the budget, never above it):", "met" if ok else "NOT met")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"results": results, "goalMet": ok}, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
