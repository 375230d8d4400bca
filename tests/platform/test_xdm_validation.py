"""XDM validation as Adobe's streaming inlet does it (issue 19, point 7).

A flow of an XDM connection (``dataType: xdm``) without a mapping takes XDM envelopes:
``header.schemaRef``, ``body.xdmMeta.schemaRef`` (the same schema, the dataset's) and
``body.xdmEntity``. By default a message that is not one is acknowledged and becomes a failure
the flow lists, never a row; with ``?syncValidation=true`` the inlet answers 400 naming what is
wrong and stores nothing. Messages are generated: arbitrary JSON objects, and valid envelopes
with one part broken.

The oracle (:func:`is_envelope`) is written here from the documentation, apart from the
platform's check.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from platform_testkit import SCHEMA_ID, SEED_CONNECTION

from sourceflow.platform.ingress.pipeline import xdm_problems

CONTENT_TYPE = "application/vnd.adobe.xed-full+json;version=1"
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
entities = st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=4)


def envelope(entity: dict[str, Any], schema: str = SCHEMA_ID) -> dict[str, Any]:
    """A valid XDM envelope, as streaming-ingestion.yaml's example shapes one."""
    ref = {"id": schema, "contentType": CONTENT_TYPE}
    return {
        "header": {"schemaRef": ref, "imsOrgId": "x@AdobeOrg", "datasetId": "", "flowId": ""},
        "body": {"xdmMeta": {"schemaRef": dict(ref)}, "xdmEntity": entity},
    }


def is_envelope(message: Any, schema: str) -> bool:
    """The documented shape, for a flow whose dataset's schema is ``schema``."""
    try:
        header_id = message["header"]["schemaRef"]["id"]
        meta_id = message["body"]["xdmMeta"]["schemaRef"]["id"]
        entity = message["body"]["xdmEntity"]
    except (KeyError, TypeError):
        return False
    return (
        isinstance(message["header"], dict)
        and isinstance(message["body"]["xdmMeta"], dict)
        and isinstance(message["header"]["schemaRef"], dict)
        and isinstance(message["body"]["xdmMeta"]["schemaRef"], dict)
        and header_id == meta_id == schema
        and isinstance(entity, dict)
    )


PARTS = [
    ("header",),
    ("body",),
    ("header", "schemaRef"),
    ("header", "schemaRef", "id"),
    ("body", "xdmMeta"),
    ("body", "xdmMeta", "schemaRef"),
    ("body", "xdmMeta", "schemaRef", "id"),
    ("body", "xdmEntity"),
]


