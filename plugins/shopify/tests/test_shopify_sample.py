"""``python -m sourceflow_shopify.sample``: a shop to try ``sourceflow shopify login`` and
``connect shopify`` without one, run as docs/sources/shopify.md shows: the sample in a process
of its own, its printed settings exported, login with ``--no-browser``, the URL opened."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from sourceflow.testing import local_platform
from sourceflow_shopify import sample


@pytest.fixture
def sample_shop() -> Iterator[tuple[dict[str, str], str]]:
    """The sample shop's process: the variables it says to export, and all it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sourceflow_shopify.sample", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    printed = []
    try:
        for line in proc.stdout:
            printed.append(line)
            if line.startswith("Ctrl-C"):
                break
        exports = dict(
            line.removeprefix("export ").strip().split("=", 1)
            for line in printed
            if line.startswith("export ")
        )
        yield exports, "".join(printed)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_login_against_the_sample_shop_stores_its_token(sample_shop, tmp_path):
    exports, printed = sample_shop
    assert set(exports) == {
        "SOURCEFLOW_SHOPIFY_ADMIN_URL",
        "SHOPIFY_CLIENT_ID",
        "SHOPIFY_CLIENT_SECRET",
    }
    assert f"sourceflow shopify login --shop {sample.SAMPLE_SHOP} --no-browser\n" in printed
    tokens = tmp_path / "tokens.json"
    proc = subprocess.Popen(  # noqa: S603 (our own command)
        [sys.executable, "-m", "sourceflow.cli", "shopify", "login", "--shop", sample.SAMPLE_SHOP,
         "--no-browser", "--port", "0", "--timeout", "20", "--tokens", str(tokens)],
        env={**os.environ, **exports},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = ""
        deadline = time.monotonic() + 20
        while "/admin/oauth/authorize?" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
        authorize = line.strip()
        assert authorize.startswith(exports["SOURCEFLOW_SHOPIFY_ADMIN_URL"] + "/admin/oauth/")
        # What a reader does with the URL: the sample approves and redirects to the listener.
        answer = httpx.get(authorize, follow_redirects=True, timeout=10)
        assert answer.status_code == 200 and "return to the terminal" in answer.text
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert f"authorized on {sample.SAMPLE_SHOP}" in err
    assert sample.SAMPLE_TOKEN in tokens.read_text()
    assert sample.SAMPLE_TOKEN not in err


def test_connect_subscribes_at_the_sample_shop(sample_shop, tmp_path, sourceflow_cli, monkeypatch):
    exports, _ = sample_shop
    for key, value in exports.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", sample.SAMPLE_TOKEN)
    monkeypatch.chdir(tmp_path)
    admin_url = exports["SOURCEFLOW_SHOPIFY_ADMIN_URL"]
    with local_platform(tmp_path / "platform") as served:
        code, out, err = sourceflow_cli("--platform", served.url, "datasets", "create", "orders")
        assert code == 0, err
        code, out, err = sourceflow_cli(
            "--platform", served.url, "connect", "shopify", "--dataset", out.strip(),
            "--param", f"shop={sample.SAMPLE_SHOP}", "--object", "orders/create",
        )  # fmt: skip
        assert code == 0, err
        hooks = httpx.get(
            f"{admin_url}/admin/api/2024-10/webhooks.json",
            headers={"X-Shopify-Access-Token": sample.SAMPLE_TOKEN},
        ).json()["webhooks"]
        assert [h["topic"] for h in hooks] == ["orders/create"]
        assert "/collection/" in hooks[0]["address"]
        code, _, err = sourceflow_cli("--platform", served.url, "teardown")
        assert code == 0, err
    hooks = httpx.get(
        f"{admin_url}/admin/api/2024-10/webhooks.json",
        headers={"X-Shopify-Access-Token": sample.SAMPLE_TOKEN},
    ).json()["webhooks"]
    assert hooks == []
