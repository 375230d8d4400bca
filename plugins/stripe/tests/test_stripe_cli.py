"""The Stripe commands as a user types them (in-process), against a loopback platform and the
fake Stripe: connect with a schedule, explore, flows, runs --start, teardown."""

from __future__ import annotations

import json
import re

import pytest
from fakestripe import KEY

from sourceflow.testing import local_platform


@pytest.fixture
def platform_url(tmp_path):
    # The scheduler does not tick here: runs start only when asked (runs --start).
    with local_platform(tmp_path / "platform", scheduler=False) as served:
        yield served.url


def sf(sourceflow_cli, url: str, *args: str) -> tuple[int, str, str]:
    return sourceflow_cli("--platform", url, *args)


def test_connect_explore_run_and_tear_down(stripe, platform_url, tmp_path, sourceflow_cli):
    fake, stripe_url = stripe
    fake.add("charges", 7)
    state = str(tmp_path / "state.json")
    code, out, _ = sf(sourceflow_cli, platform_url, "datasets", "create", "charges")
    dataset = out.strip()
    code, out, err = sf(
        sourceflow_cli, platform_url, "connect", "stripe", "--dataset", dataset,
        "--param", f"accessToken={KEY}", "--param", f"apiBase={stripe_url}",
        "--object", "charges", "--schedule", "minute:15@1710267858", "--state", state, "--json",
    )  # fmt: skip
    assert code == 0, err
    flow_id = json.loads(out)["flowId"]
    assert KEY not in out + err

    code, out, _ = sf(sourceflow_cli, platform_url, "explore", "stripe", "--state", state)
    assert code == 0 and "balance_transactions" in out
    code, out, _ = sf(sourceflow_cli, platform_url, "explore", "stripe", "charges", "--preview")
    assert code == 0
    assert re.search(r"^data\.payment_method_details\.card\.last4 +string$", out, re.M)
    assert out.count('"object": "charge"') == 7

    code, out, _ = sf(sourceflow_cli, platform_url, "flows")
    assert code == 0 and flow_id in out
    assert "every 15 minutes from 2024-03-12 18:24:18" in out

    code, out, err = sf(sourceflow_cli, platform_url, "runs", flow_id, "--start")
    assert code == 0, err
    header, _, row = out.splitlines()[:3]
    assert header.split()[:2] == ["RUN", "STATUS"]
    assert row.split()[1] == "success" and row.split()[-3:] == ["7", "7", "0"]
    code, out, _ = sf(sourceflow_cli, platform_url, "runs", flow_id, "--json")
    (run,) = json.loads(out)
    assert run["metrics"]["recordSummary"]["outputRecordCount"] == 7

    code, _, err = sf(sourceflow_cli, platform_url, "teardown", "--state", state)
    assert code == 0 and "base connection" in err
    code, out, _ = sf(sourceflow_cli, platform_url, "flows", "--json")
    assert json.loads(out) == []


@pytest.mark.parametrize(
    ("schedule", "says"),
    [
        ("minute:5", "scheduleParams.interval: must be at least 15"),
        ("fortnight:1", "scheduleParams.frequency: must be one of once"),
        ("once:3", "must be left out when frequency is 'once'"),
    ],
)
def test_a_bad_schedule_is_refused_before_anything_is_created(
    platform_url, sourceflow_cli, schedule, says
):
    code, _, err = sf(
        sourceflow_cli, platform_url, "connect", "stripe", "--dataset", "x", "--object", "charges",
        "--param", f"accessToken={KEY}", "--schedule", schedule,
    )  # fmt: skip
    assert code == 1 and says in err
    assert "FREQ[:INTERVAL][@START]" in err


def test_explore_names_what_is_missing(platform_url, sourceflow_cli):
    code, _, err = sf(sourceflow_cli, platform_url, "explore", "stripe")
    assert code == 1 and "no Stripe base connection" in err
    assert "sourceflow connect stripe" in err
    code, _, err = sf(sourceflow_cli, platform_url, "explore", "nope-0000")
    assert code == 1 and "neither an installed source" in err
