"""JSON in and out of the platform: exact or refused on the way in, fast and exact on the way out.

**Exact or refused.** :func:`loads` gives back a value only when it holds exactly what the text
says; anything that would be stored changed is refused with :class:`NotExact`, naming the
JSON path and what it would have become:

- a number a double cannot hold: beyond its range (``1e400`` would become Infinity), below it
  (``1e-400`` would become 0), or with more digits than it keeps (``0.1000000000000000000001``
  would become 0.1); an integer longer than Python converts (4,300 digits);
- a key that appears twice in one object (a parser keeps one of them silently);
- a string with an unpaired surrogate (``"\\ud800"``): not Unicode, refused downstream;
- nesting deeper than :data:`MAX_DEPTH` (the encoder's limit; the standard library's parser
  would otherwise hit the interpreter's recursion limit);
- ``NaN`` and ``Infinity``, which are not JSON at all (RFC 8259).

**Fast path.** orjson parses, then encodes the value again: when that gives back the very same
bytes, nothing can have been lost (two texts that differ cannot both be the encoding of one
value), and the check costs about a microsecond. Compact senders (JavaScript's
``JSON.stringify``, orjson) take this path. Any other text (spaces, escapes, exponents, big
integers) is parsed by the standard library with hooks that see every number token and every
object's keys, then walked once for depth and for the problems the hooks marked.

Encoding uses orjson, 15 times faster than ``json.dumps``; the few values it refuses (integers
beyond 64 bits, strings with lone surrogates, nesting past its limit) fall back to
``json.dumps`` with ASCII escapes, which writes them exactly.
"""

from __future__ import annotations

import json
import re
import sys
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

MAX_DEPTH = 254
"""Levels of nesting a document may have (orjson's encoder refuses deeper values)."""

_MAX_INT_DIGITS = sys.get_int_max_str_digits() or 4300
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class NotExact(ValueError):
    """Valid JSON that would not be stored exactly; ``path`` says where (``$.a.b[2]``)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value; send a number or null")


class _Mark:
    """Put in a parsed value where the text said something that cannot be kept."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


class _Hooks:
    """The standard library parser's hooks for one document: they mark what is not exact."""

    def __init__(self) -> None:
        self.marked = False

    def float(self, token: str) -> Any:
        value = float(token)
        try:
            exact = Decimal(repr(value)) == Decimal(token)
        except InvalidOperation:  # repr of an overflow is "inf"
            exact = False
        if exact:
            return value
        self.marked = True
        if value in (float("inf"), float("-inf")):
            became = "Infinity, which is not JSON"
            advice = "beyond the range of a double"
        elif value == 0.0:
            became = "0"
            advice = "below the smallest double"
        else:
            became = repr(value)
            advice = "more digits than a double keeps"
        return _Mark(
            f"the number {_short(token)} is {advice} (it would be stored as {became}); "
            "send it as a string to keep it exactly"
        )

    def int(self, token: str) -> Any:
        digits = len(token.lstrip("-"))
        if digits <= _MAX_INT_DIGITS:
            return int(token)
        self.marked = True
        return _Mark(
            f"an integer of {digits:,} digits is beyond the {_MAX_INT_DIGITS:,}-digit limit; "
            "send it as a string"
        )

    def object(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        value = dict(pairs)
        if len(value) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    self.marked = True
                    value[key] = _Mark(
                        f"the key {key!r} appears more than once in one object; "
                        "only one value could be stored"
                    )
                    break
                seen.add(key)
        return value


def _short(token: str) -> str:
    return token if len(token) <= 40 else f"{token[:20]}…{token[-10:]} ({len(token)} characters)"


def loads(data: bytes) -> Any:
    """Parse UTF-8 JSON, exactly or not at all.

    :raises json.JSONDecodeError: not JSON (the message names line and column).
    :raises UnicodeDecodeError: not UTF-8.
    :raises NotExact: JSON that would not be stored as written (its path and why).
    :raises ValueError: ``NaN`` or ``Infinity``.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        pass  # the standard library below gives the verdict and its wording
    else:
        try:
            if orjson.dumps(value) == data:
                return value
        except TypeError:  # orjson.JSONEncodeError: too deep, or an integer beyond 64 bits
            pass
    return _careful(data.decode("utf-8"))


# Every digit becomes "0", then one substring search finds a run of 19: ten times faster than
# the regular expression [0-9]{19}.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def loads_stored(data: bytes) -> Any:
    """Parse JSON that :func:`loads` accepted before (a stored message): no checks repeated.

    orjson reads an integer beyond 64 bits as a float, so a text with a run of 19 digits goes
    to the standard library, which keeps it exact.
    """
    if _LONG_RUN not in data.translate(_DIGITS_TO_ZERO):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def _careful(text: str) -> Any:
    hooks = _Hooks()
    decoder = json.JSONDecoder(
        parse_constant=_no_constant,
        parse_float=hooks.float,
        parse_int=hooks.int,
        object_pairs_hook=hooks.object,
    )
    try:
        value = decoder.decode(text)
    except RecursionError:
        raise NotExact("$", f"nested deeper than {MAX_DEPTH} levels") from None
    _walk(value, strings=_SURROGATE_ESCAPE.search(text) is not None)
    return value


def _walk(root: Any, *, strings: bool) -> None:
    """Raise :class:`NotExact` at the first mark, unpaired surrogate or level too deep."""
    stack: list[tuple[Any, str, int]] = [(root, "$", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, dict):
            if depth > MAX_DEPTH:
                raise NotExact(path, f"nested deeper than {MAX_DEPTH} levels")
            for key, item in reversed(value.items()):
                child = f"{path}.{key}" if _IDENTIFIER.match(key) else f"{path}[{key!r}]"
                if strings and _LONE_SURROGATE.search(key):
                    raise NotExact(child, _SURROGATE)
                stack.append((item, child, depth + 1))
        elif isinstance(value, list):
            if depth > MAX_DEPTH:
                raise NotExact(path, f"nested deeper than {MAX_DEPTH} levels")
            stack.extend(
                (item, f"{path}[{i}]", depth + 1) for i, item in reversed(list(enumerate(value)))
            )
        elif isinstance(value, _Mark):
            raise NotExact(path, value.reason)
        elif strings and isinstance(value, str) and _LONE_SURROGATE.search(value):
            raise NotExact(path, _SURROGATE)


_SURROGATE = (
    "the text holds an unpaired surrogate escape (\\ud800-\\udfff), which is not Unicode; "
    "escape a character outside the basic plane as a surrogate pair"
)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON for ``value`` (keys in their order), exact for every JSON value."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: a big integer, a lone surrogate, deep nesting
        return json.dumps(value, separators=(",", ":")).encode("ascii")


def dumps_kept(value: Any) -> bytes:
    """:func:`dumps` for bytes that are kept (a batch's members until their commit): orjson
    hands back its whole 4 KB write buffer even for a 10-byte text, so a short text is copied
    into bytes of its own size (100,000 members: 5 MB instead of 400 MB)."""
    data = dumps(value)
    return bytes(memoryview(data)) if len(data) < 2048 else data
