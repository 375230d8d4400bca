"""The Chatlio plugin's hooks, called through the plugin manager as the core calls them."""

from __future__ import annotations

import pytest

from sourceflow import Endpoint, ExploreRequest, SourceflowError, SourceParams
from sourceflow.testing import connection_for, flow_for, map_record
from sourceflow_chatlio.events import EVENTS

SPEC = "073127a3-26e3-496c-9d94-9f48fb93fba8"
SEED_RULES = [
    ("slackChannelId", "_extconndev.slackchannel_ID"),
    ("slackChannelName", "_extconndev.slackchannel_name"),
    ("visitor.UUID", "_extconndev.UUID"),
    ("visitor.email", "_extconndev.chatlio_email"),
    ("message", "_extconndev.message"),
    ("channelId", "_extconndev.channel_ID"),
]
# The seed's sample body (Adobe's Chatlio tutorial).
SEED_BODY = {
    "visitor": {"email": "test@example.com", "UUID": "2d3f4260-2235-903b-0a82-a23d326cc257"},
    "message": "Hi",
    "channelId": "C04J7M7LCMQ",
    "slackChannelName": "aep",
    "slackChannelId": "C04JVR71WKS",
}


@pytest.fixture
def registry(sourceflow_registry):
    # The installed distribution, through its entry point, as the core finds it.
    sourceflow_registry.load_entry_points(allow=["sourceflow-chatlio"], block=[])
    return sourceflow_registry


@pytest.fixture
def source(registry):
    return registry.source("chatlio")


@pytest.fixture
def connection(source):
    return connection_for(source)


def test_source_is_generic_streaming_with_a_json_target(source):
    assert source.id == SPEC
    assert [f.id for f in source.flow_specs] == ["e77fde5a-22a8-11ed-861d-0242ac120002"]
    assert (source.inlet_on, source.needs_base_connection, source.target_format) == (
        "flow",
        False,
        "json",
    )
    assert source.connection_spec.provider_id == "521eee4d-8cbe-4906-bb48-fb6bd4450033"


def test_explore_lists_the_five_webhooks(registry, source, connection):
    listing = registry.call(
        "sourceflow_explore", source, connection=connection, request=ExploreRequest()
    )
    assert [i["path"] for i in listing.items] == [
        "new_conversation",
        "offline_message",
        "transcript",
        "unanswered",
        "feedback",
    ]


def test_explore_gives_each_payloads_structure_and_a_preview(registry, source, connection):
    offline = registry.call(
        "sourceflow_explore",
        source,
        connection=connection,
        request=ExploreRequest(object="offline_message", preview=True),
    )
    props = offline.schema["properties"]
    assert {"name", "email", "message", "visitor"} <= set(props)
    assert {"UUID", "email", "name"} <= set(props["visitor"]["properties"])
    assert offline.data[0]["visitor"]["UUID"]
    transcript = registry.call(
        "sourceflow_explore",
        source,
        connection=connection,
        request=ExploreRequest(object="transcript"),
    )
    assert transcript.data is None
    message = transcript.schema["properties"]["messages"]["items"]["properties"]
    assert message["isVisitorMsg"] == {"type": "boolean"}
    with pytest.raises(SourceflowError, match=r"no 'typing' webhook"):
        registry.call(
            "sourceflow_explore",
            source,
            connection=connection,
            request=ExploreRequest(object="typing"),
        )


def test_default_mapping_starts_with_the_seeds_six_rules(registry, source):
    rules = registry.call("sourceflow_mapping_defaults", source, object=None, tenant="extconndev")
    assert [(r.source_attribute, r.destination_xdm_path) for r in rules[:6]] == SEED_RULES
    assert [r.source_attribute for r in rules if r.identity] == ["visitor.UUID"]
    row = map_record(rules, SEED_BODY)
    assert row == {
        "_extconndev": {
            "slackchannel_ID": "C04JVR71WKS",
            "slackchannel_name": "aep",
            "UUID": "2d3f4260-2235-903b-0a82-a23d326cc257",
            "chatlio_email": "test@example.com",
            "message": "Hi",
            "channel_ID": "C04J7M7LCMQ",
        }
    }


@pytest.mark.parametrize("event", EVENTS, ids=[e.key for e in EVENTS])
def test_every_rule_of_every_event_reads_a_field_of_its_payload(registry, source, event):
    rules = registry.call("sourceflow_mapping_defaults", source, object=event.key, tenant="t")
    for rule in rules:
        row = map_record([rule], event.sample)
        assert row, f"{event.key}: {rule.source_attribute} is not in the sample"


def test_a_payload_without_its_identity_fails_mapping(registry, source):
    rules = registry.call("sourceflow_mapping_defaults", source, object=None, tenant="t")
    with pytest.raises(SourceflowError, match=r"visitor\.UUID"):
        map_record(rules, {"message": "Hi"})


def test_source_params_are_the_seeds_and_unknown_params_are_named(registry, source):
    assert registry.call(
        "sourceflow_source_params", source, object=None, credentials={}
    ) == SourceParams(data_format="json", params=None)
    registry.call(
        "sourceflow_source_params",
        source,
        object="transcript",
        credentials={"authenticationRequired": "true"},
    )
    with pytest.raises(SourceflowError, match="takes no --param apiKey"):
        registry.call("sourceflow_source_params", source, object=None, credentials={"apiKey": "k"})
    with pytest.raises(SourceflowError) as caught:
        registry.call("sourceflow_source_params", source, object="typing", credentials={})
    assert "new_conversation" in caught.value.hint


def test_endpoint_is_the_inlet_url_naming_the_flow(registry, source):
    flow = flow_for(source)
    assert flow.flow_spec.id == "e77fde5a-22a8-11ed-861d-0242ac120002"
    endpoint = Endpoint(
        inlet_id="abc", inlet_url="https://dcs.adobedc.net/collection/abc", flow_id="f-1"
    )
    facts = registry.call(
        "sourceflow_endpoint", source, flow=flow, endpoint=endpoint, credentials={}
    )
    assert facts == {"webhookUrl": "https://dcs.adobedc.net/collection/abc?x-adobe-flow-id=f-1"}
