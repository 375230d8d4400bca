"""``sourceflow connect``, ``teardown`` and ``connections``: the lifecycle from the shell.

What a command needs only when it runs is imported inside it: see :mod:`sourceflow.cli`, why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from sourceflow.cli import common
from sourceflow.errors import ConfigError, SourceflowError


def _load_mapping(path: Path) -> Any:
    from sourceflow import model, wire

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read mapping file {path}: {exc}",
            hint="give a JSON file: a mapping set body or a list of rules",
        ) from None
    if isinstance(data, list):
        data = {"mappings": data}
    return wire.from_json(data, model.MappingSet)


@click.command()
@click.argument("source")
@click.option(
    "--dataset",
    "dataset_id",
    required=True,
    metavar="ID",
    help="Target dataset id (sourceflow datasets create NAME makes one).",
)
@click.option(
    "--name",
    default=None,
    help="Names the run and its resources; re-running with "
    "the same name resumes. Default: sourceflow-SOURCE.",
)
@click.option(
    "--authenticated",
    is_flag=True,
    help="Require an IMS bearer token on every message sent to the inlet.",
)
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Mapping rules (JSON): a mapping set body or a list of rules.",
)
@click.option(
    "--raw/--xdm",
    default=None,
    help="HTTP API: records are raw JSON (mapped by the flow) or XDM envelopes. "
    "Default: raw when a mapping is given.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="An auth param for the base connection (repeatable).",
)
@click.option(
    "--object",
    "object_",
    default=None,
    help="Object or event type, when the source has several (a resource path, a topic).",
)
@click.option(
    "--tenant",
    envvar="SOURCEFLOW_TENANT",
    default="sourceflow",
    show_default=True,
    help="Tenant id for default mappings' _TENANT namespace.",
)
@click.option(
    "--schedule",
    default=None,
    metavar="FREQ[:INTERVAL][@START]",
    help="Scheduled sources: when the flow runs, e.g. minute:15, hour:1@1710267858, once "
    "(START in epoch seconds; default now).",
)
@click.option(
    "--auth-spec",
    default=None,
    metavar="NAME",
    help="The auth spec the --param values follow, when the source has several "
    "(default: its first).",
)
@click.option(
    "--replace",
    is_flag=True,
    help="When a re-run asks for what needs new resources (another source spec, a mapping "
    "added or dropped on a source whose flow spec then differs), replace them; without it, "
    "connect stops and says what differs.",
)
@click.option(
    "--insecure-allow-unsigned",
    is_flag=True,
    help="Create a flow of a source that signs its deliveries (Shopify) without its signing "
    "secret. The local inlet then refuses every delivery, and Adobe's checks none.",
)
@click.option(
    "--webhook-base",
    metavar="URL",
    envvar="SOURCEFLOW_WEBHOOK_BASE",
    show_envvar=True,
    help="The base URL of a sourceflow relay in front of the inlets (e.g. "
    "https://hooks.example.com): the provider is given {URL}/collection/{inletId} (Shopify's "
    "subscriptions, the webhook URL printed for Stripe and Chatlio) instead of the inlet.",
)
@common.sandbox_option
@common.state_option
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def connect(
    ctx: click.Context,
    source: str,
    dataset_id: str,
    name: str | None,
    authenticated: bool,
    mapping_file: Path | None,
    raw: bool | None,
    params: tuple[str, ...],
    object_: str | None,
    tenant: str,
    schedule: str | None,
    auth_spec: str | None,
    replace: bool,
    insecure_allow_unsigned: bool,
    webhook_base: str | None,
    sandbox: str | None,
    state_path: Path | None,
    as_json: bool,
) -> None:
    """Connect SOURCE to a dataset and print its streaming endpoint.

    Runs base connection, source connection, target connection, mapping, flow and endpoint
    against the Flow Service, showing each step. Re-running after a failure resumes where it
    stopped instead of creating duplicates. Re-running with other options (--dataset,
    --authenticated, --mapping, --param) updates what the first run created, in place, and
    shows each change; where that needs new resources it stops and says what differs
    (--replace goes ahead). The same engine runs a project file: see `sourceflow apply`.

    \b
    Example:
      sourceflow connect http --dataset 5f1a... --authenticated --mapping rules.json
    """
    from sourceflow import plugins
    from sourceflow.lifecycle import ConnectRequest, Lifecycle
    from sourceflow.state import StateFile

    registry = plugins.load()
    src = registry.source(source)
    run_name = name or f"sourceflow-{src.name}"
    mapping = _load_mapping(mapping_file) if mapping_file else None
    credentials = _credentials(src, params, authenticated, raw, mapping is not None, auth_spec)
    schedule_params = _schedule(src, schedule)
    client = common.client(ctx, sandbox)
    lifecycle = Lifecycle(client, registry, StateFile(state_path), progress=common.step_printer)
    click.echo(
        f"connecting {src.title} as {run_name!r} on {client.settings.platform_url}", err=True
    )
    result = lifecycle.connect(
        ConnectRequest(
            source=src.name,
            name=run_name,
            dataset_id=dataset_id,
            credentials=credentials,
            mapping=mapping,
            object=object_,
            tenant=tenant,
            auth_spec=auth_spec,
            schedule=schedule_params,
            insecure_allow_unsigned=insecure_allow_unsigned,
            webhook_base=webhook_base,
        ),
        allow_replace=replace,
    )
    if result.plan is not None:
        for change in result.plan.pending:
            if change.action in ("update", "replace") and change.changes:
                click.echo(f"  {change.step.replace('_', ' ')} {change.action}d:", err=True)
                for line in change.changes:
                    click.echo(f"      {line}", err=True)
    if as_json:
        common.echo_json(result.as_json())
        return
    click.echo(f"flow      {result.flow_id}")
    if result.inlet_url:
        click.echo(f"inlet     {result.inlet_url}")
        if result.authentication_required:
            click.echo("          (authenticated: send Authorization: Bearer <IMS token>)")
    for key, value in result.endpoint_facts.items():
        click.echo(f"{key:<9} {value}")


def _credentials(
    src: Any,
    params: tuple[str, ...],
    authenticated: bool,
    raw: bool | None,
    mapped: bool,
    auth_spec: str | None = None,
) -> dict[str, Any]:
    from sourceflow.engine.project import credentials_for

    given: dict[str, Any] = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param {item!r} is not KEY=VALUE")
        given[key] = value
    return credentials_for(
        src, given, authenticated=authenticated, raw=raw, mapped=mapped, auth_spec=auth_spec
    )


@click.command()
@click.argument("name", required=False)
@click.option("--all", "everything", is_flag=True, help="Tear down every recorded run.")
@common.state_option
@click.pass_context
def teardown(
    ctx: click.Context, name: str | None, everything: bool, state_path: Path | None
) -> None:
    """Delete what `connect` created for NAME, newest first.

    NAME may be left out when only one run is recorded for this platform.
    """
    from sourceflow import plugins
    from sourceflow.lifecycle import Lifecycle
    from sourceflow.state import StateFile

    client = common.client(ctx)
    state = StateFile(state_path)
    records = state.find(client.settings.platform_url, client.settings.sandbox)
    if name:
        records = [r for r in records if r.name == name]
    if not records:
        raise SourceflowError(
            f"nothing recorded{' for ' + repr(name) if name else ''} on "
            f"{client.settings.platform_url} in {state.path}"
        )
    owned = [r for r in records if r.project is not None]
    if owned and (name or not everything):
        raise SourceflowError(
            f"{owned[0].name!r} belongs to the project {owned[0].project!r}",
            hint="remove it from that project's sourceflow.toml and run sourceflow apply, or "
            "run sourceflow destroy",
        )
    records = [r for r in records if r.project is None]
    if len(records) > 1 and not everything:
        names = ", ".join(r.name for r in records)
        raise SourceflowError(f"several runs are recorded: {names}", hint="name one, or pass --all")
    lifecycle = Lifecycle(client, plugins.load(), state, progress=common.step_printer)
    for record in records:
        click.echo(f"tearing down {record.name!r}", err=True)
        lifecycle.teardown(record)


@click.command()
@common.state_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def connections(ctx: click.Context, state_path: Path | None, as_json: bool) -> None:
    """List the runs `connect` recorded, with their flows and inlets."""
    from sourceflow.state import StateFile

    records = list(StateFile(state_path))
    if as_json:
        common.echo_json(
            [
                {
                    "name": r.name,
                    "source": r.source,
                    "platformUrl": r.platform_url,
                    "sandbox": r.sandbox,
                    "ids": r.ids,
                    "inletUrl": r.endpoint.get("inletUrl"),
                }
                for r in records
            ]
        )
        return
    common.table(
        [
            (r.name, r.source, r.ids.get("flow"), r.endpoint.get("inletUrl"), r.platform_url)
            for r in records
        ],
        ["NAME", "SOURCE", "FLOW", "INLET", "PLATFORM"],
    )


def _schedule(src: Any, text: str | None) -> Any:
    """``FREQ[:INTERVAL][@START]`` as ``scheduleParams``; Adobe's rules are the model's."""
    from sourceflow import model

    if text is None:
        return None
    if src.mode != "scheduled":
        raise ConfigError(f"--schedule: {src.title} is a streaming source; its flows have none")
    spec, _, start = text.partition("@")
    frequency, _, interval = spec.partition(":")
    try:
        # No start: the flow starts when it is created, and a re-run keeps that start.
        return model.ScheduleParams(
            start_time=start or None,
            frequency=frequency.strip().lower(),
            interval=interval or None,
        )
    except model.RuleViolation as exc:
        raise ConfigError(
            f"--schedule {text!r}: {exc}",
            hint="write FREQ[:INTERVAL][@START]: once, minute:15 (at least 15), hour:1, day:1, "
            "week:1; START in epoch seconds",
        ) from None
