"""The conformance rules as plain functions: each returns the problems it finds, as sentences.

:class:`~sourceflow.testing.conformance.PluginConformance` calls them and fails with every
problem, prefixed with the plugin's name; they take no pytest objects, so they read (and are
tested) as the rules themselves.
"""

from __future__ import annotations

import difflib
import inspect
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema

from sourceflow import hookspecs
from sourceflow.hooktypes import ExploreResult, Source
from sourceflow.mapping import MappingError, compile_mapping
from sourceflow.mapping.paths import PathError, parse_path
from sourceflow.model import MappingRule, MappingSet

PER_SOURCE_HOOKS = (
    "sourceflow_authenticate",
    "sourceflow_explore",
    "sourceflow_mapping_defaults",
    "sourceflow_source_params",
    "sourceflow_endpoint",
    "sourceflow_remove_endpoint",
    "sourceflow_read",
    "sourceflow_verify_delivery",
)


def spec_names() -> dict[str, list[str]]:
    """Every hook spec and the arguments it passes."""
    return {
        name: list(inspect.signature(fn).parameters)
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if name.startswith("sourceflow_")
    }


# --- samples ----------------------------------------------------------------------------------


def load_samples(given: Any, base: Path) -> list[Any]:
    """Sample payloads from what a suite declares for one object: a payload (dict), a list of
    payloads, or a path (``.json``: one payload or a list; ``.jsonl``: one per line), relative
    paths being relative to ``base`` (the test module's folder)."""
    if isinstance(given, str | Path):
        path = Path(given)
        path = path if path.is_absolute() else base / path
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        given = json.loads(text)
    if isinstance(given, Mapping):
        return [dict(given)]
    return list(given)


def has_path(record: Any, text: str) -> bool:
    """Whether ``record`` has the field ``text`` names (``a.b[0].c``), null values included."""
    try:
        steps = parse_path(text)
    except PathError:
        return False
    value = record
    for step in steps:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return False
        elif not isinstance(value, Mapping) or step not in value:
            return False
        value = value[step]
    return True


# --- the connection spec ----------------------------------------------------------------------


def _is_uuid(value: Any) -> bool:
    try:
        return (
            isinstance(value, str) and str(uuid.UUID(value)) == value.lower() and len(value) == 36
        )
    except ValueError:
        return False


def _schema_problems(where: str, schema: Any) -> list[str]:
    if not isinstance(schema, Mapping):
        return [f"{where} is not a JSON schema (got {type(schema).__name__})"]
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        at = "/".join(str(p) for p in exc.path) or "(top)"
        return [f"{where} is not a valid JSON schema: at {at}: {exc.message}"]
    problems = []
    properties = schema.get("properties") or {}
    for name in schema.get("required") or []:
        if name not in properties:
            problems.append(f"{where} requires {name!r} but does not declare it in properties")
    return problems


def spec_problems(source: Source) -> list[str]:
    """The source record and its connection and flow specs: ids, schemas, consistency."""
    spec = source.connection_spec
    problems: list[str] = []
    if not source.name.replace("-", "_").isidentifier() or source.name != source.name.lower():
        problems.append(f"source name {source.name!r} is not a lower-case word (a-z, 0-9, _, -)")
    for where, value in (
        ("connection spec id", spec.id),
        ("connection spec providerId", spec.provider_id),
    ):
        if not _is_uuid(value):
            problems.append(f"{where} {value!r} is not a UUID")
    if not spec.name:
        problems.append("connection spec has no name")
    auth_specs = spec.auth_spec or []
    if source.needs_base_connection and not auth_specs:
        problems.append("the source needs a base connection but its spec has no authSpec")
    for i, auth in enumerate(auth_specs):
        where = f"authSpec[{i}] ({auth.name!r})"
        if not auth.name or not auth.type:
            problems.append(f"{where} needs a name and a type")
        problems += _schema_problems(f"{where}.spec", auth.spec)
    if spec.source_spec is not None and spec.source_spec.spec is not None:
        problems += _schema_problems("sourceSpec.spec", spec.source_spec.spec)
    if not source.flow_specs:
        problems.append("the source declares no flow spec (Source.flow_specs is empty)")
    for flow_spec in source.flow_specs:
        where = f"flow spec {flow_spec.id!r}"
        if not _is_uuid(flow_spec.id):
            problems.append(f"{where}: its id is not a UUID")
        if not _is_uuid(flow_spec.provider_id):
            problems.append(f"{where}: providerId {flow_spec.provider_id!r} is not a UUID")
        if spec.id not in flow_spec.source_connection_spec_ids:
            problems.append(f"{where} does not list the connection spec in sourceConnectionSpecIds")
    ids = [f.id for f in source.flow_specs]
    if source.mapping_flow_spec is not None and source.mapping_flow_spec not in ids:
        problems.append(
            f"mapping_flow_spec {source.mapping_flow_spec!r} is not one of its flow specs"
        )
    if source.mode == "streaming" and source.inlet_on is None:
        problems.append("a streaming source must say where its inlet lives (inlet_on)")
    if source.mode == "scheduled" and source.inlet_on == "connection":
        problems.append(
            "a scheduled source's optional webhook inlet belongs to its flow "
            '(inlet_on="flow"), not to its base connection'
        )
    if source.mode == "scheduled" and source.inlet_on is not None and not source.delivery_secret:
        problems.append(
            "a scheduled source with a webhook inlet must name its delivery_secret: unsigned "
            "pushes into a pulled dataset would be anyone's to write"
        )
    return problems


