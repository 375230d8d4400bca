"""Fixtures: one fake Flow Service on a loopback port, reset before each test."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from sourceflow import log
from sourceflow.client import FlowServiceClient, RetryPolicy
from sourceflow.config import Settings
from sourceflow.platform.server import background

from .fakeflow import FakeFlowService

# Fast enough for a test suite, patient enough to see every retry rule at work.
FAST = RetryPolicy(attempts=4, total_seconds=5, base=0.01, cap=0.05)


@pytest.fixture(scope="session")
def _served() -> Iterator[FakeFlowService]:
    service = FakeFlowService()
    # The fake drops connections by raising; uvicorn would print each traceback.
    uvicorn_log = logging.getLogger("uvicorn.error")
    level = uvicorn_log.level
    uvicorn_log.setLevel(logging.CRITICAL)
    try:
        with background(service) as url:
            service.url = url
            yield service
    finally:
        uvicorn_log.setLevel(level)


@pytest.fixture
def fake(_served: FakeFlowService) -> FakeFlowService:
    """The fake platform, empty."""
    _served.reset()
    return _served


@pytest.fixture
def settings(fake: FakeFlowService) -> Settings:
    """Settings pointing at the fake, with the local dev credentials it expects."""
    return Settings(platform_url=fake.url, timeout=5)


@pytest.fixture
def client(settings: Settings) -> Iterator[FlowServiceClient]:
    """A client of the fake with a fast retry policy."""
    with FlowServiceClient(settings, retry=FAST) as c:
        yield c


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """Everything sourceflow logs (DEBUG and up) during the test."""
    buffer = io.StringIO()
    log.configure(level="DEBUG", stream=buffer)
    try:
        yield buffer
    finally:
        log.configure()
