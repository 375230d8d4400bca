"""Shared fixtures: a local platform served on loopback, and clients that talk to it.

Plain httpx on purpose: these tests check the platform, not the sourceflow client.

``platform_url`` serves a private platform on ``tmp_path`` (for tests about the platform's
own state: restarts, token expiry). Most tests use ``api`` instead: a client on one platform
shared by the session, in a sandbox of its own, so tests never see each other's resources
and a server starts once rather than per test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from gateway import SSL, dev_token, platform_client
from starlette.applications import Starlette

from sourceflow.platform.app import PlatformConfig, create_app
from sourceflow.platform.server import background
from sourceflow.testing import platform_process


@pytest.fixture
def platform_app(tmp_path) -> Starlette:
    """A platform app on a fresh data dir (not yet served)."""
    return create_app(PlatformConfig(data_dir=tmp_path / "platform"))


@pytest.fixture
def platform_url(platform_app) -> Iterator[str]:
    """A private platform served on a free loopback port; yields its base URL."""
    with background(platform_app) as url:
        yield url


@pytest.fixture(scope="session")
def shared_platform(tmp_path_factory) -> Iterator[tuple[Starlette, str, str]]:
    """One platform for the session: its app, base URL and a dev token."""
    app = create_app(PlatformConfig(data_dir=tmp_path_factory.mktemp("shared-platform")))
    with background(app) as url:
        yield app, url, dev_token(url)


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[str]:
    """``sourceflow platform serve`` as a process of its own, as a user runs it, on a fresh
    store and a free port, shared by a module's tests; yields its base URL."""
    with platform_process(tmp_path_factory.mktemp("platform")) as url:
        yield url


@pytest.fixture
def sandbox() -> str:
    """A sandbox name of this test's own."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def api(shared_platform, sandbox) -> Iterator[httpx.Client]:
    """A Platform client on the shared platform, in this test's own sandbox."""
    _, url, token = shared_platform
    with platform_client(url, token=token, sandbox=sandbox) as client:
        yield client


@pytest.fixture
def anonymous(shared_platform) -> Iterator[httpx.Client]:
    """A client on the shared platform that sends no Platform headers (IMS, the inlet)."""
    _, url, _ = shared_platform
    with httpx.Client(base_url=url, verify=SSL, timeout=10) as client:
        yield client


@pytest.fixture
def client_for() -> Callable[..., httpx.Client]:
    """The helper as a fixture: ``client_for(base_url, sandbox=...)`` (close what it returns)."""
    return platform_client
