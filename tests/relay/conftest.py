"""Fixtures of the relay tests; the bench's parts live in ``relaykit``.

Longer runs (a 30 s outage, heavier load) are marked ``slow`` and run in the reliability tox
env (``pytest -m slow tests/relay``); the default run keeps each scenario short.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from relaykit import Adobe, PostgresServer, RelayProcess, postgres_missing, write_config


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("-m"):
        return
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="slow: run with -m slow (tox -e reliability)"))


@pytest.fixture
def adobe(tmp_path: Path) -> Iterator[Adobe]:
    """The local platform playing Adobe, up."""
    platform = Adobe(tmp_path / "adobe")
    platform.up()
    yield platform
    platform.down()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (each test takes a database of its own)."""
    missing = postgres_missing()
    if missing:
        pytest.skip(f"PostgreSQL tests skipped: {missing}")
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture
def relays(tmp_path: Path) -> Iterator[Callable[..., RelayProcess]]:
    """``relays(config, store, adobe_url)`` starts a relay process; all stop at the end."""
    started: list[RelayProcess] = []

    def start(config: Path, store: str, adobe_url: str) -> RelayProcess:
        relay = RelayProcess(config, store, adobe_url, tmp_path / f"relay{len(started)}.log")
        started.append(relay)
        return relay

    yield start
    for relay in started:
        relay.stop()


@pytest.fixture
def orders(adobe: Adobe, tmp_path: Path) -> tuple[str, str, str, Path]:
    """The orders flow on Adobe's side: (dataset, flow id, inlet id, connect's state file)."""
    state = tmp_path / "state.json"
    dataset, flow_id, inlet_url = adobe.connect_orders(state)
    return dataset, flow_id, inlet_url.rsplit("/", 1)[1], state


@pytest.fixture
def sqlite_config(tmp_path: Path, orders: tuple[str, str, str, Path]) -> tuple[Path, str]:
    """A relay config on SQLite: (path, store URL)."""
    store = f"sqlite:{tmp_path / 'relay.db'}"
    return write_config(tmp_path / "relay.toml", state=orders[3], store=store), store


class Edge:
    """The relay replicas of one test and what they front."""

    def __init__(
        self,
        kind: str,
        replicas: list[RelayProcess],
        adobe: Adobe,
        dataset: str,
        flow_id: str,
        inlet_id: str,
    ) -> None:
        self.kind, self.replicas, self.adobe = kind, replicas, adobe
        self.dataset, self.flow_id, self.inlet_id = dataset, flow_id, inlet_id


@pytest.fixture(params=["sqlite", "postgresql"])
def edge(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    adobe: Adobe,
    orders: tuple[str, str, str, Path],
    relays: Callable[..., RelayProcess],
) -> Edge:
    """One relay on SQLite, or two replicas sharing a PostgreSQL database."""
    dataset, flow_id, inlet_id, state = orders
    if request.param == "sqlite":
        store, count = f"sqlite:{tmp_path / 'relay.db'}", 1
    else:
        store, count = request.getfixturevalue("postgres").database(), 2
    config = write_config(tmp_path / "relay.toml", state=state, store=store)
    replicas = [relays(config, store, adobe.url) for _ in range(count)]
    return Edge(request.param, replicas, adobe, dataset, flow_id, inlet_id)
