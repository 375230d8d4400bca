"""The Flow Service lifecycle as pluggy hook specifications: one spec per step.

A plugin implements the specs it needs with :data:`sourceflow.hookimpl`. The core calls the
per-source hooks (everything but discovery and the observers) only on the plugin that provides
the source, so an implementation never has to check whether a call is meant for it; ``source``
still tells a plugin that provides several sources which one is meant.

Every spec is documented in ``docs/hooks.md``; a test fails when one is not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

# For the annotations only (pluggy reads the parameter names, never the types): the plugin
# manager needs these specs at start-up, and the records can wait until a hook is called.
if TYPE_CHECKING:
    from sourceflow.hooktypes import (
        Delivery,
        Endpoint,
        ExploreRequest,
        ExploreResult,
        ReadResult,
        Source,
        SourceParams,
        Step,
        Verdict,
    )
    from sourceflow.model import Auth, Connection, Flow, MappingRule

PROJECT = "sourceflow"
hookspec = pluggy.HookspecMarker(PROJECT)


@hookspec
def sourceflow_sources() -> Sequence[Source]:
    """Discovery: the sources this plugin provides.

    Called once when the plugin manager loads plugins, and by the local platform to serve
    ``/connectionSpecs`` and ``/flowSpecs``. Every plugin's answer is collected.

    :return: the plugin's :class:`~sourceflow.hooktypes.Source` records. A connection spec id
        or a source name claimed by two plugins is an error naming both distributions.
    """


@hookspec(firstresult=True)
def sourceflow_authenticate(source: Source, credentials: Mapping[str, Any]) -> Auth | None:
    """Base connection: turn what the user gave into the connection's ``auth`` block.

    Called before ``POST /connections``. ``credentials`` has already been checked against the
    auth spec's JSON schema; the plugin does what a schema cannot (an OAuth code exchange, a
    cheap call that proves an API key works) and raises
    :class:`~sourceflow.errors.SourceflowError` with a hint when the credentials are refused.

    :param source: the source being connected.
    :param credentials: the auth params the user supplied (secrets included: never log them).
    :return: the ``auth`` block (``specName`` and ``params``) to send.
    """


@hookspec(firstresult=True)
def sourceflow_explore(
    source: Source, connection: Connection, request: ExploreRequest
) -> ExploreResult | None:
    """Explore: the objects a connection offers, or one object's structure and a preview.

    Called by the local platform for ``GET /connections/{id}/explore``.

    :param source: the source of the connection.
    :param connection: the base connection, credentials included.
    :param request: ``objectType``, ``object``, ``fileType``, ``preview`` and the decoded
        ``sourceParams``.
    :return: the listing (``items``) or the structure (``format``, ``schema``) and, when
        ``request.preview`` is true, sample records (``data``).
    """


@hookspec(firstresult=True)
def sourceflow_mapping_defaults(
    source: Source, object: str | None, tenant: str
) -> Sequence[MappingRule] | None:
    """Mapping: the default mapping rules for an object or event type.

    Called when ``connect`` is given no mapping file. Rules whose destination lives in the
    tenant namespace use ``_{tenant}`` as their first path segment.

    :param source: the source being connected.
    :param object: the object or event type (a Stripe resource path, a Shopify topic), or
        None for the source's only kind of record.
    :param tenant: the organization's tenant id, without the leading underscore.
    :return: the rules, or None when the source has no default mapping.
    """


@hookspec(firstresult=True)
def sourceflow_source_params(
    source: Source, object: str | None, credentials: Mapping[str, Any]
) -> SourceParams | None:
    """Source connection: the ``data`` and ``params`` of the source connection.

    :param source: the source being connected.
    :param object: the object chosen (e.g. ``"charges"``), or None.
    :param credentials: what the user gave ``connect`` (``--param``). Sources without a base
        connection keep what their inlet needs here (Shopify: the app's client secret, which
        ``Delivery.config`` then carries to ``sourceflow_verify_delivery``); secrets included,
        never log them.
    :return: the data format and params; None means ``{"format": "json"}`` and no params.
    """


@hookspec(firstresult=True)
def sourceflow_endpoint(
    source: Source, flow: Flow, endpoint: Endpoint, credentials: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """Endpoint: act once the flow's streaming endpoint exists.

    Called after the flow is created and its inlet is known. Shopify subscribes its webhook
    topics to ``endpoint.inlet_url`` here; sources that senders configure by hand return the
    URL to paste (``{"webhookUrl": ...}``).

    :param credentials: what the user gave ``connect`` (e.g. the shop and its access token);
        secrets included, never return or log them.
    :return: facts to show the user and to record for teardown (no secrets: they are
        printed and written to the state file), or None.
    """


@hookspec(firstresult=True)
def sourceflow_remove_endpoint(
    source: Source, flow: Flow, endpoint: Endpoint, recorded: Mapping[str, Any]
) -> None:
    """Teardown: undo what ``sourceflow_endpoint`` did, before the flow is deleted.

    :param recorded: what ``sourceflow_endpoint`` returned when the flow was connected.
    """


@hookspec(firstresult=True)
def sourceflow_read(
    source: Source, connection: Connection, object: str | None, state: Mapping[str, Any]
) -> ReadResult | None:
    """Scheduled run: read records from the source (batch sources such as Stripe).

    Called by the local platform's scheduler for each due run.

    :param connection: the base connection, credentials included.
    :param object: the source connection's object (``params.resourcePath``).
    :param state: the cursor the platform stored for the flow (empty on the first run): the
        last page's state of a paged read, even of a run that failed after it.
    :return: pages (``ReadResult(pages=...)``, each :class:`~sourceflow.hooktypes.Page` stored
        with its cursor), or records and the cursor to store once they are all written; and
        the plugin's ``counters`` (retries, 429s) for the run's metrics. Raise
        ``SourceUnavailable``, ``CredentialsRefused`` or ``BadSourceData`` to say what went
        wrong (see ``docs/hooks.md``).
    """


@hookspec(firstresult=True)
def sourceflow_verify_delivery(source: Source, request: Delivery) -> Verdict | None:
    """Inlet: decide whether an inbound delivery is authentic, and name it for de-duplication.

    Called by the inlet before a delivery is stored. A plugin that does not implement it
    accepts every delivery and de-duplicates nothing.

    :param request: the delivery, raw body included, and the flow's inlet config (secrets).
    :return: the verdict; ``authentic=False`` answers 401 and stores nothing.
    """


@hookspec(firstresult=True)
def sourceflow_delivery_record(
    source: Source, object: str | None, message: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Ingest: the record a delivered message stands for, as the flow's mapping reads it.

    Called by the local platform's ingest worker for each stored message of a flow whose
    source implements it, before the mapping. A source whose webhooks wrap the record in an
    envelope unwraps it here, so that a pushed record and a pulled one are the same record
    (Stripe: an event's ``data.object``, shaped as its scheduled reads yield it). For a
    scheduled source, a record that a run or an earlier delivery already wrote to the flow
    (the same object, in the same version) lands once. A plugin that does not implement it
    maps each message as it came.

    :param object: the flow's object (its source connection's ``params.resourcePath``): a
        webhook endpoint may send events about other objects than the flow reads.
    :param message: the delivered JSON object (already verified and de-duplicated by id).
    :return: the record, or None when the message stands for no record of the flow's object
        (it is then listed among the flow's failures, with the reason, rather than dropped
        silently).
    """


@hookspec
def sourceflow_before_step(step: Step) -> None:
    """Observer: a lifecycle step is about to run. For host apps: audit, metrics, progress."""


@hookspec
def sourceflow_after_step(step: Step, result: Mapping[str, Any]) -> None:
    """Observer: a lifecycle step succeeded; ``result`` holds the ids it produced."""


@hookspec
def sourceflow_on_step_error(step: Step, error: BaseException) -> None:
    """Observer: a lifecycle step failed with ``error`` (the error is raised after)."""
