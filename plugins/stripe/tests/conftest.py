"""A fake Stripe served on loopback for the Stripe plugin's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakestripe import KEY, FakeStripe, fixtures

from sourceflow.testing import serve


@pytest.fixture
def stripe() -> Iterator[tuple[FakeStripe, str]]:
    """A fresh fake Stripe and its base URL (skipped when Stripe's samples are absent)."""
    fixtures()
    fake = FakeStripe(keys=(KEY,))
    with serve(fake.app) as url:
        yield fake, url
    fake.release.set()
