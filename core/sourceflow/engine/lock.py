"""One writer at a time per platform, sandbox and name: an exclusive lock on a local file.

The lock lives in a per-user directory (not beside the state file), so two ``connect`` runs
with different state files, or an ``apply`` and a ``connect`` from another folder, still take
turns. It guards one machine; between machines the engine settles races by name afterwards
(see :mod:`sourceflow.engine.reconcile`).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sourceflow.config import Settings
from sourceflow.errors import SourceflowError

LOCK_DIR_ENV = "SOURCEFLOW_LOCK_DIR"


def lock_dir() -> Path:
    """Where lock files live: ``$SOURCEFLOW_LOCK_DIR``, else a per-user temp folder."""
    given = os.environ.get(LOCK_DIR_ENV)
    return Path(given) if given else Path(tempfile.gettempdir()) / f"sourceflow-locks-{os.getuid()}"


def lock_path(settings: Settings, name: str) -> Path:
    """The lock file of ``name`` (a project or a connected source) on this platform."""
    key = f"{settings.platform_url}|{settings.org_id}|{settings.sandbox}|{name}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:40]
    return lock_dir() / f"{safe}-{digest}.lock"


@contextmanager
def held(
    settings: Settings,
    name: str,
    *,
    timeout: float = 600.0,
    waiting: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Hold the lock of ``name`` on this platform and sandbox while the block runs.

    Waits for another holder up to ``timeout`` seconds, calling ``waiting(path)`` once when it
    has to wait. The kernel drops the lock when its process dies, so a crash leaves none behind.

    :raises SourceflowError: when the lock is still held after ``timeout``.
    """
    path = lock_path(settings, name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SourceflowError(
                        f"another sourceflow run holds the lock for {name!r} in sandbox "
                        f"{settings.sandbox!r} ({path})",
                        hint="wait for it to finish; a lock of a dead process is released "
                        "by itself",
                    ) from None
                if not told and waiting is not None:
                    waiting(path)
                    told = True
                time.sleep(0.05)
        try:
            yield path
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