# --- hooks ------------------------------------------------------------------------------------


def hook_problems(plugin: object, project: str = hookspecs.PROJECT) -> list[str]:
    """Every ``@sourceflow.hookimpl`` of ``plugin`` names a spec and takes only its arguments."""
    specs = spec_names()
    marker = f"{project}_impl"
    problems = []
    for attr in dir(plugin):
        fn = getattr(plugin, attr, None)
        if not callable(fn) or not hasattr(fn, marker):
            continue
        if attr not in specs:
            close = difflib.get_close_matches(attr, specs, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{attr} is not a sourceflow hook{hint}")
            continue
        try:
            taken = list(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            continue
        extra = [a for a in taken if a not in specs[attr]]
        if extra:
            problems.append(
                f"{attr} takes {', '.join(map(repr, extra))}, which its spec does not pass "
                f"(it passes: {', '.join(specs[attr])})"
            )
    return problems


def type_problem(
    hook: str, called: str, answer: Any, expected: type, *, many: bool = False
) -> str | None:
    """A sentence when ``answer`` is neither None nor ``expected`` (a sequence of them if
    ``many``), else None."""
    if answer is None:
        return None
    if many:
        if isinstance(answer, Sequence) and not isinstance(answer, str | bytes):
            wrong = [i for i, a in enumerate(answer) if not isinstance(a, expected)]
            if not wrong:
                return None
            got = type(answer[wrong[0]]).__name__
            return (
                f"{hook}({called}) returned a {got} at [{wrong[0]}], expected "
                f"{expected.__module__}.{expected.__name__}"
            )
        return (
            f"{hook}({called}) returned {type(answer).__name__}, expected a list of "
            f"{expected.__module__}.{expected.__name__} or None"
        )
    if isinstance(answer, expected):
        return None
    return (
        f"{hook}({called}) returned {type(answer).__name__}, expected "
        f"{expected.__module__}.{expected.__name__} or None"
    )


# --- explore ----------------------------------------------------------------------------------


def listing_problems(result: ExploreResult) -> list[str]:
    """An explore listing: ``items``, each an object with a ``name`` and a ``type``."""
    if result.items is None:
        return ["explore without an object answered no items (a listing has items=[...])"]
    problems = []
    for i, item in enumerate(result.items):
        if not isinstance(item, Mapping):
            problems.append(f"explore listing items[{i}] is a {type(item).__name__}, not an object")
            continue
        for key in ("name", "type"):
            if not isinstance(item.get(key), str) or not item.get(key):
                problems.append(
                    f"explore listing items[{i}] has no {key!r} (Adobe's items have name and type)"
                )
    return problems


def structure_problems(result: ExploreResult, called: str, preview: bool) -> list[str]:
    """An object's structure: ``format`` hierarchical (or flat), a JSON ``schema``, and a list
    of records as ``data`` when a preview was asked for."""
    problems = []
    if result.format not in ("hierarchical", "flat"):
        problems.append(
            f"explore {called} answered format {result.format!r}, expected 'hierarchical' "
            "(or 'flat') with a schema"
        )
    if not isinstance(result.schema, Mapping) or not result.schema:
        problems.append(f"explore {called} answered no schema")
    else:
        problems += _schema_problems(f"explore {called} schema", result.schema)
    if preview:
        if not isinstance(result.data, list):
            problems.append(f"explore {called} asked for a preview but answered no data list")
        elif any(not isinstance(r, Mapping) for r in result.data):
            problems.append(f"explore {called} preview data holds something other than objects")
    return problems


# --- mapping ----------------------------------------------------------------------------------


def mapping_problems(rules: Iterable[MappingRule], payloads: Sequence[Any], what: str) -> list[str]:
    """Every rule compiles, and every field it reads is in at least one sample payload."""
    problems = []
    for i, rule in enumerate(rules):
        try:
            compiled = compile_mapping(MappingSet(mappings=[rule]))
        except MappingError as exc:
            detail = "; ".join(p.split(": ", 1)[-1] for p in exc.problems)
            problems.append(f"mapping rule mappings[{i}] ({what}) does not compile: {detail}")
            continue
        for path in compiled.source_paths:
            if not any(has_path(p, path) for p in payloads):
                problems.append(
                    f"mapping rule mappings[{i}] ({what}) reads {path!r}, which no sample "
                    "payload has"
                )
    return problems
