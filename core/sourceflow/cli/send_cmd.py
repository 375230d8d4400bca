"""``sourceflow send``: stream a JSON-lines file to an inlet."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from sourceflow.cli import common
from sourceflow.errors import ConfigError


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Records from a JSON-lines file; a bad line is an error naming its number."""
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ConfigError(f"{path}:{number}: not JSON: {exc}") from None
            if not isinstance(record, dict):
                raise ConfigError(f"{path}:{number}: a record must be a JSON object")
            yield record


WAIT_SECONDS = 30.0
"""The longest send waits for the platform to map what the inlet accepted."""


@click.command()
@click.argument("inlet_url")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--flow-id",
    default=None,
    help="Sent as x-adobe-flow-id (needed for raw data when the inlet serves several flows).",
)
@click.option(
    "--batch-size",
    default=100,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Messages per /collection/batch call.",
)
@click.option(
    "--authenticated", is_flag=True, help="Send an IMS bearer token (for inlets that require one)."
)
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help=f"After sending, wait (at most {WAIT_SECONDS:.0f} s) until the local platform has "
    "mapped the accepted records, and print how many were stored and how many failed. "
    "--no-wait prints what the inlet acknowledged and returns.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@click.pass_context
def send(
    ctx: click.Context,
    inlet_url: str,
    file: Path,
    flow_id: str | None,
    batch_size: int,
    authenticated: bool,
    wait: bool,
    as_json: bool,
) -> None:
    """Stream the records of FILE (JSON lines) to INLET_URL in batches.

    Each batch goes to the inlet's /collection/batch endpoint; a message the inlet refuses is
    reported with its line and reason, and the rest still go through. An accepted record is
    stored, not yet mapped: the platform maps it into a row afterwards, and a record the
    mapping fails is kept as a failure, which `sourceflow flows failures FLOW` lists. So send
    then waits for the mapping and prints the stored and failed counts (see --no-wait).
    Exits 1 when the inlet refused a record.
    """
    total = sum(1 for _ in read_jsonl(file))
    accepted: list[str] = []
    refused: list[dict[str, Any]] = []
    client = common.client(ctx)
    # The client's sender renews the token itself on a long send.
    sender = client.inlet(
        inlet_url,
        flow_id=flow_id,
        authenticated=authenticated,
        # The sender's own hint names the Python fix; here the fix is an option.
        hints={
            401: "this inlet wants an IMS token: run send again with --authenticated"
            if not authenticated
            else "the token was refused: check SOURCEFLOW_CLIENT_ID, SOURCEFLOW_CLIENT_SECRET "
            "and SOURCEFLOW_ORG_ID"
        },
    )
    with click.progressbar(length=total, label="sending", file=sys.stderr, show_pos=True) as bar:
        batch: list[dict[str, Any]] = []
        offset = 0
        for record in read_jsonl(file):
            batch.append(record)
            if len(batch) == batch_size:
                _flush(sender, batch, offset, accepted, refused)
                offset += len(batch)
                bar.update(len(batch))
                batch = []
        if batch:
            _flush(sender, batch, offset, accepted, refused)
            bar.update(len(batch))
    landed = _landed(client, inlet_url, flow_id, accepted) if wait and accepted else None
    if as_json:
        summary: dict[str, Any] = {"sent": total, "accepted": len(accepted), "refused": refused}
        if landed is not None:
            summary.update(landed)
        common.echo_json(summary)
    else:
        line = f"sent {total}, accepted {len(accepted)}, refused {len(refused)}"
        if landed is not None:
            line += _landed_text(landed)
        click.echo(line)
        for r in refused[:20]:
            click.echo(f"  record {r['record']}: {r['statusCode']} {r['message']}", err=True)
    if refused:
        ctx.exit(1)


