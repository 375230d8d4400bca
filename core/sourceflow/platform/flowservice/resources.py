"""What every Flow Service resource shares: platform-set fields, etags, PATCH, masking.

A stored resource is the model's JSON (:func:`sourceflow.wire.to_json`) with the fields the
platform sets (``id``, ``createdAt`` … ``etag``), secrets in full. Answers mask secret-named
values; a PATCH that sends a masked value back keeps the stored secret.
"""

from __future__ import annotations

import copy
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import evolve, frozen

from sourceflow import model, redact, wire
from sourceflow.errors import InvalidBody
from sourceflow.platform.http.auth import Principal
from sourceflow.platform.http.problems import findings, problem
from sourceflow.platform.ingress.directory import INLET_KEYS
from sourceflow.platform.store.sqlite import Scope

M = TypeVar("M", bound=model.Meta)
T = TypeVar("T")

READ_ONLY = (
    "id",
    "createdAt",
    "updatedAt",
    "createdBy",
    "updatedBy",
    "createdClient",
    "updatedClient",
    "sandboxId",
    "sandboxName",
    "imsOrgId",
    "state",
    "version",
    "etag",
)


@frozen
class Kind:
    """A Flow Service collection: its path, model, the fields fixed at creation and where
    secrets may sit."""

    name: str
    model: type[model.Meta]
    label: str
    fixed: tuple[str, ...]
    secret_holders: tuple[tuple[str, ...], ...]


CONNECTIONS = Kind(
    "connections", model.Connection, "base connection", ("connectionSpec",), (("auth", "params"),)
)
SOURCE_CONNECTIONS = Kind(
    "sourceConnections",
    model.SourceConnection,
    "source connection",
    ("connectionSpec", "baseConnectionId", "providerId"),
    (("params",),),
)
TARGET_CONNECTIONS = Kind(
    "targetConnections", model.TargetConnection, "target connection", ("connectionSpec",), ()
)
FLOWS = Kind(
    "flows",
    model.Flow,
    "flow",
    ("flowSpec", "sourceConnectionIds", "targetConnectionIds"),
    (("options",), ("transformations",)),
)
KINDS = (CONNECTIONS, SOURCE_CONNECTIONS, TARGET_CONNECTIONS, FLOWS)


def now_ms() -> int:
    """Epoch milliseconds, as Adobe stamps resources."""
    return int(time.time() * 1000)


def new_etag() -> str:
    """A fresh etag shaped like Adobe's: ``"a500e689-0000-0200-0000-5e31df730000"``."""
    return f'"{secrets.token_hex(4)}-0000-0200-0000-{int(time.time()):08x}0000"'


def sandbox_id(scope: Scope) -> str:
    """A stable id for a sandbox (Adobe's are UUIDs)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sourceflow:{scope.org}/{scope.sandbox}"))


def parse(body: Any, cls: type[T], service: str = "FLOW") -> T:
    """A model from a request body; 400 listing every problem when it does not fit."""
    if not isinstance(body, dict):
        shown = "an array" if isinstance(body, list) else json.dumps(body)[:40]
        raise problem(400, f"the body must be a JSON object (got {shown})", service=service)
    try:
        return wire.from_json(body, cls)
    except InvalidBody as exc:
        raise findings(400, exc.problems, lead=f"invalid {exc.what}: ", service=service) from None


def stamp(obj: M, who: Principal, *, id: str, created: Mapping[str, Any] | None) -> M:
    """``obj`` with the platform's fields set: kept from ``created`` on an update."""
    now = now_ms()
    etag = new_etag()
    return evolve(
        obj,
        id=id,
        created_at=created["createdAt"] if created else now,
        created_by=created["createdBy"] if created else who.client_id,
        created_client=created["createdClient"] if created else who.client_id,
        updated_at=now,
        updated_by=who.client_id,
        updated_client=who.client_id,
        sandbox_id=sandbox_id(who.scope),
        sandbox_name=who.sandbox,
        ims_org_id=who.org_id,
        state="enabled",
        version=etag,
        etag=etag,
    )


def document(obj: model.Meta) -> dict[str, Any]:
    """The stored JSON of a resource, platform fields first."""
    doc: dict[str, Any] = wire.to_json(obj)
    first = {k: doc[k] for k in ("id",) if k in doc}
    return {**first, **doc}


def masked(doc: dict[str, Any], kind: Kind) -> dict[str, Any]:
    """A copy fit to answer: values under secret-named keys are masked."""
    shown = copy.deepcopy(doc)
    for holder in kind.secret_holders:
        parent = _walk(shown, holder[:-1])
        if isinstance(parent, dict) and holder[-1] in parent:
            parent[holder[-1]] = redact.redact(parent[holder[-1]])
    return shown


