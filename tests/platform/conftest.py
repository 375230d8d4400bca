"""Fixtures of the platform tests; the helpers live in ``platform_testkit``."""

from __future__ import annotations

import pytest
from platform_testkit import AcmePlugin, Builder

from sourceflow.platform.app import PlatformConfig, create_app
from sourceflow.platform.server import background
from sourceflow.plugins import load


@pytest.fixture
def build(api) -> Builder:
    return Builder(api)


@pytest.fixture
def acme_url(tmp_path):
    """A platform with the installed plugins plus the in-test Acme plugin."""
    registry = load()
    registry.register(AcmePlugin(), "test-plugin")
    app = create_app(PlatformConfig(data_dir=tmp_path / "acme"), registry=registry)
    with background(app) as url:
        yield url, app