def _flush(
    sender: Any,
    batch: list[dict[str, Any]],
    offset: int,
    accepted: list[str],
    refused: list[dict[str, Any]],
) -> None:
    receipt = sender.send_batch(batch)
    for n, result in enumerate(receipt.responses):
        if result.status_code and result.status_code >= 300:
            refused.append(
                {
                    "record": offset + n + 1,
                    "statusCode": result.status_code,
                    "message": result.message,
                }
            )
        else:
            accepted.append(result.xaction_id or "")


def _flows_of(client: Any, inlet_url: str, flow_id: str | None) -> list[str]:
    """The flows that may have taken messages sent to ``inlet_url``: the one named, or those
    the inlet belongs to (a flow's own inlet, or its base connection's)."""
    from urllib.parse import parse_qs, urlsplit

    if flow_id:
        return [flow_id]
    parts = urlsplit(inlet_url)
    named = parse_qs(parts.query).get("x-adobe-flow-id")
    if named:
        return [named[-1]]
    inlet_id = parts.path.rstrip("/").rsplit("/", 1)[-1]
    flows = list(client.flows.list())
    own = [f.id for f in flows if (f.options or {}).get("inletId") == inlet_id]
    if own:
        return own
    bases = {
        c.id
        for c in client.connections.list()
        if c.auth is not None and (c.auth.params or {}).get("inletId") == inlet_id
    }
    sources = {s.id for s in client.source_connections.list() if s.base_connection_id in bases}
    return [f.id for f in flows if set(f.source_connection_ids) & sources]


def _landed(
    client: Any, inlet_url: str, flow_id: str | None, accepted: list[str]
) -> dict[str, Any] | None:
    """What became of the accepted messages once mapped: ``{"stored", "failed", "flowIds",
    "failures"}``, or ``{"pending"}`` when mapping did not finish in :data:`WAIT_SECONDS`;
    None (with a note on stderr) where the platform cannot tell (not the local platform).

    The ingest worker maps messages in the order they were stored, so the last accepted
    message leaving ``pending`` means every one before it has been mapped too; the failures
    are then the flows' failed records among the accepted ones, and the others were stored
    as rows (a message is one record for the sources whose records are sent: HTTP API).
    """
    from sourceflow.errors import NotFound, PlatformError

    try:
        flows = _flows_of(client, inlet_url, flow_id)
        deadline = time.monotonic() + WAIT_SECONDS
        last = accepted[-1]
        pause = 0.05
        while True:
            states = []
            for flow in flows:
                try:
                    states.append(client.flow_message(flow, last)["outcome"]["state"])
                except NotFound:
                    continue
            if not states:
                click.echo(
                    "note: cannot tell what became of the accepted records here (not the "
                    "local platform, or the flow is unknown: pass --flow-id)",
                    err=True,
                )
                return None
            if "pending" not in states:
                break
            if time.monotonic() >= deadline:
                return {"pending": len(accepted), "flowIds": flows}
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
        ours = set(accepted)
        failures = [
            {"flowId": flow, **f}
            for flow in flows
            for f in client.flow_failures(flow)
            if f.get("xactionId") in ours
        ]
    except PlatformError as exc:
        click.echo(f"note: cannot tell what became of the accepted records: {exc}", err=True)
        return None
    failed_flows = sorted({f["flowId"] for f in failures})
    return {
        # A delivery sent twice is acknowledged twice with one receipt and stored once.
        "stored": len(ours) - len(failures),
        "failed": len(failures),
        "flowIds": flows,
        "failures": [
            {
                "flowId": f["flowId"],
                "failureId": f.get("failureId"),
                "xactionId": f.get("xactionId"),
                "error": f.get("error"),
            }
            for f in failures
        ],
        "see": [f"sourceflow flows failures {flow}" for flow in failed_flows],
    }


def _landed_text(landed: dict[str, Any]) -> str:
    if "pending" in landed:
        return (
            f"; not mapped yet after {WAIT_SECONDS:.0f} s: {landed['pending']} "
            "(sourceflow datasets rows and sourceflow flows failures show them once mapped)"
        )
    text = f", stored {landed['stored']}, failed {landed['failed']}"
    if landed["see"]:
        text += f" (see: {'; '.join(landed['see'])})"
    return text
