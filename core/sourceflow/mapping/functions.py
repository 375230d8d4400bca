"""The Data Prep functions a mapping expression may call, and the operators' semantics.

Each function takes already-evaluated arguments (``iif`` is compiled specially, so only the
chosen branch is evaluated) and raises :class:`~sourceflow.mapping.errors.EvalError` when a value
does not fit. ``null`` in, ``null`` out, unless the table below says otherwise: a missing source
field evaluates to ``null`` too.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from attrs import frozen

from sourceflow.mapping.errors import EvalError


@frozen
class Function:
    """One callable name: arity bounds (``max_args`` None = any), implementation, purity.

    A pure function called with only literal arguments is evaluated at compile time, so a
    mistake like ``to_integer("abc")`` is refused before any record arrives.
    """

    name: str
    min_args: int
    max_args: int | None
    impl: Callable[..., Any]
    pure: bool = True
    signature: str = ""


def show(value: Any) -> str:
    """A value as the error messages quote it: JSON-like, and cut short."""
    if value is None:
        text = "null"
    elif value is True or value is False:
        text = "true" if value else "false"
    elif isinstance(value, dict):
        text = "an object"
    elif isinstance(value, list):
        text = "an array"
    else:
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def kind(value: Any) -> str:
    """The JSON type name of a value."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def text(name: str, value: Any) -> str:
    """A scalar as a string, as Data Prep's string functions take it (numbers and booleans too)."""
    if isinstance(value, str):
        return value
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    raise EvalError(f"{name}({show(value)})", f"expects a string, got {kind(value)}")


def truth(value: Any) -> bool:
    """A value as a condition, the way JEXL (Data Prep's expression language) reads it."""
    if value is None:
        return False
    if value is True or value is False:
        return value
    if isinstance(value, str):
        return value != "" and value != "false"
    if isinstance(value, int | float):
        return value != 0
    return len(value) > 0


# --- comparisons ------------------------------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and value is not True and value is not False


def op_eq(a: Any, b: Any) -> bool:
    """``==``: numbers compare by value, anything else must have the same JSON type."""
    if _number(a) and _number(b):
        return bool(a == b)
    return kind(a) == kind(b) and bool(a == b)


def op_ne(a: Any, b: Any) -> bool:
    """``!=``: the negation of ``==``."""
    return not op_eq(a, b)


def _comparable(symbol: str, a: Any, b: Any) -> bool:
    # null is not ordered against anything: the comparison is false, as in JEXL.
    if a is None or b is None:
        return False
    if (_number(a) and _number(b)) or (isinstance(a, str) and isinstance(b, str)):
        return True
    raise EvalError(f"{show(a)} {symbol} {show(b)}", f"cannot compare {kind(a)} with {kind(b)}")


def op_lt(a: Any, b: Any) -> bool:
    """``<`` between two numbers or two strings; false when either side is null."""
    return _comparable("<", a, b) and bool(a < b)


def op_le(a: Any, b: Any) -> bool:
    """``<=`` between two numbers or two strings; false when either side is null."""
    return _comparable("<=", a, b) and bool(a <= b)


def op_gt(a: Any, b: Any) -> bool:
    """``>`` between two numbers or two strings; false when either side is null."""
    return _comparable(">", a, b) and bool(a > b)


def op_ge(a: Any, b: Any) -> bool:
    """``>=`` between two numbers or two strings; false when either side is null."""
    return _comparable(">=", a, b) and bool(a >= b)


COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": op_eq,
    "!=": op_ne,
    "<": op_lt,
    "<=": op_le,
    ">": op_gt,
    ">=": op_ge,
}


# --- string functions -------------------------------------------------------------------------


def _lower(value: Any) -> Any:
    return None if value is None else text("lower", value).lower()


def _upper(value: Any) -> Any:
    return None if value is None else text("upper", value).upper()


def _trim(value: Any) -> Any:
    return None if value is None else text("trim", value).strip()


def _ltrim(value: Any) -> Any:
    return None if value is None else text("ltrim", value).lstrip()


def _rtrim(value: Any) -> Any:
    return None if value is None else text("rtrim", value).rstrip()


