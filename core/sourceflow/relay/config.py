"""What the relay fronts and how it runs, read from one TOML file (and ``connect``'s state).

All configuration loading lives here, so that another file (the project file) can feed the same
:class:`RelayConfig` later. A file::

    [relay]
    port = 8400
    public_url = "https://relay.example.com"     # what providers reach (for `relay urls`)
    store = "sqlite:.sourceflow/relay.db"        # or store_env = "SOURCEFLOW_RELAY_STORE"
    state = ".sourceflow/state.json"             # connect's record, for `connection = …`

    [[flows]]
    connection = "shop"                          # a connect run: source, flow, inlet URL
    params = { shop = "acme.myshopify.com" }
    secrets = { clientSecret = "SHOPIFY_CLIENT_SECRET" }   # param = env var holding it

    [[flows]]
    name = "chat"
    source = "chatlio"                           # a source name or connection spec id
    flow_id = "…"
    inlet_url = "https://dcs.adobedc.net/collection/…"
    authenticated = false                        # Adobe's inlet asks for an IMS token

Secrets are never written in the file: ``secrets`` maps a connection param to the name of the
environment variable that holds it, and a store URL with a password comes from ``store_env``.
Every secret read is registered with :mod:`sourceflow.redact`, so no log line shows it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from attrs import field, frozen

from sourceflow import redact
from sourceflow.config import DEV_SANDBOX
from sourceflow.errors import ConfigError
from sourceflow.state import StateFile

DEFAULT_PORT = 8400
DEFAULT_STORE = "sqlite:.sourceflow/relay.db"
MAX_MESSAGE_BYTES = 1_048_576
"""Adobe's limit per message (and per request): the relay takes nothing it could not forward."""


@frozen
class FlowEntry:
    """One flow the relay fronts.

    :param name: how logs and ``relay status`` name it.
    :param source: the plugin source (name or connection spec id) that verifies its deliveries.
    :param flow_id: the Adobe flow id (sent as ``x-adobe-flow-id``).
    :param inlet_url: Adobe's ``…/collection/{inletId}`` for the flow.
    :param inlet_id: the last segment of ``inlet_url``: the relay serves the same path.
    :param sandbox: ``x-sandbox-name`` for Adobe.
    :param authenticated: Adobe's inlet asks for an IMS token.
    :param config: what the plugin's ``sourceflow_verify_delivery`` sees (params and secrets).
    """

    name: str
    source: str
    flow_id: str
    inlet_url: str
    inlet_id: str
    sandbox: str = DEV_SANDBOX
    authenticated: bool = False
    config: dict[str, Any] = field(factory=dict, repr=False)


