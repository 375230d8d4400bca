"""Benchmark (not a test): the local platform's inlet and the connect lifecycle, in one run.

The server (:mod:`benchapp`: the platform plus a no-op route, on the product's uvicorn
settings) runs in a process of its own pinned to CPU 0; this script and its load generator run
on CPU 1. Measured:

1. the connect lifecycle of an HTTP source: wall time and HTTP calls (a counting transport);
2. single-message ``POST /collection/{inletId}`` (raw data, ``x-adobe-flow-id``), each answer
   given only after its commit: requests/s and p50/p99 at saturation, against the ceiling, a
   bare Starlette no-op POST route in a server of its own (same uvicorn settings, no platform
   middleware, pinned to the same CPU), and against ``POST /bench/noop`` behind the
   platform's middleware; p99 at a fixed 2,000 requests/s; the inlet's checks are probed with
   requests each must refuse, and the run says which are on;
3. ``POST /collection/batch/{inletId}``: messages/s;
4. server memory (VmRSS, VmHWM) over repeated 1 MB batches of 100,000 small messages, on a
   fresh server: baseline, peak and what stays after each batch;
5. the load generator's own ceiling, against a framework-free responder.

Saturation uses ``wrk`` when it is installed (``apt-get install wrk``), else the asyncio
generator of :mod:`loadgen` (the run says which). The fixed rate always uses :mod:`loadgen`
(wrk has no fixed-rate mode). Each durability setting gets its own server and database.

    python tests/bench/bench_platform.py [--durability full,normal] [--seconds 5] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import httpx  # noqa: E402
import loadgen  # noqa: E402
from benchlib import CLIENT_CPU, RESULTS, SERVER_CPU, loadavg, machine, pin, table, write  # noqa: E402

from sourceflow import config, model, plugins  # noqa: E402
from sourceflow.client import FlowServiceClient  # noqa: E402
from sourceflow.lifecycle import ConnectRequest, Lifecycle  # noqa: E402
from sourceflow.state import StateFile  # noqa: E402

HOST = "127.0.0.1"
MESSAGE = {
    "id": "evt-000001",
    "type": "page_view",
    "user": {"email": "ada@example.com", "name": "Ada Lovelace"},
    "page": "https://shop.example.com/checkout",
    "ts": "2024-05-02T10:15:02Z",
    "amount": 4200,
}
# The bench flow's mapping set: every field of MESSAGE into the dataset.
MAPPING = [
    ("id", "_bench.eventId"),
    ("type", "eventType"),
    ("user.email", "_bench.person.email"),
    ("user.name", "_bench.person.name"),
    ("page", "web.webPageDetails.URL"),
    ("ts", "timestamp"),
    ("amount", "_bench.amount"),
]
GOALS = {
    "inlet_rps": 5000,
    # against the bare Starlette no-op (no platform middleware), measured in the same run
    "share_of_noop": 0.65,
    "p99_at_2000_ms": 20.0,
    "batch_mps": 50000,
    # server RSS over repeated 1 MB batches of 100,000 small messages
    "batch_peak_above_baseline_mb": 64,
    "batch_growth_mb": 0,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """The bench app in a uvicorn process pinned to the server CPU."""

    def __init__(
        self,
        data_dir: Path,
        durability: str,
        *,
        one_cpu: bool = True,
        ingest: str = "process",
        bare: bool = False,
    ) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "BENCH_DATA_DIR": str(data_dir),
            "BENCH_DURABILITY": durability,
            "BENCH_INGEST": ingest,
        }
        pinned = one_cpu and shutil.which("taskset") is not None
        # Unpinned, the server may use the CPU this script and the load generator run on.
        self.proc = subprocess.Popen(
            [
                *("taskset", "-c", str(SERVER_CPU))[: 3 if pinned else 0],
                sys.executable,
                str(HERE / "benchapp.py"),
                str(self.port),
                *(["bare"] if bare else []),
            ],
            env=env,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection((HOST, self.port), timeout=0.2):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the bench server did not start") from None
                time.sleep(0.05)
        self.url = f"http://{HOST}:{self.port}"

    def pin_ingest(self, cpu: int, timeout: float = 10.0) -> bool:
        """Move the ingest process (the server's spawned child) to ``cpu``, as an operator
        would with ``taskset -p``; False when it cannot be found or moved."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for stat in Path("/proc").glob("[0-9]*/stat"):
                try:
                    fields = stat.read_text().rsplit(")", 1)[1].split()
                    cmdline = (stat.parent / "cmdline").read_bytes()
                except OSError:
                    continue
                if fields[1] == str(self.proc.pid) and b"resource_tracker" not in cmdline:
                    try:
                        os.sched_setaffinity(int(stat.parent.name), {cpu})
                    except OSError:
                        return False
                    return True
            time.sleep(0.1)
        return False

    def commits(self) -> dict[str, float]:
        """The inlet's commit counts and the collector's seconds so far (``/bench/stats``)."""
        answer: dict[str, float] = httpx.get(self.url + "/bench/stats").json()
        return answer

    def memory(self) -> dict[str, float]:
        """The server's resident memory now and at its peak (``VmHWM``), in MB."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        kb = {k: int(v.split()[0]) for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(.*)$", status, re.M)}
        return {"rss_mb": kb["VmRSS"] / 1024, "peak_mb": kb["VmHWM"] / 1024}

    def reset_peak(self) -> bool:
        """Start ``VmHWM`` again from the current RSS (Linux 4.0+; False where not allowed)."""
        try:
            Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def cpu_seconds(self) -> float:
        """CPU seconds of the server and of its processes (the ingest worker's)."""
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # a process that just ended
            if stat.parent.name == str(self.proc.pid) or fields[1] == str(self.proc.pid):
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class CountingTransport(httpx.BaseTransport):
    """Counts the HTTP calls a client makes."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.calls: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"{request.method} {request.url.path}")
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def connect_lifecycle(url: str, state_dir: Path, runs: int = 5) -> tuple[dict[str, Any], Any]:
    """Connect the HTTP source ``runs`` times (each a fresh client: token included), then
    once more, with a mapping set, for the load phases (the connection this returns)."""
    registry = plugins.load()
    settings = config.Settings(platform_url=url)
    with FlowServiceClient(settings) as setup:
        dataset = setup.datasets.create(
            model.Dataset(
                name="bench events",
                schema_ref=model.XdmSchemaRef(id="https://ns.adobe.com/sourceflow/schemas/bench"),
            )
        )
    walls: list[float] = []
    calls: list[list[str]] = []
    done = None
    for i in range(runs):
        transport = CountingTransport()
        started = time.perf_counter()
        with FlowServiceClient(settings, transport=transport) as client:
            lifecycle = Lifecycle(client, registry, StateFile(state_dir / f"state-{i}.json"))
            done = lifecycle.connect(
                ConnectRequest(source="http", name=f"bench-http-{i}", dataset_id=dataset)
            )
        walls.append(time.perf_counter() - started)
        calls.append(transport.calls)
    # The flow the load phases send to: raw records through a mapping set, the path the
    # README's HTTP example takes. (The runs above keep the HTTP source's default, XDM
    # envelopes, which these raw records are not: they would all become XDM-400 failures,
    # and "mapped" would count failures.)
    with FlowServiceClient(settings) as client:
        lifecycle = Lifecycle(client, registry, StateFile(state_dir / "state-mapped.json"))
        done = lifecycle.connect(
            ConnectRequest(
                source="http",
                name="bench-http-mapped",
                dataset_id=dataset,
                credentials={"dataType": "raw"},
                mapping=model.MappingSet(
                    mappings=[
                        model.MappingRule(source_attribute=s, destination_xdm_path=d)
                        for s, d in MAPPING
                    ]
                ),
            )
        )
    walls_ms = sorted(w * 1000 for w in walls)
    result = {
        "runs": runs,
        "wall_ms_median": walls_ms[len(walls_ms) // 2],
        "wall_ms_min": walls_ms[0],
        "wall_ms_max": walls_ms[-1],
        "http_calls": len(calls[0]),
        "calls": calls[0],
    }
    return result, done


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def wrk(
    url: str, body: bytes, headers: dict[str, str], connections: int, seconds: float
) -> dict[str, Any]:
    """Saturation with wrk (one thread, ``connections`` keep-alive connections)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write('wrk.method = "POST"\n')
        lua.write(f"wrk.body = {json.dumps(body.decode())}\n")
        for k, v in headers.items():
            lua.write(f'wrk.headers["{k}"] = "{v}"\n')
        lua.write(
            "function done(summary, latency, requests)\n"
            '  io.write(string.format("ERRORS %d %d\\n", summary.errors.status, '
            "summary.errors.connect + summary.errors.read + summary.errors.write + "
            "summary.errors.timeout))\n"
            "end\n"
        )
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                lua.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(lua.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errs = re.search(r"ERRORS (\d+) (\d+)", out)
    errors = int(errs.group(1)) + int(errs.group(2)) if errs else 0
    result: dict[str, Any] = {
        "requests": total,
        "errors": errors,
        "requests_per_s": rps,
        "p50_ms": p50,
        "p99_ms": p99,
    }
    if p50 != p50 or p99 != p99:  # NaN: wrk wrote something _ms cannot read; keep it to see
        result["wrk_output"] = out
    return result


def saturate(
    url: str, path: str, body: bytes, headers: dict[str, str], seconds: float, use_wrk: bool
) -> dict[str, Any]:
    connections = 32
    if use_wrk:
        return wrk(url + path, body, headers, connections, seconds)
    request = loadgen.request_bytes(f"{HOST}", path, body, headers)
    port = int(url.rsplit(":", 1)[1])
    return loadgen.closed(HOST, port, request, connections=connections, seconds=seconds)


def measured(server: Server, run: Any, profile: Path | None = None) -> dict[str, Any]:
    """``run()``'s figures, plus the server's CPU share, the inlet's writes per transaction
    and, with ``profile`` (a file to write), where the server spent its time (py-spy)."""
    commits0 = server.commits()
    spy = Profiler(server.proc.pid, profile) if profile else None
    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
    result: dict[str, Any] = run()
    result["server_cpu_share"] = round(
        (server.cpu_seconds() - cpu0) / (time.perf_counter() - t0), 2
    )
    commits1 = server.commits()
    # Stored but not yet mapped when the phase ends: a worker falling behind shows here.
    result["unmapped_at_end"] = int(commits1["unmapped"])
    stored = commits1["last_seq"] - commits0["last_seq"]  # seq grows by one per message
    mapped = stored - (commits1["unmapped"] - commits0["unmapped"])
    result["mapped_per_s"] = round(mapped / (time.perf_counter() - t0))
    # Mapped is rows, not failures: every bench message maps (a failure is a bench defect).
    result["failures"] = int(commits1["failures"] - commits0["failures"])
    result["rows_per_s"] = round((commits1["rows"] - commits0["rows"]) / (time.perf_counter() - t0))
    result["gc_share"] = round(
        (commits1["gc_seconds"] - commits0["gc_seconds"]) / (time.perf_counter() - t0), 3
    )
    transactions = commits1["transactions"] - commits0["transactions"]
    if transactions:
        result["writes_per_transaction"] = round(
            (commits1["writes"] - commits0["writes"]) / transactions, 1
        )
    if spy is not None:
        result["profile"] = spy.finish()
    return result


def measured_bare(server: Server, run: Any) -> dict[str, Any]:
    """:func:`measured` for the bare no-op server, which has no platform to ask for stats."""
    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
    result: dict[str, Any] = run()
    result["server_cpu_share"] = round(
        (server.cpu_seconds() - cpu0) / (time.perf_counter() - t0), 2
    )
    return result


def drain(server: Server, timeout: float = 300.0) -> dict[str, Any]:
    """How fast the ingest worker maps what a phase left unmapped, with no load arriving."""
    backlog = int(server.commits()["unmapped"])
    started = time.perf_counter()
    left = backlog
    while left and time.perf_counter() - started < timeout:
        time.sleep(0.1)
        left = int(server.commits()["unmapped"])
    seconds = time.perf_counter() - started
    return {
        "backlog": backlog,
        "seconds": round(seconds, 2),
        "mapped_per_s": round((backlog - left) / seconds) if backlog else None,
        "left": left,
    }


class Profiler:
    """py-spy sampling the server (only samples holding the GIL: where its CPU goes)."""

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        out.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                *("py-spy", "record", "--pid", str(pid), "--rate", "500", "--gil", "--threads"),
                *("--nonblocking", "--format", "raw", "--output", str(out)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.5)  # py-spy attaches before the phase starts

    def finish(self, top: int = 15) -> dict[str, Any]:
        """Stop sampling; the share of samples per thread and the top functions by own time."""
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=30)
        if not self.out.exists():  # e.g. not allowed to trace: py-spy needs ptrace rights
            return {"samples": 0, "error": err.strip()[-500:], "threads": {}, "top_own_time": []}
        threads: Counter[str] = Counter()
        own: Counter[str] = Counter()
        total = 0
        for line in self.out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames, n = stack.split(";"), int(count)
            total += n
            threads[frames[0].rsplit(": ", 1)[-1]] += n  # "thread (123): MainThread"
            own[frames[-1]] += n
        share = {k: round(v / total, 3) for k, v in threads.most_common() if v} if total else {}
        return {
            "samples": total,
            "file": str(self.out),
            "threads": share,
            "top_own_time": [[f, round(n / total, 3)] for f, n in own.most_common(top)],
        }


SMALL = {"k": "v"}
BATCH_MEMBERS = 100_000


def memory_phase(
    server: Server, inlet_id: str, headers: dict[str, str], batches: int = 5
) -> dict[str, Any]:
    """Server RSS over ``batches`` batches of 100,000 small messages (1 MB, the inlet's limit),
    sent one after another: the baseline before, the peak during each and what stays after
    each once the ingest worker has mapped it. The goal: peak under 64 MB above the baseline,
    and no growth from batch to batch."""
    body = json.dumps({"messages": [SMALL] * BATCH_MEMBERS}, separators=(",", ":")).encode()
    url = f"{server.url}/collection/batch/{inlet_id}"
    settle(server)
    baseline = server.memory()["rss_mb"]
    can_reset = server.reset_peak()
    rounds: list[dict[str, Any]] = []
    for _ in range(batches):
        if can_reset:
            server.reset_peak()
        answer = httpx.post(url, content=body, headers=headers, timeout=300)
        accepted = answer.content.count(b'"xactionId"') if answer.status_code == 207 else 0
        during = server.memory()["peak_mb"]
        settle(server)
        after = server.memory()
        rounds.append(
            {
                "status": answer.status_code,
                "accepted": accepted,
                "peak_mb": round(max(during, after["peak_mb"]), 1),
                "settled_mb": round(after["rss_mb"], 1),
            }
        )
    peak = max(r["peak_mb"] for r in rounds)
    settled = [r["settled_mb"] for r in rounds]
    return {
        "batch_bytes": len(body),
        "members": BATCH_MEMBERS,
        "batches": batches,
        "peak_resettable": can_reset,
        "baseline_mb": round(baseline, 1),
        "peak_mb": peak,
        "peak_above_baseline_mb": round(peak - baseline, 1),
        "settled_mb": settled[-1],
        "settled_above_baseline_mb": round(settled[-1] - baseline, 1),
        # growth over the repeated batches: what stayed after the last against the first
        "growth_mb": round(settled[-1] - settled[0], 1),
        "rounds": rounds,
        "errors": sum(r["accepted"] != BATCH_MEMBERS for r in rounds),
    }


def settle(server: Server, timeout: float = 120.0) -> None:
    """Wait until the ingest worker has mapped everything, then a moment for RSS to settle."""
    deadline = time.monotonic() + timeout
    mapping = os.environ.get("BENCH_INGEST", "process") != "off"
    while mapping and server.commits()["unmapped"] and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)


def generator_ceiling(seconds: float, use_wrk: bool) -> dict[str, Any]:
    port = free_port()
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_tiny, args=(port,), daemon=True)
    proc.start()
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection((HOST, port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        body = json.dumps(MESSAGE).encode()
        headers = {"Content-Type": "application/json"}
        url = f"http://{HOST}:{port}"
        result = {
            "wrk" if use_wrk else "loadgen": saturate(url, "/", body, headers, seconds, use_wrk)
        }
        if use_wrk:  # the fixed-rate runs always use loadgen: its ceiling too
            result["loadgen"] = saturate(url, "/", body, headers, seconds, False)
        return result
    finally:
        proc.terminate()
        proc.join(5)


def _tiny(port: int) -> None:
    pin(SERVER_CPU)
    loadgen.tiny_server(port)


def checks(url: str, inlet_path: str, headers: dict[str, str], limit: int) -> dict[str, Any]:
    """Which of the inlet's checks the measured route runs: each probed with a request it
    must refuse (the answer's status), and what the bench's source asks for."""
    probes = {
        "size_limit": (inlet_path, b'{"pad":"' + b"x" * limit + b'"}', 413),
        "exact_json": (inlet_path, b'{"n":1e400}', 400),
        "duplicate_key": (inlet_path, b'{"a":1,"a":2}', 400),
        "unknown_inlet": ("/collection/" + "0" * 64, b'{"a":1}', 404),
        "unknown_flow": (inlet_path, b'{"a":1}', 400),
    }
    found: dict[str, Any] = {}
    with httpx.Client(base_url=url, timeout=30) as client:
        for name, (path, body, wanted) in probes.items():
            sent = dict(headers)
            if name == "unknown_flow":
                sent["x-adobe-flow-id"] = "not-a-flow-of-this-inlet"
            status = client.post(path, content=body, headers=sent).status_code
            found[name] = {"refused_with": status, "on": status == wanted}
    # The HTTP API source signs nothing and its inlet asks for no token: no signature check
    # or de-duplication by delivery id runs here (tests/platform/test_ingress.py covers them).
    found["signature"] = "none: the http source does not sign its deliveries"
    found["token"] = "not asked: the bench's inlet is created without authenticationRequired"
    found["commit_before_ack"] = "synchronous=FULL: each answer waits for its commit"
    return found


def one_setting(
    durability: str,
    seconds: float,
    use_wrk: bool,
    work: Path,
    profile: Path | None = None,
    *,
    one_cpu: bool = True,
    ingest: str = "process",
    ingest_on_other_cpu: bool = False,
    batch_only: bool = False,
    rounds: int = 1,
) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"data-{durability}-", dir=work))
    server = Server(data_dir, durability, one_cpu=one_cpu, ingest=ingest)
    ingest_cpu = "server's"
    bare = Server(data_dir, durability, one_cpu=one_cpu, bare=True)
    try:
        connect, done = connect_lifecycle(server.url, data_dir)
        if ingest_on_other_cpu:  # spawned by now: the platform has served requests
            moved = server.pin_ingest(CLIENT_CPU)
            ingest_cpu = "other" if moved else "server's (could not move it)"
        inlet_path = "/collection/" + done.inlet_id
        body = json.dumps(MESSAGE, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "x-adobe-flow-id": done.flow_id}
        # First, on a server that has taken nothing but the connect calls yet.
        memory = memory_phase(server, done.inlet_id, headers)
        inlet_checks = checks(server.url, inlet_path, headers, 1_048_576)
        # a short warm-up: imports, the first statements, the thread pool
        saturate(server.url, inlet_path, body, headers, 1, use_wrk)
        bare_noop = noop = inlet = fixed = None
        if not batch_only:
            saturate(bare.url, "/bench/noop", body, headers, 1, use_wrk)
            bare_noop = measured_bare(
                bare, lambda: saturate(bare.url, "/bench/noop", body, headers, seconds, use_wrk)
            )
            noop = measured(
                server,
                lambda: saturate(server.url, "/bench/noop", body, headers, seconds, use_wrk),
            )
            inlet = measured(
                server, lambda: saturate(server.url, inlet_path, body, headers, seconds, use_wrk)
            )
            request = loadgen.request_bytes(HOST, inlet_path, body, headers)
            fixed = measured(
                server,
                lambda: loadgen.open_rate(HOST, server.port, request, rate=2000, seconds=seconds),
            )
        batches = {}
        batch_requests = {}
        for size in (100, 1000):
            batch = json.dumps({"messages": [MESSAGE] * size}, separators=(",", ":")).encode()
            batch_requests[size] = loadgen.request_bytes(
                HOST, "/collection/batch/" + done.inlet_id, batch, headers
            )
            res = measured(
                server,
                lambda size=size: loadgen.closed(  # type: ignore[misc]
                    HOST, server.port, batch_requests[size], connections=4, seconds=seconds
                ),
            )
            res["messages_per_s"] = res["requests_per_s"] * size
            res["drain"] = drain(server)
            batches[str(size)] = res
        # The goal's own question: with 50,000 messages/s offered (batches of 1,000 at a fixed
        # 50 a second, not as fast as the inlet takes them), is every one acknowledged and
        # mapped while they arrive, with no backlog left growing?
        rate = GOALS["batch_mps"] / 1000
        held = measured(
            server,
            lambda: loadgen.open_rate(
                HOST, server.port, batch_requests[1000], rate=rate, seconds=seconds * 2,
                connections=8,
            ),
        )  # fmt: skip
        held["messages_per_s"] = held["requests_per_s"] * 1000
        held["drain"] = drain(server)
        batches[f"1000 at {GOALS['batch_mps']:,}/s offered"] = held
        # More rounds of the bare no-op and the inlet back to back: on a busy machine one
        # pair says little, the range over several says how far to trust it.
        pairs = [(bare_noop, inlet)] if bare_noop and inlet else []
        for _ in range(rounds - 1 if pairs else 0):
            pairs.append(
                (
                    measured_bare(
                        bare,
                        lambda: saturate(bare.url, "/bench/noop", body, headers, seconds, use_wrk),
                    ),
                    measured(
                        server,
                        lambda: saturate(server.url, inlet_path, body, headers, seconds, use_wrk),
                    ),
                )
            )
        shares = [
            {
                "bare_noop_rps": round(b["requests_per_s"]),
                "inlet_rps": round(i["requests_per_s"]),
                "share": round(i["requests_per_s"] / b["requests_per_s"], 3),
                "share_per_cpu": round(per_cpu(i) / per_cpu(b), 3),
            }
            for b, i in pairs
        ]
        profiles = {}
        if profile is not None:  # phases of their own: sampling slows the server down
            profiles["inlet"] = measured(
                server,
                lambda: saturate(server.url, inlet_path, body, headers, seconds, use_wrk),
                profile / f"{durability}-inlet.txt",
            )["profile"]
            profiles["batch_1000"] = measured(
                server,
                lambda: loadgen.closed(
                    HOST, server.port, batch_requests[1000], connections=4, seconds=seconds
                ),
                profile / f"{durability}-batch.txt",
            )["profile"]
        stored = _stored(data_dir)
    finally:
        server.stop()
        bare.stop()
    return {
        "durability": durability,
        "server_cpus": "one" if one_cpu else "all",
        "ingest_cpu": ingest_cpu,
        "ingest": ingest,
        "connect": connect,
        "bare_noop": bare_noop,
        "noop": noop,
        "inlet": inlet,
        "inlet_checks": inlet_checks,
        # the goal's ratio: against the bare Starlette no-op
        "inlet_share_of_noop": inlet["requests_per_s"] / bare_noop["requests_per_s"]
        if inlet and bare_noop
        else None,
        "inlet_share_of_platform_noop": inlet["requests_per_s"] / noop["requests_per_s"]
        if inlet and noop
        else None,
        # The same per second of server CPU: on a busy machine the server does not get its
        # whole core, and this ratio moves less with how much of it each phase got.
        "inlet_share_of_noop_per_cpu": per_cpu(inlet) / per_cpu(bare_noop)
        if inlet and bare_noop
        else None,
        "inlet_share_rounds": shares,
        "memory": memory,
        "fixed_2000": fixed,
        "batch": batches,
        "messages_stored": stored,
        "profiles": profiles,
    }


