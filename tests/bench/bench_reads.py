"""Reads that stream: `sourceflow datasets rows DS --json` over 200,000 rows.

`sourceflow platform serve` runs as its own process; the rows land through the inlet (batches of
1,000 people mapped by the sample rules, as a user's would). Then the CLI reads them as a user
runs it, stdout piped to this process, which reads it line by line:

- **time to first row**: from starting the command to its first JSON line arriving (the
  command's own start-up, measured with ``--limit 0``, is part of it);
- **total**: until the last line and the process's exit;
- **peak RSS of the CLI**: its ``VmHWM`` (``/proc/PID/status``, sampled every 10 ms while it
  runs; ``ru_maxrss`` would count the pages of this process it was forked from), for the whole
  read and for a read of a tenth of the rows (``--limit``): memory is constant when the two are
  about equal.

Goals (issue 15, item 7): first row within 1 s; constant memory (the whole read's peak at most
1.2x the tenth's). The figures are one run on a shared machine: re-measure on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from benchlib import ROOT, machine, table, write

SF = [sys.executable, "-m", "sourceflow.cli"]
FIRST_ROW_GOAL_S = 1.0
MEMORY_GOAL_RATIO = 1.2
BATCH = 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sf(url: str, *args: str, cwd: Path) -> str:
    done = subprocess.run(
        [*SF, "--platform", url, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"sourceflow {' '.join(args)}: {done.stderr}")
    return done.stdout


def _person(n: int) -> dict[str, Any]:
    return {
        "id": f"p-{n}",
        "name": f"Person {n}",
        "email": f" PERSON.{n}@EXAMPLE.COM ",
        "location": {"city": "Oslo", "country": "Norway", "address": f"{n} Main Street"},
        "gender": "Female",
        "birthday": {"year": 1980 + n % 30, "month": 1 + n % 12, "day": 1 + n % 28},
        "loyalty": {"points": str(n % 5000), "tier": "gold"},
    }


def fill(url: str, work: Path, rows: int) -> str:
    """A dataset with ``rows`` rows, sent through the inlet and mapped; its id."""
    _sf(url, "samples", cwd=work)
    dataset = _sf(url, "datasets", "create", "bench-reads", cwd=work).strip()
    connected = json.loads(
        _sf(
            url,
            "connect",
            "http",
            "--dataset",
            dataset,
            "--mapping",
            "rules.json",
            "--json",
            cwd=work,
        )
    )
    batch_url = connected["inletUrl"].replace("/collection/", "/collection/batch/")
    headers = {"x-adobe-flow-id": connected["flowId"], "content-type": "application/json"}
    with httpx.Client(timeout=60) as http:
        for start in range(0, rows, BATCH):
            body = {"messages": [_person(n) for n in range(start, min(start + BATCH, rows))]}
            answer = http.post(batch_url, content=json.dumps(body), headers=headers)
            answer.raise_for_status()
    deadline = time.monotonic() + 600
    while True:
        # Mapping runs behind the inlet: wait until every row is there before timing reads.
        if _count(url, dataset) >= rows:
            return dataset
        if time.monotonic() > deadline:
            raise RuntimeError("the rows did not land in 10 minutes")
        time.sleep(1)


def _count(url: str, dataset: str) -> int:
    from sourceflow import config
    from sourceflow.client import FlowServiceClient

    with FlowServiceClient(config.Settings(platform_url=url)) as client:
        return sum(len(page) for page in client.stream_rows(dataset, page_size=10_000).pages())


def _watch_hwm(proc: subprocess.Popen[bytes], peak: list[int]) -> None:
    """Keep ``peak[0]`` at the process's RSS high-water mark (kB) until it exits."""
    status = Path(f"/proc/{proc.pid}/status")
    while proc.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak[0] = max(peak[0], int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.01)


def read(url: str, dataset: str, *extra: str) -> dict[str, Any]:
    """One `datasets rows --json` read: first row, total, lines, peak RSS (MB)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*SF, "--platform", url, "datasets", "rows", dataset, "--json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    peak = [0]
    watcher = threading.Thread(target=_watch_hwm, args=(proc, peak), daemon=True)
    watcher.start()
    first = None
    lines = 0
    for _line in proc.stdout:
        if first is None:
            first = time.perf_counter() - started
        lines += 1
    proc.wait()
    total = time.perf_counter() - started
    watcher.join()
    if proc.returncode != 0:
        raise RuntimeError(f"datasets rows exited {proc.returncode}")
    return {
        "rows": lines,
        "first_row_s": round(first or float("nan"), 3),
        "total_s": round(total, 2),
        "rows_per_s": round(lines / total),
        "peak_rss_mb": round(peak[0] / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reads-") as tmp:
        work = Path(tmp)
        port = _free_port()
        server = subprocess.Popen(
            [*SF, "platform", "serve", "--port", str(port), "--data-dir", str(work / "data")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(url + "/data/foundation/flowservice/connectionSpecs", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            t0 = time.perf_counter()
            dataset = fill(url, work, args.rows)
            filled = time.perf_counter() - t0
            # --limit 0 asks for nothing: the command's own start-up, part of the first row.
            started = time.perf_counter()
            _sf(url, "datasets", "rows", dataset, "--limit", "0", cwd=work)
            startup = round(time.perf_counter() - started, 3)
            tenth = read(url, dataset, "--limit", str(args.rows // 10))
            whole = read(url, dataset)
        finally:
            server.terminate()
            server.wait(timeout=30)
    ratio = whole["peak_rss_mb"] / tenth["peak_rss_mb"]
    table(
        [
            [f"--limit {args.rows // 10:,}", *tenth.values()],
            ["all rows", *whole.values()],
        ],
        ["read", "rows", "first row s", "total s", "rows/s", "peak CLI RSS MB"],
    )
    first_ok = whole["first_row_s"] <= FIRST_ROW_GOAL_S
    memory_ok = ratio <= MEMORY_GOAL_RATIO
    print(
        f"\nfirst row {whole['first_row_s']} s (goal <= {FIRST_ROW_GOAL_S} s: "
        f"{'met' if first_ok else 'MISSED'}); peak RSS all/tenth {ratio:.2f}x "
        f"(goal <= {MEMORY_GOAL_RATIO}x, constant memory: {'met' if memory_ok else 'MISSED'}); "
        f"the command starts in {startup} s (--limit 0); filling took {filled:.0f} s"
    )
    write(
        "reads",
        {
            "machine": machine(),
            "rows": args.rows,
            "tenth": tenth,
            "all": whole,
            "peak_rss_ratio": round(ratio, 2),
            "startup_s": startup,
            "goals": {"first_row_s": FIRST_ROW_GOAL_S, "peak_rss_ratio": MEMORY_GOAL_RATIO},
            "met": {"first_row": first_ok, "constant_memory": memory_ok},
            "fill_s": round(filled, 1),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
