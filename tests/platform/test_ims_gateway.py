"""IMS tokens, and the gateway's header checks on every Platform route."""

from __future__ import annotations

import time

import httpx
import pytest
from platform_testkit import FS, SEED_CONNECTION, SSL

from sourceflow.config import DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_ORG_ID
from sourceflow.platform.app import PlatformConfig, create_app
from sourceflow.platform.server import background

TOKEN_FORM = {
    "grant_type": "client_credentials",
    "client_id": DEV_CLIENT_ID,
    "client_secret": DEV_CLIENT_SECRET,
    "scope": "openid,AdobeID",
}


def test_token_for_the_dev_client(anonymous):
    answer = anonymous.post("/ims/token/v3", data=TOKEN_FORM)
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86399
    assert len(body["access_token"]) >= 40


def test_tokens_are_stored_hashed(anonymous, shared_platform):
    token = anonymous.post("/ims/token/v3", data=TOKEN_FORM).json()["access_token"]
    stored = shared_platform[0].state.platform.store.rows("SELECT hash FROM tokens")
    assert stored and all(token not in r["hash"] for r in stored)


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({**TOKEN_FORM, "client_secret": "wrong-secret"}, 401, "invalid_client"),
        ({**TOKEN_FORM, "client_id": "someone-else"}, 401, "invalid_client"),
        ({k: v for k, v in TOKEN_FORM.items() if k != "grant_type"}, 400, "invalid_request"),
        ({**TOKEN_FORM, "grant_type": "password"}, 400, "unsupported_grant_type"),
        ({k: v for k, v in TOKEN_FORM.items() if k != "client_secret"}, 400, "invalid_request"),
    ],
)
def test_token_refusals_are_ims_shaped(anonymous, form, status, error):
    answer = anonymous.post("/ims/token/v3", data=form)
    assert answer.status_code == status
    assert answer.json()["error"] == error
    assert answer.json()["error_description"]
    assert "wrong-secret" not in answer.text


def test_an_expired_token_is_refused(tmp_path):
    app = create_app(PlatformConfig(data_dir=tmp_path, token_ttl=0.3))
    with background(app) as url, httpx.Client(base_url=url, verify=SSL) as client:
        token = client.post("/ims/token/v3", data=TOKEN_FORM).json()["access_token"]
        headers = {
            "Authorization": f"Bearer {token}",
            "x-api-key": DEV_CLIENT_ID,
            "x-gw-ims-org-id": DEV_ORG_ID,
        }
        assert client.get(f"{FS}/connections", headers=headers).status_code == 200
        time.sleep(0.4)
        answer = client.get(f"{FS}/connections", headers=headers)
        # an expired token also fails an authenticated inlet's check
        assert platform_of(app).tokens.inlet_check(headers_lower(headers), DEV_ORG_ID) == (
            "Ims service token has expired"
        )
    assert answer.status_code == 401
    assert answer.json() == {"error_code": "401014", "message": "Oauth token has expired"}


def test_tokens_survive_a_restart(tmp_path):
    config = PlatformConfig(data_dir=tmp_path)
    with background(create_app(config)) as url, httpx.Client(base_url=url, verify=SSL) as client:
        token = client.post("/ims/token/v3", data=TOKEN_FORM).json()["access_token"]
    headers = {
        "Authorization": f"Bearer {token}",
        "x-api-key": DEV_CLIENT_ID,
        "x-gw-ims-org-id": DEV_ORG_ID,
    }
    with background(create_app(config)) as url, httpx.Client(base_url=url, verify=SSL) as client:
        assert client.get(f"{FS}/connections", headers=headers).status_code == 200


def platform_of(app):
    return app.state.platform


def headers_lower(headers):
    return {k.lower(): v for k, v in headers.items()}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One platform for the header checks, and a good token for it."""
    app = create_app(PlatformConfig(data_dir=tmp_path_factory.mktemp("gateway")))
    with background(app) as url, httpx.Client(base_url=url, verify=SSL) as client:
        token = client.post("/ims/token/v3", data=TOKEN_FORM).json()["access_token"]
        yield client, token


def _headers(token: str, changes: dict[str, str | None]) -> dict[str, str]:
    headers = {
        "Authorization": f"Bearer {token}",
        "x-api-key": DEV_CLIENT_ID,
        "x-gw-ims-org-id": DEV_ORG_ID,
        "x-sandbox-name": "prod",
    }
    for name, value in changes.items():
        if value is None:
            del headers[name]
        else:
            headers[name] = value
    return headers


GATEWAY_ERRORS = [
    ({"Authorization": None}, 401, "401013", "Oauth token is missing"),
    ({"Authorization": "Bearer garbled"}, 401, "401013", "Oauth token is not valid"),
    ({"Authorization": "Basic abc"}, 401, "401013", "Oauth token is not valid"),
    ({"x-api-key": None}, 403, "403000", "Api Key is required"),
    ({"x-api-key": "another-client"}, 403, "403003", "Api Key is invalid"),
    ({"x-gw-ims-org-id": None}, 400, "400003", "Missing header parameter 'x-gw-ims-org-id'"),
    ({"x-gw-ims-org-id": "OTHER@AdobeOrg"}, 403, "403027", "User is not part of the IMS org"),
]
GUARDED = [
    ("GET", f"{FS}/connections"),
    ("POST", f"{FS}/flows"),
    ("GET", f"{FS}/connectionSpecs"),
    ("PATCH", f"{FS}/targetConnections/x"),
    ("GET", "/data/foundation/conversion/mappingSets"),
    ("POST", "/data/foundation/catalog/dataSets"),
    ("GET", "/sourceflow/dataSets/x/rows"),
    ("GET", "/sourceflow/flows/x/failures"),
]


@pytest.mark.parametrize(("changes", "status", "code", "message"), GATEWAY_ERRORS)
@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_gateway_errors(served, method, path, changes, status, code, message):
    client, token = served
    answer = client.request(method, path, headers=_headers(token, changes), json={})
    assert answer.status_code == status
    assert answer.json() == {"error_code": code, "message": message}
    assert answer.headers["x-request-id"]


def test_the_request_id_is_echoed(served):
    client, token = served
    answer = client.get(
        f"{FS}/connections", headers={**_headers(token, {}), "x-request-id": "abc-123"}
    )
    assert answer.headers["x-request-id"] == "abc-123"
    assert client.get("/nowhere").headers["x-request-id"]


def test_the_sandbox_defaults_to_prod_and_scopes_resources(served):
    client, token = served
    prod = _headers(token, {"x-sandbox-name": None})
    dev = _headers(token, {"x-sandbox-name": "dev"})
    created = client.post(f"{FS}/connections", headers=prod, json=SEED_CONNECTION)
    assert created.status_code == 201
    cid = created.json()["id"]
    item = client.get(f"{FS}/connections/{cid}", headers=prod).json()["items"][0]
    assert item["sandboxName"] == "prod"
    assert client.get(f"{FS}/connections/{cid}", headers=dev).status_code == 404
    listed = client.get(f"{FS}/connections", headers=dev).json()["items"]
    assert cid not in [c["id"] for c in listed]


def test_unknown_routes_answer_a_problem(served):
    client, _ = served
    answer = client.get("/data/foundation/flowservice/nothing/here/at/all")
    assert answer.status_code == 404
    assert answer.json()["status"] == 404
    assert client.put("/ims/token/v3").status_code == 405
