"""Fixtures: a fake shop on loopback, and the sample webhook payloads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from shopify_fake import FakeShop

from sourceflow.testing import serve


@pytest.fixture
def fake_shop() -> Iterator[tuple[FakeShop, str]]:
    """A fake shop served on a free loopback port, and its base URL."""
    shop = FakeShop()
    with serve(shop.app) as url:
        yield shop, url
