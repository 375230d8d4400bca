"""Listing queries as Adobe's Flow Service takes them: ``property`` filters, ``orderby``,
``limit``, ``count`` and ``continuationToken`` paging.

- ``property=field==value`` with ``==``, ``!=``, ``>``, ``<``, ``>=``, ``<=`` and ``~``
  (contains, case-insensitive); a bare ``property=field`` keeps resources that have the field.
  Fields may be dotted (``auth.params.sourceId``, ``flowSpec.id``) and may mark lists with
  ``[]`` (``transformations[].params.mappingId``); a list field matches when any element does.
  Several conditions, comma-separated or repeated, must all hold; a comma-separated part
  without an operator after ``==``/``!=`` adds an alternative value (``property=id==a,b``).
- ``orderby=createdAt`` sorts ascending, ``orderby=-createdAt`` descending; without it,
  resources come oldest first.
- ``continuationToken`` is opaque to callers: it carries the whole query and the offset, so
  ``_links.next.href`` is just ``/connections?continuationToken=…`` as Adobe answers it.
"""

from __future__ import annotations

import base64
import binascii
import json
import operator
import re
from collections.abc import Sequence
from typing import Any

from attrs import define, field, frozen

from sourceflow.platform.http.problems import problem

DEFAULT_LIMIT = 100

# A field path may mark lists with "[]" (transformations[].params.mappingId), as Adobe writes it.
_CONDITION = re.compile(r"^\s*([A-Za-z_@$][\w.@$\[\]-]*)\s*(==|!=|>=|<=|>|<|~)(.*)$", re.S)
_FIELD = re.compile(r"^\s*([A-Za-z_@$][\w.@$\[\]-]*)\s*$")


@define
class Condition:
    """One ``property`` condition; ``values`` are alternatives for ``==`` and ``!=``."""

    name: str
    op: str
    values: list[str] = field(factory=list)


@frozen
class ListQuery:
    """A parsed listing query."""

    properties: tuple[str, ...] = ()
    orderby: str | None = None
    limit: int = DEFAULT_LIMIT
    start: int = 0
    count: bool = False


def parse(items: Sequence[tuple[str, str]]) -> ListQuery:
    """Read a listing query from the request's query parameters (400 when malformed)."""
    given: dict[str, list[str]] = {}
    for key, value in items:
        given.setdefault(key, []).append(value)
    base = ListQuery()
    if "continuationToken" in given:
        base = _untoken(given["continuationToken"][-1])
    properties = tuple(given["property"]) if "property" in given else base.properties
    conditions(properties)  # refuse a malformed filter now, not on the next page
    orderby = given["orderby"][-1].strip() or None if "orderby" in given else base.orderby
    limit = _limit(given["limit"][-1]) if "limit" in given else base.limit
    count = given["count"][-1].lower() == "true" if "count" in given else base.count
    return ListQuery(properties, orderby, limit, base.start, count)


def _limit(raw: str) -> int:
    return whole(raw, "limit", DEFAULT_LIMIT, least=1)


