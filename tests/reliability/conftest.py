"""Helpers of the reliability suite: ``sourceflow platform serve`` as a real process (so it can
be killed), waiting for a condition, and reading the platform's SQLite file directly.

The suite runs in its own tox environment (``./dev tox -e reliability``); the default pytest
run leaves ``tests/reliability`` out (pyproject.toml: ``--ignore``). docs/reliability.md says
what each test proves.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

T = TypeVar("T")

POSIX_ONLY = pytest.mark.skipif(os.name != "posix", reason="needs SIGKILL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """One ``sourceflow platform serve`` process; its stderr goes to ``log`` (appended)."""

    def __init__(
        self, data: Path, log: Path, port: int | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        self.data, self.log, self.port = data, log, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "sourceflow.cli", "platform", "serve"]
        with log.open("ab") as sink:
            self.proc = subprocess.Popen(
                [*command, "--port", str(self.port), "--data-dir", str(data)],
                stdout=sink,
                stderr=sink,
                env={**os.environ, **(env or {})},
            )
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(self.url + "/data/foundation/flowservice/flowSpecs", timeout=1)
                return
            except httpx.TransportError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.proc.kill()
                    pytest.fail(f"platform serve did not start:\n{log.read_text()}")
                time.sleep(0.1)

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL on POSIX: no shutdown handler runs
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def serve(tmp_path) -> Iterator[Callable[..., Served]]:
    """``serve(data_dir, port=None, env=None)`` starts a platform process; all are stopped at
    the end. Their output is in ``tmp_path / "serve.log"``."""
    started: list[Served] = []

    def start(data: Path, port: int | None = None, env: Mapping[str, str] | None = None) -> Served:
        served = Served(data, tmp_path / "serve.log", port, env)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


def until(check: Callable[[], T], timeout: float = 30, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def query(data: Path, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """Rows from the platform's SQLite file, read by a connection of our own."""
    with contextlib.closing(sqlite3.connect(data / "platform.db", timeout=10)) as db:
        db.row_factory = sqlite3.Row
        return db.execute(sql, params).fetchall()


def stored_bodies(data: Path, flow_id: str) -> list[Any]:
    return [
        json.loads(r["body"])
        for r in query(data, "SELECT body FROM messages WHERE flow_id = ?", (flow_id,))
    ]
