"""What the engine compares: each resource projected onto the fields a source declares.

A projection is the resource's JSON cut down to the fields the engine manages, with values
the platform adds in answers (``inletUrl``, ``inletId``) left out. Secrets never appear in a
projection: the desired side holds a salted hash of each secret value, and the platform's side
(which answers secrets masked) is read as "as last applied". So ``plan`` can say that a secret
changed without ever holding or printing it, and cannot see a secret changed behind its back.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from attrs import frozen

from sourceflow import redact, wire

INLET_KEYS = ("inletUrl", "inletId")
SECRET_PREFIX = "secret:"  # noqa: S105 (marks a hash, holds no secret)


@frozen
class KindRules:
    """Which fields of a Flow Service kind the engine manages, which are fixed at creation
    (a change means a new resource) and where secrets sit."""

    managed: tuple[str, ...]
    fixed: tuple[str, ...]
    secret_holders: tuple[tuple[str, ...], ...]


RULES: dict[str, KindRules] = {
    "base_connection": KindRules(
        ("name", "description", "auth"), ("connectionSpec",), (("auth", "params"),)
    ),
    "source_connection": KindRules(
        ("name", "description", "data", "params"),
        ("connectionSpec", "baseConnectionId", "providerId"),
        (("params",),),
    ),
    "target_connection": KindRules(
        ("name", "description", "data", "params"), ("connectionSpec",), ()
    ),
    "flow": KindRules(
        ("name", "description", "transformations", "options", "scheduleParams"),
        ("flowSpec", "sourceConnectionIds", "targetConnectionIds"),
        (("options",),),
    ),
}


def secret_hash(salt: str, value: Any) -> str:
    """A keyed hash of a secret value: equal values give equal hashes under one salt."""
    text = json.dumps(value, sort_keys=True, default=str)
    return SECRET_PREFIX + hmac.new(salt.encode(), text.encode(), hashlib.sha256).hexdigest()[:20]


def project(
    step: str, resource: Any, *, salt: str, applied: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The managed and fixed fields of ``resource`` (a model or its JSON).

    Secret values become hashes. A masked value (the platform's answer) becomes the hash last
    applied at that place, or ``secret:unknown`` when nothing was applied there.
    """
    rules = RULES[step]
    doc = resource if isinstance(resource, Mapping) else wire.to_json(resource)
    doc = copy.deepcopy(dict(doc))
    out: dict[str, Any] = {}
    for key in rules.managed + rules.fixed:
        value = doc.get(key)
        if key in ("connectionSpec", "flowSpec") and isinstance(value, Mapping):
            value = value.get("id")
        if value in ({}, []):
            value = None
        out[key] = value
    inlet_holders: tuple[tuple[str, ...], ...] = (("auth", "params"), ("options",))
    for holder in inlet_holders:
        container = _walk(out, holder)
        if isinstance(container, dict):
            for key in INLET_KEYS:
                container.pop(key, None)
            if holder == ("options",) and not container:
                out["options"] = None
    for holder in rules.secret_holders:
        container = _walk(out, holder)
        if not isinstance(container, dict):
            continue
        before = _walk(applied or {}, holder)
        for key, value in list(container.items()):
            if not redact.is_secret_key(key) or value is None:
                continue
            if value == redact.MASK:
                known = before.get(key) if isinstance(before, Mapping) else None
                container[key] = known if known else SECRET_PREFIX + "unknown"
            elif not (isinstance(value, str) and value.startswith(SECRET_PREFIX)):
                container[key] = secret_hash(salt, value)
    return out


def without_start(projection: dict[str, Any]) -> dict[str, Any]:
    """``projection`` without ``scheduleParams.startTime``: a schedule declared without a
    start takes the time of creation, which later comparisons must not read as a change."""
    schedule = projection.get("scheduleParams")
    if isinstance(schedule, dict) and "startTime" in schedule:
        projection = {**projection, "scheduleParams": {**schedule}}
        projection["scheduleParams"].pop("startTime")
    return projection


def differences(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Every leaf where ``old`` and ``new`` differ, as ``(path, old, new)``; lists are leaves."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        found: list[tuple[str, Any, Any]] = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            found.extend(differences(old.get(key), new.get(key), sub))
        return found
    return [] if old == new else [(path, old, new)]


def show(value: Any) -> str:
    """A value as a plan prints it; secret hashes read as ``(secret)``."""
    if isinstance(value, str) and value.startswith(SECRET_PREFIX):
        return "(a secret)"
    if value is None:
        return "(none)"
    text = json.dumps(_hide(value), sort_keys=True, default=str)
    return redact.scrub(text if len(text) <= 80 else text[:79] + "…")


def _hide(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(SECRET_PREFIX):
        return "(a secret)"
    if isinstance(value, Mapping):
        return {k: _hide(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hide(v) for v in value]
    return value


def describe(diffs: list[tuple[str, Any, Any]]) -> list[str]:
    """``path: old → new`` lines, secrets hidden."""
    return [f"{p}: {show(a)} → {show(b)}" for p, a, b in diffs]


def patch_ops(desired: Mapping[str, Any], actual: Mapping[str, Any], keys: list[str]) -> list[Any]:
    """JSON Patch operations setting each of ``keys`` to its desired value (the real value,
    secrets included: ``desired`` is the wire JSON, not a projection)."""
    ops: list[dict[str, Any]] = []
    for key in keys:
        value = desired.get(key)
        if value in (None, {}, []):
            if actual.get(key) not in (None, {}, []):
                ops.append({"op": "remove", "path": f"/{key}"})
            continue
        op = "replace" if actual.get(key) is not None else "add"
        ops.append({"op": op, "path": f"/{key}", "value": value})
    return ops


def _walk(doc: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(key)
    return doc
