"""Hook implementations for the Chatlio source.

Chatlio is a generic streaming source: no base connection, a source connection naming the
streaming provider and Chatlio's connection spec, and a flow (spec ``e77fde5a-…``) that owns
the inlet (``GET /flows/{id}`` → ``options.inletUrl``). Chatlio cannot set headers, so the
webhook URL to paste into its dashboard names the flow in the query:
``{inletUrl}?x-adobe-flow-id={FLOW_ID}``. Its payloads carry no signature, so there is nothing
to verify; ``--param authenticationRequired=true`` makes the inlet want an IMS token instead
(for deliveries relayed by something that can add one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sourceflow
from sourceflow import (
    PROVIDER_STREAMING,
    ConnectionSpec,
    Source,
    SourceflowError,
    SourceSpec,
    generic_streaming_flow_spec,
)

# Loading the plugin builds its Source only: the package root loads the resource models on
# first use of one (``sourceflow.MappingRule`` in a hook), and the webhook samples are imported
# by the hooks that use them, so listing the plugins does not pay for them.
if TYPE_CHECKING:
    from sourceflow import (
        Connection,
        Endpoint,
        ExploreRequest,
        ExploreResult,
        Flow,
        MappingRule,
        SourceParams,
    )

CONNECTION_SPEC_ID = "073127a3-26e3-496c-9d94-9f48fb93fba8"
FLOW_HEADER = "x-adobe-flow-id"
PARAMS = ("authenticationRequired",)

SOURCE = Source(
    name="chatlio",
    title="Chatlio",
    description="Chat events (conversations, offline messages, transcripts) from Chatlio.",
    connection_spec=ConnectionSpec(
        id=CONNECTION_SPEC_ID,
        name="Chatlio",
        provider_id=PROVIDER_STREAMING,
        type="streaming",
        source_spec=SourceSpec(
            name="Chatlio",
            type="streaming",
            spec={"type": "object", "properties": {}, "additionalProperties": False},
            attributes={"format": ["json"]},
        ),
        attributes={"category": "marketing automation", "isSource": True, "beta": True},
    ),
    flow_specs=(generic_streaming_flow_spec(CONNECTION_SPEC_ID),),
    mode="streaming",
    inlet_on="flow",
    needs_base_connection=False,
    target_format="json",
    unsigned=True,
)


@sourceflow.hookimpl
def sourceflow_sources() -> list[Source]:
    """The Chatlio source."""
    return [SOURCE]


@sourceflow.hookimpl
def sourceflow_explore(
    source: Source, connection: Connection, request: ExploreRequest
) -> ExploreResult:
    """The five webhooks Chatlio sends, or one webhook's payload structure and a sample.

    Chatlio has no API to ask: the structures are the ones its documentation shows.
    """
    from sourceflow_chatlio.events import EVENTS, event, schema_of

    wanted = request.object or request.source_params.get("event")
    if not wanted:
        return sourceflow.ExploreResult(
            items=[
                {"type": "event", "name": e.title, "path": e.key, "description": e.description}
                for e in EVENTS
            ]
        )
    found = event(str(wanted))
    if found is None:
        raise SourceflowError(
            f"Chatlio sends no {wanted!r} webhook", hint=f"explore one of: {_keys()}"
        )
    return sourceflow.ExploreResult(
        format="hierarchical",
        schema=schema_of(found.sample),
        data=[found.sample] if request.preview else None,
    )


def _keys() -> str:
    from sourceflow_chatlio.events import EVENTS

    return ", ".join(e.key for e in EVENTS)


def _check_object(object: str | None) -> None:
    from sourceflow_chatlio.events import event

    if object is not None and event(object) is None:
        raise SourceflowError(
            f"Chatlio sends no {object!r} webhook",
            hint=f"--object takes one of: {_keys()} (default: new_conversation)",
        )


@sourceflow.hookimpl
def sourceflow_source_params(
    source: Source, object: str | None, credentials: Mapping[str, Any]
) -> SourceParams:
    """``data.format: json`` and no params, as Adobe's Chatlio tutorial sends it.

    Chatlio needs no credentials; anything but ``authenticationRequired`` is refused by name.
    """
    _check_object(object)
    unknown = sorted(set(credentials) - set(PARAMS))
    if unknown:
        raise SourceflowError(
            f"Chatlio takes no --param {', '.join(unknown)}: it has no credentials",
            hint="the only one is --param authenticationRequired=true (the inlet then wants "
            "an IMS token)",
        )
    return sourceflow.SourceParams(data_format="json", params=None)


def _visitor_rules(tenant: str) -> list[MappingRule]:
    # The six rules of Adobe's tutorial first (visitor.UUID made the mandatory identity:
    # a chat event without its visitor is not worth a row), then the other documented fields.
    # IP addresses and user agents are left out on purpose: personal data nobody asked for.
    rule = sourceflow.MappingRule.in_tenant
    return [
        rule("slackChannelId", "slackchannel_ID", tenant),
        rule("slackChannelName", "slackchannel_name", tenant),
        rule("visitor.UUID", "UUID", tenant, identity=True),
        rule("visitor.email", "chatlio_email", tenant),
        rule("message", "message", tenant),
        rule("channelId", "channel_ID", tenant),
        rule("conversationUUID", "conversation_ID", tenant),
        rule("visitor.name", "visitor_name", tenant),
        rule("visitor.identUserId", "ident_user_ID", tenant),
        rule("visitor.currentPage", "current_page", tenant),
        rule("visitor.referrerURL", "referrer_URL", tenant),
        rule("visitor.location", "location", tenant),
        rule("visitor.createdAt", "visitor_created_at", tenant),
    ]


def _transcript_rules(tenant: str) -> list[MappingRule]:
    # A transcript is flat and names no visitor UUID: the conversation is its identity.
    rule = sourceflow.MappingRule.in_tenant
    return [
        rule("conversationUUID", "conversation_ID", tenant, identity=True),
        rule("channelId", "channel_ID", tenant),
        rule("channelName", "channel_name", tenant),
        rule("visitorEmail", "chatlio_email", tenant),
        rule("visitorName", "visitor_name", tenant),
        rule("agentEmail", "agent_email", tenant),
        rule("agentName", "agent_name", tenant),
        rule("startedAt", "started_at", tenant),
        rule("endedAt", "ended_at", tenant),
        rule("archiveUrl", "archive_URL", tenant),
        rule("textBody", "transcript", tenant),
        rule("visitorTraits.current_page", "current_page", tenant),
    ]


@sourceflow.hookimpl
def sourceflow_mapping_defaults(
    source: Source, object: str | None, tenant: str
) -> list[MappingRule]:
    """Default rules per webhook (``object``; None is a new conversation)."""
    _check_object(object)
    if object == "transcript":
        return _transcript_rules(tenant)
    rules = _visitor_rules(tenant)
    if object == "offline_message":
        # No chat happened: Chatlio documents no channel, conversation or location on it.
        rules = [r for r in rules if r.source_attribute not in _NOT_OFFLINE]
        rules += [
            sourceflow.MappingRule.in_tenant("name", "offline_name", tenant),
            sourceflow.MappingRule.in_tenant("email", "offline_email", tenant),
        ]
    return rules


_NOT_OFFLINE = {
    "slackChannelId",
    "slackChannelName",
    "channelId",
    "conversationUUID",
    "visitor.location",
}


@sourceflow.hookimpl
def sourceflow_endpoint(
    source: Source, flow: Flow, endpoint: Endpoint, credentials: Mapping[str, Any]
) -> dict[str, Any]:
    """The webhook URL to paste into Chatlio: the inlet, naming the flow in its query."""
    facts: dict[str, Any] = {"webhookUrl": webhook_url(endpoint)}
    if endpoint.authentication_required:
        facts["note"] = (
            "the inlet wants an IMS bearer token, which Chatlio cannot send: relay its "
            "webhooks through something that adds one"
        )
    return facts


def webhook_url(endpoint: Endpoint) -> str:
    """``{inletUrl}?x-adobe-flow-id={flowId}``, as Adobe's Chatlio page builds it."""
    # Imported here: urllib.parse costs loading the plugin 12 M instructions (callgrind).
    from urllib.parse import urlencode

    url = endpoint.deliver_to  # the relay in front of the inlet, or the inlet
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}{urlencode({FLOW_HEADER: endpoint.flow_id})}"
