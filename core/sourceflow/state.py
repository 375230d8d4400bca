"""What ``connect`` created, kept on disk so a re-run resumes and ``teardown`` can undo it.

One JSON file (``.sourceflow/state.json`` in the working directory unless told otherwise),
rewritten atomically after every step, so an interrupted run leaves an accurate record.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from attrs import define, field

from sourceflow.errors import ConfigError

DEFAULT_PATH = Path(".sourceflow") / "state.json"


@define(kw_only=True)
class Record:
    """One ``connect`` run: where it ran, and the id of every resource each step created."""

    name: str
    source: str
    platform_url: str
    sandbox: str
    ids: dict[str, str] = field(factory=dict)
    endpoint: dict[str, Any] = field(factory=dict)
    recorded: dict[str, Any] = field(factory=dict)

    def key(self) -> str:
        """Runs are told apart by name, platform and sandbox."""
        return f"{self.name}@{self.platform_url}#{self.sandbox}"


class StateFile:
    """The records of every ``connect`` run, in one JSON file."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else DEFAULT_PATH
        self._records: dict[str, Record] = {}
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

    def get(self, name: str, platform_url: str, sandbox: str) -> Record | None:
        """The record of the run called ``name`` against this platform, if any."""
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
        self._records[record.key()] = record
        self._write()

    def forget(self, record: Record) -> None:
        """Remove ``record`` (after teardown) and write the file."""
        self._records.pop(record.key(), None)
        self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "connections": {
                k: {
                    "name": r.name,
                    "source": r.source,
                    "platform_url": r.platform_url,
                    "sandbox": r.sandbox,
                    "ids": r.ids,
                    "endpoint": r.endpoint,
                    "recorded": r.recorded,
                }
                for k, r in self._records.items()
            }
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
