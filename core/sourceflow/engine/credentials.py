"""A connection's credentials against its auth spec: completed with the spec's defaults, then
checked against its JSON schema without echoing a value (they may be secrets).

Both the engine (before it creates a base connection) and the ``sourceflow.testing`` helpers
use them; :mod:`sourceflow.lifecycle` offers them to callers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema

from sourceflow.errors import InvalidBody
from sourceflow.hooktypes import AuthSpec

# Streaming auth specs name the connection twice (``name``, ``sourceId``); a run has a name.
_NAMED_BY_RUN = ("name", "sourceId")


def with_defaults(spec: AuthSpec, credentials: Mapping[str, Any], run_name: str) -> dict[str, Any]:
    """``credentials`` completed from the auth spec: its JSON-schema ``default`` values, and
    the run's name for ``name``/``sourceId`` properties, where the caller gave none."""
    filled = dict(credentials)
    for key, prop in (spec.spec.get("properties") or {}).items():
        if key in filled or not isinstance(prop, dict):
            continue
        if key in _NAMED_BY_RUN and prop.get("type") == "string":
            filled[key] = run_name
        elif "default" in prop and key in spec.spec.get("required", []):
            filled[key] = prop["default"]
    return filled


def check_credentials(spec: AuthSpec, credentials: Mapping[str, Any]) -> None:
    """Check auth params against the auth spec's JSON schema; name every bad field.

    Secret values are never echoed: messages name the field and the rule only.
    """
    validator = jsonschema.Draft7Validator(spec.spec)
    problems = []
    for error in sorted(validator.iter_errors(dict(credentials)), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in error.path) or "(params)"
        problems.append(f"{where}: {_rule(error)}")
    if problems:
        raise InvalidBody(f"credentials for {spec.name!r}", problems)


def _rule(error: jsonschema.ValidationError) -> str:
    # jsonschema's own messages quote the offending value, which may be a secret.
    if error.validator == "required":
        return str(error.message).replace(" is a required property", " is required")
    if error.validator == "enum":
        return "must be one of " + ", ".join(map(str, error.validator_value))
    if error.validator == "type":
        return f"must be of type {error.validator_value}"
    if error.validator == "additionalProperties":
        return "unknown field(s): " + str(error.message).split("(")[-1].rstrip(")")
    if error.validator == "minLength":
        return "must not be empty"
    return f"breaks the {error.validator!r} rule"
