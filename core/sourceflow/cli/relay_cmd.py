"""``sourceflow relay``: the verified edge in front of Adobe's streaming inlet (docs/relay.md).

What a command needs only when it runs is imported inside it: see :mod:`sourceflow.cli`, why.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sourceflow import log
from sourceflow.cli.common import echo_json, state_option, table
from sourceflow.errors import SourceflowError

if TYPE_CHECKING:
    from sourceflow.relay.config import RelayConfig

config_option = click.option(
    "--config",
    "config_path",
    envvar="SOURCEFLOW_RELAY_CONFIG",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The relay's TOML file [env SOURCEFLOW_RELAY_CONFIG; default: every flow in connect's "
    "state file].",
)


def _load(config_path: Path | None, state_path: Path | None) -> RelayConfig:
    from sourceflow.relay.config import load

    return load(config_path, state=state_path)


@click.group()
def relay() -> None:
    """Verify, de-duplicate and durably store provider webhooks, then forward them to Adobe.

    \b
      sourceflow relay serve --config relay.toml    run it
      sourceflow relay urls --config relay.toml     the webhook URLs to give each provider
      sourceflow relay status --config relay.toml   outbox depth, forwarded, refused
      sourceflow relay replay --config relay.toml   send dead letters again
    """


@relay.command()
@config_option
@state_option
@click.option("--host", default=None, help="Address to listen on [default: the config's].")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option(
    "--log-format",
    type=click.Choice(["json", "console"]),
    default=None,
    help="Log lines as JSON objects or for a terminal [default: the config's, json].",
)
@click.option("--log-level", default="INFO", show_default=True, help="Least level logged.")
def serve(
    config_path: Path | None,
    state_path: Path | None,
    host: str | None,
    port: int | None,
    log_format: str | None,
    log_level: str,
) -> None:
    """Serve Adobe's collection routes for the configured flows until SIGTERM or Ctrl+C.

    Each delivery is verified by its source's plugin, de-duplicated, and committed to the
    outbox before it is acknowledged; a forwarder sends the outbox on to Adobe.
    """
    from attrs import evolve

    from sourceflow.platform.server import serve as run
    from sourceflow.relay.app import Relay, create_app

    cfg = _load(config_path, state_path)
    cfg = evolve(cfg, host=host or cfg.host, port=cfg.port if port is None else port)
    log.configure(level=log_level, json=(log_format or cfg.log_format) == "json")
    if not cfg.flows:
        click.echo("warning: no flows configured; every delivery will be a 404", err=True)
    app = create_app(Relay(cfg))
    run(app, host=cfg.host, port=cfg.port, timeout_graceful_shutdown=30)


@relay.command()
@config_option
@state_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def urls(config_path: Path | None, state_path: Path | None, as_json: bool) -> None:
    """The webhook URL to give each provider: Adobe's inlet path on the relay's host."""
    cfg = _load(config_path, state_path)
    shared: dict[str, int] = {}
    for f in cfg.flows:
        shared[f.inlet_id] = shared.get(f.inlet_id, 0) + 1
    rows = []
    for f in cfg.flows:
        url = f"{cfg.base_url}/collection/{f.inlet_id}"
        if shared[f.inlet_id] > 1:  # the inlet feeds several flows: the URL names this one
            url += f"?x-adobe-flow-id={f.flow_id}"
        rows.append({"flow": f.name, "source": f.source, "url": url, "adobeInlet": f.inlet_url})
    if as_json:
        echo_json(rows)
        return
    table([(r["flow"], r["source"], r["url"]) for r in rows], ["flow", "source", "webhook URL"])


@relay.command()
@config_option
@state_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(config_path: Path | None, state_path: Path | None, as_json: bool) -> None:
    """Outbox depth, age of the oldest waiting message, forwarded and refused counts."""
    from sourceflow.relay.stores import open_outbox

    cfg = _load(config_path, state_path)
    outbox = open_outbox(cfg.store)
    try:
        outbox.open()
        figures = outbox.status()
    finally:
        outbox.close()
    names = {f.flow_id: f.name for f in cfg.flows}
    now = time.time() * 1000
    flows: list[dict[str, Any]] = [
        {
            "flow": names.get(s.flow_id, s.flow_id),
            "flowId": s.flow_id,
            "depth": s.depth,
            "oldestAgeSeconds": None
            if s.oldest_ms is None
            else round((now - s.oldest_ms) / 1000, 1),
            "forwarded": s.forwarded,
            "refused": s.refused,
            "deadLetters": s.dead,
        }
        for s in figures
    ]
    ages = [f["oldestAgeSeconds"] for f in flows if f["oldestAgeSeconds"] is not None]
    total = {
        "store": cfg.describe_store(),
        "depth": sum(f["depth"] for f in flows),
        "oldestAgeSeconds": max(ages) if ages else None,
        "forwarded": sum(f["forwarded"] for f in flows),
        "refused": sum(f["refused"] for f in flows),
        "deadLetters": sum(f["deadLetters"] for f in flows),
        "flows": flows,
    }
    if as_json:
        echo_json(total)
        return
    click.echo(f"store: {total['store']}")
    table(
        [
            (
                f["flow"],
                f["depth"],
                f["oldestAgeSeconds"],
                f["forwarded"],
                f["refused"],
                f["deadLetters"],
            )
            for f in flows
        ]
        + [
            (
                "total",
                total["depth"],
                total["oldestAgeSeconds"],
                total["forwarded"],
                total["refused"],
                total["deadLetters"],
            )
        ],
        ["flow", "outbox", "oldest (s)", "forwarded", "refused", "dead letters"],
    )


@relay.command()
@config_option
@state_option
@click.option("--flow", "flow_name", default=None, help="Only this flow's (name or id).")
@click.option("--all", "everything", is_flag=True, help="Every dead letter (of --flow).")
@click.option("--list", "listing", is_flag=True, help="List dead letters, replay nothing.")
@click.argument("seqs", nargs=-1, type=int)
def replay(
    config_path: Path | None,
    state_path: Path | None,
    flow_name: str | None,
    everything: bool,
    listing: bool,
    seqs: tuple[int, ...],
) -> None:
    """Put dead letters (SEQS, or --all) back at the end of the outbox to be sent again.

    A message lands in the dead letters when Adobe refused it for good (a 400 for it, with the
    answer kept); fix the cause (the flow's mapping or schema), then replay it.
    """
    from sourceflow.relay.stores import open_outbox

    cfg = _load(config_path, state_path)
    flow_id = None
    if flow_name:
        found = [f.flow_id for f in cfg.flows if flow_name in (f.name, f.flow_id)]
        if not found:
            raise SourceflowError(f"no flow {flow_name!r} in the relay's configuration")
        flow_id = found[0]
    if not listing and not everything and not seqs:
        raise click.UsageError("name dead letters by SEQ, or pass --all (or --list to see them)")
    outbox = open_outbox(cfg.store)
    try:
        outbox.open()
        if listing:
            letters = outbox.dead_letters(flow_id, limit=1000)
            table(
                [(d.seq, d.flow_id, d.status, d.answer[:120]) for d in letters],
                ["seq", "flow", "status", "answer"],
            )
            return
        moved = outbox.replay(None if everything else list(seqs), flow_id)
    finally:
        outbox.close()
    click.echo(f"{moved} dead letter(s) back in the outbox")


def _age(now_ms: float, then_ms: int | None) -> float | None:
    return None if then_ms is None else round((now_ms - then_ms) / 1000, 1)
