"""``sourceflow platform``: the local Flow Service.

What a command needs only when it runs is imported inside it: see :mod:`sourceflow.cli`, why.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

RUN_WORKERS = 8
"""The default of ``--run-workers``, as :class:`~sourceflow.platform.core.PlatformConfig`'s."""


@click.group()
def platform() -> None:
    """Run the local Flow Service (Adobe's API on one machine, stored in one SQLite file)."""


@platform.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8300,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on.",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(".sourceflow") / "platform",
    show_default=True,
    help="Where the SQLite file lives.",
)
@click.option(
    "--inlet-url",
    default=None,
    metavar="URL",
    help="Base URL senders reach the inlet at, when it differs from the address "
    "this listens on (behind a proxy).",
)
@click.option(
    "--run-workers",
    type=click.IntRange(1, 256),
    default=RUN_WORKERS,
    show_default=True,
    envvar="SOURCEFLOW_RUN_WORKERS",
    show_envvar=True,
    help="Runs of scheduled flows executed at once (runs of one flow always take turns). "
    "A run mostly waits on its source, so one per flow that pulls at the same time lets "
    "them share the source's rate budget in full.",
)
@click.option(
    "--ingest-worker",
    type=click.Choice(["process", "thread"]),
    default="process",
    show_default=True,
    help="Where stored messages are mapped into dataset rows: a process of its own (a second "
    "core maps while the inlet answers), or a thread of the server process.",
)
@click.pass_context
def serve(
    ctx: click.Context,
    host: str,
    port: int,
    data_dir: Path,
    inlet_url: str | None,
    run_workers: int,
    ingest_worker: str,
) -> None:
    """Serve the Flow Service, Data Prep, Catalog, IMS token and inlet routes, the web
    console (/console) and Prometheus metrics (/metrics), and run the scheduled flows.

    Uses the dev credentials unless SOURCEFLOW_CLIENT_ID, SOURCEFLOW_CLIENT_SECRET and
    SOURCEFLOW_ORG_ID are set; the CLI uses the same defaults, so nothing needs configuring.
    With --debug (``sourceflow --debug platform serve``) every request is logged, redacted;
    ``--log-format json`` writes the log as JSON lines.
    """
    from sourceflow import config
    from sourceflow.platform.app import PlatformConfig, create_app
    from sourceflow.platform.server import serve as run

    client_id = os.environ.get(config.ENV["client_id"], config.DEV_CLIENT_ID)
    secret = os.environ.get(config.ENV["client_secret"], config.DEV_CLIENT_SECRET)
    org = os.environ.get(config.ENV["org_id"], config.DEV_ORG_ID)
    data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(
        PlatformConfig(
            data_dir=data_dir,
            client_id=client_id,
            client_secret=secret,
            org_id=org,
            inlet_base_url=inlet_url,
            access_log=bool(ctx.find_root().obj.get("debug")),
            run_workers=run_workers,
            ingest_process=ingest_worker == "process",
        )
    )
    base = f"http://{host}:{port}"
    click.echo(f"sourceflow local Flow Service on {base}  (data: {data_dir}/)")
    if secret == config.DEV_CLIENT_SECRET:
        click.echo("dev credentials (the CLI uses them by default):")
        click.echo(f"  client id / x-api-key  {client_id}")
        click.echo(f"  client secret          {secret}")
        click.echo(f"  org id                 {org}")
        click.echo("  sandbox                prod")
        click.echo(
            f"  token                  curl -s -X POST {base}/ims/token/v3 "
            f"-d grant_type=client_credentials -d client_id={client_id} "
            f"-d client_secret={secret}"
        )
    click.echo(f"console                  {base}/console   metrics {base}/metrics")
    click.echo("press Ctrl+C to stop")
    run(app, host=host, port=port)
