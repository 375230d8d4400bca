"""``sourceflow samples``: write the sample files the docs use."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from sourceflow.errors import ConfigError

# What the docs name, and the bundled file each is copied from (core/sourceflow/demo_data).
SAMPLES = {
    "records.jsonl": ("people.jsonl", "made-up people, one JSON record a line"),
    "rules.json": ("mapping.json", "Data Prep rules mapping those records to XDM"),
    "chatlio_events.jsonl": ("chatlio_events.jsonl", "Chatlio webhook bodies"),
}


@click.command()
@click.option(
    "--dir",
    "dest",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default=True,
    help="The folder to write them in (created if missing).",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def samples(dest: Path, force: bool) -> None:
    """Write the sample files the docs use: records.jsonl, rules.json, chatlio_events.jsonl.

    They are the made-up records `sourceflow demo` streams; one of the people has loyalty points
    that are not a number, so the mapping fails for that record and it is kept as a failure.
    """
    dest.mkdir(parents=True, exist_ok=True)
    existing = [name for name in SAMPLES if (dest / name).exists()]
    if existing and not force:
        raise ConfigError(
            f"{', '.join(str(dest / n) for n in existing)} already exist(s)",
            hint="pass --force to overwrite, or --dir DIR to write elsewhere",
        )
    data = resources.files("sourceflow.demo_data")
    for name, (bundled, what) in SAMPLES.items():
        (dest / name).write_text(data.joinpath(bundled).read_text(encoding="utf-8"), "utf-8")
        click.echo(f"wrote {dest / name}: {what}")
