"""Catalog's list parameters, as Adobe's "Filter Catalog data using query parameters" page
describes them for ``GET /dataSets``.

- ``limit`` 1 to 100 (20 when absent; anything else is a 400 naming the range), ``start`` a
  zero-based offset;
- ``orderBy=asc:created``, ``desc:updated``, ``created,desc:updated`` (ascending when no
  direction is given);
- ``properties=name,schemaRef``: only those top-level fields of each object;
- ``property=`` conditions: ``name`` (exists), ``!name`` (does not exist), ``name~^Sample``
  (regular expression; one that repeats a repeating or alternating group, such as ``(a+)+``
  or ``(a|aa)*``, is refused), and ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` (``version>1.0.0``
  compares version numbers part by part);
- simple filters named after a field: ``name=a,b`` (any of the values), ``name=!a,b`` (none
  of them); in ``name`` a ``*`` is a wildcard and ``**`` a literal asterisk;
- ``tags=name:value,other:*`` (every tag must match; a value ending in ``*`` is a prefix);
- ``createdAfter``/``createdBefore``/``updatedAfter``/``updatedBefore``: epoch milliseconds.

Several parameters must all hold.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sourceflow.platform.http.problems import problem
from sourceflow.platform.http.query import whole

SERVICE = "CATALOG"
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_PATTERN = 256  # a regular expression a caller sends is run on every object: keep it short

# Parameters with a meaning of their own; any other one named after a field is a simple filter.
RESERVED = frozenset(
    {
        "limit",
        "start",
        "orderBy",
        "properties",
        "property",
        "tags",
        "createdAfter",
        "createdBefore",
        "updatedAfter",
        "updatedBefore",
    }
)
_RANGES: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "createdAfter": ("created", operator.gt),
    "createdBefore": ("created", operator.lt),
    "updatedAfter": ("updated", operator.gt),
    "updatedBefore": ("updated", operator.lt),
}
_CONDITION = re.compile(r"^\s*([A-Za-z_@$][\w.@$-]*)\s*(==|!=|>=|<=|>|<|~)(.*)$", re.S)
_FIELD = re.compile(r"^\s*(!?)\s*([A-Za-z_@$][\w.@$-]*)\s*$")
_ORDER = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}
_VERSION = re.compile(r"^\d+(\.\d+)*$")
# A quantified group holding a quantifier or alternatives ("(a+)+", "(a|aa)*"): the shapes of
# patterns that backtrack exponentially. Python's re has no timeout, so they are refused.
_NESTED = re.compile(r"\((?:[^()\\]|\\.)*[+*}|](?:[^()\\]|\\.)*\)[+*{]")


def _bad(detail: str) -> Exception:
    return problem(400, detail, service=SERVICE)


def _field(doc: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    current: Any = doc
    for key in dotted.split("."):
        if not isinstance(current, dict) or key not in current:
            return False, None
        current = current[key]
    return True, current


def _comparable(value: Any, raw: str) -> tuple[Any, Any] | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return value, float(raw)
        except ValueError:
            return None
    text = str(value)
    if _VERSION.match(text) and _VERSION.match(raw):
        return tuple(int(p) for p in text.split(".")), tuple(int(p) for p in raw.split("."))
    return text, raw


def _condition(param: str) -> Callable[[dict[str, Any]], bool]:
    m = _CONDITION.match(param)
    if m:
        name, op, raw = m.group(1), m.group(2), m.group(3).strip()
        if op == "~":
            if len(raw) > MAX_PATTERN:
                raise _bad(f"property: the expression after ~ is over {MAX_PATTERN} characters")
            if _NESTED.search(raw):
                raise _bad(
                    f"property: {raw!r} repeats a group that itself repeats or alternates "
                    "(such as (a+)+ or (a|aa)*), which can take exponential time; write it "
                    "without the nesting"
                )
            try:
                pattern = re.compile(raw)
            except re.error as exc:
                raise _bad(f"property: {raw!r} is not a regular expression ({exc})") from None

            def regex(doc: dict[str, Any]) -> bool:
                found, value = _field(doc, name)
                return found and isinstance(value, str) and pattern.search(value) is not None

            return regex
        if op in ("==", "!="):

            def equal(doc: dict[str, Any]) -> bool:
                found, value = _field(doc, name)
                same = found and _comparable(value, raw) is not None and _same(value, raw)
                return same if op == "==" else not same

            return equal
        compare = _ORDER[op]

        def ordered(doc: dict[str, Any]) -> bool:
            found, value = _field(doc, name)
            pair = _comparable(value, raw) if found else None
            try:
                return pair is not None and bool(compare(pair[0], pair[1]))
            except TypeError:
                return False

        return ordered
    m = _FIELD.match(param)
    if m:
        negate, name = m.group(1) == "!", m.group(2)
        return lambda doc: _field(doc, name)[0] != negate
    raise _bad(
        f"property: cannot read {param!r}; write a field name, !name, or name followed by "
        "==, !=, <, <=, >, >= or ~ and a value"
    )


def _same(value: Any, raw: str) -> bool:
    pair = _comparable(value, raw)
    return pair is not None and pair[0] == pair[1]


def _wildcard(text: str) -> re.Pattern[str]:
    # '**' is a literal asterisk, a single '*' any run of characters (even none).
    parts = text.split("**")
    return re.compile(
        "^" + r"\*".join(".*".join(re.escape(p) for p in part.split("*")) for part in parts) + "$",
        re.S,
    )


def _simple(name: str, raw: str) -> Callable[[dict[str, Any]], bool]:
    negate = raw.startswith("!")
    wanted = [v for v in (raw[1:] if negate else raw).split(",") if v != ""]
    patterns = [_wildcard(v) for v in wanted] if name == "name" else None

    def test(doc: dict[str, Any]) -> bool:
        found, value = _field(doc, name)
        if not found:
            hit = False
        elif patterns is not None:
            hit = any(p.match(str(value)) for p in patterns)
        else:
            hit = any(_same(value, v) for v in wanted)
        return hit != negate

    return test


def _tags(raw: str) -> Callable[[dict[str, Any]], bool]:
    wanted: list[tuple[str, str]] = []
    for part in raw.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition(":")
        if not sep or not name:
            raise _bad(f"tags: write name:value or name:* (got {part!r})")
        wanted.append((name, value))

    def test(doc: dict[str, Any]) -> bool:
        tags = doc.get("tags") if isinstance(doc.get("tags"), dict) else {}
        for name, value in wanted:
            values = tags.get(name) if isinstance(tags, dict) else None
            if not isinstance(values, list):
                return False
            if value.endswith("*"):
                if not any(str(v).startswith(value[:-1]) for v in values):
                    return False
            elif value not in [str(v) for v in values]:
                return False
        return True

    return test


def _range(param: str, raw: str) -> Callable[[dict[str, Any]], bool]:
    key, compare = _RANGES[param]
    bound = whole(raw, param, 0, least=0, service=SERVICE)

    def test(doc: dict[str, Any]) -> bool:
        value = doc.get(key)
        return isinstance(value, int) and compare(value, bound)

    return test


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (1, str(value))
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value))


def _sort(docs: list[dict[str, Any]], order_by: str) -> list[dict[str, Any]]:
    keys: list[tuple[str, bool]] = []
    for part in order_by.split(","):
        part = part.strip()
        if not part:
            continue
        direction, sep, name = part.partition(":")
        if not sep:
            direction, name = "asc", part
        if direction not in ("asc", "desc") or not name:
            raise _bad(f"orderBy: write asc:field or desc:field (got {part!r})")
        keys.append((name, direction == "desc"))
    # Sort by the last key first: Python's sort is stable, so earlier keys win.
    for name, descending in reversed(keys):
        having = [d for d in docs if _field(d, name)[0]]
        missing = [d for d in docs if not _field(d, name)[0]]
        having.sort(key=lambda d: _sort_key(_field(d, name)[1]), reverse=descending)
        docs = having + missing
    return docs


def select(
    docs: Iterable[dict[str, Any]], items: Sequence[tuple[str, str]], fields: frozenset[str]
) -> dict[str, dict[str, Any]]:
    """The answer to ``GET /dataSets``: ``{id: object}`` for the objects the query keeps.

    :param items: the query parameters, in order.
    :param fields: the top-level field names a simple filter may name.
    """
    given: dict[str, list[str]] = {}
    for key, value in items:
        given.setdefault(key, []).append(value)
    limit = whole(
        _last(given, "limit"), "limit", DEFAULT_LIMIT, least=1, most=MAX_LIMIT, service=SERVICE
    )
    start = whole(_last(given, "start"), "start", 0, least=0, service=SERVICE)
    tests: list[Callable[[dict[str, Any]], bool]] = []
    for raw in given.get("property", []):
        tests.append(_condition(raw))
    for raw in given.get("tags", []):
        tests.append(_tags(raw))
    for param in _RANGES:
        for raw in given.get(param, []):
            tests.append(_range(param, raw))
    for key, values in given.items():
        if key not in RESERVED and key in fields:
            tests.extend(_simple(key, raw) for raw in values)
    kept = [d for d in docs if all(t(d) for t in tests)]
    order_by = _last(given, "orderBy")
    if order_by:
        kept = _sort(kept, order_by)
    wanted = _last(given, "properties")
    shown = [_only(d, wanted) for d in kept[start : start + limit]]
    return {str(d["id"]): s for d, s in zip(kept[start : start + limit], shown, strict=True)}


def _only(doc: dict[str, Any], properties: str | None) -> dict[str, Any]:
    if not properties:
        return doc
    names = [p.strip() for p in properties.split(",") if p.strip()]
    return {k: doc[k] for k in names if k in doc}


def shown(doc: dict[str, Any], properties: str | None) -> dict[str, Any]:
    """One object as ``GET /dataSets/{id}?properties=…`` answers it."""
    return _only(doc, properties)


def _last(given: dict[str, list[str]], key: str) -> str | None:
    values = given.get(key)
    return values[-1] if values else None
