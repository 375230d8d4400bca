"""Group commit (sourceflow.platform.ingress.commits): concurrent writes share one transaction, a
failing write fails alone, and stopping commits what is queued."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sourceflow.platform.ingress.commits import GroupCommit, Insert
from sourceflow.platform.store.sqlite import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path)
    with store.transaction() as db:
        db.execute("CREATE TABLE notes (n INTEGER PRIMARY KEY)")
    yield store
    store.close()


@contextmanager
def store_held(store: Store) -> Iterator[None]:
    """Hold a write transaction in another thread, so the committer waits and writes queue."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.transaction():
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join(10)


def insert(n: int) -> Callable[[sqlite3.Connection], int]:
    def write(db: sqlite3.Connection) -> int:
        db.execute("INSERT INTO notes (n) VALUES (?)", (n,))
        return n

    return write


def notes(store: Store) -> list[int]:
    return [r["n"] for r in store.rows("SELECT n FROM notes ORDER BY n")]


def test_concurrent_writes_share_a_transaction(store: Store) -> None:
    wakeups: list[int] = []
    commits = GroupCommit(store, on_commit=lambda: wakeups.append(1))
    commits.start()

    async def main() -> list[int]:
        with store_held(store):
            tasks = [asyncio.ensure_future(commits.write(insert(n))) for n in range(50)]
            await asyncio.sleep(0.05)  # every task has queued its write by now
        return await asyncio.gather(*tasks)

    try:
        assert asyncio.run(main()) == list(range(50))
    finally:
        commits.stop()
    assert notes(store) == list(range(50))
    # The committer took the first write before the store was free, and the 49 others queued
    # behind it: two transactions at most, where one per write would be 50.
    assert commits.writes == 50
    assert 1 <= commits.transactions <= 2
    assert len(wakeups) == commits.transactions


def test_a_failing_write_fails_alone(store: Store) -> None:
    commits = GroupCommit(store)
    commits.start()

    def broken(db: sqlite3.Connection) -> int:
        db.execute("INSERT INTO notes (n) VALUES (?)", (1000,))
        raise ValueError("this write is broken")

    async def main() -> list[int | BaseException]:
        with store_held(store):
            writes = [insert(n) for n in range(5)]
            writes.insert(2, broken)
            tasks = [asyncio.ensure_future(commits.write(w)) for w in writes]
            await asyncio.sleep(0.05)
        return await asyncio.gather(*tasks, return_exceptions=True)

    try:
        results = asyncio.run(main())
    finally:
        commits.stop()
    assert results[:2] == [0, 1] and results[3:] == [2, 3, 4]
    assert isinstance(results[2], ValueError) and "broken" in str(results[2])
    # the broken write's own insert was rolled back with it; the others are all there
    assert notes(store) == [0, 1, 2, 3, 4]
    assert commits.writes == 5


def test_stop_commits_what_is_queued_then_refuses(store: Store) -> None:
    commits = GroupCommit(store)
    commits.start()

    async def main() -> list[int]:
        with store_held(store):
            tasks = [asyncio.ensure_future(commits.write(insert(n))) for n in range(10)]
            await asyncio.sleep(0.05)
            stopper = threading.Thread(target=commits.stop)
            stopper.start()
        # were the queue dropped at stop, this would time out instead of answering
        done = await asyncio.wait_for(asyncio.gather(*tasks), 10)
        stopper.join(10)
        return done

    assert asyncio.run(main()) == list(range(10))
    assert notes(store) == list(range(10))

    async def late() -> None:
        await commits.write(insert(99))

    with pytest.raises(RuntimeError, match="not running"):
        asyncio.run(late())


# The committer dying of the simulated bug is the point of this test.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_commit_thread_answers_and_refuses_instead_of_hanging(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = GroupCommit(store)

    def bug(group: list[object]) -> None:
        raise RuntimeError("a bug in the committer")

    monkeypatch.setattr(commits, "_commit", bug)
    commits.start()

    async def main() -> None:
        with pytest.raises(RuntimeError, match="commit thread stopped"):
            await asyncio.wait_for(commits.write(insert(1)), 10)
        with pytest.raises(RuntimeError, match="not running"):
            await commits.write(insert(2))

    asyncio.run(main())
    commits.stop()
    assert notes(store) == []


# A write: ("insert", n) as an Insert, ("call", n) as a plain function; both insert n.
writes_strategy = st.lists(
    st.tuples(st.sampled_from(["insert", "call"]), st.integers(0, 6)), min_size=1, max_size=12
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(writes=writes_strategy)
def test_inserts_merged_in_a_group_commit_as_if_each_ran_alone(
    store: Store, writes: list[tuple[str, int]]
) -> None:
    # Inserts of one statement are written together, plain writes between them keep their
    # place, and a duplicate key (an IntegrityError) fails only its own write: the outcome is
    # that of running the writes one after another, each in its own transaction.
    with store.transaction() as db:
        db.execute("DELETE FROM notes")
    commits = GroupCommit(store)
    commits.start()

    def write_of(kind: str, n: int) -> Callable[[sqlite3.Connection], int]:
        return (
            Insert("INSERT INTO notes (n) VALUES (?)", [(n,)], n) if kind == "insert" else insert(n)
        )

    async def main() -> list[int | BaseException]:
        with store_held(store):  # every write queues, so they share one group
            tasks = [asyncio.ensure_future(commits.write(write_of(k, n))) for k, n in writes]
            await asyncio.sleep(0.02)
        return await asyncio.gather(*tasks, return_exceptions=True)

    try:
        results = asyncio.run(main())
    finally:
        commits.stop()
    seen: set[int] = set()
    for (_, n), result in zip(writes, results, strict=True):
        if n in seen:
            assert isinstance(result, sqlite3.IntegrityError), (writes, results)
        else:
            assert result == n, (writes, results)
        seen.add(n)
    assert notes(store) == sorted(seen)


def test_an_answered_write_is_not_kept_while_the_thread_waits(store: Store) -> None:
    # A batch's write holds all its bodies: the committing thread, waiting for the next
    # write, must not keep the last one alive (measured: 25 MB more after 100,000 messages).
    commits = GroupCommit(store)
    commits.start()

    class Write:
        def __call__(self, db: sqlite3.Connection) -> int:
            db.execute("INSERT INTO notes (n) VALUES (1)")
            return 1

    async def main() -> weakref.ref[Write]:
        write = Write()
        assert await commits.write(write) == 1
        return weakref.ref(write)

    try:
        gone = asyncio.run(main())
        deadline = time.monotonic() + 5
        while gone() is not None and time.monotonic() < deadline:
            time.sleep(0.01)  # the thread may still be between answering and waiting
        assert gone() is None
    finally:
        commits.stop()