def whole(
    raw: str | None,
    name: str,
    default: int,
    *,
    least: int,
    most: int | None = None,
    service: str = "FLOW",
) -> int:
    """A whole-number query parameter (``default`` when absent); 400 naming it otherwise."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = least - 1
    if value < least or (most is not None and value > most):
        bounds = f"at least {least}" if most is None else f"from {least} to {most}"
        raise problem(
            400, f"{name}: must be a whole number {bounds} (got {raw!r})", service=service
        )
    return value


def _token(query: ListQuery) -> str:
    payload = {
        "p": list(query.properties),
        "o": query.orderby,
        "l": query.limit,
        "s": query.start,
        "c": query.count,
    }
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def _untoken(token: str) -> ListQuery:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        return ListQuery(
            tuple(str(p) for p in data["p"]),
            data["o"],
            int(data["l"]),
            int(data["s"]),
            bool(data["c"]),
        )
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise problem(
            400,
            "continuationToken: not a token this service issued; "
            "use the href of _links.next as it was answered",
        ) from None


def conditions(properties: Sequence[str]) -> list[Condition]:
    """The conditions of ``property`` parameters."""
    found: list[Condition] = []
    for param in properties:
        for part in param.split(","):
            if not part.strip():
                continue
            m = _CONDITION.match(part)
            if m:
                value = m.group(3).strip().strip("'\"")
                found.append(Condition(m.group(1), m.group(2), [value]))
            elif found and found[-1].op in ("==", "!=") and "=" not in part:
                found[-1].values.append(part.strip().strip("'\""))
            elif _FIELD.match(part):
                found.append(Condition(part.strip(), "exists"))
            else:
                raise problem(
                    400,
                    f"property: cannot read {part!r}; write field==value "
                    "(operators: ==, !=, >, <, >=, <=, ~)",
                )
    return found


def values_at(doc: Any, dotted: str) -> list[Any]:
    """Every value at a dotted path; lists along the way are searched element by element."""
    current = [doc]
    # Lists are searched element by element anyway: "[]" only says where one is.
    for key in dotted.replace("[]", "").split("."):
        following: list[Any] = []
        for item in current:
            for candidate in item if isinstance(item, list) else [item]:
                if isinstance(candidate, dict) and key in candidate:
                    following.append(candidate[key])
        current = following
    flat: list[Any] = []
    for item in current:
        flat.extend(item if isinstance(item, list) else [item])
    return [v for v in flat if v is not None]


def _coerce(raw: str, like: Any) -> Any:
    if isinstance(like, bool):
        return {"true": True, "false": False}.get(raw.lower(), raw)
    if isinstance(like, int | float):
        try:
            return float(raw)
        except ValueError:
            return raw
    return raw


_ORDER = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}


def _holds(actual: Any, op: str, raw: str) -> bool:
    if op == "~":
        return raw.lower() in str(actual).lower()
    expected = _coerce(raw, actual)
    if op in ("==", "!="):
        return bool(actual == expected)
    try:
        return bool(_ORDER[op](actual, expected))
    except TypeError:
        return False


def matches(doc: dict[str, Any], wanted: Sequence[Condition]) -> bool:
    """Whether a document meets every condition."""
    for cond in wanted:
        found = values_at(doc, cond.name)
        if cond.op == "exists":
            ok = bool(found)
        elif cond.op == "!=":
            ok = not any(_holds(v, "==", raw) for v in found for raw in cond.values)
        else:
            ok = any(_holds(v, cond.op, raw) for v in found for raw in cond.values)
        if not ok:
            return False
    return True


def _sort(docs: list[dict[str, Any]], orderby: str | None) -> list[dict[str, Any]]:
    if not orderby:
        return docs
    # A '+' in a URL reads as a space: "orderby=+name" arrives as " name".
    descending = orderby.startswith("-")
    key = orderby.lstrip("+- ")
    present = [(values_at(d, key), d) for d in docs]
    having = [(v[0], d) for v, d in present if v]
    missing = [d for v, d in present if not v]
    having.sort(key=lambda pair: _sortable(pair[0]), reverse=descending)
    return [d for _, d in having] + missing


def _sortable(value: Any) -> tuple[str, Any]:
    # Values of different types never compare: group by type, and objects by their JSON.
    if isinstance(value, dict | list):
        return ("json", json.dumps(value, sort_keys=True))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return ("number", value)
    return (type(value).__name__, value)


def page(docs: list[dict[str, Any]], query: ListQuery, path: str) -> dict[str, Any]:
    """The answer to a listing: ``items``, ``_links`` (with ``next`` when more remain),
    ``count``."""
    selected = [d for d in docs if matches(d, conditions(query.properties))]
    ordered = _sort(selected, query.orderby)
    end = query.start + query.limit
    # Adobe's lists carry ``_links`` on every page, an empty one on the last; clients such as
    # aepp read ``res["_links"]`` unguarded.
    answer: dict[str, Any] = {"items": ordered[query.start : end], "_links": {}}
    if end < len(ordered):
        following = ListQuery(query.properties, query.orderby, query.limit, end, query.count)
        answer["_links"] = {"next": {"href": f"{path}?continuationToken={_token(following)}"}}
    if query.count:
        answer["count"] = len(ordered)
    return answer
