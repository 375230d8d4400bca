"""What the subcommands share: settings from flags and env, the client, output helpers.

What a command needs only when it runs is imported inside it: see :mod:`sourceflow.cli`, why.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from sourceflow.client import FlowServiceClient
    from sourceflow.client.retry import RetryNotice
    from sourceflow.config import Settings


def settings(ctx: click.Context) -> Settings:
    """Settings from ``SOURCEFLOW_*`` variables and the ``--platform`` flag."""
    from sourceflow import config

    return config.from_env(platform_url=ctx.find_root().obj.get("platform_url"))


def client(ctx: click.Context, sandbox: str | None = None) -> FlowServiceClient:
    """A Flow Service client for this invocation, closed when the command ends; ``sandbox``
    (a ``--sandbox`` flag) overrides ``SOURCEFLOW_SANDBOX``."""
    from attrs import evolve

    from sourceflow.client import FlowServiceClient, RetryPolicy

    chosen = settings(ctx)
    if sandbox:
        chosen = evolve(chosen, sandbox=sandbox)
    # A person is waiting: give up on an unreachable platform in seconds, not minutes, and
    # say on stderr why nothing happens while a retry waits.
    policy = RetryPolicy(attempts=4, total_seconds=20, on_wait=retry_notice)
    c = FlowServiceClient(chosen, retry=policy)
    ctx.call_on_close(c.close)
    return c


def retry_notice(notice: RetryNotice) -> None:
    """Print a client retry's wait on stderr: ``platform answered 503; retrying in 2.0 s
    (attempt 3 of 4)``."""
    click.echo(notice.describe(), err=True)


state_option = click.option(
    "--state",
    "state_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The file recording what connect created [default: .sourceflow/state.json].",
)
"""``--state FILE``, shared by the commands that read or write connect's record."""


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def quiet_stdout() -> None:
    """Point stdout at the null device after its reader went away (``| head``), so that the
    interpreter's final flush does not fail with a second BrokenPipeError."""
    import os
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> None:
    """Print rows as a plain aligned table."""
    cells = [[str(h) for h in headers], *[[("" if c is None else str(c)) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))


sandbox_option = click.option(
    "--sandbox",
    default=None,
    metavar="NAME",
    help="The sandbox to work in [env SOURCEFLOW_SANDBOX; default: prod]. The same project "
    "file applied with another --sandbox promotes it there.",
)
"""``--sandbox NAME``, for the commands that create or change resources."""


def step_printer(step: str, status: str, detail: str) -> None:
    """Show a lifecycle step as it completes, on stderr (stdout stays for results)."""
    mark = {
        "created": "+",
        "updated": "~",
        "reused": "=",
        "deleted": "-",
        "skipped": " ",
        "warning": "!",
        "waiting": ".",
    }.get(status, "*")
    click.echo(f"  {mark} {step.replace('_', ' '):<18} {status:<8} {detail}", err=True)
