"""``sourceflow new-plugin``: scaffold a plugin folder.

What a command needs only when it runs is imported inside it: see :mod:`sourceflow.cli`, why.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("new-plugin")
@click.argument("name")
@click.option(
    "--streaming",
    "mode",
    flag_value="streaming",
    default=True,
    help="A source that pushes webhooks to an inlet [default].",
)
@click.option(
    "--scheduled",
    "mode",
    flag_value="scheduled",
    help="A source whose records scheduled runs read through a read hook.",
)
@click.option(
    "--dir",
    "dest",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The folder to write [default: ./sourceflow-NAME]; it must not exist, or be empty.",
)
def new_plugin(name: str, mode: str, dest: Path | None) -> None:
    """Write a plugin folder for the source NAME (distribution sourceflow-NAME).

    It holds a pyproject with the entry point, the hooks to fill in with working defaults,
    sample payloads, a conformance test module and a README; `pip install -e 'FOLDER[test]'`
    it and run `python -m pytest` in it: it passes as generated.
    """
    from sourceflow.scaffold import new_plugin as scaffold

    folder = scaffold(name, mode="scheduled" if mode == "scheduled" else "streaming", dest=dest)
    click.echo(f"wrote {folder}/ ({mode} source {name!r})")
    # "[test]" and "python -m pytest": a pytest from outside this environment (a system one)
    # cannot import sourceflow, and a fresh venv has none of its own.
    click.echo(f"next: pip install -e '{folder}[test]' && cd {folder} && python -m pytest")
