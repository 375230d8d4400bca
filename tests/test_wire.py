"""The converter against Adobe's own bodies: every HTTP API seed body round-trips exactly, and
values that break Adobe's rules are refused with the field and the rule named."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from shared_reference import reference

from sourceflow import hooktypes, model, wire
from sourceflow.errors import InvalidBody

HTTP_SEED = "002_f4dc8d777ab361d2.txt"


def _seed_text() -> str:
    seed = reference("seeds", HTTP_SEED, needed_for="the HTTP API seed bodies cannot be checked")
    return seed.read_text(encoding="utf-8")


def _request_bodies() -> dict[str, dict]:
    """The `-d '…'` bodies of the seed's curl lines, keyed by the path they are sent to."""
    text = _seed_text()
    bodies: dict[str, list[dict]] = {}
    for block in re.findall(r"```shell\n(.*?)```", text, flags=re.S):
        target = re.search(r"flowservice/(\w+)", block)
        data = re.search(r"-d '(.*)", block, flags=re.S)
        if not target or not data:
            continue
        raw = data.group(1).strip().removesuffix("'")
        bodies.setdefault(target.group(1), []).append(json.loads(raw))
    return bodies  # type: ignore[return-value]


def _response_bodies() -> list[dict]:
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)```", _seed_text(), flags=re.S)]


def test_the_seed_has_the_bodies_this_test_expects():
    bodies = _request_bodies()
    assert len(bodies["connections"]) == 2
    assert {k: len(v) for k, v in bodies.items() if k != "connections"} == {
        "sourceConnections": 1,
        "targetConnections": 1,
        "flows": 1,
    }


@pytest.mark.parametrize(
    ("path", "index", "cls"),
    [
        ("connections", 0, model.Connection),
        ("connections", 1, model.Connection),
        ("sourceConnections", 0, model.SourceConnection),
        ("targetConnections", 0, model.TargetConnection),
        ("flows", 0, model.Flow),
    ],
    ids=["unauthenticated", "authenticated", "source", "target", "flow"],
)
def test_seed_request_bodies_round_trip(path, index, cls):
    body = _request_bodies()[path][index]
    parsed = wire.from_json(body, cls)
    assert isinstance(parsed, cls)
    assert wire.to_json(parsed) == body


def test_authenticated_seed_connection_keeps_its_flag():
    body = _request_bodies()["connections"][1]
    parsed = wire.from_json(body, model.Connection)
    assert parsed.auth is not None
    assert parsed.auth.params["authenticationRequired"] is True


def test_seed_get_connection_answer_parses_with_its_inlet():
    answer = next(b for b in _response_bodies() if "items" in b)
    connection = wire.from_json(answer["items"][0], model.Connection)
    assert connection.auth is not None
    assert connection.auth.params["inletId"] in connection.auth.params["inletUrl"]
    assert connection.etag == '"56008aee-0000-0200-0000-5e697e150000"'
    assert wire.to_json(connection) == answer["items"][0]


def test_seed_ingestion_response_round_trips():
    answer = next(b for b in _response_bodies() if "xactionId" in b)
    receipt = wire.from_json(answer, model.Receipt)
    assert receipt.received_time_ms == 1584479347507
    assert wire.to_json(receipt) == answer


def test_seed_create_answers_parse_as_created_refs():
    created = [b for b in _response_bodies() if set(b) == {"id", "etag"}]
    assert len(created) >= 4
    for body in created:
        assert wire.to_json(wire.from_json(body, model.CreatedRef)) == body


FLOW = {"name": "f", "flowSpec": {"id": "6499120c-0b15-42dc-936e-847ea3c24d72", "version": "1.0"}}


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (
            {"frequency": "sometimes"},
            "scheduleParams.frequency: must be one of once, minute, hour, day, week "
            "(got 'sometimes')",
        ),
        (
            {"frequency": "minute", "interval": 14},
            "scheduleParams.interval: must be at least 15 when frequency is 'minute' (got 14)",
        ),
        (
            {"frequency": "once", "interval": 15},
            "scheduleParams.interval: must be left out when frequency is 'once'",
        ),
        (
            {"frequency": "hour", "interval": 0},
            "scheduleParams.interval: must be at least 1 when frequency is 'hour' (got 0)",
        ),
        ({"frequency": "day"}, "scheduleParams.interval: is required when frequency is 'day'"),
        (
            {"frequency": "week", "interval": "often"},
            "scheduleParams.interval: must be a whole number",
        ),
        (
            {"frequency": "hour", "interval": 1, "startTime": "soon"},
            "scheduleParams.startTime: must be a whole number",
        ),
    ],
)
def test_schedule_rules_are_refused_with_field_and_rule(schedule, expected):
    with pytest.raises(InvalidBody) as caught:
        wire.from_json({**FLOW, "scheduleParams": schedule}, model.Flow)
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems


def test_valid_schedules_accept_adobe_spellings():
    # Adobe's Stripe page sends startTime as a string of epoch seconds.
    flow = wire.from_json(
        {
            **FLOW,
            "scheduleParams": {"startTime": "1710267858", "frequency": "minute", "interval": 15},
        },
        model.Flow,
    )
    assert flow.schedule_params == model.ScheduleParams(
        start_time=1710267858, frequency="minute", interval=15
    )
    once = wire.from_json({**FLOW, "scheduleParams": {"frequency": "once"}}, model.Flow)
    assert once.schedule_params is not None and once.schedule_params.interval is None


def test_every_missing_field_is_named_in_camel_case():
    with pytest.raises(InvalidBody) as caught:
        wire.from_json({"connectionSpec": {"version": "1.0"}}, model.SourceConnection)
    assert caught.value.problems == ["name: is required", "connectionSpec.id: is required"]


def test_old_mapping_set_shape_is_read_and_the_new_one_written():
    old = {
        "xdmSchema": "https://ns.adobe.com/acme/schemas/abc",
        "xdmVersion": "1.0",
        "mappings": [{"source": "a.b", "destination": "_acme.b", "identity": False}],
    }
    mapping = wire.from_json(old, model.MappingSet)
    assert wire.to_json(mapping) == {
        "outputSchema": {
            "schemaRef": {
                "id": "https://ns.adobe.com/acme/schemas/abc",
                "contentType": "application/vnd.adobe.xed-full+json;version=1.0",
            }
        },
        "mappings": [
            {
                "sourceAttribute": "a.b",
                "destinationXdmPath": "_acme.b",
                "identity": False,
                "version": 0,
            }
        ],
    }


def test_unknown_source_type_is_refused():
    with pytest.raises(InvalidBody) as caught:
        wire.from_json(
            {
                "mappings": [
                    {"sourceAttribute": "a", "destinationXdmPath": "b", "sourceType": "MAGIC"}
                ]
            },
            model.MappingSet,
        )
    assert caught.value.problems == [
        "mappings[0].sourceType: must be one of ATTRIBUTE, EXPRESSION, STATIC (got 'MAGIC')"
    ]


def test_run_etag_uses_adobes_spelling():
    run = model.Run(flow_id="f", etag='"1"', metrics=model.RunMetrics())
    out = wire.to_json(run)
    assert out["eTag"] == '"1"' and "etag" not in out
    assert out["metrics"]["durationSummary"] == {}
    assert wire.from_json(out, model.Run) == run


# The connection and flow specs a Source carries are dataclasses (sourceflow.hooktypes), the
# other resources attrs classes: the one converter writes and reads both the same way.
_json_values = st.dictionaries(
    st.text(min_size=1, max_size=8), st.one_of(st.none(), st.booleans(), st.text(max_size=8))
)
_optional_json = st.one_of(st.none(), _json_values)
_names = st.text(min_size=1, max_size=12)
_auth_specs = st.builds(
    hooktypes.AuthSpec,
    name=_names,
    type=_names,
    spec=_json_values,
    description=st.one_of(st.none(), _names),
)
_connection_specs = st.builds(
    hooktypes.ConnectionSpec,
    id=_names,
    name=_names,
    provider_id=_names,
    version=_names,
    type=st.one_of(st.none(), _names),
    auth_spec=st.one_of(st.none(), st.lists(_auth_specs, max_size=3)),
    source_spec=st.one_of(
        st.none(),
        st.builds(
            hooktypes.SourceSpec,
            name=st.one_of(st.none(), _names),
            spec=_optional_json,
            attributes=_optional_json,
        ),
    ),
    explore_spec=st.one_of(
        st.none(), st.builds(hooktypes.ExploreSpec, request_spec=_optional_json)
    ),
    attributes=_optional_json,
)
_flow_specs = st.builds(
    hooktypes.FlowSpec,
    id=_names,
    name=_names,
    provider_id=_names,
    source_connection_spec_ids=st.lists(_names, max_size=3),
    target_connection_spec_ids=st.lists(_names, max_size=3),
    transformations=st.one_of(st.none(), st.lists(_json_values, max_size=2)),
)


def _keys(value: object) -> set[str]:
    """Every key of the JSON objects in ``value`` that is a field name, not a schema's own."""
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value))
    if not isinstance(value, dict):
        return set()
    found = set(value)
    for key in ("authSpec", "sourceSpec", "exploreSpec"):
        found |= _keys(value.get(key))
    return found


@given(spec=st.one_of(_connection_specs, _flow_specs))
def test_the_specs_a_source_carries_round_trip_in_camel_case(spec):
    body = wire.to_json(spec)
    assert wire.from_json(body, type(spec)) == spec
    assert json.loads(json.dumps(body)) == body
    assert not {k for k in _keys(body) if "_" in k}
    # A field left at None is left out, as Adobe's own examples leave it out.
    assert all(value is not None for value in body.values())


def test_a_connection_spec_missing_fields_is_refused_naming_them():
    with pytest.raises(InvalidBody) as refused:
        wire.from_json(
            {"id": "x", "name": "y", "authSpec": [{"name": "basic"}]}, hooktypes.ConnectionSpec
        )
    assert refused.value.problems == [
        "providerId: is required",
        "authSpec[0].type: is required",
        "authSpec[0].spec: is required",
    ]
