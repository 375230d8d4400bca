"""The host-app example (docs/examples/host_app) runs, and does what docs/host-apps.md says.

It is run once in-process against a local platform it starts itself (the outcome is shared by
the tests below), and once as ``python -m host_app`` against a platform it did not start.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sourceflow import config, model
from sourceflow.client import FlowServiceClient
from sourceflow.platform.app import PlatformConfig, create_app
from sourceflow.platform.server import background
from sourceflow.state import StateFile

EXAMPLES = Path(__file__).parents[1] / "docs" / "examples"
sys.path.insert(0, str(EXAMPLES))

from host_app import app, forms  # noqa: E402
from host_app.app import Outcome  # noqa: E402

SOURCES = {"chatlio", "http", "shopify", "stripe"}


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> tuple[Outcome, str, Path]:
    """One run of the whole example: its outcome, what it printed and its data folder."""
    data_dir = tmp_path_factory.mktemp("host-app")
    out = io.StringIO()
    outcome = app.run(out, data_dir=data_dir, html_path=data_dir / "forms.html")
    return outcome, out.getvalue(), data_dir


def test_lists_the_four_installed_sources_with_their_plugins(ran):
    outcome, printed, _ = ran
    assert {s.name for s in outcome.sources} == SOURCES
    assert {s.name: s.plugin for s in outcome.sources} == {n: f"sourceflow-{n}" for n in SOURCES}
    assert {s.name: s.mode for s in outcome.sources}["stripe"] == "scheduled"
    for s in outcome.sources:
        assert f"{s.name:<8} {s.title}" in printed


def test_renders_a_form_for_every_source_with_its_fields(ran):
    outcome, printed, _ = ran
    fields = {(f.source, f.name): [x.name for x in f.fields] for f in outcome.forms}
    assert {source for source, _ in fields} == SOURCES
    assert fields["http", "Streaming Connection"] == [
        "sourceId",
        "dataType",
        "name",
        "authenticationRequired",
    ]
    assert fields["shopify", "Shopify Streaming"] == ["shop", "clientSecret"]
    assert fields["chatlio", "Chatlio"] == []
    assert "resourcePath" in fields["stripe", "Stripe"]
    assert {name for source, name in fields if source == "stripe"} == {
        "OAuth2 Refresh Code",
        "Stripe Connect OAuth",
        "Stripe",
    }
    http = next(f for f in outcome.forms if f.source == "http")
    data_type = http.field("dataType")
    assert (data_type.type, data_type.required, data_type.enum, data_type.default) == (
        "string",
        True,
        ("xdm", "raw"),
        "xdm",
    )
    assert http.field("authenticationRequired").type == "boolean"
    assert not http.field("authenticationRequired").required
    assert "dataType (string, required) one of: xdm | raw [default: xdm]" in printed
    assert "xdm: messages are XDM envelopes" in printed  # descriptions are shown
    assert "Chatlio — source connection params: Chatlio\n  (nothing to fill in)" in printed


def test_secret_fields_are_masked_and_never_printed(ran):
    outcome, printed, data_dir = ran
    stripe = next(f for f in outcome.forms if f.name == "OAuth2 Refresh Code")
    assert stripe.field("accessToken").secret and stripe.field("webhookSecret").secret
    assert not stripe.field("stripeUserId").secret
    assert "accessToken (string, required, secret)  [***]" in printed
    assert outcome.shown_stripe_input == {"accessToken": "***", "requestsPerSecond": 5.0}
    assert app.TYPED_STRIPE["accessToken"] not in printed
    page = (data_dir / "forms.html").read_text(encoding="utf-8")
    assert '<input type="password" id="stripe-OAuth2-Refresh-Code-accessToken"' in page
    assert '<select id="http-Streaming-Connection-dataType"' in page


def test_invalid_input_is_refused_naming_each_field(ran):
    outcome, printed, _ = ran
    assert outcome.refused == {
        "sourceId": ["must not be empty"],
        "dataType": ["must be one of: xdm, raw"],
        "name": ["is required"],
        "colour": ["is not a field of this form"],
    }
    assert "refused: dataType: must be one of: xdm, raw" in printed


def test_the_observer_logs_every_step_in_order(ran):
    outcome, _, _ = ran
    connect = [
        f"{event} {step}"
        for step in (
            "authenticate",
            "base_connection",
            "source_connection",
            "target_connection",
            "mapping",
            "flow",
            "endpoint",
        )
        for event in ("before", "after")
    ]
    # The second connect fails at its mapping step: on_step_error, and nothing after it.
    failed = [*connect[:8], "before mapping", "error mapping"]
    teardown = ["before teardown", "after teardown"] * 2
    assert outcome.audit == connect + failed + teardown


def test_a_record_sent_reaches_the_dataset_mapped(ran):
    outcome, _, _ = ran
    assert outcome.connected is not None and outcome.connected.inlet_url
    assert [row["record"] for row in outcome.rows] == [
        {
            "person": {"name": {"fullName": "Ada Lovelace"}},
            "personalEmail": {"address": "ada@example.com"},
        }
    ]
    assert [row["flowId"] for row in outcome.rows] == [outcome.connected.flow_id]


def test_a_failed_connect_is_reported_and_everything_is_torn_down(ran):
    outcome, _, data_dir = ran
    assert outcome.failure is not None and "unknown function 'lowr'" in outcome.failure
    assert sorted(outcome.torn_down) == ["host-app", "host-app-broken"]  # any order
    assert list(StateFile(data_dir / "state.json")) == []


# --- the forms module on its own --------------------------------------------------------------


SCHEMA = {
    "type": "object",
    "properties": {
        "login": {"type": "string", "minLength": 1},
        "pin": {"type": "string", "format": "password"},
        "passphrase": {"type": "string", "writeOnly": True},
        "retries": {"type": "integer", "minimum": 0},
        "verbose": {"type": "boolean"},
    },
    "required": ["login", "pin"],
    "additionalProperties": False,
}


def form() -> forms.Form:
    return forms.Form(
        source="acme",
        title="Acme",
        kind="auth",
        name="Basic",
        description="",
        schema=SCHEMA,
        fields=forms._fields(SCHEMA),
    )


def test_secrets_are_found_by_format_write_only_and_name():
    assert [f.name for f in form().fields if f.secret] == ["pin", "passphrase"]
    assert forms.is_secret("clientSecret", {"type": "string"})
    assert not forms.is_secret("shop", {"type": "string"})


def test_typed_text_is_coerced_to_the_schema_types_and_blanks_dropped():
    values = forms.coerce(form(), {"login": "x", "pin": "1", "retries": "3", "verbose": "on"})
    assert values == {"login": "x", "pin": "1", "retries": 3, "verbose": True}
    assert forms.coerce(form(), {"login": "x", "retries": ""}) == {"login": "x"}
    assert forms.coerce(form(), {"retries": "many"}) == {"retries": "many"}


def test_validation_names_fields_and_never_echoes_a_value():
    secret = "hunter2-hunter2"
    problems = forms.validate(form(), {"login": "", "pin": 1234, "passphrase": 7, "retries": -1})
    assert problems == {
        "login": ["must not be empty"],
        "pin": ["must be of type string"],
        "passphrase": ["must be of type string"],
        "retries": ["must be at least 0"],
    }
    problems = forms.validate(form(), {"login": "x", "pin": secret, "retries": secret})
    assert problems == {"retries": ["must be of type integer"]}
    assert secret not in str(problems)
    assert forms.validate(form(), {"login": "x", "pin": "1"}) == {}


def test_masked_hides_secret_fields_only():
    shown = forms.masked(form(), {"login": "ada", "pin": "1234", "passphrase": ""})
    assert shown == {"login": "ada", "pin": "***", "passphrase": ""}


# --- as a program -------------------------------------------------------------------------------


def test_runs_as_a_module_against_a_platform_it_did_not_start(tmp_path):
    with background(create_app(PlatformConfig(data_dir=tmp_path / "platform"))) as url:
        with FlowServiceClient(config.Settings(platform_url=url)) as client:
            dataset = client.datasets.create(model.Dataset(name="people"))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EXAMPLES), *sys.path])}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "host_app",
                "--platform-url",
                url,
                "--dataset",
                dataset,
                "--data-dir",
                str(tmp_path / "app"),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert "landed: {'person': {'name': {'fullName': 'Ada Lovelace'}}" in done.stdout
    assert "error  mapping" in done.stdout
    assert "Local Flow Service" not in done.stdout  # it used the one it was given


def test_a_platform_url_without_a_dataset_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        app.main(["--platform-url", "http://127.0.0.1:9"])
    assert exit_.value.code == 2
    assert "--platform-url needs --dataset" in capsys.readouterr().err
