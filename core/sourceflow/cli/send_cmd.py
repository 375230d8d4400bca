"""``sourceflow send``: stream a JSON-lines file to an inlet."""

from __future__ import annotations

import json
import sys
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
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@click.pass_context
def send(
    ctx: click.Context,
    inlet_url: str,
    file: Path,
    flow_id: str | None,
    batch_size: int,
    authenticated: bool,
    as_json: bool,
) -> None:
    """Stream the records of FILE (JSON lines) to INLET_URL in batches.

    Each batch goes to the inlet's /collection/batch endpoint; a message the inlet refuses is
    reported with its line and reason, and the rest still go through.
    """
    total = sum(1 for _ in read_jsonl(file))
    accepted = 0
    refused: list[dict[str, Any]] = []
    # The client's sender renews the token itself on a long send.
    sender = common.client(ctx).inlet(inlet_url, flow_id=flow_id, authenticated=authenticated)
    with click.progressbar(length=total, label="sending", file=sys.stderr, show_pos=True) as bar:
        batch: list[dict[str, Any]] = []
        offset = 0
        for record in read_jsonl(file):
            batch.append(record)
            if len(batch) == batch_size:
                accepted += _flush(sender, batch, offset, refused)
                offset += len(batch)
                bar.update(len(batch))
                batch = []
        if batch:
            accepted += _flush(sender, batch, offset, refused)
            bar.update(len(batch))
    if as_json:
        common.echo_json({"sent": total, "accepted": accepted, "refused": refused})
    else:
        click.echo(f"sent {total}, accepted {accepted}, refused {len(refused)}")
        for r in refused[:20]:
            click.echo(f"  record {r['record']}: {r['statusCode']} {r['message']}", err=True)
    if refused:
        ctx.exit(1)


def _flush(
    sender: Any, batch: list[dict[str, Any]], offset: int, refused: list[dict[str, Any]]
) -> int:
    receipt = sender.send_batch(batch)
    ok = 0
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
            ok += 1
    return ok
