"""A host application in one file: discover sources, render and check their forms, connect one.

Run it from ``docs/examples`` (or with that folder on ``PYTHONPATH``)::

    python -m host_app                      # starts a local Flow Service of its own
    python -m host_app --html forms.html    # also writes every form as HTML
    python -m host_app --platform-url URL --dataset ID   # a platform that is already running

Against Adobe, set ``SOURCEFLOW_CLIENT_ID``, ``SOURCEFLOW_CLIENT_SECRET`` and
``SOURCEFLOW_ORG_ID`` and pass ``--platform-url https://platform.adobe.io`` with an existing
dataset. What a real host app would take from its UI (the typed form values) is fixed here,
so that the example runs unattended, in the test suite too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from host_app.audit import AUDIT_PLUGIN, AuditLog
from host_app.forms import Form, coerce, forms_for, masked, render_html, render_text, validate
from sourceflow import config, model, plugins
from sourceflow.client import FlowServiceClient
from sourceflow.errors import SourceflowError
from sourceflow.hooktypes import JSON
from sourceflow.lifecycle import Connected, ConnectRequest, Lifecycle
from sourceflow.state import StateFile

# What "the user" types into the HTTP API source's form: first with mistakes, then right.
# Form input is text; coerce() turns it into the schema's types.
TYPED_WRONG = {"sourceId": "", "dataType": "json", "colour": "blue"}
TYPED_RIGHT = {"sourceId": "host-app", "name": "host-app", "dataType": "raw"}
# A Stripe key, to show that a secret is masked wherever the app echoes input back.
TYPED_STRIPE = {"accessToken": "sk_test_hostAppExample000", "requestsPerSecond": "5"}

# Raw records are mapped into the dataset's XDM shape by Data Prep rules.
RULES = (("name", "person.name.fullName"), ("email", "personalEmail.address"))
RECORD = {"name": "Ada Lovelace", "email": "ada@example.com"}


@dataclass(frozen=True)
class InstalledSource:
    """A row of the sources list: which plugin (and version) provides what."""

    name: str
    title: str
    mode: str
    plugin: str
    version: str | None


@dataclass
class Outcome:
    """What a run of the example did, for its caller (and its tests) to look at."""

    sources: list[InstalledSource] = field(default_factory=list)
    forms: list[Form] = field(default_factory=list)
    refused: dict[str, list[str]] = field(default_factory=dict)
    shown_stripe_input: dict[str, Any] = field(default_factory=dict)
    connected: Connected | None = None
    rows: list[JSON] = field(default_factory=list)
    failure: str | None = None
    torn_down: list[str] = field(default_factory=list)
    audit: list[str] = field(default_factory=list)


def installed_sources(registry: plugins.Registry) -> list[InstalledSource]:
    """The sources of every loaded plugin, with the distribution that provides each."""
    versions = {info.name: info.version for info in registry.plugins()}
    return [
        InstalledSource(
            name=s.name,
            title=s.title,
            mode=s.mode,
            plugin=registry.owner(s),
            version=versions.get(registry.owner(s)),
        )
        for s in registry.sources()
    ]


def mapping() -> model.MappingSet:
    """The Data Prep rules for :data:`RECORD`."""
    return model.MappingSet(
        mappings=[model.MappingRule(source_attribute=s, destination_xdm_path=d) for s, d in RULES]
    )


def broken_mapping() -> model.MappingSet:
    """A mapping the platform refuses (``lowr`` is no Data Prep function): an error to handle."""
    bad = mapping()
    bad.mappings[0].source_attribute = "lowr(name)"
    bad.mappings[0].source_type = "EXPRESSION"
    return bad


@contextmanager
def local_platform(registry: plugins.Registry, data_dir: Path) -> Iterator[str]:
    """A local Flow Service serving the same plugins, on a free loopback port."""
    # Imported here: a host app that only talks to Adobe never needs the server side.
    from sourceflow.platform.app import PlatformConfig, create_app
    from sourceflow.platform.server import background

    with background(create_app(PlatformConfig(data_dir=data_dir), registry=registry)) as url:
        yield url


def wait_for_rows(
    client: FlowServiceClient, dataset_id: str, want: int, timeout: float = 10
) -> list[JSON]:
    """The dataset's rows once there are ``want`` of them (the inlet acknowledges a record
    before it is mapped and written, so rows appear a moment after the send)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = client.dataset_rows(dataset_id)
        if len(rows) >= want or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def run(
    out: TextIO,
    *,
    data_dir: Path,
    platform_url: str | None = None,
    dataset_id: str | None = None,
    html_path: Path | None = None,
) -> Outcome:
    """Everything the example does, printing as it goes; see the module docstring."""
    outcome = Outcome()
    registry = plugins.load()
    audit = AuditLog()
    registry.register(audit, AUDIT_PLUGIN)
    for failure in registry.failures:
        # A broken plugin is reported and left out; the others keep working.
        print(f"! plugin {failure.distribution} left out: {failure.error}", file=out)

    print("== Installed sources", file=out)
    outcome.sources = installed_sources(registry)
    for s in outcome.sources:
        print(f"  {s.name:<8} {s.title:<18} {s.mode:<9} {s.plugin} {s.version or ''}", file=out)

    print("\n== Forms", file=out)
    for source in registry.sources():
        for form in forms_for(source):
            outcome.forms.append(form)
            print(render_text(form), file=out)
    if html_path is not None:
        html_path.write_text(
            "<!doctype html>\n" + "\n".join(render_html(f) for f in outcome.forms) + "\n",
            encoding="utf-8",
        )
        print(f"  (written as HTML to {html_path})", file=out)

    print("\n== Checking input", file=out)
    http_form = next(f for f in outcome.forms if f.source == "http" and f.kind == "auth")
    outcome.refused = validate(http_form, coerce(http_form, TYPED_WRONG))
    for name, messages in outcome.refused.items():
        print(f"  refused: {name}: {'; '.join(messages)}", file=out)
    credentials = coerce(http_form, TYPED_RIGHT)
    if problems := validate(http_form, credentials):
        raise SystemExit(f"the example's own input is invalid: {problems}")
    print(f"  accepted: {masked(http_form, credentials)}", file=out)
    stripe_form = next(f for f in outcome.forms if f.source == "stripe" and f.kind == "auth")
    stripe_values = coerce(stripe_form, TYPED_STRIPE)
    outcome.shown_stripe_input = masked(stripe_form, stripe_values)
    verdict = validate(stripe_form, stripe_values) or "valid"
    print(f"  stripe input {outcome.shown_stripe_input}: {verdict}", file=out)

    with ExitStack() as stack:
        if platform_url is None:
            platform_url = stack.enter_context(local_platform(registry, data_dir))
            print(f"\n== Local Flow Service on {platform_url}", file=out)
        settings = config.from_env(platform_url=platform_url)
        client = stack.enter_context(FlowServiceClient(settings))
        lifecycle = Lifecycle(client, registry, StateFile(data_dir / "state.json"))
        if dataset_id is None:
            dataset_id = client.datasets.create(
                model.Dataset(
                    name="host app people",
                    schema_ref=model.XdmSchemaRef(id="https://ns.adobe.com/host-app/person"),
                )
            )

        print("\n== Connecting the HTTP API source", file=out)
        connected = lifecycle.connect(
            ConnectRequest(
                source="http",
                name="host-app",
                dataset_id=dataset_id,
                credentials=credentials,
                mapping=mapping(),
            )
        )
        outcome.connected = connected
        print(f"  flow {connected.flow_id}, inlet {connected.inlet_url}", file=out)
        assert connected.inlet_url is not None  # the HTTP API source always has an inlet
        with client.inlet(connected.inlet_url, flow_id=connected.flow_id) as sender:
            receipt = sender.send(RECORD)
        print(f"  sent one record: xactionId {receipt.xaction_id}", file=out)
        if settings.is_adobe:
            print("  (Adobe has no API to read rows back: query the dataset instead)", file=out)
        else:
            outcome.rows = wait_for_rows(client, dataset_id, want=1)
            for row in outcome.rows:
                print(f"  landed: {row['record']}", file=out)

        print("\n== Handling a failure", file=out)
        try:
            lifecycle.connect(
                ConnectRequest(
                    source="http",
                    name="host-app-broken",
                    dataset_id=dataset_id,
                    credentials={**credentials, "sourceId": "host-app-broken"},
                    mapping=broken_mapping(),
                )
            )
        except SourceflowError as exc:
            # The message names the resource and the problem; resources created before the
            # failing step are in the state file, so teardown (or a re-run) can deal with them.
            outcome.failure = str(exc)
            print(f"  connect failed: {exc}", file=out)

        print("\n== Tearing down", file=out)
        for record in list(lifecycle.state.find(settings.platform_url, settings.sandbox)):
            if record.name in ("host-app", "host-app-broken"):
                undone = lifecycle.teardown(record)
                outcome.torn_down.append(record.name)
                print(f"  {record.name}: {', '.join(undone)}", file=out)

    print("\n== Audit log (observer hooks)", file=out)
    for entry in audit.entries:
        print(f"  {entry}", file=out)
    outcome.audit = audit.steps()
    return outcome


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """The command line: ``python -m host_app [--html FILE] [--platform-url URL --dataset ID]``."""
    parser = argparse.ArgumentParser(prog="host_app", description=__doc__.split("\n")[0])
    parser.add_argument("--html", type=Path, help="also write every form to this HTML file")
    parser.add_argument(
        "--platform-url", help="use this running platform instead of starting a local one"
    )
    parser.add_argument("--dataset", help="an existing dataset id (needed with --platform-url)")
    parser.add_argument(
        "--data-dir", type=Path, help="where the local platform and the state file live"
    )
    args = parser.parse_args(argv)
    if args.platform_url and not args.dataset:
        parser.error("--platform-url needs --dataset: the example creates datasets only locally")
    with ExitStack() as stack:
        data_dir = args.data_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="host-app-"))
        )
        try:
            run(
                out or sys.stdout,
                data_dir=data_dir,
                platform_url=args.platform_url,
                dataset_id=args.dataset,
                html_path=args.html,
            )
        except SourceflowError as exc:
            # Errors say what failed and carry a hint; nothing more is needed to act on them.
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0
