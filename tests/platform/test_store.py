"""The SQLite store: durable transactions wait for the disk, redoable ones do not."""

from __future__ import annotations

from pathlib import Path

import pytest

from sourceflow.platform.store import Store

FULL, NORMAL = 2, 1  # PRAGMA synchronous values


@pytest.mark.parametrize(("durability", "outside"), [("full", FULL), ("normal", NORMAL)])
def test_a_redoable_transaction_commits_without_waiting_for_the_disk(
    tmp_path: Path, durability: str, outside: int
) -> None:
    store = Store(tmp_path, durability)  # type: ignore[arg-type]
    try:
        with store.transaction() as db:
            assert db.execute("PRAGMA synchronous").fetchone()[0] == outside
        with store.transaction(redoable=True) as db:
            assert db.execute("PRAGMA synchronous").fetchone()[0] == NORMAL
        with pytest.raises(RuntimeError), store.transaction(redoable=True):
            raise RuntimeError("rolled back")
        # the setting is restored after a commit and after a rollback alike
        with store.transaction() as db:
            assert db.execute("PRAGMA synchronous").fetchone()[0] == outside
    finally:
        store.close()
