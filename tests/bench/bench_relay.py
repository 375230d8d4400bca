"""Benchmark (not a test): the relay's two rates, on SQLite and on PostgreSQL with one and two
replicas.

1. **Acknowledged deliveries/s**: signed Shopify deliveries (each its own webhook id and HMAC),
   sent back to back on keep-alive connections for ``--seconds``, each answered only after its
   commit to the outbox. Adobe's side is down meanwhile, so the figure is the relay's alone.
2. **Forwarding throughput**: Adobe's side (the local platform, in this process) comes back;
   messages/s from then until the outbox is empty and the platform has stored them all.

Relays run as ``sourceflow relay serve`` processes; PostgreSQL is a server of our own
(``initdb``/``pg_ctl``, see tests/relay/relaykit.py), skipped when it is not installed. All of
it shares the machine's cores, so the two-replica figures show what a second process adds on
this machine, not on a second machine (docs/relay.md models that).

    python tests/bench/bench_relay.py [--seconds 5] [--connections 16] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "relay"))

from benchlib import loadavg, machine, table, write  # noqa: E402
from loadgen import _exchange, request_bytes  # noqa: E402
from relaykit import (  # noqa: E402
    Adobe,
    PostgresServer,
    RelayProcess,
    order,
    postgres_missing,
    shopify_headers,
    write_config,
)

from sourceflow.relay.stores import open_outbox  # noqa: E402


def requests_for(inlet_id: str, host: str, count: int, start: int) -> list[bytes]:
    """``count`` distinct signed deliveries, as bytes on the wire."""
    out = []
    for n in range(start, start + count):
        body = order(n)
        headers = shopify_headers(body, f"bench-{n}")
        out.append(request_bytes(host, f"/collection/{inlet_id}", body, headers))
    return out


async def _load(
    targets: list[tuple[str, int]], requests: list[bytes], connections: int, seconds: float
) -> dict[str, Any]:
    stop = time.perf_counter() + seconds
    position = 0
    acked = errors = 0

    async def one(host: str, port: int) -> None:
        nonlocal position, acked, errors
        reader, writer = await asyncio.open_connection(host, port)
        while time.perf_counter() < stop and position < len(requests):
            request = requests[position]
            position += 1
            status = await _exchange(reader, writer, request)
            if status == 200:
                acked += 1
            else:
                errors += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(
        *(one(*targets[i % len(targets)]) for i in range(connections * len(targets)))
    )
    elapsed = time.perf_counter() - started
    return {"acked": acked, "errors": errors, "seconds": elapsed, "per_s": acked / elapsed}


def depth(store: str) -> int:
    outbox = open_outbox(store)
    try:
        return sum(s.depth for s in outbox.status())
    finally:
        outbox.close()


def run_case(
    name: str, store: str, replicas: int, work: Path, seconds: float, connections: int
) -> dict[str, Any]:
    adobe = Adobe(work / "adobe")
    adobe.up()
    state = work / "state.json"
    dataset, _, inlet_url = adobe.connect_orders(state)
    inlet_id = inlet_url.rsplit("/", 1)[1]
    config = write_config(
        work / "relay.toml",
        state=state,
        store=store,
        batch_max_messages=500,
        retry_cap_seconds=0.5,
    )
    relays = [
        RelayProcess(config, store, adobe.url, work / f"relay{i}.log") for i in range(replicas)
    ]
    try:
        adobe.down()  # the relay's own rate first: nothing is forwarded meanwhile
        host = urlsplit(relays[0].url).netloc
        requests = requests_for(inlet_id, host, int(seconds * 8000) + 1000, 0)
        targets = [("127.0.0.1", r.port) for r in relays]
        load = asyncio.run(_load(targets, requests, connections, seconds))
        backlog = depth(store)
        adobe.up()
        started = time.perf_counter()
        while depth(store) > 0:
            time.sleep(0.02)
        adobe.app.state.platform.wait_idle(60)
        drained = time.perf_counter() - started
        rows = len(adobe.rows(dataset))
    finally:
        for r in relays:
            r.stop()
        adobe.down()
    return {
        "case": name,
        "replicas": replicas,
        "acked": load["acked"],
        "ack_errors": load["errors"],
        "acked_per_s": load["per_s"],
        "backlog": backlog,
        "forwarded_per_s": backlog / drained if drained else 0.0,
        "rows_in_dataset": rows,
        "load_average": loadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16, help="per replica")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="sourceflow-bench-relay-") as tmp:
        root = Path(tmp)
        (root / "sqlite").mkdir()
        results.append(
            run_case(
                "sqlite",
                f"sqlite:{root / 'sqlite' / 'relay.db'}",
                1,
                root / "sqlite",
                args.seconds,
                args.connections,
            )
        )
        missing = postgres_missing()
        if missing:
            print(f"PostgreSQL cases skipped: {missing}")
        else:
            server = PostgresServer()
            try:
                for replicas in (1, 2):
                    work = root / f"pg{replicas}"
                    work.mkdir()
                    results.append(
                        run_case(
                            "postgresql",
                            server.database(),
                            replicas,
                            work,
                            args.seconds,
                            args.connections,
                        )
                    )
            finally:
                server.stop()
    table(
        [
            [
                r["case"],
                r["replicas"],
                r["acked_per_s"],
                r["forwarded_per_s"],
                r["backlog"],
                r["rows_in_dataset"],
                r["ack_errors"],
            ]
            for r in results
        ],
        ["store", "replicas", "acked/s", "forwarded/s", "backlog", "rows", "errors"],
    )
    write(
        "relay",
        {"machine": machine(), "seconds": args.seconds, "results": results},
        args.out,
    )


if __name__ == "__main__":
    main()
