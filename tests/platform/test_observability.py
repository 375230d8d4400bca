"""``/metrics`` scrapes clean with prometheus_client's own parser and counts what happened; the
access log names every request and no secret; the console asks for the token (or a login, or
loopback) and a CSRF token on its actions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re

import httpx
import pytest
from platform_testkit import Builder
from prometheus_client.parser import text_string_to_metric_families

from sourceflow import log
from sourceflow.config import DEV_CLIENT_ID, DEV_CLIENT_SECRET
from sourceflow.platform.app import PlatformConfig, create_app
from sourceflow.platform.server import background

NAME = {"sourceType": "ATTRIBUTE", "source": "name", "destination": "person.name"}
STRICT_AGE = {"sourceType": "EXPRESSION", "source": "to_integer(age)", "destination": "person.age"}


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``, parsed by prometheus_client's text parser."""
    answer = httpx.get(f"{url}/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def test_metrics_scrape_clean_and_count(platform_app, platform_url, client_for):
    build = Builder(client_for(platform_url))
    ids = build.http_chain(mapping=[NAME, STRICT_AGE])
    with httpx.Client() as inlet:
        assert inlet.post(ids["inlet_url"], json={"name": "Ada", "age": "3"}).status_code == 200
        assert inlet.post(ids["inlet_url"], json={"name": "Bob", "age": "x"}).status_code == 200
        batch = {"messages": [{"name": "Cy", "age": "4"}, 7, {"name": "Di", "age": "5"}]}
        assert inlet.post(ids["inlet_url"].replace("/collection/", "/collection/batch/"),
                          json=batch).status_code == 207  # fmt: skip
        assert inlet.post(f"{platform_url}/collection/nope", json={}).status_code == 404
        assert inlet.post(ids["inlet_url"], content=b"{nope").status_code == 400
    assert platform_app.state.platform.wait_idle(10)
    api = client_for(platform_url)
    assert api.post(f"/sourceflow/flows/{ids['flow']}/replay").status_code == 200

    samples = scrape(platform_url)
    assert samples[("sourceflow_inlet_messages_acknowledged_total", ())] == 4
    refused = "sourceflow_inlet_messages_refused_total"
    assert samples[(refused, (("reason", "unknown_inlet"), ("status", "404")))] == 1
    assert samples[(refused, (("reason", "invalid"), ("status", "400")))] == 1
    assert samples[(refused, (("reason", "invalid_member"), ("status", "400")))] == 1
    assert samples[("sourceflow_mapping_failures_total", (("code", "MAPPING-400"),))] == 1
    # The replay failed again: one finished run, counted and timed.
    assert samples[("sourceflow_runs_total", (("status", "failed"),))] == 1
    assert samples[("sourceflow_run_duration_seconds_count", (("status", "failed"),))] == 1
    assert ("sourceflow_run_retries_total", ()) in samples
    assert samples[("sourceflow_records_replayed_total", ())] == 0


@pytest.mark.parametrize("as_json", [False, True])
def test_the_access_log_names_requests_and_no_secret(tmp_path, as_json):
    stream = io.StringIO()
    log.configure(level="DEBUG", json=as_json, stream=stream)
    try:
        app = create_app(PlatformConfig(data_dir=tmp_path / "p", access_log=True))
        shopify_secret = "shpss_0123456789abcdef0123456789"
        body = b'{"id": 1}'
        signature = base64.b64encode(
            hmac.new(shopify_secret.encode(), body, hashlib.sha256).digest()
        ).decode()
        with background(app) as url, httpx.Client(base_url=url) as http:
            form = {
                "grant_type": "client_credentials",
                "client_id": DEV_CLIENT_ID,
                "client_secret": DEV_CLIENT_SECRET,
            }
            token = http.post("/ims/token/v3", data=form).json()["access_token"]
            # The secret in the query too, and a wrong one that nobody registered.
            http.post("/ims/token/v3", params={**form, "client_secret": "wrong-secret-123456"})
            http.post("/ims/token/v3", params=form)
            headers = {"Authorization": f"Bearer {token}", "x-api-key": DEV_CLIENT_ID}
            http.get("/data/foundation/flowservice/flows", headers=headers)
            http.post(
                "/collection/0000",
                content=body,
                headers={"X-Shopify-Hmac-Sha256": signature, "Authorization": f"Bearer {token}"},
                params={"hmac": signature, "access_token": token},
            )
            http.get("/console", headers={"Authorization": f"Bearer {token}"})
        text = stream.getvalue()
    finally:
        log.configure()
    lines = [line for line in text.splitlines() if "request" in line]
    assert any("/ims/token/v3" in line for line in lines), text
    assert any("/collection/0000" in line and "404" in line for line in lines), text
    assert any("/data/foundation/flowservice/flows" in line for line in lines), text
    if as_json:
        events = [json.loads(line) for line in text.splitlines()]
        assert {"method", "path", "status", "ms", "request_id"} <= set(events[-1])
    for secret in (DEV_CLIENT_SECRET, "wrong-secret-123456", token, signature, shopify_secret):
        assert secret not in text
        # Nor URL-encoded, as a query would carry it.
        assert httpx.QueryParams({"v": secret}).get("v") not in text
        assert re.sub(r"[+/=]", "", secret)[:20] not in text


@pytest.fixture
def guarded(tmp_path):
    """A platform whose console does not open loopback sessions: it wants a login."""
    app = create_app(PlatformConfig(data_dir=tmp_path / "p", console_loopback=False))
    with background(app) as url:
        yield url


def test_the_console_wants_a_token_or_a_login(guarded, client_for):
    url = guarded
    with httpx.Client(base_url=url) as browser:
        first = browser.get("/console")
        assert first.status_code == 303 and first.headers["location"].startswith("/console/login")
        refused = browser.post(
            "/console/login", data={"client_id": DEV_CLIENT_ID, "client_secret": "nope-nope"}
        )
        assert refused.status_code == 401 and "invalid client_id" in refused.text
        assert "sourceflow_console" not in refused.cookies
        ok = browser.post(
            "/console/login",
            data={"client_id": DEV_CLIENT_ID, "client_secret": DEV_CLIENT_SECRET,
                  "next": "https://evil.example/"},
        )  # fmt: skip
        assert ok.status_code == 303 and ok.headers["location"] == "/console"  # no open redirect
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert browser.get("/console").status_code == 200

        build = Builder(client_for(url))
        ids = build.http_chain(mapping=[NAME, STRICT_AGE])
        page = browser.get(f"/console/flows/{ids['flow']}")
        assert page.status_code == 200
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)
        action = f"/console/flows/{ids['flow']}/replay"
        assert browser.post(action).status_code == 403
        assert browser.post(action, data={"csrf": "0" * 40}).status_code == 403
        assert (
            browser.post(
                action, data={"csrf": csrf}, headers={"Origin": "https://evil.example"}
            ).status_code
            == 403
        )
        done = browser.post(action, data={"csrf": csrf})
        assert done.status_code == 303 and "replayed" in done.headers["location"]

    token = client_for(url).headers["Authorization"]
    with httpx.Client(base_url=url, headers={"Authorization": token}) as scripted:
        assert scripted.get("/console").status_code == 200
    bad = httpx.get(f"{url}/console", headers={"Authorization": "Bearer forged"})
    assert bad.status_code == 401


def test_a_loopback_session_needs_a_loopback_name(platform_url):
    local = httpx.get(f"{platform_url}/console")
    assert local.status_code == 200 and "local session" in local.text
    assert local.cookies["sourceflow_console"].startswith('"local.') or local.cookies[
        "sourceflow_console"
    ].startswith("local.")
    # A page of another site that resolves its name to 127.0.0.1 (DNS rebinding) gets nothing.
    rebound = httpx.get(f"{platform_url}/console", headers={"Host": "evil.example"})
    assert rebound.status_code == 303
    again = httpx.get(
        f"{platform_url}/console",
        headers={"Host": "evil.example"},
        cookies={"sourceflow_console": local.cookies["sourceflow_console"]},
    )
    assert again.status_code == 303
