"""The relay's configuration (TOML, connect's state, secrets from the environment) and its
front door run in-process: clear errors, 4xx for what a sender controls, a health endpoint."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from relaykit import SECRET, order, shopify_headers

from sourceflow.config import Settings
from sourceflow.errors import ConfigError
from sourceflow.platform.server import background
from sourceflow.relay.app import Relay, create_app
from sourceflow.relay.config import load
from sourceflow.state import Record, StateFile

INLET = "http://127.0.0.1:9/collection/" + "ab" * 32  # nothing listens: Adobe is away
ENV = {"SHOPIFY_SECRET": SECRET, "DB": "postgresql://relay:hunter2-db-password@db:5432/relay"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "relay.toml"
    path.write_text(text, encoding="utf-8")
    return path


FLOW = f"""
[[flows]]
name = "shop"
source = "shopify"
flow_id = "flow-1"
inlet_url = "{INLET}"
params = {{ shop = "acme.myshopify.com" }}
secrets = {{ clientSecret = "SHOPIFY_SECRET" }}
"""


def test_flows_from_the_file_with_secrets_from_the_environment(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, '[relay]\nstore_env = "DB"\nport = 9000\n' + FLOW), environ=ENV)
    [flow] = cfg.flows
    assert (flow.source, flow.flow_id, flow.inlet_id) == ("shopify", "flow-1", "ab" * 32)
    assert flow.config == {"shop": "acme.myshopify.com", "clientSecret": SECRET}
    assert cfg.port == 9000
    assert cfg.store_kind == "postgresql"
    assert "hunter2" not in cfg.describe_store()
    assert SECRET not in repr(cfg) and "hunter2" not in repr(cfg)


def test_flows_from_connect_state(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "state.json")
    state.save(
        Record(
            name="orders",
            source="shopify",
            platform_url="https://platform.adobe.io",
            sandbox="dev",
            ids={"flow": "flow-9"},
            endpoint={"inletUrl": INLET, "inletId": "ab" * 32},
        )
    )
    cfg = load(
        write(tmp_path, '[[flows]]\nconnection = "orders"\nsecrets = { clientSecret = "S" }\n'),
        state=tmp_path / "state.json",
        environ={"S": "x"},
    )
    assert [(f.name, f.flow_id, f.sandbox, f.inlet_url) for f in cfg.flows] == [
        ("orders", "flow-9", "dev", INLET)
    ]
    # Without a file: every flow connect recorded.
    assert [f.flow_id for f in load(None, state=tmp_path / "state.json").flows] == ["flow-9"]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (FLOW.replace("SHOPIFY_SECRET", "UNSET_VAR"), "UNSET_VAR, which is not set"),
        (FLOW.replace(INLET, "http://127.0.0.1:9/elsewhere"), "not an inlet URL"),
        (FLOW.replace('flow_id = "flow-1"\n', ""), "flow_id missing"),
        ('[[flows]]\nconnection = "nope"\n', "no connect run named 'nope'"),
        ('[relay]\nstore = "mysql://x"\n', "store must be sqlite:PATH or postgresql"),
        ("[relay\n", "not valid TOML"),
        (FLOW + FLOW, "are the same flow and inlet"),
    ],
)
def test_bad_configuration_is_a_clear_error(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        load(write(tmp_path, text), state=tmp_path / "none.json", environ=ENV)


def test_a_signed_source_without_its_secret_does_not_start(tmp_path: Path) -> None:
    cfg = load(write(tmp_path, FLOW.replace('secrets = { clientSecret = "SHOPIFY_SECRET" }', "")))
    with pytest.raises(ConfigError, match="signed with clientSecret"):
        Relay(cfg, settings=Settings())


def test_the_front_door_refuses_what_senders_get_wrong_with_4xx(tmp_path: Path) -> None:
    text = f'[relay]\nstore = "sqlite:{tmp_path / "r.db"}"\n' + FLOW
    relay = Relay(load(write(tmp_path, text), environ=ENV), settings=Settings())
    inlet = "ab" * 32
    with background(create_app(relay)) as url, httpx.Client(base_url=url) as http:
        health = http.get("/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok", "store": "sqlite", "flows": 1}
        assert http.post("/collection/" + "cd" * 32, content=b"{}").status_code == 404
        bad = b'{"id": 1,'
        answer = http.post(f"/collection/{inlet}", content=bad, headers=shopify_headers(bad, "1"))
        assert answer.status_code == 400
        assert "not valid JSON" in answer.json()["detail"]
        huge = b'{"x": "' + b"a" * 1_048_576 + b'"}'
        assert http.post(f"/collection/{inlet}", content=huge).status_code == 413
        body = order(1)
        headers = shopify_headers(body, "w1")
        assert http.post(f"/collection/{inlet}", content=body, headers=headers).status_code == 200
        assert http.post("/collection/batch/" + inlet, content=b"[]").status_code == 400
    # Adobe's inlet is unreachable here: the acknowledged delivery waits in the outbox.
    assert [s.depth for s in relay.outbox.status()] == [1]
    relay.outbox.close()
