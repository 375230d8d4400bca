"""EXPRESSION rules: the Data Prep functions, operators, null handling and run-time errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sourceflow.mapping import FUNCTIONS, MappingError, RecordError, compile_mapping
from sourceflow.model import MappingRule, MappingSet

RECORD: dict[str, Any] = {
    "name": "  Ada Lovelace ",
    "first": "Ada",
    "last": "Lovelace",
    "email": "Ada@Example.COM",
    "age": "42",
    "age_int": 42,
    "bad_age": "abc",
    "price": "19.99",
    "count": 3,
    "flag": True,
    "off": False,
    "nothing": None,
    "blank": "",
    "tags": "a,b;;c",
    "items": [{"sku": "A"}, {"sku": "B"}],
    "visitor": {"country": "FR", "score": 7.5},
    "First Name": "Grace",
    "and": "reserved",
}


def evaluate(expression: str, record: dict[str, Any] | None = None) -> Any:
    """The value one EXPRESSION rule gives, or the marker MISSING when it maps nothing."""
    mapping = compile_mapping(
        MappingSet(
            mappings=[
                MappingRule(
                    source_attribute=expression,
                    destination_xdm_path="out.value",
                    source_type="EXPRESSION",
                )
            ]
        )
    )
    row = mapping(RECORD if record is None else record)
    return row["out"]["value"] if row else MISSING


MISSING = object()


def refusal(expression: str) -> str:
    with pytest.raises(MappingError) as info:
        evaluate(expression)
    (problem,) = info.value.problems
    return problem


# --- fields and literals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("first", "Ada"),
        ("visitor.country", "FR"),
        ("items[1].sku", "B"),
        ("${First Name}", "Grace"),
        ("${and}", "reserved"),
        ('"a \\"quoted\\" \\\\ text\\n\\u00e9"', 'a "quoted" \\ text\né'),
        ("'single'", "single"),
        ("42", 42),
        ("-7", -7),
        ("2.5e3", 2500.0),
        ("true", True),
        ("false", False),
    ],
)
def test_fields_and_literals(expression, value):
    result = evaluate(expression)
    assert result == value and type(result) is type(value)


def test_a_missing_field_or_null_result_maps_nothing():
    assert evaluate("nope") is MISSING
    assert evaluate("visitor.nope.deeper") is MISSING
    assert evaluate("null") is MISSING
    assert evaluate("nothing") is MISSING


# --- string functions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("lower(email)", "ada@example.com"),
        ("lcase(email)", "ada@example.com"),
        ("upper(first)", "ADA"),
        ("ucase(first)", "ADA"),
        ("trim(name)", "Ada Lovelace"),
        ("ltrim(name)", "Ada Lovelace "),
        ("rtrim(name)", "  Ada Lovelace"),
        ('concat(first, " ", last)', "Ada Lovelace"),
        ("concat(first, count, flag)", "Ada3true"),
        ('concat("Hi, ", "there", "!")', "Hi, there!"),
        ('substr("This is a substring test", 7, 8)', " a subst"),
        ('left("abcde", 2)', "ab"),
        ('right("abcde", 2)', "de"),
        ('right("abc", 10)', "abc"),
        (
            'replacestr("This is a string re test", "re", "replace")',
            "This is a string replace test",
        ),
        ('split("Hello world", " ")', ["Hello", "world"]),
        ('split(tags, ",;")', ["a", "b", "c"]),
        ('equals(first, "Ada")', True),
        ('equals(first, "ada")', False),
        ('equalsIgnoreCase(first, "ADA")', True),
        ('"string1".equals("STRING1")', False),
        ('"string1".equalsIgnoreCase("STRING1")', True),
        ("email.lower()", "ada@example.com"),
        ("size_of(first)", 3),
        ("size_of(items)", 2),
        ('decode(visitor.country, "US", "United States", "FR", "France", "N/A")', "France"),
        ('decode("xx", "US", "United States", "N/A")', "N/A"),
        ('split(tags, ",;")[2]', "c"),
        ("coalesce(nothing, nope, last)", "Lovelace"),
    ],
)
def test_string_and_array_functions(expression, value):
    assert evaluate(expression) == value


@pytest.mark.parametrize(
    "expression",
    [
        "lower(nothing)",
        "upper(nope)",
        "trim(nothing)",
        "ltrim(nothing)",
        "rtrim(nothing)",
        "substr(nothing, 1, 2)",
        "left(nothing, 1)",
        "right(nothing, 1)",
        'replacestr(nothing, "a", "b")',
        'split(nothing, ",")',
        "size_of(nothing)",
        "to_integer(nothing)",
        "to_decimal(nothing)",
        "coalesce(nothing, nope)",
        "concat(nothing, nope)",
        "sha256(nothing)",
        'decode(nothing, "a", "b")',
    ],
)
def test_null_in_gives_null_out(expression):
    assert evaluate(expression) is MISSING


def test_concat_leaves_nulls_out():
    assert evaluate('concat(first, " ", nothing, nope)') == "Ada "


def test_functions_refuse_objects_where_they_need_text():
    with pytest.raises(
        RecordError,
        match=r"lower\(an object\) in mappings\[0\] -> out.value: expects a string, got object",
    ):
        evaluate("lower(visitor)")


# --- conversions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("to_integer(age)", 42),
        ('to_integer(" -12 ")', -12),
        ("to_integer(age_int)", 42),
        ("to_integer(4.0)", 4),
        ('to_bigint("12345678901234567890")', 12345678901234567890),
        ("to_decimal(price)", 19.99),
        ('to_decimal("20.5")', 20.5),
        ("to_decimal(count)", 3.0),
        ('to_float("1e3")', 1000.0),
    ],
)
def test_conversions(expression, value):
    result = evaluate(expression)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            "to_integer(bad_age)",
            "to_integer('abc') in mappings[0] -> out.value: not a whole number",
        ),
        (
            "to_integer(price)",
            "to_integer('19.99') in mappings[0] -> out.value: not a whole number",
        ),
        ("to_integer(flag)", "to_integer(true) in mappings[0] -> out.value: not a whole number"),
        ("to_decimal(bad_age)", "to_decimal('abc') in mappings[0] -> out.value: not a number"),
        ("to_decimal(items)", "to_decimal(an array) in mappings[0] -> out.value: expects a string"),
    ],
)
def test_conversion_failures_are_record_errors_naming_the_rule(expression, message):
    with pytest.raises(RecordError) as info:
        evaluate(expression)
    assert str(info.value).startswith(message)
    assert info.value.rule_index == 0 and info.value.destination == "out.value"


def test_a_conversion_of_a_literal_fails_at_compile_time():
    problem = refusal('concat("x", to_integer("abc"))')
    assert problem == (
        "mappings[0].sourceAttribute: to_integer('abc'): not a whole number at column 13"
    )


def test_record_errors_name_the_failing_rule_among_several():
    mapping = compile_mapping(
        MappingSet(
            mappings=[
                MappingRule(source_attribute="first", destination_xdm_path="_acme.first"),
                MappingRule(source_attribute="last", destination_xdm_path="_acme.last"),
                MappingRule(source_attribute="email", destination_xdm_path="_acme.email"),
                MappingRule(
                    source_attribute="to_integer(age)",
                    destination_xdm_path="_acme.age",
                    source_type="EXPRESSION",
                ),
            ]
        )
    )
    assert mapping(RECORD)["_acme"]["age"] == 42
    with pytest.raises(RecordError) as info:
        mapping({**RECORD, "age": "abc"})
    assert str(info.value) == "to_integer('abc') in mappings[3] -> _acme.age: not a whole number"
    assert info.value.rule_index == 3 and info.value.destination == "_acme.age"


# --- iif and operators -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ('iif(first == "Ada", "yes", "no")', "yes"),
        ('iif(first != "Ada", "yes", "no")', "no"),
        ('iif(to_integer(age) >= 18, "adult", "minor")', "adult"),
        ('iif(to_integer(age) < 18, "minor", "adult")', "adult"),
        ('iif(count > 2 && count <= 3, "three", "other")', "three"),
        ('iif(count < 2 || visitor.score > 7, "either", "neither")', "either"),
        ('iif(!(count == 3), "not three", "three")', "three"),
        ('iif(count eq 3 and not off, "words", "other")', "words"),
        ('iif(visitor.score ge 7.5, "ge", "lt")', "ge"),
        ('iif(count == 3.0, "numeric", "typed")', "numeric"),
        ('iif(age == 42, "coerced", "strict")', "strict"),
        ('iif(first < "Bob", "before", "after")', "before"),
        ('iif(nothing == null, "null", "value")', "null"),
        ('iif(nope > 1, "greater", "not greater")', "not greater"),
        ('iif(flag, "truthy", "falsy")', "truthy"),
        ('iif(blank, "truthy", "falsy")', "falsy"),
        ('iif(nope, "truthy", "falsy")', "falsy"),
        ('iif("s".equalsIgnoreCase("S"), "True", "False")', "True"),
        ("iif(flag, first, last)", "Ada"),
        ('iif(off, "x", nothing)', MISSING),
    ],
)
def test_iif_and_operators(expression, value):
    assert evaluate(expression) == value


def test_iif_evaluates_only_the_chosen_branch():
    # The other branch would fail: it must not run.
    assert evaluate('iif(true, "safe", to_integer(bad_age))') == "safe"
    with pytest.raises(RecordError):
        evaluate('iif(false, "safe", to_integer(bad_age))')


def test_comparing_a_string_with_a_number_is_a_record_error():
    with pytest.raises(
        RecordError,
        match=r"'42' < 18 in mappings\[0\] -> out.value: cannot compare string with number",
    ):
        evaluate('iif(age < 18, "minor", "adult")')


def test_a_boolean_expression_maps_its_value():
    assert evaluate("count >= 3 && flag") is True
    assert evaluate("!flag") is False


# --- now, ids, hashes ------------------------------------------------------------------------


def test_now_is_the_current_utc_time_per_record():
    before = datetime.now(UTC)
    value = evaluate("now()")
    after = datetime.now(UTC)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", value)
    stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert before - timedelta(milliseconds=1) <= stamp <= after


def test_timestamp_is_epoch_milliseconds():
    value = evaluate("timestamp()")
    assert isinstance(value, int) and abs(value - datetime.now(UTC).timestamp() * 1000) < 5000


def test_uuid_differs_per_record():
    mapping = compile_mapping(
        MappingSet(
            mappings=[
                MappingRule(
                    source_attribute="uuid()", destination_xdm_path="id", source_type="EXPRESSION"
                )
            ]
        )
    )
    first, second = mapping({})["id"], mapping({})["id"]
    assert first != second and re.fullmatch(r"[0-9a-f-]{36}", first)


@pytest.mark.parametrize(
    ("expression", "digest"),
    [
        (
            'sha256("my text", "UTF-8")',
            "7330d2b39ca35eaf4cb95fc846c21ee6a39af698154a83a586ee270a0d372104",
        ),
        ('sha1("my text", "UTF-8")', "c3599c11e47719df18a2448690840c5dfcce3c80"),
        ('md5("my text")', "d3b96ce8c9fb4e9bd0198d03ba6852c7"),
    ],
)
def test_hashes_match_adobes_examples(expression, digest):
    assert evaluate(expression) == digest


def test_sha256_of_a_field():
    assert evaluate("sha256(lower(email))") == evaluate('sha256("ada@example.com")')


# --- compile-time refusals: rule index and column --------------------------------------------


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("lowr(email)", "unknown function 'lowr' at column 1 (known: "),
        ("concat(first, lowr(email))", "unknown function 'lowr' at column 15 (known: "),
        (
            "lower(first, last)",
            "lower() takes exactly 1 argument, got 2 at column 1: lower(STRING)",
        ),
        (
            "iif(true, 1)",
            "iif() takes exactly 3 arguments, got 2 at column 1: iif(CONDITION, IF_TRUE, IF_FALSE)",
        ),
        ("concat()", "concat() takes at least 1 argument, got 0 at column 1: concat(STRING, ...)"),
        (
            "sha256()",
            "sha256() takes 1 to 2 arguments, got 0 at column 1: sha256(STRING, [CHARSET])",
        ),
        ('concat(first, "abc)', 'unterminated string at column 15 (close it with ")'),
        ('concat("a\\q")', "unknown escape '\\q' in string at column 10"),
        ("lower(first", "unexpected end of expression at column 12 (expected ')' or ',')"),
        ("lower(first))", "unexpected ')' at column 13 (expected an operator or the end)"),
        ("first last", "unexpected name 'last' at column 7 (expected an operator or the end)"),
        ("first = last", "'=' is not an operator (compare with '==') at column 7"),
        ("first & last", "'&' is not an operator (use '&&') at column 7"),
        ("count + 1", "arithmetic ('+') is not supported; use functions at column 7"),
        ("first # x", "unexpected character '#' at column 7"),
        ("a < b < c", "comparisons do not chain (use '&&') at column 7"),
        ("items[x]", "an index is a whole number in brackets, like [0] at column 6"),
        ("if", "'if' is a reserved word; write a field so named as ${if} at column 1"),
        ("${a..b}", "bad field name '${a..b}' at column 4: empty name after '.'"),
        ("${abc", "unterminated '${' at column 1 (close it with '}')"),
        ("12abc", "bad number '12a' at column 1"),
        ("", "empty expression at column 1"),
        ("   ", "empty expression at column 1"),
        ("first.", "unexpected end of expression at column 7 (expected a field name after '.')"),
        ("- first", "'-' only makes negative numbers; arithmetic is not supported at column 1"),
    ],
)
def test_compile_time_refusals_name_the_rule_and_column(expression, problem):
    found = refusal(expression)
    if "(known: " in problem:
        assert found.startswith(f"mappings[0].sourceAttribute: {problem}")
    else:
        assert found == f"mappings[0].sourceAttribute: {problem}"


def test_unknown_function_lists_the_known_ones():
    problem = refusal("lowr(email)")
    known = problem.split("(known: ")[1].rstrip(")").split(", ")
    assert {"concat", "iif", "lower", "now", "to_decimal", "to_integer", "trim", "upper"} <= set(
        known
    )
    assert set(known) == set(FUNCTIONS)


def test_the_rule_index_is_the_failing_rules():
    rules = [
        MappingRule(source_attribute="first", destination_xdm_path="a.first"),
        MappingRule(source_attribute="last", destination_xdm_path="a.last"),
        MappingRule(
            source_attribute="lowr(email)", destination_xdm_path="a.email", source_type="EXPRESSION"
        ),
    ]
    with pytest.raises(MappingError) as info:
        compile_mapping(MappingSet(mappings=rules))
    assert info.value.problems[0].startswith(
        "mappings[2].sourceAttribute: unknown function 'lowr' at column 1 (known: coalesce, "
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('"unterminated', "unterminated string at column 1"),
        ('  "two" "strings"', "a static value is one literal; unexpected text at column 9"),
    ],
)
def test_static_refusals(text, problem):
    rules = [MappingRule(source_attribute=text, destination_xdm_path="a", source_type="STATIC")]
    with pytest.raises(MappingError) as info:
        compile_mapping(MappingSet(mappings=rules))
    assert info.value.problems[0].startswith(f"mappings[0].sourceAttribute: {problem}")