def _concat(*values: Any) -> Any:
    # Nulls are left out, so concat(first, " ", last) still gives "Ada " without a last name;
    # only when every part is null is the result null (and the destination left out).
    parts = [text("concat", v) for v in values if v is not None]
    return "".join(parts) if parts else None


def _count(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise EvalError(f"{name}(..., {show(value)})", f"expects a whole number, got {kind(value)}")


def _substr(value: Any, start: Any, length: Any) -> Any:
    if value is None:
        return None
    s, a, n = text("substr", value), _count("substr", start), _count("substr", length)
    if a < 0 or n < 0:
        raise EvalError(f"substr({show(value)}, {a}, {n})", "start and length must be >= 0")
    return s[a : a + n]


def _left(value: Any, count: Any) -> Any:
    if value is None:
        return None
    n = _count("left", count)
    return text("left", value)[: max(n, 0)]


def _right(value: Any, count: Any) -> Any:
    if value is None:
        return None
    n = _count("right", count)
    s = text("right", value)
    return s[max(len(s) - n, 0) :] if n > 0 else ""


def _replacestr(value: Any, find: Any, replace: Any) -> Any:
    if value is None:
        return None
    if find is None or find == "":
        return text("replacestr", value)
    return text("replacestr", value).replace(
        text("replacestr", find), "" if replace is None else text("replacestr", replace)
    )


def _split(value: Any, separators: Any) -> Any:
    # As Data Prep documents it: every character of the separator splits, and runs of
    # separators do not make empty parts.
    if value is None:
        return None
    s = text("split", value)
    seps = text("split", separators) if separators is not None else " "
    if not seps:
        return [s] if s else []
    parts: list[str] = []
    current: list[str] = []
    for ch in s:
        if ch in seps:
            if current:
                parts.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        parts.append("".join(current))
    return parts


def _equals(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return a is None and b is None
    return text("equals", a) == text("equals", b)


def _equals_ignore_case(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return a is None and b is None
    return text("equalsIgnoreCase", a).casefold() == text("equalsIgnoreCase", b).casefold()


# --- arrays, logic ----------------------------------------------------------------------------


def _iif(condition: Any, if_true: Any, if_false: Any) -> Any:
    return if_true if truth(condition) else if_false


def _coalesce(*values: Any) -> Any:
    for v in values:
        if v is not None:
            return v
    return None


def _size_of(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str | list | dict):
        return len(value)
    raise EvalError(
        f"size_of({show(value)})", f"expects a string, array or object, got {kind(value)}"
    )


def _decode(key: Any, *options: Any) -> Any:
    pairs = len(options) // 2
    for i in range(pairs):
        if op_eq(key, options[2 * i]):
            return options[2 * i + 1]
    return options[-1] if len(options) % 2 else None


# --- type conversions -------------------------------------------------------------------------


def _whole(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        raise EvalError(f"{name}({show(value)})", "not a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise EvalError(f"{name}({show(value)})", "not a whole number")
    if isinstance(value, str):
        s = value.strip()
        digits = s[1:] if s[:1] in "+-" else s
        if digits.isascii() and digits.isdigit():
            return int(s)
        raise EvalError(f"{name}({show(value)})", "not a whole number")
    raise EvalError(f"{name}({show(value)})", f"expects a string or number, got {kind(value)}")


def _to_integer(value: Any) -> Any:
    return _whole("to_integer", value)


def _to_bigint(value: Any) -> Any:
    return _whole("to_bigint", value)


def _decimal(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise EvalError(f"{name}({show(value)})", f"expects a string or number, got {kind(value)}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise EvalError(f"{name}({show(value)})", "not a number") from None
    if not math.isfinite(number):
        raise EvalError(f"{name}({show(value)})", "not a finite number")
    return number


def _to_decimal(value: Any) -> Any:
    return _decimal("to_decimal", value)


def _to_float(value: Any) -> Any:
    return _decimal("to_float", value)


# --- dates, ids, hashes -----------------------------------------------------------------------


def _now() -> Any:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _timestamp() -> Any:
    return int(datetime.now(UTC).timestamp() * 1000)


def _uuid() -> Any:
    return str(uuid.uuid4())


_CHARSETS = {"UTF-8": "utf-8", "US-ASCII": "ascii", "ISO-8859-1": "latin-1", "UTF-16": "utf-16"}


def _hasher(name: str, algorithm: str) -> Callable[..., Any]:
    def digest(value: Any, charset: Any = "UTF-8") -> Any:
        if value is None:
            return None
        s = text(name, value)
        codec = _CHARSETS.get(str(charset).upper()) if charset is not None else "utf-8"
        if codec is None:
            known = ", ".join(_CHARSETS)
            raise EvalError(f"{name}(..., {show(charset)})", f"unknown charset (known: {known})")
        if codec == "utf-16":
            # Java's UTF-16 writes a big-endian byte order mark; Python's follows the machine.
            data = b"\xfe\xff" + s.encode("utf-16-be")
        else:
            try:
                data = s.encode(codec)
            except UnicodeEncodeError:
                raise EvalError(f"{name}({show(value)})", f"not encodable as {charset}") from None
        return hashlib.new(algorithm, data, usedforsecurity=False).hexdigest()

    return digest


def _fn(
    name: str, impl: Callable[..., Any], lo: int, hi: int | None, sig: str, pure: bool = True
) -> Function:
    return Function(name=name, min_args=lo, max_args=hi, impl=impl, pure=pure, signature=sig)


# Names as Data Prep spells them; aliases share an implementation.
FUNCTIONS: dict[str, Function] = {
    f.name: f
    for f in [
        _fn("concat", _concat, 1, None, "concat(STRING, ...)"),
        _fn("lower", _lower, 1, 1, "lower(STRING)"),
        _fn("lcase", _lower, 1, 1, "lcase(STRING)"),
        _fn("upper", _upper, 1, 1, "upper(STRING)"),
        _fn("ucase", _upper, 1, 1, "ucase(STRING)"),
        _fn("trim", _trim, 1, 1, "trim(STRING)"),
        _fn("ltrim", _ltrim, 1, 1, "ltrim(STRING)"),
        _fn("rtrim", _rtrim, 1, 1, "rtrim(STRING)"),
        _fn("substr", _substr, 3, 3, "substr(STRING, START, LENGTH)"),
        _fn("left", _left, 2, 2, "left(STRING, COUNT)"),
        _fn("right", _right, 2, 2, "right(STRING, COUNT)"),
        _fn("replacestr", _replacestr, 3, 3, "replacestr(STRING, FIND, REPLACE)"),
        _fn("split", _split, 2, 2, "split(STRING, SEPARATORS)"),
        _fn("equals", _equals, 2, 2, "equals(A, B)"),
        _fn("equalsIgnoreCase", _equals_ignore_case, 2, 2, "equalsIgnoreCase(A, B)"),
        _fn("iif", _iif, 3, 3, "iif(CONDITION, IF_TRUE, IF_FALSE)"),  # compiled lazily
        _fn("coalesce", _coalesce, 1, None, "coalesce(VALUE, ...)"),
        _fn("decode", _decode, 2, None, "decode(KEY, K1, V1, ..., [DEFAULT])"),
        _fn("size_of", _size_of, 1, 1, "size_of(VALUE)"),
        _fn("to_integer", _to_integer, 1, 1, "to_integer(VALUE)"),
        _fn("to_bigint", _to_bigint, 1, 1, "to_bigint(VALUE)"),
        _fn("to_decimal", _to_decimal, 1, 1, "to_decimal(VALUE)"),
        _fn("to_float", _to_float, 1, 1, "to_float(VALUE)"),
        _fn("now", _now, 0, 0, "now()", pure=False),
        _fn("timestamp", _timestamp, 0, 0, "timestamp()", pure=False),
        _fn("uuid", _uuid, 0, 0, "uuid()", pure=False),
        _fn("guid", _uuid, 0, 0, "guid()", pure=False),
        _fn("md5", _hasher("md5", "md5"), 1, 2, "md5(STRING, [CHARSET])"),
        _fn("sha1", _hasher("sha1", "sha1"), 1, 2, "sha1(STRING, [CHARSET])"),
        _fn("sha256", _hasher("sha256", "sha256"), 1, 2, "sha256(STRING, [CHARSET])"),
        _fn("sha512", _hasher("sha512", "sha512"), 1, 2, "sha512(STRING, [CHARSET])"),
    ]
}
