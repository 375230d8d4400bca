"""The console in a real browser: Debian's chromium, driven by Playwright.

A user's path: open the console, find the flow, follow a message to its error, open the
failed record, fix the mapping, replay it, and see the row appear. The screenshots are saved
under the test's folder; with ``SOURCEFLOW_SCREENSHOTS=DIR`` (docs/img for the docs) there too.

Skips, saying why, where chromium or Playwright is missing (``.ci/run`` installs chromium
where it can). Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway import gateway_headers

sys.path.insert(0, str(Path(__file__).parents[1] / "platform"))
from platform_testkit import Builder

from sourceflow.config import DEV_CLIENT_ID, DEV_CLIENT_SECRET
from sourceflow.platform.app import PlatformConfig, create_app
from sourceflow.platform.server import background

CHROMIUM = os.environ.get("SOURCEFLOW_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
NAME = {"sourceType": "ATTRIBUTE", "source": "name", "destination": "person.name"}
STRICT_AGE = {"sourceType": "EXPRESSION", "source": "to_integer(age)", "destination": "person.age"}

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install playwright)"
)
if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
    pytest.skip(
        f"no chromium at {CHROMIUM}: install Debian's (apt-get install -y chromium), or point "
        "SOURCEFLOW_CHROMIUM at one",
        allow_module_level=True,
    )


@pytest.fixture
def browser(tmp_path) -> Iterator[Any]:
    profile = tmp_path / "profile"
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            args=ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


def shoot(page: Any, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    wanted = os.environ.get("SOURCEFLOW_SCREENSHOTS")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(wanted) / path.name)


@pytest.fixture
def platform(tmp_path) -> Iterator[tuple[Any, str]]:
    app = create_app(PlatformConfig(data_dir=tmp_path / "platform"))
    with background(app) as url:
        yield app, url


def dev_api(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers=gateway_headers(url))


def test_follow_a_message_to_its_error_fix_the_mapping_and_replay(platform, browser, tmp_path):
    app, url = platform
    api = dev_api(url)
    ids = Builder(api).http_chain(mapping=[NAME, STRICT_AGE])
    api.patch(
        f"/data/foundation/flowservice/flows/{ids['flow']}",
        json=[{"op": "replace", "path": "/name", "value": "Signups"}],
        headers={
            "If-Match": api.get(f"/data/foundation/flowservice/flows/{ids['flow']}").json()[
                "items"
            ][0]["etag"]
        },
    ).raise_for_status()
    for body in ({"name": "Ada", "age": "36"}, {"name": "Bob", "age": "forty"}):
        assert httpx.post(ids["inlet_url"], json=body).status_code == 200
    assert app.state.platform.wait_idle(10)

    page = browser.new_page()
    page.goto(f"{url}/console")  # loopback: a local-only session opens by itself
    assert page.get_by_role("heading", name="Overview").is_visible()
    assert page.locator("svg.chart").count() == 1
    shoot(page, tmp_path, "console-overview")

    page.get_by_role("link", name="Signups").click()
    page.wait_for_url(f"**/console/flows/{ids['flow']}")
    assert page.locator("#failures").get_by_text("to_integer('forty')").is_visible()
    messages = page.locator("#messages")
    assert messages.get_by_role("link", name="row").count() == 1
    shoot(page, tmp_path, "console-flow")

    # Follow Bob's message from the inlet to its error, then to the failed record.
    messages.get_by_role("link", name="failed: MAPPING-400").click()
    page.wait_for_url("**/failures/*")
    assert '"forty"' in page.locator("#record").inner_text()
    assert "not a whole number" in page.locator("#error").inner_text()
    assert "person.age" in page.locator("#rule").inner_text()
    assert page.locator("tr.failed-rule").count() == 1
    shoot(page, tmp_path, "console-failure")

    # Fix the rule that failed: keep the age as sent.
    page.locator('select[name="sourceType-1"]').select_option("ATTRIBUTE")
    page.get_by_label("source of rule 1").fill("age")
    page.get_by_role("button", name="Save the mapping set").click()
    page.wait_for_selector("p.note")
    assert "saved and used by the flow" in page.locator("p.note").inner_text()

    page.get_by_role("button", name="Replay the flow's failed records").click()
    page.get_by_text("replayed: 1 landed").wait_for()
    assert "replayed: 1 landed as rows, 0 failed again" in page.locator("p.note").inner_text()
    assert page.get_by_text("No failed records.").is_visible()
    assert page.locator("#runs").get_by_text("replay").count() == 1
    shoot(page, tmp_path, "console-replayed")

    # The row appeared: follow the message to it in the dataset browser.
    page.locator("#messages").get_by_role("link", name="row (replayed)").click()
    page.wait_for_url("**/datasets/**")
    rows = page.locator("#rows")
    assert '"forty"' in rows.inner_text() and "Bob" in rows.inner_text()
    assert "Ada" not in rows.inner_text()  # filtered to that message
    assert "1 matching row(s)" in page.content()
    shoot(page, tmp_path, "console-dataset")

    # Once only: replaying again lands nothing more.
    done = api.post(f"/sourceflow/flows/{ids['flow']}/replay").json()
    assert done["replayed"] == 0
    all_rows = api.get(f"/sourceflow/dataSets/{ids['dataset']}/rows").json()["items"]
    assert sorted(r["record"]["person"]["name"] for r in all_rows) == ["Ada", "Bob"]


def test_log_in_and_tear_down_with_confirmation(tmp_path, browser):
    app = create_app(PlatformConfig(data_dir=tmp_path / "p", console_loopback=False))
    with background(app) as url:
        api = dev_api(url)
        ids = Builder(api).http_chain()
        page = browser.new_page()
        page.goto(f"{url}/console/flows/{ids['flow']}")
        page.wait_for_url("**/console/login**")
        page.get_by_label("Client id").fill(DEV_CLIENT_ID)
        page.get_by_label("Client secret").fill(DEV_CLIENT_SECRET)
        shoot(page, tmp_path, "console-login")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"**/console/flows/{ids['flow']}")

        page.get_by_role("link", name="Tear down…").click()
        page.wait_for_url("**/teardown")
        page.get_by_role("button", name="Tear it down").click()  # nothing typed: refused
        assert page.url.endswith("/teardown")
        page.get_by_label("to confirm").fill("not the name")
        page.get_by_role("button", name="Tear it down").click()
        page.wait_for_selector("p.error")
        assert "to confirm" in page.locator("p.error").inner_text()
        assert api.get(f"/data/foundation/flowservice/flows/{ids['flow']}").status_code == 200

        page.get_by_label("to confirm").fill(ids["flow"])
        page.get_by_role("button", name="Tear it down").click()
        page.get_by_text("deleted flow").wait_for()
        assert f"deleted flow {ids['flow']}" in page.locator("p.note").inner_text()
        assert api.get(f"/data/foundation/flowservice/flows/{ids['flow']}").status_code == 404
