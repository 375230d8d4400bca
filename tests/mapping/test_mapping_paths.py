"""Path syntax: what parses, what is refused and at which column, and the nesting limits."""

from __future__ import annotations

import pytest

from sourceflow.mapping import MappingError, compile_mapping
from sourceflow.mapping.paths import MAX_STEPS, PathError, format_path, parse_path
from sourceflow.model import MappingRule, MappingSet


@pytest.mark.parametrize(
    ("text", "steps"),
    [
        ("visitor.UUID", ("visitor", "UUID")),
        ("line_items[0].price", ("line_items", 0, "price")),
        (
            "data.payment_method_details.card.brand",
            ("data", "payment_method_details", "card", "brand"),
        ),
        ("x-request-id", ("x-request-id",)),
        ("First Name", ("First Name",)),
        ("a\\.b.c", ("a.b", "c")),
        ("m[1][0]", ("m", 1, 0)),
        ("k\\[0\\]", ("k[0]",)),
        ("back\\\\slash", ("back\\slash",)),
    ],
)
def test_paths_parse(text, steps):
    assert parse_path(text) == steps
    assert parse_path(format_path(steps)) == steps


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        ("", 1, "empty path"),
        ("a..b", 2, "empty name after '.'"),
        ("a.", 2, "empty name after '.'"),
        (".a", 1, "empty name before '.'"),
        ("[0].a", 1, "a path starts with a name, not an index"),
        ("a[x]", 2, "an index is a whole number in brackets, like [0]"),
        ("a[-1]", 2, "an index is a whole number in brackets, like [0]"),
        ("a[0", 2, "an index is a whole number in brackets, like [0]"),
        ("a]", 2, "']' without '['"),
        ("a[0]b", 5, "expected '.' or '[' after ']'"),
        ("a\\", 2, "'\\' at the end escapes nothing"),
    ],
)
def test_bad_paths_say_where(text, column, reason):
    with pytest.raises(PathError) as info:
        parse_path(text)
    assert (info.value.column, info.value.reason) == (column, reason)


def test_bad_source_and_destination_paths_are_mapping_errors_with_the_column():
    rules = [
        MappingRule(source_attribute="a..b", destination_xdm_path="ok.a"),
        MappingRule(source_attribute="ok", destination_xdm_path="_acme.items[x].sku"),
    ]
    with pytest.raises(MappingError) as info:
        compile_mapping(MappingSet(mappings=rules))
    assert info.value.problems == [
        "mappings[0].sourceAttribute: bad path 'a..b' at column 2: empty name after '.'",
        "mappings[1].destinationXdmPath: bad path '_acme.items[x].sku' at column 12: "
        "an index is a whole number in brackets, like [0]",
    ]


def test_paths_deeper_than_the_limit_are_refused():
    assert len(parse_path(".".join(["a"] * MAX_STEPS))) == MAX_STEPS
    with pytest.raises(PathError, match="deeper than"):
        parse_path(".".join(["a"] * (MAX_STEPS + 1)))


@pytest.mark.parametrize(
    "expression",
    [
        "(" * 40 + "a" + ")" * 40,
        "!" * 40 + "a",
        "lower(" * 40 + "a" + ")" * 40,
        "a" + ".lower()" * 40,
        "concat(" + ".".join(["a"] * 70) + ")",
    ],
)
def test_expressions_nested_too_deeply_are_refused(expression):
    rules = [
        MappingRule(source_attribute=expression, destination_xdm_path="o", source_type="EXPRESSION")
    ]
    with pytest.raises(MappingError, match=r"mappings\[0\].sourceAttribute: .* at column \d+"):
        compile_mapping(MappingSet(mappings=rules))


def test_long_flat_expressions_and_large_mapping_sets_compile():
    chain = " || ".join(["a == 1 && b"] * 1000)
    rules = [
        MappingRule(source_attribute=chain, destination_xdm_path="o.any", source_type="EXPRESSION")
    ]
    rules += [
        MappingRule(source_attribute=f"k{i}", destination_xdm_path=f"o.k{i}") for i in range(3000)
    ]
    mapping = compile_mapping(MappingSet(mappings=rules))
    row = mapping({"a": 1, "b": True, **{f"k{i}": i for i in range(3000)}})
    assert row["o"]["any"] is True and len(row["o"]) == 3001
