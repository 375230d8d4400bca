"""Randomised checks (seeded, so failures reproduce) against a plain reference interpreter.

hypothesis is not a dependency of the project, so these draw from ``random.Random(seed)``.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from sourceflow.mapping import MappingError, RecordError, compile_mapping
from sourceflow.mapping.paths import Path, format_path, parse_path
from sourceflow.model import MappingRule, MappingSet

KEYS = ["a", "b", "id", "x-y", "dot.ted", "sp ace", "q'uote", "[br]", "ü", "0"]
_MISSING = object()


def random_value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.35:
        return rng.choice([None, 0, 1, -2.5, "", "s", True, False, "text"])
    if roll < 0.75:
        return {k: random_value(rng, depth + 1) for k in rng.sample(KEYS, rng.randint(0, 4))}
    return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]


def random_path(rng: random.Random) -> Path:
    steps: list[str | int] = [rng.choice(KEYS)]
    for _ in range(rng.randint(0, 3)):
        steps.append(rng.randint(0, 2) if rng.random() < 0.3 else rng.choice(KEYS))
    return tuple(steps)


def read(record: Any, path: Path) -> Any:
    """The reference reading: keys on objects, indexes on arrays, anything else is missing."""
    value = record
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return _MISSING
        elif not isinstance(value, dict) or step not in value:
            return _MISSING
        value = value[step]
    return _MISSING if value is None else value


def reference(rules: list[tuple[Path, Path, bool]], record: Any) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise RecordError("not an object", rule_index=None, destination=None)
    row: dict[str, Any] = {}
    for index, (source, dest, identity) in enumerate(rules):
        value = read(record, source)
        if value is _MISSING:
            if identity:
                raise RecordError("missing", rule_index=index, destination=format_path(dest))
            continue
        target = row
        for step in dest[:-1]:
            target = target.setdefault(step, {})
        target[dest[-1]] = value
    return row


def random_rules(rng: random.Random) -> list[tuple[Path, Path, bool]]:
    rules: list[tuple[Path, Path, bool]] = []
    taken: list[Path] = []
    for _ in range(rng.randint(1, 8)):
        dest = tuple(rng.choice(["out", "o2", "x y"]) for _ in range(rng.randint(1, 3)))
        dest = (*dest, f"f{len(rules)}")
        # No destination may sit inside another rule's value.
        if any(dest[: len(t)] == t or t[: len(dest)] == dest for t in taken):
            continue
        taken.append(dest)
        rules.append((random_path(rng), dest, rng.random() < 0.15))
    return rules


@pytest.mark.parametrize("seed", range(40))
def test_compiled_mappings_agree_with_the_reference(seed):
    rng = random.Random(seed)
    rules = random_rules(rng)
    mapping = compile_mapping(
        MappingSet(
            mappings=[
                MappingRule(
                    source_attribute=format_path(source),
                    destination_xdm_path=format_path(dest),
                    identity=identity,
                )
                for source, dest, identity in rules
            ]
        )
    )
    assert [parse_path(p) for p in mapping.source_paths] == list(
        dict.fromkeys(source for source, _, _ in rules)
    )
    records: list[Any] = [random_value(rng, 0) for _ in range(5)]  # any JSON, root included
    records += [{k: random_value(rng, 1) for k in rng.sample(KEYS, 5)} for _ in range(25)]
    # Records built to hit the rules' paths, so that values are found, not only missed.
    for _ in range(30):
        record: dict[str, Any] = {}
        for source, _, _ in rules:
            if rng.random() < 0.8:
                plant(record, source, rng.choice(["v", 1, 2.5, False, None, {"k": 1}]))
        records.append(record)
    # Twice, shuffled: the fast and the careful reads must agree.
    for record in records + rng.sample(records, len(records)):
        try:
            expected: Any = reference(rules, record)
        except RecordError as exc:
            expected = ("error", exc.rule_index)
        try:
            got: Any = mapping(record)
        except RecordError as exc:
            got = ("error", exc.rule_index)
        assert got == expected, (rules, record)


def plant(record: dict[str, Any], path: Path, value: Any) -> None:
    target: Any = record
    for step, nxt in zip(path, [*path[1:], None], strict=True):
        if nxt is None:
            if isinstance(target, dict) and isinstance(step, str):
                target[step] = value
            elif isinstance(target, list) and isinstance(step, int):
                target.extend([None] * (step + 1 - len(target)))
                target[step] = value
            return
        empty: Any = [] if isinstance(nxt, int) else {}
        if isinstance(target, dict) and isinstance(step, str):
            target = target.setdefault(step, empty)
        elif isinstance(target, list) and isinstance(step, int):
            target.extend([None] * (step + 1 - len(target)))
            if target[step] is None:
                target[step] = empty
            target = target[step]
        else:
            return


@pytest.mark.parametrize("seed", range(60))
def test_paths_round_trip_through_their_text(seed):
    rng = random.Random(seed)
    path = random_path(rng)
    assert parse_path(format_path(path)) == path


PIECES = [
    "a", "b.c", "x[0]", "[", "]", "(", ")", ",", '"', "'", "\\", "${", "}", "==", "=", "!",
    "<", ">=", "&&", "||", "&", "-", "+", "1", "2.5", "1e", " ", "lower", "concat", "iif",
    "to_integer", "now", "true", "null", "if", "and", ".", '"s"', "lowr", "\\u12",
]  # fmt: skip


@pytest.mark.parametrize("seed", range(300))
def test_any_expression_text_compiles_or_is_refused_with_a_column(seed):
    rng = random.Random(seed)
    text = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 10)))
    rules = [
        MappingRule(source_attribute=text, destination_xdm_path="out.v", source_type="EXPRESSION")
    ]
    try:
        mapping = compile_mapping(MappingSet(mappings=rules))
    except MappingError as exc:
        (problem,) = exc.problems
        assert problem.startswith("mappings[0].sourceAttribute: "), problem
        assert " at column " in problem, problem
        return
    # What compiles must map without crashing: a row, or a RecordError for the rule.
    for record in ({}, {"a": "A", "b": {"c": "3"}, "x": [1]}, {"a": None, "x": "str"}):
        failed_rule = None
        try:
            mapping(record)
        except RecordError as exc:
            failed_rule = exc.rule_index
        assert failed_rule in (None, 0)
