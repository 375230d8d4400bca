"""``sourceflow explore``: what a base connection offers, an object's structure, a preview.

What a command needs only when it runs is imported inside it: see :mod:`sourceflow.cli`, why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from sourceflow.cli import common
from sourceflow.errors import ConfigError, NotFound, SourceflowError, UnknownSource


@click.command()
@click.argument("target", metavar="SOURCE_OR_CONNECTION")
@click.argument("object_", metavar="[OBJECT]", required=False)
@click.option("--preview", is_flag=True, help="Also show sample records.")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A sourceParams entry, sent as-is (repeatable); OBJECT fills the source's own.",
)
@common.state_option
@click.option("--json", "as_json", is_flag=True, help="Print the platform's answer as JSON.")
@click.pass_context
def explore(
    ctx: click.Context,
    target: str,
    object_: str | None,
    preview: bool,
    params: tuple[str, ...],
    state_path: Path | None,
    as_json: bool,
) -> None:
    """Explore a base connection: the objects it offers, or OBJECT's structure.

    SOURCE_OR_CONNECTION is a base connection id, or a source name (the connection `connect`
    recorded for it, else the newest base connection of that source on the platform). OBJECT
    becomes the explore call's sourceParams the way the source's plugin builds its source
    connection params (Stripe: {"resourcePath": OBJECT}).

    \b
    Example:
      sourceflow explore stripe                  the six resource paths
      sourceflow explore stripe charges --preview
    """
    from sourceflow import plugins
    from sourceflow.hooktypes import ExploreRequest

    client = common.client(ctx)
    registry = plugins.load()
    connection_id, source = _connection(client, registry, target, state_path)
    source_params: dict[str, Any] = {}
    if object_ is not None:
        source_params.update(_object_params(registry, source, object_))
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param {item!r} is not KEY=VALUE")
        source_params[key] = value
    request = ExploreRequest(
        object="json" if source_params else None,
        file_type="json" if source_params else None,
        preview=preview,
        source_params=source_params,
    )
    found = client.explore(connection_id, request)
    if as_json:
        common.echo_json(found)
        return
    if "schema" not in found:
        common.table(
            [(i.get("name"), i.get("path"), i.get("type")) for i in found.get("items") or []],
            ["NAME", "PATH", "TYPE"],
        )
        return
    common.table(list(_fields(found.get("schema") or {})), ["FIELD", "TYPE"])
    if preview:
        click.echo("")
        for record in found.get("data") or []:
            click.echo(json.dumps(record, sort_keys=True))
        click.echo(f"{len(found.get('data') or [])} sample record(s)", err=True)


def _connection(client: Any, registry: Any, target: str, state_path: Path | None) -> Any:
    """The base connection id and source (if installed) that ``target`` names."""
    from sourceflow.state import StateFile

    try:
        source = registry.source(target)
    except UnknownSource:
        source = None
    if source is None:
        try:
            connection = client.connections.get(target)
        except NotFound:
            names = ", ".join(s.name for s in registry.sources()) or "none installed"
            raise SourceflowError(
                f"{target!r} is neither an installed source ({names}) nor a base connection "
                f"on {client.settings.platform_url}",
                hint="give a source name or a connection id (sourceflow connections lists them)",
            ) from None
        spec_id = connection.connection_spec.id
        try:
            return target, registry.source(spec_id)
        except UnknownSource:
            return target, None
    if not source.needs_base_connection:
        # Explore is a call on a base connection; a generic streaming source never has one.
        raise SourceflowError(
            f"{source.title} has no base connection to explore: it is a streaming source whose "
            f"records are pushed to its flow's inlet ({source.inlet_on or 'flow'} inlet)",
            hint=f"connect it (sourceflow connect {source.name} --dataset ID) and see what "
            "arrived with: sourceflow datasets rows DATASET, sourceflow flows failures FLOW",
        )
    settings = client.settings
    for record in StateFile(state_path).find(settings.platform_url, settings.sandbox):
        if record.source == source.name and record.ids.get("base_connection"):
            return record.ids["base_connection"], source
    found = list(client.connections.list(property=f"connectionSpec.id=={source.id}"))
    if not found:
        raise SourceflowError(
            f"no {source.title} base connection on {settings.platform_url}",
            hint=f"connect one first: sourceflow connect {source.name} --dataset ID ...",
        )
    newest = max(found, key=lambda c: c.created_at or 0)
    return newest.id, source


def _object_params(registry: Any, source: Any, object_: str) -> dict[str, Any]:
    # The source connection's params for OBJECT are what explore's sourceParams name.
    if source is None:
        return {"resourcePath": object_}
    made = registry.call("sourceflow_source_params", source, object=object_, credentials={})
    params = dict(made.params or {}) if made is not None else {}
    return params or {"resourcePath": object_}


def _fields(schema: dict[str, Any], prefix: str = "") -> Any:
    """Dotted field paths and their types, depth first."""
    if not isinstance(schema, dict):
        yield prefix, "?"
        return
    kind = schema.get("type")
    shown = "|".join(kind) if isinstance(kind, list) else str(kind or "")
    properties = schema.get("properties")
    if isinstance(properties, dict) and properties:
        if prefix:
            yield prefix, shown
        for name, inner in properties.items():
            yield from _fields(inner, f"{prefix}.{name}" if prefix else name)
    elif isinstance(schema.get("items"), dict) and schema["items"].get("properties"):
        yield prefix, shown
        yield from _fields(schema["items"], prefix + "[]")
    elif prefix:
        yield prefix, shown
