"""The local platform's streaming inlet: ``POST /collection/{inletId}`` and
``POST /collection/batch/{inletId}``.

Both routes are framings (:class:`~.pipeline.Collection`) of the one ingress pipeline
(:mod:`~.pipeline`): size, inlet and token, exact JSON, flow, verification against the flow each
message lands in, de-duplication, and a commit before the acknowledgement. Here the pipeline
looks inlets up in the platform's directory and writes to its ``messages`` table; mapping a
stored message into a dataset row happens later, in the ingest worker. The handlers run on the
event loop: the commit is awaited, and shared with the messages of concurrent requests
(:mod:`~.commits`).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from sourceflow.platform.ingress.pipeline import Collection, Ingress, MessageTable

if TYPE_CHECKING:
    from sourceflow.platform.core import Platform


class Inlet(Collection):
    """The collection routes of one platform."""

    def __init__(self, platform: Platform) -> None:
        self.p = platform
        super().__init__(lambda: self.pipeline, platform.config.max_message_bytes)

    @cached_property
    def pipeline(self) -> Ingress:
        """The pipeline, built on first use: the platform opens its store lazily."""
        p = self.p
        return Ingress(p.directory, p.tokens, p.registry, MessageTable(p.commits))
