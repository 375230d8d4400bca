"""Faults on the client side: connect and teardown through the real client against the real
platform, behind an ASGI middleware that answers about 30% of calls with a 429 (Retry-After: 0),
a 503, or a dropped connection — cut off before the platform saw the request for some, after it
carried the request out for others. Seeded, so a failure can be replayed. The lifecycle must
complete, and every collection must hold exactly the expected resources: no duplicate from a
POST whose answer was lost."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from sourceflow import config, model, plugins
from sourceflow.client import FlowServiceClient, RetryPolicy
from sourceflow.lifecycle import ConnectRequest, Lifecycle
from sourceflow.platform.app import PlatformConfig, create_app
from sourceflow.platform.server import background
from sourceflow.state import StateFile

FAULT_RATE = 0.3
KINDS = ("429", "503", "drop-before", "drop-after")


class Faulty:
    """Answers a seeded ~30% of HTTP calls with a fault instead of the platform's answer."""

    def __init__(self, app: Any, seed: int) -> None:
        self.app, self.random, self.enabled = app, random.Random(seed), False
        self.calls = 0
        self.faults: Counter[str] = Counter()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.enabled:
            return await self.app(scope, receive, send)
        self.calls += 1
        if self.random.random() >= FAULT_RATE:
            return await self.app(scope, receive, send)
        kind = self.random.choice(KINDS)
        self.faults[kind] += 1
        if kind in ("429", "503"):
            headers = [(b"content-type", b"application/json")]
            if kind == "429":
                headers.append((b"retry-after", b"0"))
            await send({"type": "http.response.start", "status": int(kind), "headers": headers})
            await send({"type": "http.response.body", "body": b'{"title": "try again"}'})
            return None
        if kind == "drop-after":

            async def swallow(message: Any) -> None:
                pass

            await self.app(scope, receive, swallow)
        # A promised body cut short: uvicorn closes the connection mid-answer.
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"99")]}
        )
        await send({"type": "http.response.body", "body": b'{"id": ', "more_body": True})
        raise ConnectionAbortedError(f"{kind}: answer lost on purpose")


@pytest.mark.parametrize("seed", range(40))
def test_connect_and_teardown_complete_through_faults_without_duplicates(seed, tmp_path):
    registry = plugins.load(allow=["sourceflow-http"])
    faulty = Faulty(
        create_app(PlatformConfig(data_dir=tmp_path / "platform"), registry=registry), seed
    )
    fast = RetryPolicy(attempts=8, base=0.0, cap=0.0)
    with (
        background(faulty) as url,
        FlowServiceClient(config.Settings(platform_url=url), retry=fast) as client,
        FlowServiceClient(config.Settings(platform_url=url)) as observer,
    ):
        dataset = observer.datasets.create(model.Dataset(name="faults"))
        list(observer.connections.list())  # the observer's token is fetched while nothing fails
        lifecycle = Lifecycle(client, registry, StateFile(tmp_path / "state.json"))
        faulty.enabled = True
        done = lifecycle.connect(
            ConnectRequest(
                source="http",
                name="faulty",
                dataset_id=dataset,
                credentials={"dataType": "raw", "sourceId": "f", "name": "f"},
                mapping=model.MappingSet(
                    mappings=[model.MappingRule(source_attribute="a", destination_xdm_path="b")]
                ),
            )
        )
        faulty.enabled = False

        def names(collection: Any) -> list[str]:
            return sorted(str(item.name) for item in collection.list())

        assert names(observer.connections) == ["faulty base connection"]
        assert names(observer.source_connections) == ["faulty source connection"]
        assert names(observer.target_connections) == ["faulty target connection"]
        assert names(observer.flows) == ["faulty flow"]
        # A mapping set is named for its content too: Data Prep changes none in place.
        (mapping_name,) = names(observer.mapping_sets)
        assert mapping_name.startswith("faulty mapping ")
        assert [f.id for f in observer.flows.list()] == [done.flow_id]

        record = lifecycle.state.get("faulty", url, client.settings.sandbox)
        assert record is not None
        faulty.enabled = True
        lifecycle.teardown(record)
        faulty.enabled = False
        for collection in (
            observer.connections,
            observer.source_connections,
            observer.target_connections,
            observer.flows,
        ):
            assert list(collection.list()) == []
        assert names(observer.mapping_sets) == [mapping_name]  # Data Prep has no delete
    # The faults really happened, at about the rate asked for.
    assert faulty.calls >= 15
    assert sum(faulty.faults.values()) >= 2, faulty.faults
