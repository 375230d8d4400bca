"""What the engine created, kept on disk so a re-run resumes and ``teardown`` can undo it.

One JSON file (``.sourceflow/state.json`` in the working directory unless told otherwise),
rewritten atomically after every step, so an interrupted run leaves an accurate record. Writers
hold an exclusive lock on a sibling ``.lock`` file and merge their record into what is on disk,
so two processes sharing one state file never drop each other's records.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from attrs import asdict, define, field

from sourceflow.errors import ConfigError

DEFAULT_PATH = Path(".sourceflow") / "state.json"


@define(kw_only=True)
class Record:
    """One connected source: where it lives, and the id of every resource each step made.

    :param applied: per step, the resource as last applied (secrets as salted hashes), which
        is what ``plan`` compares the platform against to report drift.
    :param salt: keys the secret hashes of ``applied``, so they say nothing outside this file.
    :param project: the project file that owns the source, or None when ``connect`` made it.
    """

    name: str
    source: str
    platform_url: str
    sandbox: str
    ids: dict[str, str] = field(factory=dict)
    endpoint: dict[str, Any] = field(factory=dict)
    recorded: dict[str, Any] = field(factory=dict)
    applied: dict[str, Any] = field(factory=dict)
    salt: str = field(factory=lambda: secrets.token_hex(16))
    project: str | None = None

    def key(self) -> str:
        """Records are told apart by name, platform and sandbox."""
        return f"{self.name}@{self.platform_url}#{self.sandbox}"


class StateFile:
    """The records of every connected source, in one JSON file."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else DEFAULT_PATH
        self._records: dict[str, Record] = {}
        self._touched: set[str] = set()
        if self.path.exists():
            self._records = self._read()

    def _read(self) -> dict[str, Record]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return {k: Record(**v) for k, v in raw.get("connections", {}).items()}
        except (ValueError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"the state file {self.path} is not readable: {exc}",
                hint="move it aside; teardown then cannot find what it recorded",
            ) from None

    def reload(self) -> None:
        """Read the file again (another process may have written it)."""
        self._records = self._read() if self.path.exists() else {}

    def get(self, name: str, platform_url: str, sandbox: str) -> Record | None:
        """The record of the source called ``name`` on this platform, if any."""
        return self._records.get(f"{name}@{platform_url}#{sandbox}")

    def find(self, platform_url: str, sandbox: str) -> list[Record]:
        """Every record against this platform and sandbox."""
        return [
            r
            for r in self._records.values()
            if (r.platform_url, r.sandbox) == (platform_url, sandbox)
        ]

    def __iter__(self) -> Iterator[Record]:
        return iter(self._records.values())

    def save(self, record: Record) -> None:
        """Store ``record`` and write the file atomically."""
        with self._locked(record.key()):
            self._records[record.key()] = record
            self._write()

    def forget(self, record: Record) -> None:
        """Remove ``record`` (after teardown) and write the file."""
        with self._locked(record.key()):
            self._records.pop(record.key(), None)
            self._write()

    @contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        # Another process may have written its own records since this one read the file: take
        # the lock, read the file again, and lay only the records this process wrote on top,
        # so neither a record saved nor one forgotten elsewhere is undone here.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                self._touched.add(key)
                on_disk = self._read() if self.path.exists() else {}
                for touched in self._touched:
                    on_disk.pop(touched, None)
                    if touched in self._records:
                        on_disk[touched] = self._records[touched]
                self._records = on_disk
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _write(self) -> None:
        payload = {"connections": {k: asdict(r) for k, r in self._records.items()}}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
