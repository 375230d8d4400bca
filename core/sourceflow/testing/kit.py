"""What the fixtures of :mod:`sourceflow.testing` and its conformance suite
(:mod:`.conformance`) share: the served local platform, a base connection to call hooks with,
and fresh delivery ids. Plugin tests import them from :mod:`sourceflow.testing`.

Imports nothing but pytest at import time, like the package.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from sourceflow.hooktypes import Source
    from sourceflow.model import Auth, Connection
    from sourceflow.platform.core import Platform


class LocalPlatform:
    """The local Flow Service of one test, served on a free loopback port.

    :param url: its base URL (``http://127.0.0.1:PORT``), for clients and inlets.
    :param app: the ASGI app; ``platform`` is its store, inlet worker and scheduler.
    """

    def __init__(self, url: str, app: Starlette) -> None:
        self.url = url
        self.app = app

    @property
    def platform(self) -> Platform:
        """The :class:`~sourceflow.platform.core.Platform` behind the app."""
        platform: Platform = self.app.state.platform
        return platform

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until every stored message is ingested and every started run has ended.

        Fails the test when that takes longer than ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        if not self.platform.wait_idle(timeout):
            pytest.fail(f"the local platform's inlet worker was still busy after {timeout} s")
        left = max(deadline - time.monotonic(), 0.1)
        if not self.platform.scheduler.wait_idle(left):
            pytest.fail(f"a run on the local platform was still going after {timeout} s")


def connection_for(source: Source, auth: Auth | None = None, name: str = "test") -> Connection:
    """A base connection of ``source`` as the lifecycle creates one (its connection spec, its
    provider and ``auth``), for calling a hook that takes one outside a lifecycle."""
    from sourceflow.model import Connection, SpecRef

    return Connection(
        name=name,
        connection_spec=SpecRef(id=source.id),
        provider_id=source.connection_spec.provider_id,
        auth=auth,
    )


def delivery_id() -> str:
    """A fresh delivery id, for :meth:`PluginConformance.sign` implementations and fakes."""
    return str(uuid.uuid4())
