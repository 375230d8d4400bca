"""``sourceflow demo``: the whole lifecycle on a local platform, start to finish.

What a command needs only when it runs is imported inside it: see :mod:`sourceflow.cli`, why.
"""

from __future__ import annotations

import json
import tempfile
import time
from contextlib import ExitStack
from importlib import resources
from pathlib import Path
from typing import Any

import click

from sourceflow.cli import common


def _sample(name: str) -> str:
    return resources.files("sourceflow.demo_data").joinpath(name).read_text(encoding="utf-8")


def _heading(text: str) -> None:
    click.echo("")
    click.secho(text, bold=True)


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Keep the platform's SQLite file here [default: a temporary folder].",
)
@click.option("--keep", is_flag=True, help="Leave the connections in place (no teardown).")
def demo(data_dir: Path | None, keep: bool) -> None:
    """Run the whole lifecycle on a local platform: connect, send, see the rows, tear down.

    Starts the local Flow Service on a free loopback port, connects the HTTP API source twice
    (raw records with a mapping, and an authenticated XDM inlet), streams sample records
    (bundled sample data), shows the rows that landed and the record that failed mapping;
    then a Chatlio flow receiving sample events and a Shopify flow receiving signed sample
    orders (one delivered twice, one forged); then a Stripe flow whose scheduled run pulls
    sample charges from a bundled sample Stripe API; then the same engine from a project
    file (sourceflow.toml: plan, apply, an edit applied in place, destroy); then tears
    everything down.
    """
    from sourceflow import config, model, plugins, wire
    from sourceflow.client import FlowServiceClient
    from sourceflow.lifecycle import ConnectRequest, Lifecycle
    from sourceflow.platform.app import PlatformConfig, create_app
    from sourceflow.platform.server import background
    from sourceflow.state import StateFile

    with ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sourceflow-")))
        data_dir.mkdir(parents=True, exist_ok=True)
        registry = plugins.load()
        _heading("1. Start the local Flow Service")
        url = stack.enter_context(
            background(create_app(PlatformConfig(data_dir=data_dir), registry=registry))
        )
        click.echo(f"  listening on {url}, storing in {data_dir}/")
        settings = config.Settings(platform_url=url)
        client = stack.enter_context(FlowServiceClient(settings))
        lifecycle = Lifecycle(
            client, registry, StateFile(data_dir / "state.json"), progress=common.step_printer
        )

        _heading("2. Create two datasets (the catalog)")
        people = client.datasets.create(
            model.Dataset(
                name="demo people",
                schema_ref=model.XdmSchemaRef(
                    id="https://ns.adobe.com/sourceflow/schemas/demo-person"
                ),
            )
        )
        profiles = client.datasets.create(
            model.Dataset(
                name="demo profiles",
                schema_ref=model.XdmSchemaRef(
                    id="https://ns.adobe.com/sourceflow/schemas/demo-profile"
                ),
            )
        )
        click.echo(f"  people   {people}\n  profiles {profiles}")

        _heading("3. Connect the HTTP API source: raw JSON, mapped by Data Prep rules")
        mapping = wire.from_json(json.loads(_sample("mapping.json")), model.MappingSet)
        raw = lifecycle.connect(
            ConnectRequest(
                source="http",
                name="demo-raw",
                dataset_id=people,
                mapping=mapping,
                credentials={"sourceId": "demo-raw", "name": "demo-raw", "dataType": "raw"},
            )
        )
        click.echo(f"  inlet {raw.inlet_url}")

        _heading("4. Connect it again, authenticated, for XDM messages")
        secure = lifecycle.connect(
            ConnectRequest(
                source="http",
                name="demo-authenticated",
                dataset_id=profiles,
                credentials={
                    "sourceId": "demo-authenticated",
                    "name": "demo-authenticated",
                    "dataType": "xdm",
                    "authenticationRequired": True,
                },
            )
        )
        click.echo(f"  inlet {secure.inlet_url} (token required)")

        _heading("5. Stream the sample records (demo_data/people.jsonl)")
        records = [json.loads(line) for line in _sample("people.jsonl").splitlines() if line]
        assert raw.inlet_url is not None
        receipt = client.inlet(raw.inlet_url, flow_id=raw.flow_id).send_batch(records)
        accepted = sum(1 for r in receipt.responses if not r.status_code or r.status_code < 300)
        click.echo(f"  batch {receipt.batch_id}: {accepted} of {len(records)} accepted")

        _heading("6. Send an XDM message to the authenticated inlet")
        event = json.loads(_sample("xdm_event.json"))
        event["header"].update(datasetId=profiles, flowId=secure.flow_id)
        assert secure.inlet_url is not None
        refused = _post_without_token(secure.inlet_url, event)
        click.echo(f"  without a token: {refused}")
        ok = client.inlet(secure.inlet_url, flow_id=secure.flow_id, authenticated=True).send(event)
        click.echo(f"  with a token:    200 xactionId={ok.xaction_id}")

        _heading("7. What landed")
        landed = _wait_for_rows(client, people, want=len(records) - 1)
        common.table(
            [
                (
                    r["record"].get("_sourceflow", {}).get("personId"),
                    r["record"].get("person", {}).get("name", {}).get("fullName"),
                    r["record"].get("personalEmail", {}).get("address"),
                    r["record"].get("homeAddress", {}).get("city"),
                    r["record"].get("_sourceflow", {}).get("loyaltyPoints"),
                    r["record"].get("_sourceflow", {}).get("loyaltyTier"),
                )
                for r in landed
            ],
            ["ID", "NAME", "EMAIL", "CITY", "POINTS", "TIER"],
        )
        for failure in client.flow_failures(raw.flow_id):
            click.echo(
                f"  kept, not dropped: {failure['xactionId']} failed mapping: "
                f"{failure['error']['message']}"
            )
        secured = _wait_for_rows(client, profiles, want=1)
        click.echo(
            f"  profiles dataset: {len(secured)} row(s): "
            f"{json.dumps(secured[0]['record']['person']['name'])}"
        )

        from sourceflow.cli.demo_streaming import streaming_demo

        streaming = streaming_demo(
            client,
            lifecycle,
            registry,
            heading=_heading,
            table=common.table,
            wait_for_rows=_wait_for_rows,
            first=8,
        )

        from sourceflow.cli.demo_stripe import stripe_demo

        scheduled = stripe_demo(
            client, lifecycle, registry, heading=_heading, table=common.table, number=10
        )

        _project_demo(client, registry, data_dir)

        if keep:
            _heading(f"Left in place; the platform's file is in {data_dir}/")
            return
        _heading("12. Tear down, newest first")
        state = lifecycle.state
        for name in (*scheduled, *reversed(streaming), "demo-authenticated", "demo-raw"):
            record = state.get(name, settings.platform_url, settings.sandbox)
            if record is not None:
                lifecycle.teardown(record)
        click.echo("\ndone.")