def per_cpu(phase: dict[str, Any]) -> float:
    """Requests per second of server CPU."""
    return float(phase["requests_per_s"] / max(phase["server_cpu_share"], 0.01))


def _stored(data_dir: Path) -> int:
    import sqlite3

    db = sqlite3.connect(data_dir / "platform.db")
    try:
        return int(db.execute("SELECT count(*) FROM messages").fetchone()[0])
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durability", default="full,normal")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure the bare no-op and the inlet back to back this many times (ranges)",
    )
    parser.add_argument("--no-wrk", action="store_true", help="use the asyncio generator only")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also sample the server with py-spy during extra inlet and batch phases",
    )
    parser.add_argument(
        "--server-cpus",
        choices=["one", "all"],
        default="one",
        help="pin the server (and its ingest process) to one CPU (default), or let it use "
        "every CPU, the load generator's too",
    )
    parser.add_argument(
        "--ingest",
        choices=["process", "thread"],
        default="process",
        help="the ingest worker as `platform serve` runs it (a process), or a thread",
    )
    parser.add_argument(
        "--ingest-cpu",
        choices=["same", "other"],
        default="same",
        help="the ingest process on the server's CPU (default: one core does everything), or "
        "moved to the other CPU (the load generator's), so that a second core maps",
    )
    parser.add_argument(
        "--batch-only", action="store_true", help="only the connect and batch phases"
    )
    args = parser.parse_args()
    profile = RESULTS / "profiles" if args.profile else None
    if profile is not None and shutil.which("py-spy") is None:
        parser.error("--profile needs py-spy (pip install py-spy)")
    pin(CLIENT_CPU)
    use_wrk = not args.no_wrk and shutil.which("wrk") is not None
    generator = "wrk -t1 -c32" if use_wrk else "loadgen (asyncio, 32 connections)"
    if not use_wrk and not args.no_wrk:
        print("wrk is not installed (apt-get install wrk): saturating with the asyncio generator")
    result: dict[str, Any] = {"machine": machine(), "generator": generator, "goals": GOALS}
    print(f"load 1 min: {result['machine']['load_1min_at_start']}; saturation by {generator}")
    work = RESULTS / "work"
    work.mkdir(parents=True, exist_ok=True)
    result["generator_ceiling"] = generator_ceiling(args.seconds, use_wrk)
    result["server_cpus"], result["ingest"] = args.server_cpus, args.ingest
    print(
        f"server on {args.server_cpus} CPU(s), ingest worker in a {args.ingest}"
        + (", moved to the other CPU" if args.ingest_cpu == "other" else "")
    )
    result["settings"] = [
        one_setting(
            d.strip(),
            args.seconds,
            use_wrk,
            work,
            profile,
            one_cpu=args.server_cpus == "one",
            ingest_on_other_cpu=args.ingest_cpu == "other",
            ingest=args.ingest,
            batch_only=args.batch_only,
            rounds=args.rounds,
        )
        for d in args.durability.split(",")
    ]
    result["machine"]["load_1min_at_end"] = loadavg()
    shutil.rmtree(work, ignore_errors=True)
    _report(result)  # before writing: it adds each setting's goal verdicts
    path = write("platform", result, args.out)
    print(f"\n(figures in {path})")