@frozen
class RelayConfig:
    """How the relay runs.

    :param flows: what it fronts.
    :param store: ``sqlite:PATH`` or ``postgresql://…``.
    :param host: address to listen on.
    :param port: port to listen on.
    :param public_url: the base URL providers post to (``relay urls``).
    :param dedupe_hours: how long a delivery id is remembered (Shopify retries for 48 hours).
    :param batch_max_messages: messages per forwarded batch at most.
    :param batch_max_bytes: bytes per forwarded batch request at most (Adobe: 1 MB).
    :param retry_cap_seconds: the longest wait between forwarding attempts while Adobe refuses.
    :param poll_seconds: how often an idle forwarder looks for rows other replicas stored.
    :param log_format: ``json`` (one object a line) or ``console``.
    """

    flows: tuple[FlowEntry, ...]
    store: str = field(default=DEFAULT_STORE, repr=False)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    public_url: str | None = None
    dedupe_hours: float = 72.0
    batch_max_messages: int = 500
    batch_max_bytes: int = 1_000_000
    retry_cap_seconds: float = 30.0
    poll_seconds: float = 0.5
    log_format: str = "json"

    @property
    def base_url(self) -> str:
        """What providers post to: ``public_url``, else the listening address."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def store_kind(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return "sqlite" if self.store.startswith("sqlite:") else "postgresql"

    def describe_store(self) -> str:
        """The store for logs: the kind and place, never a password."""
        if self.store_kind == "sqlite":
            return self.store
        parts = urlsplit(self.store)
        host = parts.hostname or "localhost"
        return f"postgresql://{host}{':' + str(parts.port) if parts.port else ''}{parts.path}"


def inlet_id_of(url: str) -> str:
    """The inlet id at the end of ``…/collection/{inletId}``; a ConfigError otherwise."""
    path = urlsplit(url).path.rstrip("/")
    _, sep, inlet_id = path.rpartition("/collection/")
    if not sep or not inlet_id or "/" in inlet_id or inlet_id == "batch":
        raise ConfigError(
            f"not an inlet URL: {url!r}", hint="an inlet URL ends in /collection/{inletId}"
        )
    return inlet_id


def load(
    path: Path | None = None,
    *,
    state: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> RelayConfig:
    """The relay's configuration from a TOML file and, for flows named by ``connection``, the
    state file ``connect`` writes.

    :param path: the TOML file; None: every flow recorded in the state file.
    :param state: the state file (else ``[relay] state``, else ``.sourceflow/state.json``).
    :param environ: where secrets are read (the process environment by default).
    """
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"no relay config at {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    relay = _table(raw, "relay", where=str(path))
    state_path = state or (Path(relay["state"]) if "state" in relay else None)
    records = StateFile(state_path)
    entries = raw.get("flows")
    if entries is None:
        entries = [{"connection": r.name} for r in records] if path is None else []
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: [[flows]] must be an array of tables")
    flows = tuple(_flow(e, i, records, env) for i, e in enumerate(entries))
    seen: dict[tuple[str, str], str] = {}
    for f in flows:
        key = (f.inlet_id, f.flow_id)
        if key in seen:
            raise ConfigError(f"flows {seen[key]!r} and {f.name!r} are the same flow and inlet")
        seen[key] = f.name
    store = relay.get("store", DEFAULT_STORE)
    if "store_env" in relay:
        name = str(relay["store_env"])
        if not env.get(name):
            raise ConfigError(f"[relay] store_env names {name}, which is not set")
        store = env[name]
        redact.register(_password(store))
    if not (
        str(store).startswith("sqlite:") or str(store).startswith(("postgresql:", "postgres:"))
    ):
        raise ConfigError(
            "[relay] store must be sqlite:PATH or postgresql://…",
            hint="a password belongs in the environment: store_env = VAR",
        )
    try:
        return RelayConfig(
            flows=flows,
            store=str(store),
            host=str(relay.get("host", "127.0.0.1")),
            port=int(relay.get("port", DEFAULT_PORT)),
            public_url=relay.get("public_url"),
            dedupe_hours=float(relay.get("dedupe_hours", 72.0)),
            batch_max_messages=int(relay.get("batch_max_messages", 500)),
            batch_max_bytes=min(int(relay.get("batch_max_bytes", 1_000_000)), MAX_MESSAGE_BYTES),
            retry_cap_seconds=float(relay.get("retry_cap_seconds", 30.0)),
            poll_seconds=float(relay.get("poll_seconds", 0.5)),
            log_format=str(relay.get("log_format", "json")),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: [relay] has a value of the wrong type: {exc}") from None


def _table(raw: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return value


def _password(url: str) -> str | None:
    return urlsplit(url).password


def _flow(entry: Any, index: int, records: StateFile, env: Mapping[str, str]) -> FlowEntry:
    if not isinstance(entry, dict):
        raise ConfigError(f"flows[{index}] must be a table")
    where = f"flows[{index}]"
    values: dict[str, Any] = {}
    connection = entry.get("connection")
    if connection is not None:
        found = [r for r in records if r.name == connection]
        if not found:
            raise ConfigError(
                f"{where}: no connect run named {connection!r} in {records.path}",
                hint="run `sourceflow connections` to list them, or give source, flow_id and "
                "inlet_url",
            )
        record = found[0]
        url = record.endpoint.get("inletUrl")
        if not url or "flow" not in record.ids:
            raise ConfigError(f"{where}: connect run {connection!r} has no flow and inlet yet")
        values.update(
            name=connection,
            source=record.source,
            flow_id=record.ids["flow"],
            inlet_url=url,
            sandbox=record.sandbox,
        )
    values.update(
        {k: entry[k] for k in ("name", "source", "flow_id", "inlet_url", "sandbox") if k in entry}
    )
    missing = [k for k in ("source", "flow_id", "inlet_url") if not values.get(k)]
    if missing:
        raise ConfigError(f"{where}: {', '.join(missing)} missing (or name a `connection`)")
    config: dict[str, Any] = dict(_table(entry, "params", where))
    for param, var in _table(entry, "secrets", where).items():
        if not isinstance(var, str):
            raise ConfigError(f"{where}: secrets.{param} must name an environment variable")
        value = env.get(var)
        if not value:
            raise ConfigError(
                f"{where}: secrets.{param} reads {var}, which is not set",
                hint=f"export {var} before starting the relay",
            )
        redact.register(value)
        config[param] = value
    return FlowEntry(
        name=str(values.get("name") or values["flow_id"]),
        source=str(values["source"]),
        flow_id=str(values["flow_id"]),
        inlet_url=str(values["inlet_url"]),
        inlet_id=inlet_id_of(str(values["inlet_url"])),
        sandbox=str(values.get("sandbox") or DEV_SANDBOX),
        authenticated=bool(entry.get("authenticated", False)),
        config=config,
    )