@st.composite
def broken_envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A valid envelope with one part removed or replaced by something it may not be."""
    message = envelope(draw(entities))
    path = draw(st.sampled_from(PARTS))
    parent = message
    for key in path[:-1]:
        parent = parent[key]
    if draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(
            json_values.filter(lambda v: not isinstance(v, dict) and v != SCHEMA_ID)
        )
    return message


non_envelopes = (
    broken_envelopes()
    | st.dictionaries(st.text(max_size=8), json_values, max_size=4)
    | st.builds(
        envelope, entities, st.text(min_size=1, max_size=20).filter(lambda s: s != SCHEMA_ID)
    )
).filter(lambda m: not is_envelope(m, SCHEMA_ID))


@pytest.fixture
def xdm_chain(build):
    return build.http_chain(SEED_CONNECTION)


def _counts(shared_platform, flow: str) -> tuple[int, int, int]:
    store = shared_platform[0].state.platform.store
    messages, rows, failures = (
        store.row(query, (flow,))["n"]
        for query in (
            "SELECT count(*) AS n FROM messages WHERE flow_id = ?",
            "SELECT count(*) AS n FROM rows WHERE flow_id = ?",
            "SELECT count(*) AS n FROM failures WHERE flow_id = ?",
        )
    )
    return messages, rows, failures


@SETTINGS
@given(st.one_of(non_envelopes, st.builds(envelope, entities)))
def test_the_check_agrees_with_the_documented_shape(message) -> None:
    """Any message, for a flow that names its schema: no finding exactly when it is an
    envelope. A flow that names none takes an envelope of any schema; one that names another
    schema takes none of these."""
    assert (xdm_problems(message, SCHEMA_ID) == []) == is_envelope(message, SCHEMA_ID)
    if is_envelope(message, SCHEMA_ID):
        assert xdm_problems(message, None) == []
        other = xdm_problems(message, SCHEMA_ID + "-other")
        assert len(other) == 2 and all(
            "is not the schema of the flow's dataset" in p for p in other
        )


def test_non_envelopes_are_failures_never_rows(xdm_chain, anonymous, api, shared_platform):
    platform = shared_platform[0].state.platform
    sent: list[tuple[str, dict[str, Any]]] = []

    @SETTINGS
    @given(non_envelopes)
    def case(message: dict[str, Any]) -> None:
        answer = anonymous.post(xdm_chain["inlet_url"], json=message)
        assert answer.status_code == 200, answer.text
        sent.append((answer.json()["xactionId"], message))

    case()
    assert platform.wait_idle(10)
    flow = xdm_chain["flow"]
    assert api.get(f"/sourceflow/dataSets/{xdm_chain['dataset']}/rows").json()["items"] == []
    failures = api.get(f"/sourceflow/flows/{flow}/failures", params={"limit": 1000}).json()["items"]
    assert [(f["xactionId"], f["body"]) for f in failures] == sent
    for failure in failures:
        assert failure["error"]["code"] == "XDM-400"
        assert failure["error"]["message"].startswith("not a valid XDM envelope: ")
    assert _counts(shared_platform, flow) == (len(sent), 0, len(sent))


def test_sync_validation_answers_400_and_stores_nothing(xdm_chain, anonymous, shared_platform):
    flow = xdm_chain["flow"]
    before = _counts(shared_platform, flow)
    org = shared_platform[0].state.platform.config.org_id

    @SETTINGS
    @given(non_envelopes, st.sampled_from(["true", "True", "TRUE"]))
    def case(message: dict[str, Any], flag: str) -> None:
        answer = anonymous.post(
            xdm_chain["inlet_url"], params={"syncValidation": flag}, json=message
        )
        assert answer.status_code == 400, answer.text
        body = answer.json()
        assert body["title"] == "Invalid XDM Message Format"
        assert body["status"] == 400
        assert body["report"]["message"] == (
            f"inletId: [{xdm_chain['inlet_id']}] imsOrgId: [{org}] Message is invalid"
        )
        found = body["report"]["problems"]
        assert found == xdm_problems(message, SCHEMA_ID) and found
        assert all(p in body["detail"] for p in found)

    case()
    assert _counts(shared_platform, flow) == before


def test_valid_envelopes_land_with_or_without_sync_validation(
    xdm_chain, anonymous, api, shared_platform
):
    landed: list[dict[str, Any]] = []

    @SETTINGS
    @given(entities, st.sampled_from([{}, {"syncValidation": "true"}, {"syncValidation": "false"}]))
    def case(entity: dict[str, Any], params: dict[str, str]) -> None:
        answer = anonymous.post(xdm_chain["inlet_url"], params=params, json=envelope(entity))
        assert answer.status_code == 200, answer.text
        landed.append(entity)

    case()
    assert shared_platform[0].state.platform.wait_idle(10)
    rows = api.get(
        f"/sourceflow/dataSets/{xdm_chain['dataset']}/rows", params={"limit": 1000}
    ).json()["items"]
    assert [r["record"] for r in rows] == landed
    assert api.get(f"/sourceflow/flows/{xdm_chain['flow']}/failures").json()["items"] == []


def test_a_batch_with_sync_validation_refuses_only_its_bad_members(
    xdm_chain, anonymous, api, shared_platform
):
    good = envelope({"person": {"name": "Jane"}})
    other_schema = envelope({"person": {"name": "Joe"}}, "https://ns.adobe.com/acme/schemas/other")
    raw = {"name": "Johnson Smith"}
    batch = xdm_chain["inlet_url"].replace("/collection/", "/collection/batch/")
    answer = anonymous.post(
        batch, params={"syncValidation": "true"}, json={"messages": [raw, good, other_schema]}
    )
    assert answer.status_code == 207, answer.text
    first, second, third = answer.json()["responses"]
    assert first["statusCode"] == 400 and "header: missing" in first["message"]
    assert "xactionId" in second and "statusCode" not in second
    assert third["statusCode"] == 400
    assert "is not the schema of the flow's dataset" in third["message"]
    assert shared_platform[0].state.platform.wait_idle(5)
    rows = api.get(f"/sourceflow/dataSets/{xdm_chain['dataset']}/rows").json()["items"]
    assert [r["record"] for r in rows] == [{"person": {"name": "Jane"}}]
    assert _counts(shared_platform, xdm_chain["flow"]) == (1, 1, 0)


def test_sync_validation_must_be_a_boolean(xdm_chain, anonymous, shared_platform):
    before = _counts(shared_platform, xdm_chain["flow"])
    answer = anonymous.post(
        xdm_chain["inlet_url"], params={"syncValidation": "yes"}, json=envelope({})
    )
    assert answer.status_code == 400
    assert "syncValidation: must be true or false" in answer.json()["detail"]
    assert _counts(shared_platform, xdm_chain["flow"]) == before


def test_raw_and_mapped_flows_take_any_record(build, anonymous, api, shared_platform):
    """Validation is for XDM flows only: a raw connection's records, and a mapped flow's,
    are no envelopes and are not asked to be, even with syncValidation."""
    raw = build.http_chain()
    mapped = build.http_chain(
        SEED_CONNECTION,
        mapping=[{"sourceType": "ATTRIBUTE", "source": "name", "destination": "person.name"}],
    )
    for chain in (raw, mapped):
        answer = anonymous.post(
            chain["inlet_url"], params={"syncValidation": "true"}, json={"name": "Jane"}
        )
        assert answer.status_code == 200, answer.text
    assert shared_platform[0].state.platform.wait_idle(5)
    for chain, record in ((raw, {"name": "Jane"}), (mapped, {"person": {"name": "Jane"}})):
        rows = api.get(f"/sourceflow/dataSets/{chain['dataset']}/rows").json()["items"]
        assert [r["record"] for r in rows] == [record]


def test_a_failure_is_listed_by_the_cli(
    xdm_chain, anonymous, shared_platform, sourceflow_cli, sandbox, monkeypatch
):
    answer = anonymous.post(xdm_chain["inlet_url"], json={"name": "Johnson Smith"})
    assert answer.status_code == 200
    assert shared_platform[0].state.platform.wait_idle(5)
    monkeypatch.setenv("SOURCEFLOW_SANDBOX", sandbox)
    code, out, err = sourceflow_cli(
        "--platform", shared_platform[1], "flows", "failures", xdm_chain["flow"]
    )
    assert code == 0, err
    (line,) = out.splitlines()[2:]  # under the header and its rule
    assert "XDM-400: not a valid XDM envelope: header: missing; body: missing" in line
    assert '{"name": "Johnson Smith"}' in line
    assert "1 failed record(s)" in err


def test_a_replay_checks_the_envelope_again(xdm_chain, anonymous, api, shared_platform):
    """Replaying an XDM flow's failures maps them through the same check: a non-envelope
    stays a failure, never a row."""
    assert anonymous.post(xdm_chain["inlet_url"], json={"name": "Jane"}).status_code == 200
    assert shared_platform[0].state.platform.wait_idle(5)
    done = api.post(f"/sourceflow/flows/{xdm_chain['flow']}/replay").json()
    assert (done["replayed"], done["failed"]) == (0, 1)
    assert api.get(f"/sourceflow/dataSets/{xdm_chain['dataset']}/rows").json()["items"] == []
    (failure,) = api.get(f"/sourceflow/flows/{xdm_chain['flow']}/failures").json()["items"]
    assert failure["error"]["code"] == "XDM-400"
