"""JSON in and out of the platform's hot paths: strict parsing, fast and exact encoding.

Parsing refuses ``NaN`` and ``Infinity``: they are not JSON (RFC 8259), and a message that
carries them could not be re-encoded as the sender meant it. It uses orjson, four times faster
than ``json.loads`` on a typical message, except where orjson would not give the exact value: it
turns an integer beyond 64 bits into a float, so a text with a run of 19 digits or more is
parsed by the standard library, which keeps integers of any size exactly. Where orjson refuses a
text, the standard library decides (and words the error).

Encoding uses orjson, 15 times faster than ``json.dumps``; the few values it refuses (integers
beyond 64 bits, strings with lone surrogates) fall back to ``json.dumps`` with ASCII escapes,
which writes them exactly.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value; send a number or null")


_decoder = json.JSONDecoder(parse_constant=_no_constant)


# Every digit becomes "0", then one substring search finds a run of 19: ten times faster than
# the regular expression [0-9]{19}, which cost more than the parse it guarded.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def loads(data: bytes) -> Any:
    """Parse UTF-8 JSON; :class:`json.JSONDecodeError`, :class:`UnicodeDecodeError` or
    :class:`ValueError` (``NaN``, ``Infinity``) when it is not JSON."""
    if _LONG_RUN not in data.translate(_DIGITS_TO_ZERO):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # the standard library below gives the verdict and its wording
    return _decoder.decode(data.decode("utf-8"))


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON for ``value`` (keys in their order), exact for every JSON value."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: a big integer or a lone surrogate
        return json.dumps(value, separators=(",", ":")).encode("ascii")
