"""The console's dataset page reads rows by key: next links carry the rows route's cursor."""

from __future__ import annotations

import re
from html import unescape

import httpx
from platform_testkit import Builder


def test_the_dataset_page_follows_next_links_through_every_row_once(
    shared_platform, api, anonymous
):
    app, url, _ = shared_platform
    chain = Builder(api).http_chain()
    batch = chain["inlet_url"].replace("/collection/", "/collection/batch/")
    answer = anonymous.post(batch, json={"messages": [{"n": f"row-{n}"} for n in range(7)]})
    assert answer.status_code == 207
    assert app.state.platform.wait_idle(10)
    sandbox = api.headers["x-sandbox-name"]
    seen: list[str] = []
    shown: list[str] = []
    # A loopback browser gets a local session; the cookie picks the test's own sandbox.
    with httpx.Client(
        base_url=url, follow_redirects=True, timeout=10, cookies={"sourceflow_sandbox": sandbox}
    ) as browser:
        page = f"/console/datasets/{chain['dataset']}?limit=3"
        for _ in range(5):
            html = browser.get(page).text
            seen += re.findall(r"row-\d", html)
            shown += re.findall(r"rows \d+\u2013\d+", html)
            following = re.search(r'href="(\?after=[^"]+)">next', html)
            if following is None:
                break
            page = f"/console/datasets/{chain['dataset']}" + unescape(following.group(1))
    assert seen == [f"row-{n}" for n in range(7)]
    assert shown == ["rows 1\u20133", "rows 4\u20136", "rows 7\u20137"]
