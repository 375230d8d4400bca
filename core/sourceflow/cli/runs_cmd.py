"""``sourceflow runs`` and ``sourceflow flows``: monitor dataflows and their runs.

What a command needs only when it runs is imported inside it: see :mod:`sourceflow.cli`, why.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import click

from sourceflow.cli import common
from sourceflow.errors import UnknownSource


def _when(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _duration(run: Any) -> str:
    d = run.metrics.duration_summary if run.metrics else None
    if d is None or not d.started_at_utc or not d.completed_at_utc:
        return ""
    return f"{(d.completed_at_utc - d.started_at_utc) / 1000:.1f}s"


@click.command()
@click.argument("flow_id")
@click.option("--start", is_flag=True, help="Start a run now (POST /runs), then list the runs.")
@click.option(
    "--wait",
    type=float,
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="With --start: how long to wait for the run to finish.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as Adobe's JSON.")
@click.pass_context
def runs(ctx: click.Context, flow_id: str, start: bool, wait: float, as_json: bool) -> None:
    """List the runs of FLOW_ID with their metrics: records read, written and failed.

    \b
    Example:
      sourceflow runs 84c64142-1741-4b0b-95a9-65644eba0cf6
      sourceflow runs 84c64142-... --start      run it now and wait for the result
    """
    from sourceflow import wire

    client = common.client(ctx)
    if start:
        started = client.start_run(flow_id)
        click.echo(f"started run {started.id}", err=True)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            run = client.runs.get(started.id)
            if run.metrics and run.metrics.status_summary.status != "inProgress":
                break
            time.sleep(0.2)
    found = list(client.runs.list(property=f"flowId=={flow_id}"))
    if as_json:
        common.echo_json([wire.to_json(r) for r in found])
        return
    rows = []
    for r in found:
        m = r.metrics
        errors = (
            "; ".join(f"{e.code}: {e.message}" for e in (m.status_summary.errors or []))
            if m
            else ""
        )
        rows.append(
            (
                r.id,
                m.status_summary.status if m else "",
                _when(m.duration_summary.started_at_utc if m else None),
                _duration(r),
                m.record_summary.input_record_count if m else "",
                m.record_summary.output_record_count if m else "",
                m.record_summary.failed_record_count if m else "",
                errors,
            )
        )
    common.table(
        rows, ["RUN", "STATUS", "STARTED (UTC)", "TOOK", "READ", "WRITTEN", "FAILED", "ERRORS"]
    )
    if not found:
        click.echo(f"no runs of flow {flow_id}", err=True)


def describe_schedule(flow: Any, scheduled: bool) -> str:
    """A flow's schedule in words: ``every 15 minutes from …``, ``once at …``, ``streaming``."""
    if not scheduled:
        return "streaming"
    s = flow.schedule_params
    start = _when(s.start_time * 1000) if s and s.start_time is not None else "creation"
    if s is None or s.frequency == "once":
        return f"once at {start}"
    unit = s.frequency + ("s" if s.interval != 1 else "")
    return f"every {s.interval} {unit} from {start}"


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the flows as Adobe's JSON.")
@click.pass_context
def flows(ctx: click.Context, as_json: bool) -> None:
    """List the dataflows on the platform: id, name, source, schedule or inlet.

    \b
    Also:
      sourceflow flows failures FLOW   the records that failed, and why
      sourceflow flows replay FLOW     map them again with the flow's current mapping set
    """
    if ctx.invoked_subcommand is not None:
        return
    from sourceflow import plugins, wire

    client = common.client(ctx)
    found = list(client.flows.list())
    if as_json:
        common.echo_json([wire.to_json(f) for f in found])
        return

    registry = plugins.load()
    # A flow's source is its source connection's (generic streaming sources share flow specs).
    specs = {sc.id: sc.connection_spec.id for sc in client.source_connections.list()}
    rows = []
    for f in found:
        try:
            source = registry.source(
                specs.get(f.source_connection_ids[0], "") if f.source_connection_ids else ""
            )
        except UnknownSource:
            source = None
        scheduled = source is not None and source.mode == "scheduled"
        inlet = (f.options or {}).get("inletUrl", "")
        rows.append(
            (
                f.id,
                f.name,
                source.name if source else f.flow_spec.id,
                describe_schedule(f, scheduled),
                inlet,
            )
        )
    common.table(rows, ["FLOW", "NAME", "SOURCE", "SCHEDULE", "INLET"])


@flows.command("failures")
@click.argument("flow_id")
@click.option("--json", "as_json", is_flag=True, help="Print the failed records as JSON.")
@click.pass_context
def failures(ctx: click.Context, flow_id: str, as_json: bool) -> None:
    """List FLOW_ID's failed records (not replayed yet): the error, the rule that failed and
    the record (a sourceflow extension of the local platform)."""
    found = common.client(ctx).flow_failures(flow_id)
    if as_json:
        common.echo_json(found)
        return
    rows = []
    for f in found:
        error = f.get("error") or {}
        rule = error.get("rule")
        rows.append(
            (
                f.get("failureId", ""),
                _when(f.get("receivedTimeMs")),
                f"#{rule['index']} -> {rule['destination']}" if rule else "",
                f"{error.get('code')}: {error.get('message')}",
                json.dumps(f.get("body"), ensure_ascii=False)[:80],
            )
        )
    common.table(rows, ["FAILURE", "RECEIVED (UTC)", "RULE", "ERROR", "RECORD"])
    click.echo(f"{len(found)} failed record(s)", err=True)


@flows.command("replay")
@click.argument("flow_id")
@click.option("--json", "as_json", is_flag=True, help="Print what the replay did as JSON.")
@click.pass_context
def replay(ctx: click.Context, flow_id: str, as_json: bool) -> None:
    """Map FLOW_ID's failed records again with its current mapping set: each one that maps
    lands as a row, once, however often this runs; each replay is a run of the flow."""
    done = common.client(ctx).replay_failures(flow_id)
    if as_json:
        common.echo_json(done)
        return
    click.echo(
        f"{done['replayed']} record(s) landed as rows, {done['failed']} failed again"
        + (f" (run {done['runId']})" if done.get("runId") else "")
    )
    if done["failed"]:
        click.echo(f"  sourceflow flows failures {flow_id}   shows why", err=True)