def _report(result: dict[str, Any]) -> None:
    rows: list[list[Any]] = []
    for name, g in result["generator_ceiling"].items():
        rows.append(
            [
                f"generator ceiling ({name})",
                "-",
                g["requests_per_s"],
                g["p50_ms"],
                g["p99_ms"],
                *["-"] * 7,
            ]
        )
    for s in result["settings"]:
        d = s["durability"]
        phases = [
            (what, load, r)
            for what, load, r in (
                ("bare Starlette no-op", "sat.", s["bare_noop"]),
                ("no-op route, platform middleware", "sat.", s["noop"]),
                ("inlet, 1 message", "sat.", s["inlet"]),
                ("inlet, 1 message", "2,000/s", s["fixed_2000"]),
            )
            if r is not None
        ] + [
            (
                f"batch of {size} ({b['messages_per_s']:,.0f} msg/s)",
                "sat." if size.isdigit() else "fixed",
                b,
            )
            for size, b in s["batch"].items()
        ]
        for what, load, r in phases:
            rows.append(
                [
                    f"{what} [{d}]",
                    load,
                    r["requests_per_s"],
                    r["p50_ms"],
                    r["p99_ms"],
                    r["server_cpu_share"],
                    r.get("writes_per_transaction", "-"),
                    f"{r['gc_share']:.1%}" if "gc_share" in r else "-",
                    r.get("mapped_per_s", "-"),
                    r.get("failures", "-"),
                    r.get("unmapped_at_end", "-"),
                    r["errors"],
                ]
            )
    table(
        rows,
        [
            *("what", "load", "req/s", "p50 ms", "p99 ms", "server CPU"),
            *("writes/commit", "GC", "mapped/s", "failed", "unmapped", "errors"),
        ],
    )
    print()
    goals = result["goals"]
    mem_rows = []
    for s in result["settings"]:
        m = s["memory"]
        mem_rows.append(
            [
                f"{m['batches']} batches of {m['members']:,} ({m['batch_bytes']:,} B) "
                f"[{s['durability']}]",
                m["baseline_mb"],
                m["peak_mb"],
                m["peak_above_baseline_mb"],
                f"< {goals['batch_peak_above_baseline_mb']}",
                ", ".join(f"{r['settled_mb']:.0f}" for r in m["rounds"]),
                m["growth_mb"],
                f"{goals['batch_growth_mb']}",
                m["errors"],
            ]
        )
    table(
        mem_rows,
        [
            *("server RSS (MB)", "baseline", "peak", "peak - baseline", "goal"),
            *("settled after each", "growth", "goal", "errors"),
        ],
    )
    print()
    for s in result["settings"]:
        on = [k for k, v in s["inlet_checks"].items() if isinstance(v, dict) and v["on"]]
        off = [k for k, v in s["inlet_checks"].items() if isinstance(v, dict) and not v["on"]]
        print(
            f"[{s['durability']}] inlet checks probed on: {', '.join(on)}"
            + (f"; NOT refused as expected: {', '.join(off)}" if off else "")
        )
    for s in result["settings"]:
        rounds = s["inlet_share_rounds"]
        if len(rounds) > 1:
            share = [r["share"] for r in rounds]
            cpu = [r["share_per_cpu"] for r in rounds]
            print(
                f"[{s['durability']}] over {len(rounds)} rounds, inlet / bare no-op: "
                f"{min(share):.0%}-{max(share):.0%} by req/s, "
                f"{min(cpu):.0%}-{max(cpu):.0%} per server CPU second"
            )
    for s in result["settings"]:
        c = s["connect"]
        share = s["inlet_share_of_noop"]
        print(
            f"[{s['durability']}] inlet = "
            + (
                f"{s['inlet_share_of_noop']:.0%} of the bare no-op "
                f"(goal {goals['share_of_noop']:.0%}), "
                f"{s['inlet_share_of_platform_noop']:.0%} of the no-op with platform middleware, "
                f"{s['inlet_share_of_noop_per_cpu']:.0%} of the bare no-op per server CPU second; "
                if s["inlet_share_of_noop"] is not None
                else "not measured (--batch-only); "
            )
            + f"connect lifecycle: {c['http_calls']} HTTP calls, median "
            f"{c['wall_ms_median']:.0f} ms over {c['runs']} runs; "
            f"{s['messages_stored']:,} messages stored"
        )
    for s in result["settings"]:
        for size, b in s["batch"].items():
            d = b["drain"]
            if d["backlog"]:
                print(
                    f"[{s['durability']}] after the batches of {size}: {d['backlog']:,} messages "
                    f"left to map, mapped in {d['seconds']} s ({d['mapped_per_s']:,}/s, "
                    f"no load arriving; {d['left']:,} left)"
                )
    for s in result["settings"]:
        held = next((b for size, b in s["batch"].items() if not size.isdigit()), None)
        if held is not None:
            goal = GOALS["batch_mps"]
            # Met when the offered load was taken and mapped as it came: 95% of it both ways
            # (the phase's first and last second are partial) and nothing left to map after.
            met = (
                held["messages_per_s"] >= 0.95 * goal
                and held["mapped_per_s"] >= 0.95 * goal
                and held["drain"]["backlog"] <= goal
                and held["failures"] == 0
            )
            print(
                f"[{s['durability']}] {goal:,} msg/s offered in batches of 1,000: "
                f"{held['messages_per_s']:,.0f}/s acknowledged, {held['mapped_per_s']:,}/s "
                f"mapped while arriving, {held['drain']['backlog']:,} left to map at the end: "
                f"goal {'met' if met else 'MISSED'}"
            )
        s["batch_goal_met"] = held is not None and met
    for s in result["settings"]:
        for phase, prof in s["profiles"].items():
            threads = ", ".join(f"{t} {v:.0%}" for t, v in prof["threads"].items())
            head = f"[{s['durability']}] profile of {phase} ({prof['samples']} samples)"
            print(f"\n{head}: {prof.get('error') or threads}")
            for frame, share in prof["top_own_time"][:10]:
                print(f"  {share:6.1%}  {frame}")
    print(
        f"load 1 min: start {result['machine']['load_1min_at_start']}, "
        f"end {result['machine']['load_1min_at_end']}"
    )


if __name__ == "__main__":
    main()
