"""What a sender controls never causes a 5xx, and what is acknowledged reads back exactly.

- Every route of the platform gets bodies no parser should take as they are (nesting past
  any limit, numbers a double cannot hold, duplicate keys, lone surrogates, integers of
  thousands of digits) and header values of any bytes: the answer is a 4xx, and where the
  route reads JSON it is a 400 that names the problem.
- Generated JSON values, written in any of the ways JSON may be written, reach a dataset row
  through the inlet exactly as sent.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from gateway import gateway_headers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from platform_testkit import Builder
from starlette.routing import Route

from sourceflow.platform.http import jsonbytes

FS = "/data/foundation/flowservice"

HOSTILE: dict[str, tuple[bytes, str]] = {
    "deep-compact": (b"[" * 5000 + b"]" * 5000, "nested deeper than"),
    "deep-spaced": (b"[ " * 300 + b"]" * 300, "nested deeper than"),
    "deep-object": (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested deeper than"),
    "overflow": (b'{"name": "x", "n": 1e400}', "$.n: the number 1e400 is beyond the range"),
    "underflow": (b'{"name": "x", "n": -1e-400}', "$.n: the number -1e-400 is below"),
    "too-precise": (b'{"name": 0.10000000000000000000001}', "$.name: the number"),
    "duplicate-key": (b'{"name": "a", "name": "b"}', "$.name: the key 'name' appears more"),
    "lone-surrogate": (b'{"name": "\\udc00"}', "$.name: the text holds an unpaired surrogate"),
    "huge-integer": (b'{"n": ' + b"7" * 5000 + b"}", "$.n: an integer of 5,000 digits"),
}


def _routes(app: Any) -> list[tuple[str, str]]:
    return [
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in sorted((route.methods or set()) - {"HEAD", "GET"})
    ]


def _fill(template: str, ids: dict[str, str]) -> str:
    parts = template.split("/")
    for i, part in enumerate(parts):
        if part.startswith("{"):
            parts[i] = ids["inlet_id"] if part == "{inlet_id}" else ids["flow"]
    return "/".join(parts)


@pytest.fixture
def chain(shared_platform):
    """A fresh HTTP API chain (the route test deletes what it finds) in a sandbox of its own."""
    _, url, token = shared_platform
    headers = gateway_headers(url, token=token, sandbox=f"hostile-{uuid.uuid4().hex[:8]}")
    with httpx.Client(base_url=url, headers=headers, timeout=20) as api:
        yield api, Builder(api).http_chain()


def test_every_route_refuses_what_cannot_be_kept_with_a_400_that_says_why(
    shared_platform, chain
) -> None:
    app = shared_platform[0]
    api, ids = chain
    routes = _routes(app)
    assert len(routes) >= 15
    problems = []
    json_routes = 0
    for method, template in routes:
        path = _fill(template, ids)
        for name, (body, says) in HOSTILE.items():
            answer = api.request(
                method, path, content=body, headers={"content-type": "application/json"}
            )
            where = f"{method} {template} with {name}: {answer.status_code}"
            if answer.status_code >= 500:
                problems.append(f"{where} {answer.text[:200]}")
            elif answer.status_code == 400 and says.split(":")[0] in answer.text:
                json_routes += 1
                if says not in answer.json().get("detail", ""):
                    problems.append(f"{where}: {answer.json().get('detail')!r} lacks {says!r}")
    assert not problems, "\n".join(problems)
    # the routes that read JSON bodies (connections, flows, mapping sets, datasets, inlet) said so
    assert json_routes >= 8 * len(HOSTILE), json_routes


HEADER_BYTES = st.binary(max_size=120).map(
    lambda b: bytes(c for c in b if c == 9 or 32 <= c <= 126 or c >= 128).strip()
)
HEADER_NAMES = st.sampled_from(
    [
        "authorization",
        "x-api-key",
        "x-gw-ims-org-id",
        "x-sandbox-name",
        "x-request-id",
        "x-adobe-flow-id",
        "if-match",
        "content-length",
        "content-type",
        "x-shopify-hmac-sha256",
        "stripe-signature",
    ]
)


def test_any_header_bytes_on_any_route_never_get_a_5xx(shared_platform, chain) -> None:
    app = shared_platform[0]
    api, ids = chain
    routes = [(m, _fill(p, ids)) for m, p in _routes(app)]
    routes += [("GET", _fill(r.path, ids)) for r in app.routes if isinstance(r, Route)]

    @settings(
        max_examples=400,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        st.sampled_from(routes),
        st.dictionaries(HEADER_NAMES, HEADER_BYTES, max_size=4),
        st.sampled_from([b"", b"{}", b'{"name": "x"}', HOSTILE["duplicate-key"][0]]),
    )
    def case(route: tuple[str, str], headers: dict[str, bytes], body: bytes) -> None:
        method, path = route
        if headers.get("content-length") is not None:
            headers.pop("content-length")  # the wire framing is the client's, not the sender's
        sent = {**dict(api.headers), **headers}
        answer = api.request(method, path, content=body if method != "GET" else None, headers=sent)
        assert answer.status_code < 500, f"{method} {path} {headers!r}: {answer.text[:300]}"

    case()


# Every JSON value the inlet should keep: integers of any size, doubles, any text (no lone
# surrogates), nested arrays and objects.
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text(st.characters(exclude_categories=["Cs"]), max_size=6), inner, max_size=3
        )
    ),
    max_leaves=15,
)


def test_every_acknowledged_value_reads_back_exactly(shared_platform, chain) -> None:
    api, ids = chain
    platform = shared_platform[0].state.platform
    sent: list[Any] = []

    @settings(
        max_examples=150,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        st.dictionaries(st.text(max_size=5).filter(lambda k: k != "header"), VALUES, max_size=4),
        st.sampled_from(["orjson", "spaced", "ascii", "batch"]),
    )
    def case(record: dict[str, Any], style: str) -> None:
        record = {**record, "n": len(sent)}
        if style == "batch":
            body = json.dumps({"messages": [record]}).encode()
            url = ids["inlet_url"].replace("/collection/", "/collection/batch/")
        else:
            body = {
                "orjson": jsonbytes.dumps(record),
                "spaced": json.dumps(record, indent=1, ensure_ascii=False).encode(),
                "ascii": json.dumps(record).encode(),
            }[style]
            url = ids["inlet_url"]
        answer = api.post(url, content=body, headers={"content-type": "application/json"})
        assert answer.status_code in (200, 207), answer.text
        sent.append(record)

    case()
    assert platform.wait_idle(20)
    rows = api.get(f"/sourceflow/dataSets/{ids['dataset']}/rows", params={"limit": 1000}).json()
    got = sorted((r["record"] for r in rows["items"]), key=lambda r: r["n"])
    assert len(got) == len(sent)
    for want, have in zip(sent, got, strict=True):
        # == treats 1 and 1.0 (and True and 1) as equal; the encoded bytes do not
        assert jsonbytes.dumps(have) == jsonbytes.dumps(want)