def _walk(doc: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


# --- PATCH ------------------------------------------------------------------------------------


def patched(stored: dict[str, Any], body: Any, kind: Kind) -> dict[str, Any]:
    """``stored`` with a JSON-Patch list applied (``add``/``replace``/``remove``).

    Platform-set and creation-fixed fields refuse changes; masked secrets sent back keep the
    stored value; ``inletUrl``/``inletId`` sent back are dropped (the platform sets them).
    """
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list) or not body:
        raise problem(
            400,
            'the body must be a list of operations: [{"op": "replace", "path": "/name", '
            '"value": "..."}]',
        )
    doc = copy.deepcopy(stored)
    for i, op in enumerate(body):
        doc = _apply(doc, op, i)
    for key in READ_ONLY + kind.fixed:
        if doc.get(key) != stored.get(key):
            reason = (
                "is set by the platform"
                if key in READ_ONLY
                else f"is fixed when the {kind.label} is created; create a new one instead"
            )
            raise problem(400, f"/{key}: cannot be changed: it {reason}")
    _keep_secrets(doc, stored, kind)
    return without_inlet(doc)


def without_inlet(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` without ``inletUrl``/``inletId``: the platform answers them, never stores them."""
    for holder in (("auth", "params"), ("options",)):
        container = _walk(doc, holder)
        if isinstance(container, dict):
            for key in INLET_KEYS:
                container.pop(key, None)
    return doc


def _keep_secrets(doc: dict[str, Any], stored: dict[str, Any], kind: Kind) -> None:
    for holder in kind.secret_holders:
        new, old = _walk(doc, holder), _walk(stored, holder)
        if isinstance(new, dict) and isinstance(old, dict):
            for key, value in new.items():
                if value == redact.MASK and redact.is_secret_key(key) and key in old:
                    new[key] = old[key]


def _pointer(path: Any, index: int) -> list[str]:
    if not isinstance(path, str) or not path.startswith("/"):
        raise problem(400, f"[{index}].path: must be a JSON pointer such as /name (got {path!r})")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _apply(doc: dict[str, Any], op: Any, index: int) -> dict[str, Any]:
    if not isinstance(op, dict):
        raise problem(400, f"[{index}]: must be an object with op, path and value")
    name = str(op.get("op", "")).lower()
    if name not in ("add", "replace", "remove"):
        raise problem(400, f"[{index}].op: must be add, replace or remove (got {op.get('op')!r})")
    parts = _pointer(op.get("path"), index)
    if name != "remove" and "value" not in op:
        raise problem(400, f"[{index}].value: is required for {name}")
    parent: Any = doc
    for depth, key in enumerate(parts[:-1]):
        if isinstance(parent, list) and key.isdigit() and int(key) < len(parent):
            parent = parent[int(key)]
        elif isinstance(parent, dict) and key in parent and parent[key] is not None:
            parent = parent[key]
        elif isinstance(parent, dict) and name != "remove":
            # Adobe's examples replace /scheduleParams/interval on flows that may have none.
            parent[key] = {}
            parent = parent[key]
        else:
            where = "/" + "/".join(parts[: depth + 1])
            raise problem(400, f"[{index}].path: {where} does not exist")
    last = parts[-1]
    if isinstance(parent, list):
        return _apply_list(doc, parent, name, last, op.get("value"), index, op["path"])
    if not isinstance(parent, dict):
        raise problem(400, f"[{index}].path: {op['path']} is not inside an object")
    if name == "remove":
        if last not in parent:
            raise problem(400, f"[{index}].path: {op['path']} does not exist")
        del parent[last]
    else:
        # 'replace' of a missing key sets it: Adobe's examples replace /description on
        # resources created without one.
        parent[last] = op["value"]
    return doc


def _apply_list(
    doc: dict[str, Any], parent: list[Any], name: str, last: str, value: Any, index: int, path: str
) -> dict[str, Any]:
    if last == "-" and name == "add":
        parent.append(value)
        return doc
    if (
        not last.isdigit()
        or int(last) > len(parent)
        or (name != "add" and int(last) >= len(parent))
    ):
        raise problem(400, f"[{index}].path: {path} is not an index of the list")
    position = int(last)
    if name == "add":
        parent.insert(position, value)
    elif name == "replace":
        parent[position] = value
    else:
        del parent[position]
    return doc


def check_if_match(headers: Mapping[str, str], stored: Mapping[str, Any], kind: Kind) -> None:
    """An update must name the etag it read: 400 without ``If-Match``, 412 when stale."""
    given = headers.get("if-match")
    if not given:
        raise problem(
            400,
            f"the If-Match header is required: send the {kind.label}'s etag "
            f"(GET /{kind.name}/{stored['id']} answers it)",
        )
    if given.strip() != "*" and _bare(given) != _bare(str(stored.get("etag", ""))):
        raise problem(
            412,
            f"the {kind.label} changed since etag {given.strip()} was read (it is now "
            f"{stored.get('etag')}); GET it again and re-apply your change",
        )


def _bare(etag: str) -> str:
    return etag.strip().removeprefix("W/").strip('"')
