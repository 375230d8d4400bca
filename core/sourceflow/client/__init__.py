"""The Flow Service client on httpx: IMS tokens, headers, retries, etags, pages, typed errors.

::

    from sourceflow.client import FlowServiceClient

    with FlowServiceClient(settings) as client:
        for spec in client.connection_specs.list():
            print(spec.id, spec.name)

See ``docs/client.md``.
"""

from __future__ import annotations

from sourceflow.client.flowservice import FlowServiceClient
from sourceflow.client.ims import IMSTokenProvider
from sourceflow.client.inlet import InletSender
from sourceflow.client.resources import (
    Collection,
    Datasets,
    KeyedRows,
    MappingSets,
    PatchOps,
    SpecCollection,
)
from sourceflow.client.retry import RetryPolicy
from sourceflow.client.tokens import AccessToken, StaticToken, TokenSource

__all__ = [
    "AccessToken",
    "Collection",
    "Datasets",
    "FlowServiceClient",
    "IMSTokenProvider",
    "InletSender",
    "KeyedRows",
    "MappingSets",
    "PatchOps",
    "RetryPolicy",
    "SpecCollection",
    "StaticToken",
    "TokenSource",
]
