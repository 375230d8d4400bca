"""The one converter between the models and Adobe's camelCase JSON.

Every body the client sends, every answer the local platform gives and every row it stores
goes through :data:`converter`. Use :func:`to_json` and :func:`from_json`; a body that does not
fit its model raises :class:`~sourceflow.errors.InvalidBody` listing every problem with its
JSON path, so a caller can say exactly which field to fix.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Literal, TypeVar, get_args, get_origin

import attrs
from cattrs import ClassValidationError, Converter
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.v import transform_error

from sourceflow import hooktypes, model
from sourceflow.errors import InvalidBody

T = TypeVar("T")

_CAMEL = re.compile(r"_([a-z0-9])")

# Adobe spells a few keys its own way.
_RENAMES: dict[tuple[type, str], str] = {
    (model.Run, "etag"): "eTag",
    (model.DurationSummary, "started_at_utc"): "startedAtUTC",
    (model.DurationSummary, "completed_at_utc"): "completedAtUTC",
}


def camel(name: str) -> str:
    """``snake_case`` to Adobe's ``camelCase``."""
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


def _key(cls: type, name: str) -> str:
    return _RENAMES.get((cls, name)) or camel(name)


# Left out of the JSON when they hold their default, as Adobe's own examples leave them out.
_OMIT_WHEN_DEFAULT = {(model.MappingRule, "source_type")}


# The Flow Service resources a Source carries, which live beside Source in sourceflow.hooktypes
# (loading a plugin builds them without every model of sourceflow.model): models all the same.
_HOOKTYPE_MODELS = frozenset(
    {
        hooktypes.AuthSpec,
        hooktypes.SourceSpec,
        hooktypes.ExploreSpec,
        hooktypes.ConnectionSpec,
        hooktypes.FlowSpec,
    }
)


def _fields(cls: type) -> list[tuple[str, Any]]:
    """Each field's name and default: models are attrs classes, the hook records dataclasses."""
    if attrs.has(cls):
        return [(a.name, a.default) for a in attrs.fields(cls)]
    return [(f.name, f.default) for f in dataclasses.fields(cls)]


def _omit(cls: type, name: str, default: Any) -> bool:
    return default is None or (cls, name) in _OMIT_WHEN_DEFAULT


def _make_converter() -> Converter:
    conv = Converter(forbid_extra_keys=False)

    def passthrough(value: Any, _type: Any) -> Any:
        return value

    # JSON-valued fields (params, schemas, options) are kept as the caller wrote them.
    conv.register_structure_hook(Any, passthrough)
    conv.register_structure_hook_func(lambda t: t == hooktypes.JSON, lambda v, t: _expect_object(v))

    def is_model(cls: Any) -> bool:
        return cls in _HOOKTYPE_MODELS or (
            attrs.has(cls) and getattr(cls, "__module__", "") == model.__name__
        )

    def unstructure_factory(cls: type) -> Any:
        overrides: dict[str, Any] = {
            name: override(rename=_key(cls, name), omit_if_default=_omit(cls, name, default))
            for name, default in _fields(cls)
        }
        return make_dict_unstructure_fn(cls, conv, **overrides)

    def structure_factory(cls: type) -> Any:
        overrides: dict[str, Any] = {
            name: override(rename=_key(cls, name)) for name, _ in _fields(cls)
        }
        return make_dict_structure_fn(cls, conv, _cattrs_detailed_validation=True, **overrides)

    conv.register_unstructure_hook_factory(is_model, unstructure_factory)
    conv.register_structure_hook_factory(is_model, structure_factory)

    # Literal-typed fields: say which values are allowed.
    def structure_literal(value: Any, type_: Any) -> Any:
        allowed = get_args(type_)
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(map(str, allowed))} (got {value!r})")
        return value

    conv.register_structure_hook_func(_is_literal, structure_literal)

    base_mapping_set = conv.get_structure_hook(model.MappingSet)

    def structure_mapping_set(value: Any, type_: Any) -> model.MappingSet:
        mapping: model.MappingSet = base_mapping_set(
            _normalise_mapping_set(_expect_object(value)), type_
        )
        return mapping

    conv.register_structure_hook(model.MappingSet, structure_mapping_set)
    return conv


def _is_literal(type_: Any) -> bool:
    return get_origin(type_) is Literal


def _expect_object(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"must be a JSON object (got {type(value).__name__})")
    return value


def _normalise_mapping_set(body: dict[str, Any]) -> dict[str, Any]:
    # Older Data Prep pages send {xdmSchema, xdmVersion}; rules may say source/destination.
    body = dict(body)
    if "outputSchema" not in body and "xdmSchema" in body:
        body["outputSchema"] = {
            "schemaRef": {
                "id": body["xdmSchema"],
                "contentType": "application/vnd.adobe.xed-full+json;version="
                + str(body.get("xdmVersion", "1.0")),
            }
        }
    rules = body.get("mappings")
    if isinstance(rules, list):
        body["mappings"] = [_normalise_rule(r) for r in rules]
    return body


def _normalise_rule(rule: Any) -> Any:
    if not isinstance(rule, dict):
        return rule
    rule = dict(rule)
    if "sourceAttribute" not in rule and "source" in rule:
        rule["sourceAttribute"] = rule["source"]
    if "destinationXdmPath" not in rule and "destination" in rule:
        rule["destinationXdmPath"] = rule["destination"]
    return rule


converter = _make_converter()


def to_json(obj: Any) -> Any:
    """A model (or a list of them) as Adobe's JSON; ``None`` fields are left out."""
    return converter.unstructure(obj)


def from_json(data: Any, cls: type[T]) -> T:
    """Build ``cls`` from JSON, or raise :class:`InvalidBody` naming every bad field."""
    try:
        return converter.structure(data, cls)
    except model.RuleViolation as exc:
        raise InvalidBody(cls.__name__, [str(exc)]) from None
    except ClassValidationError as exc:
        raise InvalidBody(cls.__name__, _describe(exc, cls)) from None
    except (TypeError, ValueError) as exc:
        raise InvalidBody(cls.__name__, [f"$: {exc}"]) from None


def _describe(exc: ClassValidationError, cls: type) -> list[str]:
    problems = []
    for line in transform_error(exc, path="$", format_exception=_format):
        message, _, path = line.rpartition(" @ ")
        if message.startswith("§"):
            # A rule checked on the whole object already names its own field.
            problems.append(message[1:])
            continue
        field = ".".join(camel(part) for part in path.removeprefix("$").lstrip(".").split("."))
        problems.append(f"{field or '(body)'}: {message}")
    return problems


def _format(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, model.RuleViolation):
        return "§" + str(exc)
    if isinstance(exc, KeyError):
        return "is required"
    plain = [t for t in (get_args(type_) or (type_,)) if t is not type(None)]
    if len(plain) == 1 and plain[0] in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[plain[0]]}"
    if str(exc):
        return str(exc)
    return f"is invalid ({type(exc).__name__})"


_TYPE_WORDS = {int: "a whole number", str: "a string", bool: "true or false", float: "a number"}
