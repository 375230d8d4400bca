"""The platform's JSON codec (sourceflow.platform.jsonbytes): exact for every JSON value, strict
about what is not JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sourceflow.platform import jsonbytes

VALUES: list[Any] = [
    {"id": "evt-1", "amount": 4200, "ok": True, "none": None, "tags": ["a", "b"]},
    {"big": 123456789012345678901234567890, "neg": -98765432109876543210},
    {"max64": 9223372036854775807, "min64": -9223372036854775808, "just_over": 2**64},
    {"float": 0.1, "tiny": 5e-324, "huge": 1.7976931348623157e308, "exp": 1e22},
    {"unicode": "Grüße, 東京 🚀", "escapes": 'line\nquote"back\\slash\u0000'},
    {"lone_surrogate": "\ud800"},
    [],
    "just a string",
    0,
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_round_trip_is_exact(value: Any) -> None:
    encoded = jsonbytes.dumps(value)
    assert jsonbytes.loads(encoded) == value
    assert json.loads(encoded) == value  # and the bytes are JSON anyone can read
    # what the standard library wrote is read back the same way too
    assert jsonbytes.loads(json.dumps(value).encode()) == value


def test_big_integers_stay_integers() -> None:
    value = jsonbytes.loads(b'{"id": 12345678901234567890123}')
    assert value == {"id": 12345678901234567890123}
    assert isinstance(value["id"], int)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (b'{"a": NaN}', "NaN is not a JSON value"),
        (b'{"a": Infinity}', "Infinity is not a JSON value"),
        (b'{"a": -Infinity}', "-Infinity is not a JSON value"),
        (b'{"a": 1,', "Expecting property name"),
        (b"", "Expecting value"),
    ],
)
def test_what_is_not_json_is_refused(text: bytes, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        jsonbytes.loads(text)


def test_bytes_that_are_not_utf8_are_refused() -> None:
    with pytest.raises(UnicodeDecodeError):
        jsonbytes.loads(b'{"a": "\xff"}')


def test_encoding_is_compact_utf8_in_key_order() -> None:
    assert jsonbytes.dumps({"b": 1, "a": "é"}) == '{"b":1,"a":"é"}'.encode()
