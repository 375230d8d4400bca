"""``platform serve`` maps in a process of its own: that process ends with the server, whether
the server stops or is killed, so a restart never finds an old worker still writing."""

from __future__ import annotations

import os
import time
from pathlib import Path


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == str(pid):
            found.append(int(stat.parent.name))
    return found


def _ingest_worker(pid: int) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for child in _children(pid):
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"multiprocessing" in command and b"resource_tracker" not in command:
                return child
        time.sleep(0.1)
    raise AssertionError("platform serve started no ingest process")


def _gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (ProcessLookupError, FileNotFoundError):
            return True
        if state == "Z":  # ended; only its parent's wait is missing
            return True
        time.sleep(0.05)
    return False


def test_the_ingest_process_ends_when_the_server_is_killed(serve, tmp_path):
    server = serve(tmp_path / "data")
    worker = _ingest_worker(server.proc.pid)
    server.kill()
    assert _gone(worker), "the ingest process outlived a killed server"


def test_the_ingest_process_ends_when_the_server_stops(serve, tmp_path):
    server = serve(tmp_path / "data")
    worker = _ingest_worker(server.proc.pid)
    server.stop()
    assert server.proc.returncode is not None
    assert _gone(worker), "the ingest process outlived its server"
