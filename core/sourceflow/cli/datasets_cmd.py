"""``sourceflow datasets``: the minimal catalog of the platform.

What a command needs only when it runs is imported inside it: see :mod:`sourceflow.cli`, why.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from sourceflow.cli import common


@click.group()
def datasets() -> None:
    """Create and list datasets, and read the rows that landed in one."""


@datasets.command("create")
@click.argument("name")
@click.option(
    "--schema", "schema_id", default=None, metavar="ID", help="XDM schema id the dataset follows."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def create(ctx: click.Context, name: str, schema_id: str | None, as_json: bool) -> None:
    """Create a dataset called NAME and print its id."""
    from sourceflow import model

    schema = model.XdmSchemaRef(id=schema_id) if schema_id else None
    dataset_id = common.client(ctx).datasets.create(model.Dataset(name=name, schema_ref=schema))
    if as_json:
        common.echo_json({"id": dataset_id, "name": name})
    else:
        click.echo(dataset_id)


@datasets.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List datasets."""
    from sourceflow import wire

    found = list(common.client(ctx).datasets.list())
    if as_json:
        common.echo_json([wire.to_json(d) for d in found])
        return
    common.table(
        [(d.id, d.name, d.schema_ref.id if d.schema_ref else "") for d in found],
        ["ID", "NAME", "SCHEMA"],
    )


@datasets.command("rows")
@click.argument("dataset_id")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print JSON lines: one row an object per line, with its xactionId, flowId, "
    "receivedTimeMs and record.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Stop after N rows [default: every row].",
)
@click.option(
    "--after",
    "--cursor",
    "after",
    default=None,
    metavar="CURSOR",
    help="Start after CURSOR: the cursor an earlier read printed on stderr when it ended.",
)
@click.pass_context
def rows(
    ctx: click.Context, dataset_id: str, as_json: bool, limit: int | None, after: str | None
) -> None:
    """Show the rows that landed in DATASET_ID, oldest first (a sourceflow extension of the
    local platform).

    Rows are printed as they are read, a page at a time, so the first appear at once and
    memory stays that of one page however large the dataset. When the read ends (the last
    row, or --limit) the count and a cursor are printed on stderr; pass the cursor to --after
    to read on from there, e.g. the rows that landed since.
    """
    stream = common.client(ctx).stream_rows(dataset_id, after=after, limit=limit)
    out = sys.stdout.buffer
    try:
        for page in stream.pages():
            if as_json:
                # JSON lines, as --help says: one row an object, so `| head` and `jq -c` stream it.
                lines = [_compact(row) for row in page]
            else:
                lines = [
                    json.dumps(row.get("record", row), sort_keys=True).encode() for row in page
                ]
            out.write(b"\n".join(lines) + b"\n")
            out.flush()  # a page reaches a pipe as it is read, not when the read ends
    except BrokenPipeError:
        # The reader went away (`| head`): what it wanted was printed; nothing to report.
        common.quiet_stdout()
        return
    more = limit is not None and stream.count == limit
    click.echo(
        f"{stream.count} row(s); "
        + ("more may follow" if more else "read on later")
        + (f" with --after {stream.cursor}" if stream.cursor is not None else ""),
        err=True,
    )


def _compact(row: Any) -> bytes:
    """One JSON line, by orjson (ten times faster than json.dumps over 200,000 rows); the
    standard library's encoder for what orjson refuses (an integer beyond 64 bits)."""
    import orjson

    try:
        return orjson.dumps(row)
    except TypeError:
        return json.dumps(row, ensure_ascii=False).encode()
