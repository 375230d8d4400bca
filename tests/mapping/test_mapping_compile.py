"""Compiling mapping sets and applying them to records: paths, nesting, gaps, identities."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sourceflow import wire
from sourceflow.errors import InvalidBody, SourceflowError
from sourceflow.mapping import CompiledMapping, MappingError, RecordError, compile_mapping
from sourceflow.mapping.paths import format_path
from sourceflow.model import MappingRule, MappingSet

TENANT = "_acme"

# SEEDS.md, Chatlio: default mapping and sample body.
CHATLIO_RULES = [
    ("slackChannelId", f"{TENANT}.slackchannel_ID", False),
    ("slackChannelName", f"{TENANT}.slackchannel_name", False),
    ("visitor.UUID", f"{TENANT}.UUID", True),
    ("visitor.email", f"{TENANT}.chatlio_email", False),
    ("message", f"{TENANT}.message", False),
    ("channelId", f"{TENANT}.channel_ID", False),
]
CHATLIO_BODY = {
    "visitor": {"email": "test@example.com", "UUID": "2d3f4260-2235-903b-0a82-a23d326cc257"},
    "message": "Hi",
    "channelId": "C04J7M7LCMQ",
    "slackChannelName": "aep",
    "slackChannelId": "C04JVR71WKS",
}


def rule(source: str, dest: str, source_type: str = "ATTRIBUTE", identity: bool = False) -> Any:
    return MappingRule(
        source_attribute=source,
        destination_xdm_path=dest,
        source_type=source_type,  # type: ignore[arg-type]
        identity=identity,
    )


def compiled(*rules: MappingRule) -> CompiledMapping:
    return compile_mapping(MappingSet(mappings=list(rules)))


def chatlio() -> CompiledMapping:
    return compiled(*(rule(s, d, identity=i) for s, d, i in CHATLIO_RULES))


# --- the Chatlio seed ------------------------------------------------------------------------


def test_chatlio_seed_mapping_gives_the_expected_row():
    row = chatlio()(CHATLIO_BODY)
    assert row == {
        "_acme": {
            "slackchannel_ID": "C04JVR71WKS",
            "slackchannel_name": "aep",
            "UUID": "2d3f4260-2235-903b-0a82-a23d326cc257",
            "chatlio_email": "test@example.com",
            "message": "Hi",
            "channel_ID": "C04J7M7LCMQ",
        }
    }
    # Keys come out in rule order, as the rules list them.
    assert list(row["_acme"]) == [d.split(".")[1] for _, d, _ in CHATLIO_RULES]


def test_chatlio_seed_mapping_read_from_adobe_json():
    body = {
        "outputSchema": {"schemaRef": {"id": "https://ns.adobe.com/acme/schemas/1"}},
        "mappings": [
            {"sourceAttribute": s, "destinationXdmPath": d, "identity": i, "version": 0}
            for s, d, i in CHATLIO_RULES
        ],
    }
    mapping = compile_mapping(wire.from_json(body, MappingSet))
    assert mapping(CHATLIO_BODY)["_acme"]["UUID"] == CHATLIO_BODY["visitor"]["UUID"]  # type: ignore[index]


def test_the_record_is_not_changed_and_rows_are_new_objects():
    mapping = chatlio()
    body = copy.deepcopy(CHATLIO_BODY)
    first, second = mapping(body), mapping(body)
    assert body == CHATLIO_BODY
    assert first == second and first is not second and first["_acme"] is not second["_acme"]


def test_source_paths_lists_what_the_rules_read_in_rule_order():
    mapping = compiled(
        rule("visitor.UUID", "a.b"),
        rule(
            "concat(lower(visitor.email), line_items[0].price, ${First Name})", "a.c", "EXPRESSION"
        ),
        rule("visitor.UUID", "a.d"),
        rule('"x"', "a.e", "STATIC"),
    )
    assert mapping.source_paths == [
        "visitor.UUID",
        "visitor.email",
        "line_items[0].price",
        "First Name",
    ]
    assert mapping.destinations == ["a.b", "a.c", "a.d", "a.e"]
    assert isinstance(mapping, CompiledMapping)


# --- source paths ----------------------------------------------------------------------------


def test_array_indexes_and_deep_paths():
    record = {
        "line_items": [{"price": 10, "sku": "A"}, {"price": 20, "sku": "B"}],
        "data": {"payment_method_details": {"card": {"brand": "visa"}}},
        "matrix": [[1, 2], [3, 4]],
    }
    mapping = compiled(
        rule("line_items[0].price", "x.first_price"),
        rule("line_items[1].sku", "x.second_sku"),
        rule("line_items[5].sku", "x.sixth_sku"),
        rule("data.payment_method_details.card.brand", "x.brand"),
        rule("matrix[1][0]", "x.cell"),
        rule("line_items", "x.items"),
    )
    assert mapping(record) == {
        "x": {
            "first_price": 10,
            "second_sku": "B",
            "brand": "visa",
            "cell": 3,
            "items": record["line_items"],
        }
    }


def test_keys_with_unusual_characters():
    record = {
        "x-request-id": "r1",
        "a.b": {"c d": 1},
        "quote'\"": 2,
        "ünïcode": 3,
        "$dollar": 4,
    }
    mapping = compiled(
        rule("x-request-id", "out.request_id"),
        rule("a\\.b.c d", "out.dotted"),
        rule("quote'\"", "out.quotes"),
        rule("ünïcode", "out.unicode"),
        rule("$dollar", "out.dollar"),
    )
    assert mapping(record) == {
        "out": {"request_id": "r1", "dotted": 1, "quotes": 2, "unicode": 3, "dollar": 4}
    }


def test_an_index_reads_arrays_only_and_a_key_reads_objects_only():
    mapping = compiled(rule("name[0]", "out.first_letter"), rule("tags.first", "out.tag"))
    # A string is not an array, and an array has no keys: both are simply missing.
    assert mapping({"name": "Ada", "tags": ["a", "b"]}) == {}
    assert mapping({"name": ["Ada"], "tags": {"first": "a"}}) == {
        "out": {"first_letter": "Ada", "tag": "a"}
    }


# --- missing values --------------------------------------------------------------------------


def test_a_missing_value_leaves_its_destination_out():
    body = copy.deepcopy(CHATLIO_BODY)
    del body["message"]
    del body["visitor"]["email"]  # type: ignore[attr-defined]
    row = chatlio()(body)
    assert "message" not in row["_acme"] and "chatlio_email" not in row["_acme"]
    assert row["_acme"]["UUID"] == CHATLIO_BODY["visitor"]["UUID"]  # type: ignore[index]


def test_null_is_treated_as_missing():
    body = copy.deepcopy(CHATLIO_BODY)
    body["message"] = None
    row = chatlio()(body)
    assert "message" not in row["_acme"]


def test_missing_parents_and_wrong_types_are_missing_values():
    mapping = compiled(rule("a.b.c", "out.c"), rule("a.d", "out.d"))
    for record in ({}, {"a": None}, {"a": "text"}, {"a": [1]}, {"a": {"b": 5}}, {"a": {"b": None}}):
        assert mapping(record) == {}, record


def test_empty_objects_and_arrays_are_left_out_of_the_row():
    mapping = compiled(rule("a", "out.inner.a"), rule("b", "other[0].b"), rule("c", "top"))
    assert mapping({"c": 1}) == {"top": 1}
    assert mapping({}) == {}


def test_rows_are_the_same_whichever_way_the_record_was_read():
    # A record with gaps switches the mapping to careful reads for a while; a complete record
    # must map the same either way.
    mapping = chatlio()
    complete = mapping(CHATLIO_BODY)
    gappy = {"visitor": {"UUID": "u"}}
    assert mapping(gappy) == {"_acme": {"UUID": "u"}}
    for _ in range(200):
        assert mapping(CHATLIO_BODY) == complete
        assert mapping(gappy) == {"_acme": {"UUID": "u"}}


def test_careful_reads_are_temporary():
    mapping = chatlio()
    gaps = mapping.__globals__["_gaps"]  # type: ignore[attr-defined]
    assert gaps == [0]
    mapping({"visitor": {"UUID": "u"}})
    assert gaps[0] > 0
    for _ in range(100):
        mapping(CHATLIO_BODY)
    assert gaps == [0]


# --- identities ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "visitor", [{"email": "x@example.com"}, {"UUID": None}, None, "not an object"]
)
def test_a_missing_identity_is_a_record_error(visitor):
    body = copy.deepcopy(CHATLIO_BODY)
    body["visitor"] = visitor
    with pytest.raises(RecordError) as info:
        chatlio()(body)
    err = info.value
    assert err.rule_index == 2
    assert err.destination == "_acme.UUID"
    assert "mandatory identity" in str(err) and "missing" in str(err)
    assert "visitor.UUID" in str(err) and "mappings[2]" in str(err)
    assert isinstance(err, SourceflowError)


def test_an_identity_from_an_expression_must_have_a_value():
    mapping = compiled(rule("lower(email)", "id.email", "EXPRESSION", identity=True))
    assert mapping({"email": "A@B.C"}) == {"id": {"email": "a@b.c"}}
    with pytest.raises(RecordError, match=r"mappings\[0\] -> id.email: mandatory identity"):
        mapping({})


# --- records that are not objects ------------------------------------------------------------


@pytest.mark.parametrize("record", [[1, 2], "text", 42, None])
def test_a_record_that_is_not_an_object_is_a_record_error(record):
    for mapping in (chatlio(), compiled(rule('"x"', "a", "STATIC"))):
        with pytest.raises(RecordError, match="not a JSON object") as info:
            mapping(record)
        assert info.value.rule_index is None


# --- destinations ----------------------------------------------------------------------------


def test_destinations_build_nested_objects():
    mapping = compiled(
        rule("first", "person.name.firstName"),
        rule("last", "person.name.lastName"),
        rule("mail", "personalEmail.address"),
        rule("id", "_acme.ids.crm"),
    )
    assert mapping({"first": "Ada", "last": "Lovelace", "mail": "ada@example.com", "id": 7}) == {
        "person": {"name": {"firstName": "Ada", "lastName": "Lovelace"}},
        "personalEmail": {"address": "ada@example.com"},
        "_acme": {"ids": {"crm": 7}},
    }


def test_destination_array_indexes_build_arrays_in_index_order():
    mapping = compiled(
        rule("b_sku", "items[1].sku"),
        rule("a_sku", "items[0].sku"),
        rule("a_qty", "items[0].qty"),
        rule("tag", "tags[0]"),
    )
    record = {"a_sku": "A", "a_qty": 2, "b_sku": "B", "tag": "t"}
    assert mapping(record) == {"items": [{"sku": "A", "qty": 2}, {"sku": "B"}], "tags": ["t"]}
    # An element with no values is left out; the array closes the gap.
    assert mapping({"b_sku": "B"}) == {"items": [{"sku": "B"}]}


# --- static values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"web"', "web"),
        ("'web'", "web"),
        ('"say \\"hi\\""', 'say "hi"'),
        ("42", 42),
        ("-1.5", -1.5),
        ("true", True),
        ("false", False),
        ("plain text", "plain text"),
        ("  spaced  ", "  spaced  "),
    ],
)
def test_static_values(text, value):
    row = compiled(rule(text, "out.v", "STATIC"), rule("id", "out.id"))({"id": 1})
    assert row == {"out": {"v": value, "id": 1}}
    assert type(row["out"]["v"]) is type(value)


def test_a_static_null_maps_nothing():
    assert compiled(rule("null", "out.v", "STATIC"), rule("id", "out.id"))({"id": 1}) == {
        "out": {"id": 1}
    }


# --- compiled once, not interpreted ----------------------------------------------------------


def test_nothing_is_parsed_per_record(monkeypatch):
    import sourceflow.mapping.compile as compile_module
    import sourceflow.mapping.expressions as expressions

    mapping = compiled(
        rule("visitor.UUID", "a.id"),
        rule('iif(to_integer(age) >= 18, "adult", "minor")', "a.group", "EXPRESSION"),
    )

    def boom(*args: object) -> None:
        raise AssertionError("parsed at run time")

    for module, name in [
        (expressions, "tokenize"),
        (expressions, "parse_expression"),
        (compile_module, "parse_expression"),
        (compile_module, "parse_path"),
    ]:
        monkeypatch.setattr(module, name, boom)
    assert mapping({"visitor": {"UUID": "u"}, "age": "42"}) == {"a": {"id": "u", "group": "adult"}}


def test_generated_code_holds_user_text_only_as_literals():
    nasty = "'] + __import__('os').getcwd() + r['"
    escaped = format_path((nasty,))  # the key as one path step: '.', '[' and ']' escaped
    mapping = compiled(
        rule(escaped, "out.x"),
        rule(f'concat("{nasty}", "\\n")', "out.y", "EXPRESSION"),
        rule('"\\"); import os; ("', "out.z", "STATIC"),
    )
    row = mapping({nasty: 1})
    assert row == {"out": {"x": 1, "y": nasty + "\n", "z": '"); import os; ('}}
    assert "import os" not in mapping.python_source
    assert "getcwd" not in mapping.python_source.replace(repr(nasty), "")


def test_an_empty_mapping_set_maps_to_an_empty_row():
    assert compiled()({"a": 1}) == {}


# --- refusals --------------------------------------------------------------------------------


def test_mapping_error_is_an_invalid_body_listing_every_problem():
    with pytest.raises(MappingError) as info:
        compiled(
            rule("a..b", "out.a"),
            rule("ok", "out.ok"),
            rule("lowr(x)", "out.c", "EXPRESSION"),
            rule("x", "out..d"),
        )
    err = info.value
    assert isinstance(err, InvalidBody) and isinstance(err, SourceflowError)
    assert len(err.problems) == 3
    assert err.problems[0].startswith("mappings[0].sourceAttribute: bad path 'a..b' at column 2")
    assert err.problems[1].startswith("mappings[2].sourceAttribute: unknown function 'lowr'")
    assert err.problems[2].startswith(
        "mappings[3].destinationXdmPath: bad path 'out..d' at column 4"
    )
    for problem in err.problems:
        assert problem in str(err)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (
            [rule("a", "out.x"), rule("b", "out.x")],
            "mappings[1].destinationXdmPath: 'out.x' is already mapped by mappings[0]",
        ),
        (
            [rule("a", "out.x"), rule("b", "out.x.y")],
            "mappings[1].destinationXdmPath: 'out.x.y' goes inside 'out.x', which mappings[0]",
        ),
        (
            [rule("a", "out.x.y"), rule("b", "out.x")],
            "mappings[1].destinationXdmPath: 'out.x' holds fields that mappings[0] maps",
        ),
        (
            [rule("a", "out.items[0]"), rule("b", "out.items.first")],
            "mappings[1].destinationXdmPath: 'out.items' is an array in mappings[0]",
        ),
    ],
)
def test_destination_collisions_are_refused(rules, expected):
    with pytest.raises(MappingError) as info:
        compiled(*rules)
    assert info.value.problems[0].startswith(expected), info.value.problems


def test_an_identity_that_is_always_null_is_refused():
    with pytest.raises(MappingError, match=r"mappings\[0\].sourceAttribute: .*always null"):
        compiled(rule("null", "out.id", "STATIC", identity=True))


def test_an_unknown_source_type_is_refused():
    with pytest.raises(MappingError, match=r"mappings\[0\].sourceType: must be ATTRIBUTE"):
        compiled(rule("a", "out.a", source_type="COLUMN"))
