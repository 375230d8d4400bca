"""The Stripe plugin passes sourceflow's conformance suite, pulling from its own sample server
(sourceflow_stripe.sample: Stripe's list protocol over the bundled sample objects)."""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from sourceflow import ExploreRequest
from sourceflow.testing import PluginConformance, serve
from sourceflow_stripe import reader, sample


class TestStripeConformance(PluginConformance):
    plugin = "sourceflow-stripe"
    # A run's records are the Stripe objects under "data" (reader.wrap).
    samples = {path: [reader.wrap(o) for o in sample.objects(path)] for path in reader.RESOURCES}
    # Stripe explores a resource through sourceParams, not through object.
    explore_requests = [ExploreRequest(source_params={"resourcePath": "charges"}, preview=True)]

    @pytest.fixture
    def plugin_credentials(self) -> Iterator[dict[str, Any]]:
        """A test-mode key for the sample server, which the plugin calls instead of Stripe."""
        with serve(sample.app()) as url:
            yield {
                "accessToken": "sk_test_conformance",
                "apiBase": url,
                "webhookSecret": "whsec_conformance",
            }

    def sign(self, body: bytes, credentials: Mapping[str, Any]) -> dict[str, str]:
        """Stripe's header: ``t=`` now, ``v1=`` the hex HMAC-SHA256 of ``"{t}.{body}"``."""
        t = int(time.time())
        signed = f"{t}.".encode() + body
        v1 = hmac.new(str(credentials["webhookSecret"]).encode(), signed, "sha256").hexdigest()
        return {"Stripe-Signature": f"t={t},v1={v1}"}
