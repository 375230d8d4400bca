"""Inlined Data Prep functions map exactly as the generic helpers and a plain interpreter do.

The compiled mapping inlines functions whose argument types it knows (``lower(trim(x))`` is
``x.strip().lower()`` when ``x`` is a str); ``compile_mapping(..., inline=False)`` calls the
generic helper of every function instead. Generated rule sets and records must give the same
rows and the same errors from both, and from :func:`interpret`, which walks the syntax tree
per record with the functions' own implementations.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sourceflow.mapping import MappingError, RecordError, compile_mapping
from sourceflow.mapping.compile import _parse_rule
from sourceflow.mapping.errors import EvalError
from sourceflow.mapping.expressions import Access, Call, Compare, Field, Lit, Logic, Node, Not
from sourceflow.mapping.functions import COMPARISONS, truth
from sourceflow.mapping.paths import Path
from sourceflow.model import MappingRule, MappingSet

FIELDS = ["a", "b", "c", "v.x", "v.y", "n[0]"]
ONE_ARG = ["lower", "upper", "trim", "ltrim", "rtrim", "lcase", "ucase", "size_of", "to_integer"]
OPS = ["==", "!=", "<", "<=", ">", ">=", "&&", "||"]

texts = st.one_of(
    st.sampled_from(["", "false", " Ab ", "42", "x,y", "True", "ÄÖ", "\t q\n", "null"]),
    st.text(max_size=5),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 100),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    texts,
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=2),
    st.dictionaries(st.sampled_from(["x", "y"]), scalars, max_size=2),
)


def literal_text(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


leaves = st.one_of(
    st.sampled_from(FIELDS),
    st.sampled_from(FIELDS),  # fields twice as often as literals
    scalars.map(literal_text),
)


def extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(st.sampled_from(ONE_ARG), children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(["lower", "trim", "upper"]), children).map(
            lambda t: f"({t[1]}).{t[0]}()"
        ),
        st.lists(children, min_size=1, max_size=4).map(lambda a: f"concat({', '.join(a)})"),
        st.tuples(children, children, children).map(lambda t: "iif({}, {}, {})".format(*t)),
        st.tuples(
            st.sampled_from(["equals", "equalsIgnoreCase", "coalesce"]), children, children
        ).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
        st.tuples(children, st.sampled_from(OPS), children).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        children.map(lambda c: f"!({c})"),
        st.tuples(children, st.integers(0, 3)).map(lambda t: f"left({t[0]}, {t[1]})"),
        children.map(lambda c: f'split({c}, ",")[0]'),
    )


expressions = st.recursive(leaves, extend, max_leaves=8)


@st.composite
def rule_sets(draw: st.DrawFn) -> list[MappingRule]:
    rules = []
    for i in range(draw(st.integers(1, 10))):
        dest = draw(st.sampled_from([f"f{i}", f"out.f{i}"]))
        identity = draw(st.booleans()) and draw(st.booleans())
        if draw(st.integers(0, 3)) == 0:
            source, source_type = draw(st.sampled_from(FIELDS)), "ATTRIBUTE"
        else:
            source, source_type = draw(expressions), "EXPRESSION"
        rules.append(
            MappingRule(
                source_attribute=source,
                destination_xdm_path=dest,
                source_type=source_type,
                identity=identity,
            )
        )
    return rules


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key in ("a", "b", "c"):
        if draw(st.integers(0, 4)):
            record[key] = draw(values)
    if draw(st.integers(0, 3)):
        record["v"] = draw(
            st.one_of(st.fixed_dictionaries({}, optional={"x": scalars, "y": scalars}), values)
        )
    if draw(st.booleans()):
        record["n"] = draw(st.one_of(st.lists(scalars, max_size=2), values))
    return record


# --- the reference interpreter ----------------------------------------------------------------


def read(value: Any, steps: Path) -> Any:
    for step in steps:
        if isinstance(step, int):
            if value.__class__ is not list or len(value) <= step:
                return None
        elif not isinstance(value, dict) or step not in value:
            return None
        value = value[step]
    return value


def evaluate(node: Node, record: dict[str, Any]) -> Any:
    if isinstance(node, Lit):
        return node.value
    if isinstance(node, Field):
        return read(record, node.path)
    if isinstance(node, Access):
        return read(evaluate(node.base, record), node.steps)
    if isinstance(node, Not):
        return not truth(evaluate(node.operand, record))
    if isinstance(node, Logic):
        if node.op == "and":
            return all(truth(evaluate(x, record)) for x in node.operands)
        return any(truth(evaluate(x, record)) for x in node.operands)
    if isinstance(node, Compare):
        return COMPARISONS[node.op](evaluate(node.left, record), evaluate(node.right, record))
    assert isinstance(node, Call)
    if node.fn.name == "iif":
        chosen = node.args[1] if truth(evaluate(node.args[0], record)) else node.args[2]
        return evaluate(chosen, record)
    return node.fn.impl(*(evaluate(a, record) for a in node.args))


def interpret(rules: list[MappingRule], record: dict[str, Any]) -> dict[str, Any]:
    """Each rule evaluated in order, then identities checked, then the row built."""
    found: list[tuple[int, MappingRule, Any]] = []
    for i, rule in enumerate(rules):
        where = f"in mappings[{i}] -> {rule.destination_xdm_path}"
        node = _parse_rule(rule.source_type, rule.source_attribute)
        try:
            value = evaluate(node, record)
        except EvalError as exc:
            raise RecordError(
                f"{exc.call} {where}: {exc.reason}", rule_index=i, destination=None
            ) from None
        except Exception as exc:
            message = f"{rule.source_attribute} {where}: failed ({type(exc).__name__}: {exc})"
            raise RecordError(message, rule_index=i, destination=None) from None
        found.append((i, rule, value))
    for i, rule, value in found:
        if rule.identity and value is None:
            raise RecordError(
                f"{rule.source_attribute} in mappings[{i}] -> {rule.destination_xdm_path}: "
                "mandatory identity is missing",
                rule_index=i,
                destination=None,
            )
    row: dict[str, Any] = {}
    for _, rule, value in found:
        if value is not None:
            *parents, last = rule.destination_xdm_path.split(".")
            target = row
            for key in parents:
                target = target.setdefault(key, {})
            target[last] = value
    return row


def outcome(transform: Any, record: dict[str, Any]) -> tuple[str, Any, Any]:
    try:
        return ("row", transform(record), None)
    except RecordError as exc:
        return ("error", exc.rule_index, str(exc))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_sets(), st.lists(records(), min_size=1, max_size=8))
def test_inlined_generic_and_interpreted_mappings_agree(
    rules: list[MappingRule], batch: list[dict[str, Any]]
) -> None:
    mapping_set = MappingSet(mappings=rules)
    refusals = []
    for inline in (True, False):
        try:
            compile_mapping(mapping_set, inline=inline)
        except MappingError as exc:  # e.g. to_integer("abc"): refused alike by both
            refusals.append(exc.problems)
    if refusals:
        assert len(refusals) == 2 and refusals[0] == refusals[1]
        return
    inlined = compile_mapping(mapping_set)
    generic = compile_mapping(mapping_set, inline=False)
    for record in batch:
        expected = outcome(lambda r: interpret(rules, r), record)
        assert outcome(generic, record) == expected
        assert outcome(inlined, record) == expected


def test_inlining_changes_the_generated_code_where_types_are_known() -> None:
    rules = [
        MappingRule(
            source_attribute=source, destination_xdm_path=f"out.f{i}", source_type="EXPRESSION"
        )
        for i, source in enumerate(
            ["lower(trim(email))", 'concat(first, " ", last)', 'iif(kind == "vip", "yes", "no")']
        )
    ]
    inlined = compile_mapping(MappingSet(mappings=rules))
    generic = compile_mapping(MappingSet(mappings=rules), inline=False)
    assert ".strip().lower()" in inlined.python_source
    assert ".strip()" not in generic.python_source
    record = {"email": " Ada@X.org ", "first": "Ada", "last": "L", "kind": "vip"}
    expected = {"out": {"f0": "ada@x.org", "f1": "Ada L", "f2": "yes"}}
    assert inlined(record) == generic(record) == expected
    # Not a str: the guard sends the value to the helper, which refuses it as before.
    for mapping in (inlined, generic):
        with pytest.raises(RecordError, match=r"trim\(an object\)") as info:
            mapping({**record, "email": {"a": 1}})
        assert info.value.rule_index == 0
