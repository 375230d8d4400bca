"""The Chatlio plugin passes sourceflow's conformance suite, with its documented samples."""

from __future__ import annotations

from sourceflow.testing import PluginConformance
from sourceflow_chatlio.events import EVENTS


class TestChatlioConformance(PluginConformance):
    plugin = "sourceflow-chatlio"
    # Chatlio signs nothing and needs no credentials: nothing to sign, nothing to fake.
    samples = {e.key: e.sample for e in EVENTS}
