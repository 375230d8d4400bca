"""The platform's JSON codec (sourceflow.platform.http.jsonbytes): exact for every JSON value,
strict about what is not JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sourceflow.platform.http import jsonbytes

VALUES: list[Any] = [
    {"id": "evt-1", "amount": 4200, "ok": True, "none": None, "tags": ["a", "b"]},
    {"big": 123456789012345678901234567890, "neg": -98765432109876543210},
    {"max64": 9223372036854775807, "min64": -9223372036854775808, "just_over": 2**64},
    {"float": 0.1, "tiny": 5e-324, "huge": 1.7976931348623157e308, "exp": 1e22},
    {"unicode": "Grüße, 東京 🚀", "escapes": 'line\nquote"back\\slash\u0000'},
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


def test_a_lone_surrogate_is_written_exactly_but_refused_on_the_way_in() -> None:
    encoded = jsonbytes.dumps({"s": "\ud800"})
    assert json.loads(encoded) == {"s": "\ud800"}
    with pytest.raises(jsonbytes.NotExact, match=r"^\$\.s: .*unpaired surrogate"):
        jsonbytes.loads(encoded)
    # a pair is one character, and fine
    assert jsonbytes.loads(b'{"s": "\\ud83d\\ude80"}') == {"s": "\U0001f680"}


# Any JSON value: text without surrogates, integers of any size Python converts, finite floats.
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**60), max_value=10**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"]))
)
json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=["Cs"]), max_size=8), inner, max_size=4
        )
    ),
    max_leaves=30,
)


@given(json_values, st.sampled_from([None, 2]), st.booleans())
def test_every_json_value_reads_back_exactly_however_it_is_written(
    value: Any, indent: int | None, ascii_only: bool
) -> None:
    for text in (
        jsonbytes.dumps(value),
        json.dumps(value, indent=indent, ensure_ascii=ascii_only).encode(),
    ):
        got = jsonbytes.loads(text)
        assert got == value
        assert jsonbytes.dumps(got) == jsonbytes.dumps(value)


@given(
    st.from_regex(r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,30})?([eE][+-]?[0-9]{1,4})?", fullmatch=True)
)
def test_a_number_reads_back_as_written_or_is_refused_by_path(token: str) -> None:
    from decimal import Decimal

    text = f'{{"n": {token}}}'.encode()
    is_int = not any(c in token for c in ".eE")
    if is_int or Decimal(repr(float(token))) == Decimal(token):
        got = jsonbytes.loads(text)["n"]
        assert Decimal(str(got) if is_int else repr(got)) == Decimal(token)
        assert isinstance(got, int) == is_int
    else:
        with pytest.raises(jsonbytes.NotExact) as refused:
            jsonbytes.loads(text)
        assert refused.value.path == "$.n"
        assert token[:20] in refused.value.reason


@pytest.mark.parametrize(
    ("text", "path", "says"),
    [
        (b'{"a": {"b": [1, 1e400]}}', "$.a.b[1]", "beyond the range of a double"),
        (b'{"a": -1e400}', "$.a", "beyond the range"),
        (b'{"a": 1e-400}', "$.a", "below the smallest double"),
        (b'{"a": 0.1000000000000000000001}', "$.a", "would be stored as 0.1"),
        (b'{"a": 1, "b": {"c": 1, "c": 2}}', "$.b.c", "appears more than once"),
        (b'{"we ird": {"x": 1, "x": 1}}', "$['we ird'].x", "appears more than once"),
        (b"[" + b"9" * 5000 + b"]", "$[0]", "5,000 digits"),
    ],
)
def test_what_would_change_is_refused_naming_its_path(text: bytes, path: str, says: str) -> None:
    with pytest.raises(jsonbytes.NotExact) as refused:
        jsonbytes.loads(text)
    assert refused.value.path == path
    assert says in refused.value.reason


@pytest.mark.parametrize("compact", [True, False])
def test_nesting_is_bounded_never_a_recursion_error(compact: bool) -> None:
    def nested(depth: int) -> bytes:
        sep = b"" if compact else b" "
        return b"[" * depth + sep + b"]" * depth

    assert jsonbytes.loads(nested(jsonbytes.MAX_DEPTH)) is not None
    jsonbytes.dumps(jsonbytes.loads(nested(jsonbytes.MAX_DEPTH)))  # and it can be written back
    for depth in (jsonbytes.MAX_DEPTH + 1, 2000, 100_000):
        with pytest.raises(jsonbytes.NotExact, match="nested deeper than 254 levels"):
            jsonbytes.loads(nested(depth))


@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_are_refused_with_a_reason(data: bytes) -> None:
    reason = None
    try:
        jsonbytes.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError and NotExact included
        reason = str(exc)
    assert reason is None or reason.strip()


@given(json_values)
def test_kept_bytes_are_the_encoding_itself(value: Any) -> None:
    # dumps_kept copies short texts out of orjson's buffer: the same bytes, of their own size.
    kept = jsonbytes.dumps_kept(value)
    assert type(kept) is bytes and kept == jsonbytes.dumps(value)


def test_kept_bytes_hold_no_spare_buffer() -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        kept = [jsonbytes.dumps_kept({"k": i}) for i in range(1000)]
        per_text = tracemalloc.get_traced_memory()[0] / len(kept)
    finally:
        tracemalloc.stop()
    assert per_text < 200  # orjson's own result holds about 4 KB each
