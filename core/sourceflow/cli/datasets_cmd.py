"""``sourceflow datasets``: the minimal catalog of the platform.

What a command needs only when it runs is imported inside it: see :mod:`sourceflow.cli`, why.
"""

from __future__ import annotations

import json

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
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines of the rows.")
@click.pass_context
def rows(ctx: click.Context, dataset_id: str, as_json: bool) -> None:
    """Show the rows that landed in DATASET_ID (a sourceflow extension of the local platform)."""
    found = common.client(ctx).dataset_rows(dataset_id)
    if as_json:
        # JSON lines, as --help says: one row an object, so `| head` and `jq -c` stream it.
        for row in found:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    for row in found:
        click.echo(json.dumps(row.get("record", row), sort_keys=True))
    click.echo(f"{len(found)} row(s)", err=True)
