"""``sourceflow plan``, ``apply``, ``export`` and ``destroy``: the project file from the shell.

What a command needs only when it runs is imported inside it: see :mod:`sourceflow.cli`, why.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from sourceflow.cli import common
from sourceflow.errors import ConfigError

if TYPE_CHECKING:
    from sourceflow.engine.project import ProjectPlan, ProjectRun

file_option = click.option(
    "--file",
    "-f",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("sourceflow.toml"),
    show_default=True,
    help="The project file.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")

MARKS = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "unchanged": "="}


def _run(ctx: click.Context, path: Path, sandbox: str | None) -> ProjectRun:
    from sourceflow import plugins
    from sourceflow.engine import project

    registry = plugins.load()
    loaded = project.load(path, registry)
    client = common.client(ctx, sandbox)
    return project.ProjectRun(loaded, client, registry, progress=common.step_printer)


def _announce(run: ProjectRun, doing: str) -> None:
    settings = run.client.settings
    click.echo(
        f"{doing} project {run.project.name!r} in sandbox {settings.sandbox!r} on "
        f"{settings.platform_url}",
        err=True,
    )


def _show(result: ProjectPlan, *, verbose: bool) -> None:
    for change in result.datasets:
        if change.action != "unchanged" or verbose or change.drift:
            click.echo(f"{MARKS[change.action]:>3} dataset {change.name:<24} {change.action}")
        for line in change.drift:
            click.echo(f"      drift: {line}")
    for source in result.sources:
        click.echo(f"source {source.name} ({source.source})")
        for note in source.notes:
            click.echo(f"      note: {note}")
        for change in source.changes:
            if change.action == "unchanged" and not change.drift and not verbose:
                continue
            step = change.step.replace("_", " ")
            click.echo(f"{MARKS[change.action]:>3} {step:<18} {change.action:<9} {change.id or ''}")
            for line in change.drift:
                click.echo(f"      drift: {line}")
            for line in change.changes:
                click.echo(f"      {line}")
            if change.reason:
                click.echo(f"      ({change.reason})")
    counts = {a: 0 for a in ("create", "update", "replace", "delete")}
    for change in result.pending:
        counts[change.action] = counts.get(change.action, 0) + 1
    summary = ", ".join(f"{n} to {a}" for a, n in counts.items())
    drift = len(result.drifted)
    click.echo(f"{summary}; {drift} drifted")


@click.command()
@file_option
@common.sandbox_option
@json_option
@click.option("--all", "verbose", is_flag=True, help="Show unchanged resources too.")
@click.option(
    "--exit-code",
    is_flag=True,
    help="Exit 2 when there is something to do or something drifted (0 otherwise), for CI.",
)
@click.pass_context
def plan(
    ctx: click.Context,
    path: Path,
    sandbox: str | None,
    as_json: bool,
    verbose: bool,
    exit_code: bool,
) -> None:
    """Show what `apply` would create, update in place, replace or delete, and what drifted
    (changed on the platform since it was applied). Writes nothing.

    \b
    Example:
      sourceflow plan
      sourceflow plan --sandbox stage --json
    """
    run = _run(ctx, path, sandbox)
    _announce(run, "planning")
    result = run.plan()
    if as_json:
        common.echo_json(result.as_json())
    else:
        _show(result, verbose=verbose)
    if exit_code and (result.pending or result.drifted):
        ctx.exit(2)


@click.command()
@file_option
@common.sandbox_option
@json_option
@click.pass_context
def apply(ctx: click.Context, path: Path, sandbox: str | None, as_json: bool) -> None:
    """Make the platform hold what the project file declares.

    Creates what is missing, updates in place (PATCH with If-Match) what the API lets change,
    replaces what it does not, and deletes the sources the file no longer declares. Safe to
    run again: a second apply changes nothing, and one that failed resumes. Two applies of
    one project in one sandbox take turns (a lock).

    \b
    Example:
      sourceflow apply
      sourceflow apply --sandbox prod      # promote the same file
    """
    run = _run(ctx, path, sandbox)
    _announce(run, "applying")
    result = run.apply()
    if as_json:
        common.echo_json(result.as_json())
        return
    _show(result, verbose=False)
    for source in result.sources:
        state = run.state.get(
            source.name, run.client.settings.platform_url, run.client.settings.sandbox
        )
        if state is not None and state.endpoint.get("inletUrl"):
            click.echo(f"inlet {source.name}: {state.endpoint['inletUrl']}")


@click.command()
@file_option
@common.sandbox_option
@json_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def destroy(ctx: click.Context, path: Path, sandbox: str | None, as_json: bool, yes: bool) -> None:
    """Delete every source the project file created in this sandbox (datasets stay: they
    hold data; mapping sets stay: Data Prep has no delete)."""
    run = _run(ctx, path, sandbox)
    names = [
        r.name
        for r in run.state.find(run.client.settings.platform_url, run.client.settings.sandbox)
        if r.project == run.project.name
    ]
    if not names:
        click.echo(
            f"nothing of project {run.project.name!r} in sandbox {run.client.settings.sandbox!r}",
            err=True,
        )
        return
    if not yes:
        click.confirm(
            f"delete {', '.join(names)} from sandbox {run.client.settings.sandbox!r}?", abort=True
        )
    result = run.destroy()
    if as_json:
        common.echo_json(result.as_json())
    else:
        _show(result, verbose=False)


@click.command()
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("sourceflow.toml"),
    show_default=True,
    help="Where to write the project file ('-' for stdout).",
)
@click.option(
    "--project", "project_name", default=None, help="The project's name [default: the folder's]."
)
@click.option(
    "--flow", "flow_ids", multiple=True, metavar="ID", help="Export only this flow (repeatable)."
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@common.sandbox_option
@click.pass_context
def export(
    ctx: click.Context,
    output: Path,
    project_name: str | None,
    flow_ids: tuple[str, ...],
    force: bool,
    sandbox: str | None,
) -> None:
    """Write a project file for the flows that exist (made with connect, curl or Adobe's UI),
    and record them as the project's, so `apply` adopts them instead of creating twins.

    Secrets come out as { env = "NAME" } references: set those variables before `apply`.
    """
    from sourceflow import plugins
    from sourceflow.engine import project
    from sourceflow.state import StateFile

    to_stdout = str(output) == "-"
    target = Path.cwd() / "sourceflow.toml" if to_stdout else output
    if not to_stdout and output.exists() and not force:
        raise ConfigError(f"{output} exists", hint="pass --force to overwrite it")
    name = project_name or project._slug(target.resolve().parent.name)
    client = common.client(ctx, sandbox)
    state = StateFile(target.parent / ".sourceflow" / "state.json")
    text = project.export(
        client,
        plugins.load(),
        state,
        name,
        flow_ids=list(flow_ids) or None,
        note=lambda line: click.echo(f"  {line}", err=True),
    )
    if to_stdout:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}; run sourceflow plan to compare it with the platform", err=True)
