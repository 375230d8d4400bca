"""The relay's test bench, all real parts: the local platform (in-process, on a real socket)
plays Adobe behind a fault-injecting ASGI middleware; relays run as ``sourceflow relay serve``
subprocesses (so kill -9 is real); PostgreSQL is a real server started with ``initdb`` and
``pg_ctl`` in a temporary folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from sourceflow import model, plugins
from sourceflow.client import FlowServiceClient
from sourceflow.config import Settings
from sourceflow.lifecycle import ConnectRequest, Lifecycle
from sourceflow.platform.app import PlatformConfig, create_app
from sourceflow.platform.server import background
from sourceflow.state import StateFile
from sourceflow_shopify.signing import webhook_signature

T = TypeVar("T")

SECRET = "shpss_relay_test_secret_0123456789"
SHOP = "acme.myshopify.com"
BATCH = 20
"""Messages per forwarded batch in the tests: small, so that a run makes many requests."""
PG_BIN = Path(os.environ.get("SOURCEFLOW_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(check: Callable[[], T], timeout: float = 30, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


# --- Adobe's side: the local platform with injected faults ------------------------------------


class Faults:
    """ASGI middleware in front of the local platform's inlet, doing what Adobe's inlet does
    under load: answer a share (``rate``) of requests 503 or 429, in turn, before anything is
    processed. The share is exact (every fifth request at 20%), so a run of n requests meets
    n/5 of them whatever its timing. It also refuses, with a 400 for the whole batch, any batch
    carrying ``"poison": true`` (Adobe's answer to a message it will never take)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.rate = 0.0
        self.poison = True
        self.requests = 0
        self.injected = 0
        self.refused = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/collection"):
            await self.app(scope, receive, send)
            return
        self.requests += 1
        if int(self.requests * self.rate) > int((self.requests - 1) * self.rate):
            self.injected += 1
            status = (503, 429)[self.injected % 2]
            await _answer(send, status, {"title": "injected", "status": status})
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if self.poison and b'"poison":true' in body.replace(b" ", b""):
            self.refused += 1
            await _answer(send, 400, {"title": "Bad Request", "detail": "poisoned message"})
            return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _answer(send: Any, status: int, body: Any) -> None:
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    if status in (429, 503):
        headers.append((b"retry-after", b"0"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


class Adobe:
    """The local platform on a fixed port, which can go down (connections refused) and come
    back on the same port and data."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.registry = plugins.load()
        self.faults: Faults | None = None
        self._stack: ExitStack | None = None
        self.app: Any = None
        self.rate = 0.0

    def up(self) -> None:
        self.app = create_app(PlatformConfig(data_dir=self.data), registry=self.registry)
        poison = self.faults.poison if self.faults is not None else True
        self.faults = Faults(self.app)
        self.faults.rate = self.rate
        self.faults.poison = poison
        self._stack = ExitStack()
        self._stack.enter_context(background(self.faults, port=self.port))

    def down(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def set_fault_rate(self, rate: float) -> None:
        self.rate = rate
        if self.faults is not None:
            self.faults.rate = rate

    def rows(self, dataset_id: str) -> list[dict[str, Any]]:
        with contextlib.closing(sqlite3.connect(self.data / "platform.db", timeout=10)) as db:
            found = db.execute(
                "SELECT record FROM rows WHERE dataset_id = ? ORDER BY seq", (dataset_id,)
            ).fetchall()
        return [json.loads(r[0]) for r in found]

    def connect_orders(self, state: Path, name: str = "orders") -> tuple[str, str, str]:
        """An HTTP API flow (raw JSON, ``id`` mapped to ``orderId``) into a new dataset, as
        ``connect`` makes it and records it in ``state``: (dataset, flow id, inlet URL).

        It plays Adobe's side of a Shopify flow: Adobe's inlet checks no signature, while the
        local platform's Shopify flows do, and a forwarded batch carries none.
        """
        with FlowServiceClient(Settings(platform_url=self.url)) as client:
            dataset = client.datasets.create(model.Dataset(name=name))
            mapping = model.MappingSet(
                mappings=[
                    model.MappingRule(source_attribute="id", destination_xdm_path="orderId"),
                    model.MappingRule(source_attribute="email", destination_xdm_path="email"),
                ]
            )
            done = Lifecycle(client, self.registry, StateFile(state)).connect(
                ConnectRequest(
                    source="http",
                    name=name,
                    dataset_id=dataset,
                    mapping=mapping,
                    credentials={"sourceId": name, "name": name, "dataType": "raw"},
                )
            )
        assert done.inlet_url
        return dataset, done.flow_id, done.inlet_url


# --- the relay as a process -------------------------------------------------------------------


def write_config(
    path: Path,
    *,
    state: Path,
    store: str,
    connection: str = "orders",
    **relay: Any,
) -> Path:
    """A relay config fronting ``connection`` (from connect's state) as a Shopify flow; the
    store URL travels in the environment (``store_env``), as one with a password would."""
    settings: dict[str, Any] = {
        "store_env": "RELAY_TEST_STORE",
        "state": str(state),
        "retry_cap_seconds": 1.0,
        "poll_seconds": 0.1,
        "batch_max_messages": BATCH,
        **relay,
    }
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in settings.items())
    path.write_text(
        f"""[relay]
{lines}

[[flows]]
connection = "{connection}"
source = "shopify"
params = {{ shop = "{SHOP}" }}
secrets = {{ clientSecret = "RELAY_TEST_SHOPIFY_SECRET" }}
""",
        encoding="utf-8",
    )
    return path


class RelayProcess:
    """``sourceflow relay serve`` in a subprocess; its log lines go to ``log``."""

    def __init__(self, config: Path, store: str, adobe_url: str, log: Path) -> None:
        self.config, self.store, self.log = config, store, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "RELAY_TEST_STORE": store,
            "RELAY_TEST_SHOPIFY_SECRET": SECRET,
            "SOURCEFLOW_PLATFORM_URL": adobe_url,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        command = [sys.executable, "-m", "sourceflow.cli", "relay", "serve"]
        with self.log.open("ab") as sink:
            self.proc = subprocess.Popen(
                [*command, "--config", str(self.config), "--port", str(self.port)],
                stdout=sink,
                stderr=sink,
                env=self.env,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"relay serve did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no shutdown handler runs
        self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(45)
            except subprocess.TimeoutExpired:
                self.kill()
        return None if self.proc is None else self.proc.returncode

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "sourceflow.cli", "relay", *args]
        return subprocess.run(
            [*command, "--config", str(self.config)],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )

    def status(self) -> dict[str, Any]:
        done = self.cli("status", "--json")
        assert done.returncode == 0, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result


# --- deliveries -----------------------------------------------------------------------------


def order(n: int, **extra: Any) -> bytes:
    return json.dumps({"id": n, "email": f"buyer{n}@example.com", **extra}).encode()


def shopify_headers(body: bytes, webhook_id: str, secret: str = SECRET) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-API-Version": "2024-10",
        "X-Shopify-Hmac-Sha256": webhook_signature(secret, body),
    }


class Sender:
    """Delivers orders 0..n-1 as Shopify would: signed, each retried until acknowledged (a
    refused connection, a 5xx), to the given relays in turn."""

    def __init__(self, inlet_id: str, relays: Sequence[RelayProcess], threads: int = 8) -> None:
        self.inlet_id = inlet_id
        self.relays = relays
        self.threads = threads
        self.acked: set[int] = set()
        self.failures = 0
        self._lock = threading.Lock()
        # One pool: a client per request would spend more time building TLS contexts than
        # sending.
        self.http = httpx.Client(timeout=10, limits=httpx.Limits(max_connections=threads * 2))

    def deliver(self, n: int, attempt: int = 0, relay: RelayProcess | None = None) -> bool:
        target = relay or self.relays[(n + attempt) % len(self.relays)]
        body = order(n)
        try:
            answer = self.http.post(
                f"{target.url}/collection/{self.inlet_id}",
                content=body,
                headers=shopify_headers(body, f"wh-{n}"),
            )
        except httpx.TransportError:
            answer = None
        ok = answer is not None and answer.status_code == 200
        with self._lock:
            if ok:
                self.acked.add(n)
            else:
                self.failures += 1
        return ok

    def run(self, numbers: Iterable[int], pause: float = 0.0) -> None:
        """Deliver every number until acknowledged, ``threads`` at a time."""
        todo = list(numbers)
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    if not todo:
                        return
                    n = todo.pop(0)
                attempt = 0
                while not self.deliver(n, attempt):
                    attempt += 1
                    time.sleep(0.05)
                if pause:
                    time.sleep(pause)

        workers = [threading.Thread(target=worker) for _ in range(self.threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()


def order_ids(rows: list[dict[str, Any]]) -> list[int]:
    return [int(r["orderId"]) for r in rows if "orderId" in r]


# --- PostgreSQL -------------------------------------------------------------------------------


class PostgresServer:
    """A PostgreSQL server of our own in a temporary folder (run as the ``postgres`` user
    when the tests run as root, which initdb refuses)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sourceflow-relay-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self.prefix = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]
        self._run(PG_BIN / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-N")
        self._run(
            PG_BIN / "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.root / "server.log",
            "-w",
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200",
            "start",
        )
        self._databases = 0

    def _run(self, *command: Any) -> None:
        subprocess.run(
            [*self.prefix, *map(str, command)], check=True, capture_output=True, timeout=120
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        import psycopg

        self._databases += 1
        name = f"relay{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def postgres_missing() -> str | None:
    """Why PostgreSQL tests cannot run here, or None."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'sourceflow[relay-postgres]')"
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL server binaries at {PG_BIN} (set SOURCEFLOW_PG_BIN)"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "running as root without setpriv to start PostgreSQL as another user"
    return None
