"""What the CLI tells a person: rows as they are read, what became of sent records, hints that
name CLI options, and progress while retries wait. `platform serve` runs as its own process
and each command as a user types it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from clikit import connect_http, sf


def _connect(served: str, tmp_path: Path, name: str, *extra: str) -> dict:
    # --raw: the records these tests send are plain JSON, not XDM envelopes (an XDM flow
    # would record each as a failure).
    return connect_http(served, tmp_path, name, "--raw", *extra)


def _post_batches(inlet_url: str, flow_id: str, numbers: range) -> None:
    batch = inlet_url.replace("/collection/", "/collection/batch/")
    with httpx.Client(timeout=30) as http:
        for start in range(numbers.start, numbers.stop, 1000):
            chunk = range(start, min(start + 1000, numbers.stop))
            answer = http.post(
                batch,
                json={"messages": [{"name": f"P{n}", "n": n} for n in chunk]},
                headers={"x-adobe-flow-id": flow_id},
            )
            assert answer.status_code == 207


def _rows_command(served: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "sourceflow.cli", "--platform", served, "datasets", "rows", *args]


def _wait_for_rows(served: str, tmp_path: Path, dataset: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        printed = sf(
            "datasets",
            "rows",
            dataset,
            "--after",
            "0",
            "--limit",
            str(count + 1),
            cwd=tmp_path,
            platform=served,
        )
        if len(printed.stdout.splitlines()) >= count or time.monotonic() > deadline:
            assert len(printed.stdout.splitlines()) == count
            return
        time.sleep(0.2)


def test_rows_stream_as_they_are_read_and_a_cursor_resumes(served, tmp_path):
    connected = _connect(served, tmp_path, "stream")
    total = 5000  # far more than a pipe holds: the command blocks until the reader drains it
    _post_batches(connected["inletUrl"], connected["flowId"], range(total))
    _wait_for_rows(served, tmp_path, connected["dataset"], total)

    proc = subprocess.Popen(
        _rows_command(served, connected["dataset"], "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = json.loads(proc.stdout.readline())
    assert first["record"]["name"] == "P0" and {"xactionId", "flowId", "receivedTimeMs"} <= set(
        first
    )
    # The command is still reading: rows that land now are still ahead of its key, so a reader
    # that streams prints them; one that read every page before printing would not.
    assert proc.poll() is None
    _post_batches(connected["inletUrl"], connected["flowId"], range(total, total + 10))
    _wait_for_rows(served, tmp_path, connected["dataset"], total + 10)
    rest = [json.loads(line) for line in proc.stdout]
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0
    names = [first["record"]["name"]] + [r["record"]["name"] for r in rest]
    assert names == [f"P{n}" for n in range(total + 10)]  # each row once, in order

    cursor = re.search(r"--after (\S+)", err)
    assert cursor and f"{total + 10} row(s)" in err, err
    _post_batches(connected["inletUrl"], connected["flowId"], range(total + 10, total + 13))
    time.sleep(0.5)
    later = sf(
        "datasets",
        "rows",
        connected["dataset"],
        "--after",
        cursor.group(1),
        "--json",
        cwd=tmp_path,
        platform=served,
    )
    assert [json.loads(line)["record"]["name"] for line in later.stdout.splitlines()] == [
        f"P{n}" for n in range(total + 10, total + 13)
    ]

    limited = sf(
        "datasets",
        "rows",
        connected["dataset"],
        "--limit",
        "3",
        "--json",
        cwd=tmp_path,
        platform=served,
    )
    assert [json.loads(line)["record"]["name"] for line in limited.stdout.splitlines()] == [
        "P0",
        "P1",
        "P2",
    ]
    resume = re.search(r"--after (\S+)", limited.stderr)
    assert resume and "more may follow" in limited.stderr
    following = sf(
        "datasets",
        "rows",
        connected["dataset"],
        "--cursor",
        resume.group(1),
        "--limit",
        "2",
        cwd=tmp_path,
        platform=served,
    )
    assert [json.loads(line)["name"] for line in following.stdout.splitlines()] == ["P3", "P4"]

    # `| head` closes the pipe early: the command stops quietly, with no traceback.
    piped = subprocess.run(
        [
            "bash",
            "-c",
            'set -o pipefail; "$@" | head -1',
            "bash",
            *_rows_command(served, connected["dataset"], "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["record"]["name"] == "P0"
    assert "Traceback" not in piped.stderr and "Error" not in piped.stderr


def test_rows_help_says_json_lines_limit_and_cursor(tmp_path):
    shown = sf("datasets", "rows", "--help", cwd=tmp_path).stdout
    assert "JSON lines" in shown and "--limit" in shown and "--after" in shown
    assert "stderr" in shown


def test_send_prints_stored_and_failed_counts_that_agree_with_what_landed(served, tmp_path):
    sf("samples", cwd=tmp_path)
    connected = _connect(served, tmp_path, "people", "--mapping", "rules.json")
    sent = sf(
        "send",
        connected["inletUrl"],
        "records.jsonl",
        "--flow-id",
        connected["flowId"],
        cwd=tmp_path,
        platform=served,
    )
    flow = connected["flowId"]
    assert sent.stdout.strip() == (
        f"sent 5, accepted 5, refused 0, stored 4, failed 1 (see: sourceflow flows failures {flow})"
    )
    # No waiting here: send waited for the mapping, so what it printed is what landed.
    rows = sf("datasets", "rows", connected["dataset"], "--json", cwd=tmp_path, platform=served)
    assert len(rows.stdout.splitlines()) == 4
    failures = json.loads(
        sf("flows", "failures", flow, "--json", cwd=tmp_path, platform=served).stdout
    )
    assert len(failures) == 1

    as_json = json.loads(
        sf(
            "send",
            connected["inletUrl"],
            "records.jsonl",
            "--flow-id",
            flow,
            "--json",
            cwd=tmp_path,
            platform=served,
        ).stdout
    )
    assert (as_json["accepted"], as_json["stored"], as_json["failed"]) == (5, 4, 1)
    assert as_json["failures"][0]["error"]["code"]

    # Without --flow-id the flow is found from the inlet (the HTTP API's base connection).
    found = json.loads(
        sf(
            "send",
            connected["inletUrl"],
            "records.jsonl",
            "--json",
            cwd=tmp_path,
            platform=served,
            check=False,
        ).stdout
    )
    assert found["flowIds"] == [flow]

    quick = sf(
        "send",
        connected["inletUrl"],
        "records.jsonl",
        "--flow-id",
        flow,
        "--no-wait",
        cwd=tmp_path,
        platform=served,
    )
    assert quick.stdout.strip() == "sent 5, accepted 5, refused 0"


def test_send_to_an_authenticated_inlet_suggests_the_cli_option(served, tmp_path):
    connected = _connect(served, tmp_path, "secured", "--authenticated")
    records = tmp_path / "one.jsonl"
    records.write_text('{"name": "A"}\n')
    refused = sf(
        "send",
        connected["inletUrl"],
        str(records),
        "--flow-id",
        connected["flowId"],
        cwd=tmp_path,
        platform=served,
        check=False,
    )
    assert refused.returncode == 1
    assert "--authenticated" in refused.stderr, refused.stderr
    assert "token=" not in refused.stderr and "client." not in refused.stderr
    accepted = sf(
        "send",
        connected["inletUrl"],
        str(records),
        "--flow-id",
        connected["flowId"],
        "--authenticated",
        cwd=tmp_path,
        platform=served,
    )
    assert accepted.stdout.strip().startswith("sent 1, accepted 1, refused 0, stored 1")


def test_explore_of_a_streaming_source_says_it_has_no_base_connection(served, tmp_path):
    answer = sf("explore", "chatlio", cwd=tmp_path, platform=served, check=False)
    assert answer.returncode == 1
    assert "no base connection to explore" in answer.stderr, answer.stderr
    assert "sourceflow connect chatlio" in answer.stderr
    assert "connect one first" not in answer.stderr


class _Busy(BaseHTTPRequestHandler):
    """A platform that answers every request 503 with Retry-After: 1, counting them."""

    hits = 0

    def _busy(self) -> None:
        type(self).hits += 1
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        body = b'{"title": "Service Unavailable", "status": 503}'
        self.send_response(503)
        self.send_header("Retry-After", "1")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _busy

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_retries_show_progress_and_the_error_counts_the_attempts(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Busy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        started = time.monotonic()
        out = sf("connect", "http", "--dataset", "ds", cwd=tmp_path, platform=url, check=False)
        took = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert out.returncode == 1
    waits = re.findall(
        r"platform answered 503; retrying in 1\.0 s \(attempt (\d) of 4\)", out.stderr
    )
    assert waits[:3] == ["2", "3", "4"], out.stderr
    final = out.stderr.strip().splitlines()[-1]
    assert final.startswith("error: ") and "answered 503 after 4 attempts" in final, final
    assert "retry after 1 s" in final
    # Every attempt the server saw was announced (the first is not a retry) or is the last one.
    assert _Busy.hits == len(waits) + out.stderr.count("after 4 attempts")
    assert took >= 3  # the three waits the server asked for were kept