PROJECT_FILE = """\
[project]
name = "demo"

[datasets.events]
schema = "https://ns.adobe.com/sourceflow/schemas/demo-person"

[sources.demo-file-web]
plugin = "http"
dataset = "events"
authenticated = {authenticated}
"""


def _project_demo(client: Any, registry: Any, data_dir: Path) -> None:
    """The file-based path: the same reconcile engine as connect, from sourceflow.toml."""
    from sourceflow.cli.project_cmd import _show
    from sourceflow.engine import project

    _heading("11. The same as code: sourceflow.toml, plan, apply, edit, apply, destroy")
    folder = data_dir / "project"
    folder.mkdir(exist_ok=True)
    path = folder / "sourceflow.toml"
    path.write_text(PROJECT_FILE.format(authenticated="false"), encoding="utf-8")
    click.echo(f"  {path}:\n" + "".join(f"    {line}\n" for line in path.read_text().splitlines()))

    def run() -> project.ProjectRun:
        return project.ProjectRun(
            project.load(path, registry), client, registry, progress=common.step_printer
        )

    click.echo("  $ sourceflow plan")
    _show(run().plan(), verbose=False)
    click.echo("  $ sourceflow apply")
    run().apply()
    click.echo("  edit: authenticated = true;  $ sourceflow plan")
    path.write_text(PROJECT_FILE.format(authenticated="true"), encoding="utf-8")
    _show(run().plan(), verbose=False)
    click.echo("  $ sourceflow apply   (updated in place: the inlet URL stays)")
    run().apply()
    click.echo("  $ sourceflow plan    (a second apply would change nothing)")
    _show(run().plan(), verbose=False)
    click.echo("  $ sourceflow destroy")
    run().destroy()


def _post_without_token(inlet_url: str, body: dict[str, Any]) -> str:
    import httpx

    answer = httpx.post(inlet_url, json=body, timeout=10)
    return f"{answer.status_code} {answer.text}"


def _wait_for_rows(client: Any, dataset_id: str, want: int, timeout: float = 15) -> list[Any]:
    # Mapping runs after the inlet acknowledges; rows appear a moment later.
    deadline = time.monotonic() + timeout
    while True:
        rows: list[Any] = client.dataset_rows(dataset_id)
        if len(rows) >= want or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)
