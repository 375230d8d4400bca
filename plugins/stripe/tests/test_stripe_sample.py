"""``python -m sourceflow_stripe.sample``: the sample Stripe API as a process of its own, and one
setting that reaches both processes.

The platform (``sourceflow platform serve``) runs in another process, whose environment has no
``SOURCEFLOW_STRIPE_API_BASE``; the CLI's has it. ``connect`` checks the key against the sample
and stores the base on the connection, so the platform's run pulls from the sample too (before,
connect succeeded and the run then called api.stripe.com).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sourceflow import SourceflowError
from sourceflow.testing import free_port, platform_process
from sourceflow_stripe import sample
from sourceflow_stripe.plugin import api_for, check_api_base

ENV = "SOURCEFLOW_STRIPE_API_BASE"


def _env_without_base() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != ENV}


@pytest.fixture
def sample_api() -> Iterator[tuple[str, str]]:
    """The sample served by its module; its base URL and what it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sourceflow_stripe.sample", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env_without_base(),
    )
    assert proc.stdout is not None
    printed = []
    try:
        for line in proc.stdout:
            printed.append(line)
            if line.startswith(f"export {ENV}="):
                break
        else:
            pytest.fail("the sample printed no export line:\n" + "".join(printed))
        url = printed[-1].strip().split("=", 1)[1]
        for line in proc.stdout:  # the rest of the instructions
            printed.append(line)
            if line.startswith("Ctrl-C"):
                break
        yield url, "".join(printed)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[str]:
    """``sourceflow platform serve`` in a process of its own, without the variable."""
    with platform_process(tmp_path / "platform", env=_env_without_base()) as url:
        yield url


def test_the_sample_speaks_stripes_list_protocol(sample_api):
    url, printed = sample_api
    assert printed.startswith(f"Sample Stripe API on {url}: ")
    connect = "sourceflow connect stripe --dataset DATASET_ID --object charges"
    assert f"{connect} --param accessToken={sample.SAMPLE_KEY}\n" in printed
    assert f"--param apiBase={url}" in printed
    with httpx.Client(base_url=url, timeout=10) as stripe:
        refused = stripe.get("/v1/charges")
        assert refused.status_code == 401 and refused.headers["request-id"].startswith("req_")
        assert refused.json()["error"]["type"] == "invalid_request_error"
        assert "You did not provide an API key" in refused.json()["error"]["message"]
        live = "sk_live_notforthesample9876"
        refused = stripe.get("/v1/balance", headers={"Authorization": f"Bearer {live}"})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "api_key_invalid"
        assert live not in refused.text and refused.json()["error"]["message"].endswith("9876")
        auth = {"Authorization": f"Bearer {sample.SAMPLE_KEY}"}
        charges = sample.objects("charges")
        seen, params = [], {"limit": 3}
        while True:
            page = stripe.get("/v1/charges", params=params, headers=auth).json()
            assert page["object"] == "list" and page["url"] == "/v1/charges"
            seen += [c["id"] for c in page["data"]]
            if not page["has_more"]:
                break
            params["starting_after"] = page["data"][-1]["id"]
        assert seen == [c["id"] for c in charges]
        newest = charges[0]["created"]
        recent = stripe.get("/v1/charges", params={"created[gte]": newest}, headers=auth).json()
        assert recent["data"] and all(c["created"] >= newest for c in recent["data"])
        bad = stripe.get("/v1/charges", params={"limit": 101}, headers=auth)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "limit"
        bad = stripe.get("/v1/charges", params={"created[gte]": "soon"}, headers=auth)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "created[gte]"
        bad = stripe.get("/v1/charges", params={"starting_after": "ch_nope"}, headers=auth)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "resource_missing"
        assert stripe.get("/v1/nothing", headers=auth).status_code == 404


def test_one_setting_reaches_the_cli_and_the_platform(
    sample_api, platform, sourceflow_cli, monkeypatch, tmp_path
):
    url, _ = sample_api
    monkeypatch.setenv(ENV, url)
    monkeypatch.chdir(tmp_path)
    code, out, err = sourceflow_cli("--platform", platform, "datasets", "create", "c")
    assert code == 0, err
    dataset = out.strip()
    later = int(time.time()) + 3600  # no scheduled run meanwhile: only the one started below
    code, out, err = sourceflow_cli(
        "--platform", platform, "connect", "stripe", "--dataset", dataset,
        "--param", f"accessToken={sample.SAMPLE_KEY}", "--object", "charges",
        "--schedule", f"minute:15@{later}", "--json",
    )  # fmt: skip
    assert code == 0, err
    flow = json.loads(out)["flowId"]
    code, out, err = sourceflow_cli("--platform", platform, "runs", flow, "--start")
    assert code == 0, err
    row = out.splitlines()[2].split()
    charges = len(sample.objects("charges"))
    assert row[1] == "success", out
    assert row[-3:] == [str(charges), str(charges), "0"]
    # The rows are the sample's: the platform pulled from it, not from api.stripe.com.
    code, out, err = sourceflow_cli("--platform", platform, "datasets", "rows", dataset)
    assert code == 0 and "Ada Lovelace" in out


def test_connect_fails_at_once_when_the_base_does_not_answer(
    platform, sourceflow_cli, monkeypatch, tmp_path
):
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv(ENV, closed)
    monkeypatch.chdir(tmp_path)
    code, out, _ = sourceflow_cli("--platform", platform, "datasets", "create", "c")
    code, _, err = sourceflow_cli(
        "--platform", platform, "connect", "stripe", "--dataset", out.strip(),
        "--param", f"accessToken={sample.SAMPLE_KEY}", "--object", "charges",
    )  # fmt: skip
    assert code == 1
    assert f"cannot reach Stripe at {closed}" in err and ENV in err
    code, out, _ = sourceflow_cli("--platform", platform, "flows", "--json")
    assert code == 0 and json.loads(out) == []


REFUSED = r"apiBase: .* is neither Stripe's API base nor an http\(s\) URL on this machine"


@pytest.mark.parametrize(
    "base",
    [
        "ftp://127.0.0.1", "127.0.0.1:12111", "http://127.0.0.1/x?y=1", " ",
        # Anywhere else, the secret key would be sent to a host of the caller's choosing.
        "http://attacker.example", "https://10.0.0.5:443", "https://api.stripe.com.evil.net",
        "http://api.stripe.com", "https://user@evil.example/@127.0.0.1",
    ],
)  # fmt: skip
def test_an_api_base_other_than_stripe_or_loopback_is_refused(base):
    with pytest.raises(SourceflowError, match=REFUSED):
        check_api_base(base)


@pytest.mark.parametrize(
    ("base", "kept"),
    [
        ("http://127.0.0.1:12111/", "http://127.0.0.1:12111"),
        ("http://127.0.0.2:9", "http://127.0.0.2:9"),
        ("http://localhost:1", "http://localhost:1"),
        ("http://[::1]:2", "http://[::1]:2"),
        ("https://api.stripe.com/", "https://api.stripe.com"),
    ],
)
def test_stripe_and_loopback_api_bases_are_kept(base, kept):
    assert check_api_base(base) == kept


def test_a_patched_api_base_is_checked_again_before_the_key_is_sent():
    """connect checks apiBase; a PATCH can change it afterwards: every client checks it."""
    with pytest.raises(SourceflowError, match=REFUSED):
        api_for({"accessToken": sample.SAMPLE_KEY, "apiBase": "https://collector.example"})
